"""The admin as a person uses it: headless Chromium (the distribution's ``chromium``, driven
by Playwright) on a live uvicorn server.

Without Chromium or Playwright the test skips, and fails when ``SPECSTAR_REQUIRE_SERVICES=1``
(CI installs the ``chromium`` package). ``SPECSTAR_ADMIN_SCREENSHOTS=<folder>`` saves a
screenshot of each page there (``docs/admin/`` holds the ones the documentation shows).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from specstar.testing.services import free_port, services_required

_CANDIDATES = ("chromium", "chromium-browser")


def _chromium() -> str:
    found = os.environ.get("SPECSTAR_CHROMIUM") or next(
        (p for p in map(shutil.which, _CANDIDATES) if p), None
    )
    reason = ""
    if not found:
        reason = "no chromium executable (install the distribution's chromium package)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed"
    if reason:
        if services_required():
            pytest.fail(f"{reason} (SPECSTAR_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(reason)
    assert found is not None
    return found


@pytest.fixture
def live(admin: Any) -> Iterator[str]:
    """The admin app served by uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(admin.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SPECSTAR_ADMIN_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_admin_in_a_browser(admin: Any, live: str, shots: Path) -> None:
    executable = _chromium()
    from playwright.sync_api import expect, sync_playwright

    ann = admin.authors.create({"handle": "ann", "name": "Ann Lee"}, user="ann").resource_id
    admin.authors.create({"handle": "bo", "name": "Bo Chen"}, user="bob")
    first = admin.posts.create(
        {"title": "Welcome", "author_id": ann, "tags": ["intro"], "words": 120}, user="ann"
    ).resource_id
    job = admin.jobs.create({"payload": {"to": "ann@example.com"}}, user="ann").resource_id
    while admin.jobs.process_next():
        pass

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        context = browser.new_context(
            extra_http_headers={"X-User": "ann"}, viewport={"width": 1100, "height": 760}
        )
        page = context.new_page()

        def shot(name: str) -> None:
            page.screenshot(path=str(shots / f"{name}.png"), full_page=False)

        # every page renders: the dashboard with counts and recent changes
        page.goto(f"{live}/admin/")
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.get_by_role("link", name=first)).to_be_visible()
        shot("dashboard")

        # a list, and a bad qb shows its error inline, with the position
        page.get_by_role("navigation", name="Models").get_by_role("link", name="post").click()
        expect(page.get_by_role("heading", name="post", exact=True)).to_be_visible()
        expect(page.get_by_role("cell", name="Welcome")).to_be_visible()
        shot("list")
        page.get_by_label("Search").fill("words >= ")
        page.get_by_label("Search").press("Enter")
        expect(page.locator("#qb-error")).to_contain_text("position 9")
        expect(page.get_by_label("Search")).to_have_value("words >= ")
        shot("search-error")
        page.get_by_label("Search").fill("words >= 100")
        page.get_by_label("Search").press("Enter")
        expect(page.get_by_role("cell", name="Welcome")).to_be_visible()

        # create
        page.get_by_role("link", name="New post").click()
        page.get_by_label("title").fill("Second post")
        # the reference picker suggests authors by name
        page.get_by_label("author id").press_sequentially("author:")
        expect(page.locator("#field-author_id-options option")).to_have_count(2)
        page.get_by_label("author id").fill(ann)
        page.get_by_label("tags").fill("news\nweekly")
        shot("form")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("heading", name="Data")).to_be_visible()
        rid = page.locator("h1").inner_text()
        assert rid.startswith("post:")
        expect(page.get_by_role("link", name=ann).first).to_be_visible()  # the ref is a link

        # edit
        page.get_by_role("link", name="Edit", exact=True).click()
        page.get_by_label("title").fill("Second post, edited")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_text("Second post, edited")).to_be_visible()

        # a second tab changes it while the first one has the form open
        page.get_by_role("link", name="Edit", exact=True).click()
        page.get_by_label("title").fill("Mine")
        other = context.new_page()
        other.goto(f"{live}/admin/post/{rid}/edit")
        other.get_by_label("title").fill("Theirs")
        other.get_by_role("button", name="Save", exact=True).click()
        expect(other.get_by_text("Theirs")).to_be_visible()
        other.close()
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("heading", name="Changed since you opened it")).to_be_visible()
        expect(page.locator("table.diff").first).to_contain_text("Theirs")
        shot("conflict")
        assert admin.posts.get(rid, user="ann").data.title == "Theirs"

        # the diff between the last two revisions, then back to the first one
        page.goto(f"{live}/admin/post/{rid}")
        shot("detail")
        page.get_by_role("button", name="Compare selected revisions").click()
        expect(page.locator("table.diff")).to_contain_text("/title")
        shot("diff")
        page.goto(f"{live}/admin/post/{rid}/diff?a={rid}:1&b={rid}:3")
        page.get_by_role("button", name=f"Switch to {rid}:1").click()
        expect(
            page.locator("section", has=page.get_by_role("heading", name="Data"))
        ).to_contain_text("Second post")
        assert admin.posts.get_meta(rid, user="ann").current_revision_id == f"{rid}:1"

        # delete (with a confirmation), then restore
        page.get_by_role("link", name="Delete", exact=True).click()
        expect(page.get_by_text("It can be restored later")).to_be_visible()
        page.get_by_role("button", name="Delete", exact=True).click()
        expect(page.locator(".title-row .badge.deleted")).to_be_visible()
        page.get_by_role("button", name="Restore").click()
        expect(page.locator(".title-row .badge.deleted")).to_have_count(0)
        assert not admin.posts.get_meta(rid, user="ann").is_deleted

        # a job: state, retries and its log
        page.goto(f"{live}/admin/send-mail/{job}")
        expect(page.locator("[data-job-status]")).to_have_text("completed")
        expect(page.locator("pre.log")).to_contain_text("sent to ann@example.com")
        shot("job")

        # keyboard only: skip link, then to a model's list
        page.goto(f"{live}/admin/")
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "author":
                break
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{live}/admin/author")
        page.get_by_label("Search").focus()
        page.keyboard.type('name == "Bo Chen"')
        page.keyboard.press("Enter")
        expect(page.get_by_role("cell", name="Bo Chen")).to_be_visible()
        expect(page.get_by_role("cell", name="Ann Lee")).to_have_count(0)

        # a refused user sees no data and cannot act
        denied = browser.new_context(extra_http_headers={"X-User": "mallory"})
        mallory = denied.new_page()
        mallory.goto(f"{live}/admin/post")
        expect(mallory.get_by_role("heading", name="Not allowed")).to_be_visible()
        assert "Welcome" not in mallory.content()
        mallory.goto(f"{live}/admin/post/{rid}/confirm?action=delete")
        expect(mallory.get_by_role("heading", name="Not allowed")).to_be_visible()
        mallory.set_viewport_size({"width": 1100, "height": 500})
        mallory.screenshot(path=str(shots / "denied.png"))
        denied.close()
        assert admin.posts.exists(rid, user="ann")
        browser.close()

"""The page of one resource and its actions; CSRF; escaping; a refused user; jobs; files."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from specstar.core import Binary


def _q(rid: str) -> str:
    return quote(rid, safe="")


def _setup(admin: Any) -> tuple[str, str]:
    a = admin.authors.create({"handle": "ann", "name": "Ann"}, user="ann").resource_id
    p = admin.posts.create(
        {"title": "Hello", "author_id": a, "tags": ["x"], "place": {"city": "Oslo"}}, user="ann"
    ).resource_id
    admin.posts.update(
        p,
        {"title": "Hello again", "author_id": a, "words": 3, "place": {"city": "Oslo"}},
        user="bob",
    )
    return a, p


def test_detail_renders_fields_refs_referrers_and_timeline(admin: Any, client: TestClient) -> None:
    a, p = _setup(admin)
    r = client.get(f"/admin/post/{p}")
    assert r.status_code == 200
    assert "Hello again" in r.text
    assert f'<a class="ref" href="/admin/author/{_q(a)}">{a}</a>' in r.text
    assert '<dt>city</dt><dd><span class="text">Oslo</span>' in r.text  # nested struct
    assert '<dt>kind</dt><dd><span class="text">news</span>' in r.text  # enum
    assert re.search(r"<td>bob</td>", r.text)
    assert re.search(r"<td>ann</td>", r.text)
    assert f"{p}:1" in r.text
    assert f"{p}:2" in r.text
    assert "current" in r.text
    author = client.get(f"/admin/author/{a}")
    assert f'<a href="/admin/post/{_q(p)}">{p}</a>' in author.text  # referenced by


def test_an_old_revision_and_the_diff(admin: Any, client: TestClient) -> None:
    _, p = _setup(admin)
    old = client.get(f"/admin/post/{p}", params={"revision": f"{p}:1"})
    assert old.status_code == 200
    assert "You are viewing revision" in old.text
    assert "Make this revision current" in old.text
    d = client.get(f"/admin/post/{p}/diff", params={"a": f"{p}:1", "b": f"{p}:2"})
    assert d.status_code == 200
    rows = re.findall(r'<tr class="(\w+)"><td><code>([^<]+)</code>', d.text)
    assert ("changed", "/title") in rows
    assert ("changed", "/words") in rows
    assert ("removed", "/tags") not in rows  # a list compared whole: tags went from [x] to []
    assert ("changed", "/tags") in rows
    assert client.get(f"/admin/post/{p}/diff", params={"a": f"{p}:1"}).status_code == 400
    assert (
        client.get(f"/admin/post/{p}/diff", params={"a": f"{p}:1", "b": f"{p}:9"}).status_code
        == 404
    )


def test_switch_to_a_revision(admin: Any, client: TestClient, post: Any) -> None:
    _, p = _setup(admin)
    r = post(client, f"/admin/post/{p}/switch", {"revision_id": f"{p}:1"})
    assert r.status_code == 303
    assert r.headers["location"] == f"/admin/post/{_q(p)}"
    assert admin.posts.get_meta(p, user="ann").current_revision_id == f"{p}:1"
    assert post(client, f"/admin/post/{p}/switch", {"revision_id": ""}).status_code == 400


def test_delete_restore_and_permanent_delete_with_confirmation(
    admin: Any, client: TestClient, post: Any
) -> None:
    _, p = _setup(admin)
    ask = client.get(f"/admin/post/{p}/confirm", params={"action": "delete"})
    assert ask.status_code == 200
    assert "It can be restored later" in ask.text
    etag = re.search(r'name="etag" value="([^"]+)"', ask.text)
    assert etag is not None
    assert post(client, f"/admin/post/{p}/delete", {"etag": etag.group(1)}).status_code == 303
    assert admin.posts.get_meta(p, include_deleted=True, user="ann").is_deleted
    deleted = client.get(f"/admin/post/{p}")
    assert deleted.status_code == 200
    assert "Restore" in deleted.text
    assert post(client, f"/admin/post/{p}/restore", {"etag": ""}).status_code == 303
    assert not admin.posts.get_meta(p, user="ann").is_deleted
    purge = client.get(f"/admin/post/{p}/confirm", params={"action": "purge"})
    assert "cannot be undone" in purge.text
    refused = post(client, f"/admin/post/{p}/purge", {"etag": "", "confirm_id": "nope"})
    assert refused.status_code == 400
    assert admin.posts.exists(p, user="ann")
    gone = post(client, f"/admin/post/{p}/purge", {"etag": "", "confirm_id": p})
    assert gone.status_code == 303
    assert gone.headers["location"] == "/admin/post"
    assert client.get(f"/admin/post/{p}").status_code == 404
    assert client.get(f"/admin/post/{p}/confirm", params={"action": "explode"}).status_code in (
        400,
        404,
    )


def test_a_stale_etag_refuses_the_delete(admin: Any, client: TestClient, post: Any) -> None:
    _, p = _setup(admin)
    r = post(client, f"/admin/post/{p}/delete", {"etag": f"{p}:1"})
    assert r.status_code == 412
    assert "Changed meanwhile" in r.text
    assert admin.posts.exists(p, user="ann")


def test_restricted_delete_shows_a_conflict_page(admin: Any, client: TestClient, post: Any) -> None:
    a, _ = _setup(admin)
    r = post(client, f"/admin/author/{a}/delete", {"etag": ""})
    assert r.status_code == 409
    assert 'class="problem"' in r.text
    assert admin.authors.exists(a, user="ann")


def test_unknown_action_and_input(admin: Any, client: TestClient, post: Any) -> None:
    _, p = _setup(admin)
    assert post(client, f"/admin/post/{p}/explode", {}).status_code == 404
    r = post(client, f"/admin/post/{p}/delete", {"etag": "", "force": "1"})
    assert r.status_code == 400
    assert admin.posts.exists(p, user="ann")


def test_forms_without_the_csrf_token_are_refused(admin: Any, client: TestClient) -> None:
    _, p = _setup(admin)
    no_token = client.post(f"/admin/post/{p}/delete", data={"etag": ""})
    assert no_token.status_code == 403
    assert "security token" in no_token.text
    client.get("/admin/")  # the session has its cookie now
    wrong = client.post(f"/admin/post/{p}/delete", data={"etag": "", "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    created = client.post(
        "/admin/author/_new", data={"handle": "eve", "name": "Eve", "bio": "", "submit": "save"}
    )
    assert created.status_code == 403
    batch = client.post("/admin/post/_batch", data={"action": "delete", "ids": [p]})
    assert batch.status_code == 403
    assert admin.posts.exists(p, user="ann")
    assert admin.authors.count(user="ann") == 1
    # another browser (no cookie) cannot reuse a token either
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/post/_new").text)
    assert token is not None
    other = TestClient(admin.app, headers={"X-User": "ann"})
    r = other.post(f"/admin/post/{p}/delete", data={"etag": "", "csrf_token": token.group(1)})
    assert r.status_code == 403
    assert admin.posts.exists(p, user="ann")


def test_the_csrf_cookie_is_strict_and_http_only(client: TestClient) -> None:
    r = client.get("/admin/")
    cookie = r.headers["set-cookie"]
    assert "specstar_admin_csrf=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/admin" in cookie


def test_output_is_escaped(admin: Any, client: TestClient) -> None:
    evil = '<script>alert("x")</script>'
    a = admin.authors.create({"handle": "h", "name": evil, "bio": evil}, user=evil).resource_id
    pages = [
        client.get("/admin/"),
        client.get("/admin/author"),
        client.get(f"/admin/author/{a}"),
        client.get(f"/admin/author/{a}/edit"),
        client.get("/admin/author", params={"qb": evil}),
    ]
    for page in pages:
        assert "<script>alert" not in page.text, page.url
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[2].text


def test_a_refused_user_sees_no_data_and_cannot_act(admin: Any, post: Any) -> None:
    a, p = _setup(admin)
    mallory = admin.client("mallory")
    board = mallory.get("/admin/")
    assert board.status_code == 200
    assert "no access" in board.text
    assert p not in board.text
    assert "Hello" not in board.text
    for url in (
        "/admin/post",
        f"/admin/post/{p}",
        f"/admin/post/{p}/edit",
        f"/admin/post/{p}/diff?a={p}:1&b={p}:2",
        f"/admin/post/{p}/confirm?action=delete",
    ):
        r = mallory.get(url)
        assert r.status_code == 403, url
        assert "Hello" not in r.text
        assert "Not allowed" in r.text
    assert mallory.get("/admin/author/_options").json() == []
    for action, form in (
        ("delete", {"etag": ""}),
        ("purge", {"etag": "", "confirm_id": p}),
        ("switch", {"revision_id": f"{p}:1"}),
    ):
        assert post(mallory, f"/admin/post/{p}/{action}", form).status_code == 403
    edit = post(
        mallory,
        f"/admin/author/{a}/edit",
        {"etag": f"{a}:1", "handle": "x", "name": "X", "bio": "", "submit": "save"},
    )
    assert edit.status_code == 403
    created = post(
        mallory, "/admin/author/_new", {"handle": "m", "name": "M", "bio": "", "submit": "save"}
    )
    assert created.status_code == 403
    assert admin.posts.get_meta(p, user="ann").current_revision_id == f"{p}:2"
    assert admin.authors.count(user="ann") == 1


def test_job_state_logs_rerun_and_cancel(admin: Any, client: TestClient, post: Any) -> None:
    job = admin.jobs.create({"payload": {"to": "a@example.com"}}, user="ann").resource_id
    pending = client.get(f"/admin/send-mail/{job}")
    assert "data-job-status>pending<" in pending.text
    assert 'data-running="1"' in pending.text
    while admin.jobs.process_next():
        pass
    done = client.get(f"/admin/send-mail/{job}")
    assert "data-job-status>completed<" in done.text
    assert "sent to a@example.com" in done.text
    logs = client.get(f"/admin/send-mail/{job}/logs")
    assert logs.status_code == 200
    assert "sent to a@example.com" in logs.text
    assert post(client, f"/admin/send-mail/{job}/rerun", {}).status_code == 303
    assert admin.jobs.get(job, user="ann").data.status == "pending"
    assert post(client, f"/admin/send-mail/{job}/cancel", {}).status_code == 303
    assert admin.jobs.get(job, user="ann").data.status == "cancelled"
    _, p = _setup(admin)
    assert post(client, f"/admin/post/{p}/rerun", {}).status_code == 400
    assert client.get(f"/admin/post/{p}/logs").status_code == 400


def test_files_download_and_preview(admin: Any, client: TestClient) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    rid = admin.attachments.create(
        {"label": "pic", "file": Binary(data=png, content_type="image/png")}, user="ann"
    ).resource_id
    file_id = admin.attachments.get(rid, user="ann").data.file.file_id
    page = client.get(f"/admin/attachment/{rid}")
    assert f'src="/admin/attachment/{_q(rid)}/blob/{file_id}?inline=1"' in page.text
    down = client.get(f"/admin/attachment/{rid}/blob/{file_id}")
    assert down.status_code == 200
    assert down.content == png
    assert down.headers["content-disposition"].startswith("attachment")
    assert down.headers["content-type"] == "application/octet-stream"
    inline = client.get(f"/admin/attachment/{rid}/blob/{file_id}", params={"inline": "1"})
    assert inline.headers["content-type"] == "image/png"
    assert inline.headers["x-content-type-options"] == "nosniff"
    # a file the resource does not hold is not served through it
    other = admin.attachments.create(
        {"label": "doc", "file": Binary(data=b"secret", content_type="text/plain")}, user="ann"
    ).resource_id
    secret_id = admin.attachments.get(other, user="ann").data.file.file_id
    assert client.get(f"/admin/attachment/{rid}/blob/{secret_id}").status_code == 404
    assert (
        admin.client("mallory").get(f"/admin/attachment/{other}/blob/{secret_id}").status_code
        == 403
    )
    svg = admin.attachments.create(
        {"label": "svg", "file": Binary(data=b"<svg/>", content_type="image/svg+xml")}, user="ann"
    ).resource_id
    svg_id = admin.attachments.get(svg, user="ann").data.file.file_id
    served = client.get(f"/admin/attachment/{svg}/blob/{svg_id}", params={"inline": "1"})
    assert served.headers["content-type"] == "application/octet-stream"  # never inline SVG

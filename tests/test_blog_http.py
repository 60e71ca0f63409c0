"""The example served by ``make run`` (examples/blog), end to end over real HTTP.

* the server starts as ``make run`` starts it and says where the docs page and the admin are;
* a client session over httpx: create, read, search, patch, history, delete, restore,
  references and unique values;
* every ``curl`` command of docs/http-api.md runs against a fresh server and answers the
  status the page says (2xx unless a ``# expect: <status>`` line precedes the command);
* schemathesis fuzzes the blog's own OpenAPI document (on SQLite, like ``make run``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from specstar.testing.services import LiveServer, live_server

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "http-api.md"
DOC_BASE = "http://127.0.0.1:8000"


@pytest.fixture
def start_blog(tmp_path: Path) -> Iterator[Callable[[], LiveServer]]:
    """Starts ``python -m examples.blog`` (what ``make run`` runs) on a free port; each call
    a server of its own with its data in ``tmp_path``."""
    with contextlib.ExitStack() as servers:

        def start() -> LiveServer:
            folder = Path(tempfile.mkdtemp(dir=tmp_path))
            env = {**os.environ, "SPECSTAR_DATA_DIR": str(folder / "data")}
            env["PYTHONWARNINGS"] = "ignore"
            command = [sys.executable, "-m", "examples.blog", "--host", "127.0.0.1"]
            return servers.enter_context(
                live_server(
                    [*command, "--port", "{port}"],
                    cwd=ROOT,
                    log=folder / "server.log",
                    env=env,
                    name="the blog server",
                )
            )

        yield start


def test_server_says_where_the_docs_are(start_blog: Callable[[], LiveServer]) -> None:
    server = start_blog()
    out = server.log.read_text()
    assert f"API docs: {server.url}/docs" in out
    assert "storage:" in out
    assert httpx.get(server.url + "/docs").status_code == 200
    # and the admin UI, with the blog's models
    assert f"Admin UI: {server.url}/admin" in out
    admin = httpx.get(server.url + "/admin/")
    assert admin.status_code == 200
    assert 'href="/admin/post"' in admin.text
    assert "SpecStar blog admin" in admin.text


def test_blog_session_over_real_http(start_blog: Callable[[], LiveServer]) -> None:
    server = start_blog()
    with httpx.Client(base_url=server.url, headers={"X-User": "ada"}, timeout=10) as c:
        r = c.post("/author", json={"handle": "ada", "name": "Ada Lovelace"})
        assert r.status_code == 201
        ada = r.json()["resource_id"]
        assert ada.startswith("author:")
        assert r.json()["created_by"] == "ada"

        r = c.post("/post", json={"slug": "engines", "title": "Engines", "author_id": ada})
        assert r.status_code == 201
        post = r.json()["resource_id"]
        assert c.get(r.headers["location"]).json()["data"]["author_id"] == ada

        dup = c.post("/post", json={"slug": "engines", "title": "Copy", "author_id": ada})
        assert dup.status_code == 409
        assert dup.json()["conflicting_resource_id"] == post

        orphan = c.post("/post", json={"slug": "x", "title": "X", "author_id": "nobody"})
        assert orphan.status_code == 422
        assert orphan.json()["errors"][0]["loc"] == "/author_id"

        for i, rating in enumerate([5, 1, 4]):
            body = {"post_id": post, "author_name": f"r{i}", "text": "t", "rating": rating}
            assert c.post("/comment", json=body).status_code == 201
        r = c.get("/comment", params={"qb": "rating >= 4", "sorts": "-rating"})
        assert [item["data"]["rating"] for item in r.json()] == [5, 4]

        etag = c.get(f"/post/{post}").headers["etag"]
        r = c.patch(f"/post/{post}", json={"tags": ["history"]}, headers={"If-Match": etag})
        assert r.status_code == 200
        assert (
            c.patch(f"/post/{post}", json={"tags": []}, headers={"If-Match": etag}).status_code
            == 412
        )
        assert len(c.get(f"/post/{post}/revisions").json()) == 2

        assert c.delete(f"/author/{ada}").status_code == 409  # still has a post
        assert c.delete(f"/post/{post}").status_code == 200
        assert c.get(f"/post/{post}").status_code == 410
        assert c.get("/comment/count").json() == {"count": 0}  # cascaded
        assert c.post(f"/post/{post}/restore").status_code == 200
        assert c.get(f"/post/{post}").status_code == 200
        assert c.delete(f"/author/{ada}").status_code == 409


def _commands(markdown: str) -> list[tuple[int, str]]:
    """``(expected status, command)`` for every curl command of the ```sh blocks."""
    out: list[tuple[int, str]] = []
    for block in re.findall(r"^```sh\n(.*?)^```", markdown, re.DOTALL | re.MULTILINE):
        expect = 0
        pending = ""
        for line in block.splitlines():
            if not pending and line.startswith("# expect:"):
                expect = int(line.split(":", 1)[1])
                continue
            if not pending and (not line.strip() or line.startswith("#")):
                continue
            pending += line + "\n"
            if line.endswith("\\") or pending.count("'") % 2:
                continue
            command = pending.strip()
            pending = ""
            assert command.startswith("curl "), command
            out.append((expect, command))
            expect = 0
    return out


def test_every_curl_example_in_the_http_docs(start_blog: Callable[[], LiveServer]) -> None:
    commands = _commands(DOC.read_text())
    assert len(commands) >= 40
    server = start_blog()
    for expect, command in commands:
        assert DOC_BASE in command
        run = command.replace(DOC_BASE, server.url)
        args = [*shlex.split(run.replace("\\\n", " ")), "-o", "/dev/null", "-w", "%{http_code}"]
        result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, (command, result.stderr)
        status = int(result.stdout.strip())
        if expect:
            assert status == expect, (command, status)
        else:
            assert 200 <= status < 300, (command, status)


@pytest.mark.slow
def test_schemathesis_on_the_blog_api(tmp_path: Path) -> None:
    import schemathesis
    from fastapi.testclient import TestClient
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    from examples.blog.app import create_app
    from specstar.core import MemoryStorageFactory, StorageFactory

    factory: StorageFactory
    try:  # the storage make run uses
        from specstar.sql import SQLiteStorageFactory

        factory = SQLiteStorageFactory(tmp_path / "data")
    except ImportError:
        factory = MemoryStorageFactory()
    app = create_app(factory)

    with TestClient(app) as c:
        c.post("/author", params={"resource_id": "a-1"}, json={"handle": "h", "name": "N"})
        c.post(
            "/post",
            params={"resource_id": "p-1"},
            json={"slug": "s", "title": "T", "author_id": "a-1"},
        )
        body = {"post_id": "p-1", "author_name": "R", "text": "t"}
        assert c.post("/comment", params={"resource_id": "c-1"}, json=body).status_code == 201
    existing = {"author": "a-1", "post": "p-1", "comment": "c-1"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: Counter[int] = Counter()

    def run(strategy: Any, examples: int) -> None:
        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call()
            statuses[response.status_code] += 1
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        check()

    no_negative: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        run(op.as_strategy(generation_mode=GenerationMode.POSITIVE), 6)
        try:
            run(op.as_strategy(generation_mode=GenerationMode.NEGATIVE), 4)
        except Unsatisfiable:  # nothing in the request can be invalid
            no_negative.append(op.label)
        if "{resource_id}" in op.path:
            model = op.path.split("/")[1]
            params = {"resource_id": existing[model], "revision_id": f"{existing[model]}:1"}
            wanted = {k: v for k, v in params.items() if "{" + k + "}" in op.path}
            run(op.as_strategy(path_parameters=wanted), 5)
    # these take nothing but the optional X-User header
    assert no_negative == ["POST /author/_migrate", "GET /_relationships"]
    total = sum(statuses.values())
    print(f"\nschemathesis (blog): {total} requests; statuses {sorted(statuses.items())}")
    assert total >= 400
    assert not [s for s in statuses if s >= 500]

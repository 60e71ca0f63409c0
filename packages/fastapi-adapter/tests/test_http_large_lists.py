"""A large list is streamed in bounded chunks, a small one is one body with a length.

The app is called as ASGI directly, so the test sees each ``http.response.body`` message the
server would write: a page whose JSON is larger than ``LIST_CHUNK_BYTES`` arrives as several
messages, none much larger than a chunk, and together they are exactly the JSON array a single
body would have held. (What that saves in worker memory with many slow readers is measured by
``benchmarks/large_lists.py``, not asserted here.)
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from specstar.core import Query, StorageFactory
from specstar.fastapi import SpecStar, install_problem_handlers
from specstar.fastapi.responses import LIST_CHUNK_BYTES


class Page(msgspec.Struct, kw_only=True):
    title: str
    body: str


def _app(factory: StorageFactory, name: str) -> tuple[FastAPI, SpecStar]:
    crud = SpecStar(storage_factory=factory, default_user="u")
    crud.add_model(Page, name=name, indexed_fields=["title"])
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return app, crud


def _get(app: FastAPI, path: str, query: str) -> tuple[dict[str, str], list[bytes]]:
    """Status 200 asserted; the response headers and every body message, in order."""
    messages: list[dict[str, Any]] = []
    requested: list[bool] = []

    async def receive() -> dict[str, Any]:
        if requested:  # the client stays connected (the server cancels this wait)
            await asyncio.sleep(3600)
        requested.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "root_path": "",
    }
    asyncio.run(app(scope, receive, send))
    start = messages[0]
    assert start["type"] == "http.response.start"
    assert start["status"] == 200, messages
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return headers, [m["body"] for m in messages[1:] if m.get("body")]


def test_a_large_list_is_streamed_in_bounded_chunks(factory: StorageFactory) -> None:
    name = f"page-{uuid.uuid4().hex[:8]}"
    app, crud = _app(factory, name)
    pages = crud.get_resource_manager(name)
    body = "x" * 2000
    for i in range(300):  # about 700 KB of JSON
        pages.create(Page(title=f"p{i:03}", body=body))
    headers, chunks = _get(app, f"/{name}", "limit=300&sorts=title")
    assert "content-length" not in headers
    assert headers["content-type"] == "application/json"
    assert len(chunks) >= 300 * 2000 // LIST_CHUNK_BYTES
    item_size = len(msgspec.json.encode(pages.list(Query(limit=1))[0]))
    assert all(len(c) < LIST_CHUNK_BYTES + 2 * item_size for c in chunks)
    items = msgspec.json.decode(b"".join(chunks))
    assert [item["data"]["title"] for item in items] == [f"p{i:03}" for i in range(300)]
    with TestClient(app) as client:  # what a client reads is the same document
        listed = client.get(f"/{name}", params={"limit": 300, "sorts": "title"})
        assert listed.json() == items
        assert listed.headers["x-has-more"] == "false"


def test_a_small_list_is_one_body_with_a_length(factory: StorageFactory) -> None:
    name = f"page-{uuid.uuid4().hex[:8]}"
    app, crud = _app(factory, name)
    pages = crud.get_resource_manager(name)
    for i in range(3):
        pages.create(Page(title=f"p{i}", body="short"))
    headers, chunks = _get(app, f"/{name}", "sorts=title")
    assert len(chunks) == 1
    assert headers["content-length"] == str(len(chunks[0]))
    assert [i["data"]["title"] for i in msgspec.json.decode(chunks[0])] == ["p0", "p1", "p2"]
    _, empty = _get(app, f"/{name}", "qb=title%3D%3D%22none%22")
    assert empty == [b"[]"]


def test_the_page_size_has_a_documented_maximum(factory: StorageFactory) -> None:
    name = f"page-{uuid.uuid4().hex[:8]}"
    app, crud = _app(factory, name)
    maximum = crud.get_resource_manager(name).max_limit
    with TestClient(app) as client:
        refused = client.get(f"/{name}", params={"limit": maximum + 1})
        assert refused.status_code == 422
        problem = refused.json()
        assert problem["errors"][0]["loc"] == "limit"
        assert str(maximum) in problem["errors"][0]["message"]
        assert client.get(f"/{name}", params={"limit": maximum}).status_code == 200

"""The file size limit over HTTP: 413 ``content_too_large`` from Content-Length or a chunked
body, on the upload and upload-session routes; nothing is kept (SQLite + file blob store)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from specstar.core import Binary
from specstar.fastapi import DependencyProvider, SpecStar
from specstar.fastapi.routes.blobs import FORM_OVERHEAD_BYTES
from specstar.sql import SQLiteStorageFactory

LIMIT = 10_000
ANN = {"X-User": "ann"}


class Report(msgspec.Struct, kw_only=True):
    title: str
    pdf: Binary | None = None


def header_user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


@pytest.fixture
def crud(tmp_path: Path) -> SpecStar:
    crud = SpecStar(
        storage_factory=SQLiteStorageFactory(tmp_path / "data"),
        dependency_provider=DependencyProvider(get_user=header_user),
        max_file_bytes=LIMIT,
    )
    crud.add_model(Report)
    return crud


@pytest.fixture
def app(crud: SpecStar) -> FastAPI:
    app = FastAPI()
    crud.apply(app)
    return app


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


class Offered:
    """A chunked request body that counts the chunks the server pulled."""

    def __init__(self, chunks: int, size: int = 1000, head: bytes = b"", tail: bytes = b""):
        self.chunks, self.size, self.head, self.tail = chunks, size, head, tail
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        if self.head:
            yield self.head
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * self.size
        if self.tail:
            yield self.tail


class Answer:
    """The response of :func:`send`."""

    def __init__(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code, self.headers, self.text = status, headers, content.decode()

    def json(self) -> Any:
        return json.loads(self.text)


def send(app: FastAPI, method: str, url: str, body: Offered, headers: dict[str, str]) -> Answer:
    """Call the app with ``body`` as a stream of ASGI messages, pulled one by one (a
    TestClient reads a streamed body whole before the app sees it)."""
    path, _, query = url.partition("?")
    chunks = iter(body)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def reply(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, reply)
    start = sent[0]
    found = {k.decode(): v.decode() for k, v in start["headers"]}
    content = b"".join(m.get("body", b"") for m in sent[1:])
    return Answer(start["status"], found, content)


def _too_large(r: Any) -> dict[str, Any]:
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == "content_too_large"
    assert body["limit"] == LIMIT
    assert str(LIMIT) in body["detail"]
    assert [e["loc"] for e in body["errors"]] == ["size"]
    return body


def _nothing_kept(crud: SpecStar, tmp_path: Path) -> None:
    store = crud.storage_factory.blob_store()
    assert list(store.list_ids()) == []
    staging = tmp_path / "data" / "blobs" / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []


def test_a_raw_upload_with_a_larger_content_length_is_refused_at_once(
    app: FastAPI, crud: SpecStar, tmp_path: Path
) -> None:
    body = Offered(chunks=20)
    r = send(app, "POST", "/blobs/upload", body, {**ANN, "Content-Length": "20000"})
    _too_large(r)
    assert body.pulled == 0  # not a byte read
    _nothing_kept(crud, tmp_path)


def test_a_chunked_raw_upload_is_refused_as_soon_as_it_passes_the_limit(
    app: FastAPI, client: TestClient, crud: SpecStar, tmp_path: Path
) -> None:
    body = Offered(chunks=100)
    r = send(app, "POST", "/blobs/upload", body, ANN)
    _too_large(r)
    assert body.pulled <= LIMIT // 1000 + 2  # stopped right after the limit, not at the end
    _nothing_kept(crud, tmp_path)
    ok = client.post("/blobs/upload", content=iter(Offered(chunks=10)), headers=ANN)
    assert ok.status_code == 201, ok.text
    assert ok.json()["size"] == LIMIT


def _form(boundary: str) -> tuple[bytes, bytes]:
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode()


def test_form_uploads_are_bounded_too(
    app: FastAPI, client: TestClient, crud: SpecStar, tmp_path: Path
) -> None:
    # a file just over the limit, with Content-Length (the form's framing is allowed for)
    r = client.post("/blobs/upload", files={"file": ("a", b"y" * (LIMIT + 1))}, headers=ANN)
    _too_large(r)
    # a chunked form is cut off once it passes the limit and the form's allowance
    head, tail = _form("b0undary")
    body = Offered(chunks=1000, head=head, tail=tail)
    form_type = {"Content-Type": "multipart/form-data; boundary=b0undary"}
    r = send(app, "POST", "/blobs/upload", body, {**ANN, **form_type})
    _too_large(r)
    assert body.pulled <= (LIMIT + FORM_OVERHEAD_BYTES) // 1000 + 2
    # and a declared length past both is refused before anything is read
    body = Offered(chunks=1000, head=head, tail=tail)
    length = {"Content-Length": str(len(head) + 1000 * 1000 + len(tail))}
    r = send(app, "POST", "/blobs/upload", body, {**ANN, **form_type, **length})
    _too_large(r)
    assert body.pulled == 0
    _nothing_kept(crud, tmp_path)
    r = client.post("/blobs/upload", files={"file": ("a", b"y" * LIMIT)}, headers=ANN)
    assert r.status_code == 201, r.text


def test_session_routes_refuse_sizes_and_parts_over_the_limit(
    app: FastAPI, client: TestClient, crud: SpecStar, tmp_path: Path
) -> None:
    r = client.post("/blobs/upload-sessions", json={"size": LIMIT + 1}, headers=ANN)
    _too_large(r)
    r = client.post("/blobs/upload-sessions", json={}, headers=ANN)
    assert r.status_code == 201, r.text
    base = f"/blobs/upload-sessions/{r.json()['upload_id']}"
    assert client.put(f"{base}/content", content=b"a" * 6000, headers=ANN).status_code == 200
    # the second part would take the session past the limit: chunked, then with a length
    body = Offered(chunks=100)
    _too_large(send(app, "PUT", f"{base}/content?part_number=2", body, ANN))
    assert body.pulled <= 5  # 4000 bytes were left
    body = Offered(chunks=20)
    r = send(app, "PUT", f"{base}/content?part_number=2", body, {**ANN, "Content-Length": "20000"})
    _too_large(r)
    assert body.pulled == 0
    progress = client.get(base, headers=ANN).json()
    assert progress["parts_received"] == [1]
    assert progress["uploaded_size"] == 6000
    r = client.put(f"{base}/content?part_number=2", content=b"b" * 4000, headers=ANN)
    assert r.status_code == 200, r.text
    r = client.post(f"{base}/finalize", headers=ANN)
    assert r.status_code == 200, r.text
    assert r.json()["size"] == LIMIT


def test_a_part_past_the_declared_size_is_a_422_naming_size(client: TestClient) -> None:
    r = client.post("/blobs/upload-sessions", json={"size": 100}, headers=ANN)
    base = f"/blobs/upload-sessions/{r.json()['upload_id']}"
    r = client.put(f"{base}/content", content=b"a" * 101, headers=ANN)
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["errors"]] == ["size"]
    assert client.get(base, headers=ANN).json()["parts_received"] == []


def test_inline_binary_data_is_held_to_the_limit(crud: SpecStar) -> None:
    crud.configure(max_file_bytes=100)  # applies to the models registered already
    assert crud.get_resource_manager(Report).max_file_bytes == 100
    assert crud.blob_uploads.max_file_bytes == 100
    app = FastAPI()
    crud.apply(app)
    with TestClient(app) as c:
        doc = {"title": "t", "pdf": {"data": base64.b64encode(b"x" * 101).decode()}}
        r = c.post("/report", json=doc, headers=ANN)
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "content_too_large"
        assert [e["loc"] for e in r.json()["errors"]] == ["/pdf/data"]
        doc = {"title": "t", "pdf": {"data": base64.b64encode(b"x" * 100).decode()}}
        r = c.post("/report", json=doc, headers=ANN)
        assert r.status_code == 201, r.text


def test_the_limit_is_validated_by_the_app() -> None:
    with pytest.raises(ValueError, match="max_file_bytes"):
        SpecStar(max_file_bytes=0)
    with pytest.raises(TypeError, match="max_file_bytes"):
        SpecStar().configure(max_file_bytes="1 GB")  # type: ignore[arg-type]

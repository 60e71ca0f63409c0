"""Blob routes through TestClient: uploads, sessions, downloads with ranges, authorization."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from specstar.core import Binary, PermissionDeniedError
from specstar.fastapi import DependencyProvider, SpecStar
from specstar.sql import SQLiteStorageFactory


class Report(msgspec.Struct, kw_only=True):
    title: str
    pdf: Binary | None = None
    pictures: list[Binary] = []


class Note(msgspec.Struct, kw_only=True):
    text: str


def header_user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


class NoBobReports:
    def check(self, ctx: Any) -> None:
        if ctx.user == "bob" and ctx.action == "get":
            raise PermissionDeniedError("bob reads no reports")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    crud = SpecStar(
        storage_factory=SQLiteStorageFactory(tmp_path / "data"),
        dependency_provider=DependencyProvider(get_user=header_user),
    )
    crud.add_model(Report)
    crud.add_model(Report, name="private-report", permission_checker=NoBobReports())
    crud.add_model(Note)
    app = FastAPI()
    crud.apply(app)
    with TestClient(app) as c:
        yield c


ANN = {"X-User": "ann"}
BOB = {"X-User": "bob"}


def upload(client: TestClient, data: bytes, user: dict[str, str] = ANN) -> dict[str, Any]:
    r = client.post("/blobs/upload", files={"file": ("a.txt", data, "text/plain")}, headers=user)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_form_upload_and_download(client: TestClient) -> None:
    body = upload(client, b"hello world")
    file_id = hashlib.sha256(b"hello world").hexdigest()
    assert body == {"file_id": file_id, "size": 11, "content_type": "text/plain"}
    r = client.get(f"/blobs/{file_id}", headers=ANN)
    assert r.status_code == 200
    assert r.content == b"hello world"
    assert r.headers["content-length"] == "11"
    assert r.headers["etag"] == f'"{file_id}"'
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["accept-ranges"] == "bytes"
    r = client.get(f"/blobs/{file_id}", headers={**ANN, "If-None-Match": f'"{file_id}"'})
    assert r.status_code == 304
    head = client.head(f"/blobs/{file_id}", headers=ANN)
    assert head.status_code == 200
    assert head.headers["content-length"] == "11"


def test_raw_body_upload(client: TestClient) -> None:
    r = client.post(
        "/blobs/upload", content=b"\x89PNG raw", headers={**ANN, "Content-Type": "image/png"}
    )
    assert r.status_code == 201
    assert r.json()["content_type"] == "image/png"


def test_ranges(client: TestClient) -> None:
    data = bytes(range(256)) * 100
    file_id = upload(client, data)["file_id"]
    url = f"/blobs/{file_id}"
    cases = {
        "bytes=0-9": (0, 10),
        "bytes=100-": (100, len(data)),
        "bytes=-5": (len(data) - 5, len(data)),
        "bytes=25590-999999": (25590, len(data)),
    }
    for header, (start, stop) in cases.items():
        r = client.get(url, headers={**ANN, "Range": header})
        assert r.status_code == 206, header
        assert r.content == data[start:stop]
        assert r.headers["content-range"] == f"bytes {start}-{stop - 1}/{len(data)}"
        assert r.headers["content-length"] == str(stop - start)
    r = client.get(url, headers={**ANN, "Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    assert client.get(url, headers={**ANN, "Range": "bytes=-0"}).status_code == 416
    r = client.get(url, headers={**ANN, "Range": "pages=1-2"})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_range"
    r = client.get(url, headers={**ANN, "Range": "bytes=0-1", "If-Range": '"other"'})
    assert r.status_code == 200
    assert r.content == data


def test_only_the_uploader_reads_through_blobs(client: TestClient) -> None:
    file_id = upload(client, b"ann's secret")["file_id"]
    assert client.get(f"/blobs/{file_id}", headers=BOB).status_code == 404
    assert client.get(f"/blobs/{'0' * 64}", headers=ANN).status_code == 404
    upload(client, b"ann's secret", user=BOB)  # bob uploads the same bytes: now he may
    assert client.get(f"/blobs/{file_id}", headers=BOB).status_code == 200


def test_model_with_binary_and_resource_route(client: TestClient) -> None:
    file_id = upload(client, b"%PDF-1.7 report")["file_id"]
    r = client.post(
        "/report",
        json={"title": "q1", "pdf": {"file_id": file_id}, "pictures": [{"data": "cGljdHVyZQ=="}]},
        headers=ANN,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["resource_id"]
    data = client.get(f"/report/{rid}", headers=ANN).json()["data"]
    assert data["pdf"] == {"file_id": file_id, "size": 15, "content_type": "text/plain"}
    picture = data["pictures"][0]
    assert "data" not in picture
    assert picture["size"] == 7
    # bob may read the report, so he may read its files (not through /blobs/)
    r = client.get(f"/report/{rid}/blobs/{picture['file_id']}", headers=BOB)
    assert r.status_code == 200
    assert r.content == b"picture"
    assert client.get(f"/blobs/{picture['file_id']}", headers=BOB).status_code == 404
    r = client.get(f"/report/{rid}/blobs/{file_id}", headers={**BOB, "Range": "bytes=0-3"})
    assert r.status_code == 206
    assert r.content == b"%PDF"
    # a file the resource does not reference
    other = upload(client, b"unrelated")["file_id"]
    assert client.get(f"/report/{rid}/blobs/{other}", headers=ANN).status_code == 404
    # a reference to a missing file is a 422 naming the field
    r = client.post("/report", json={"title": "x", "pdf": {"file_id": "1" * 64}}, headers=ANN)
    assert r.status_code == 422
    assert any(e["loc"] == "/pdf/file_id" for e in r.json()["errors"])
    # the revision that referenced a file keeps it readable there
    client.put(f"/report/{rid}", json={"title": "q1 v2"}, headers=ANN)
    assert client.get(f"/report/{rid}/blobs/{file_id}", headers=ANN).status_code == 404
    rev = f"{rid}:1"
    r = client.get(f"/report/{rid}/blobs/{file_id}?revision_id={rev}", headers=ANN)
    assert r.status_code == 200


def test_resource_route_needs_read_permission(client: TestClient) -> None:
    r = client.post("/private-report", json={"title": "p", "pdf": {"data": "eA=="}}, headers=ANN)
    rid = r.json()["resource_id"]
    file_id = hashlib.sha256(b"x").hexdigest()
    assert client.get(f"/private-report/{rid}/blobs/{file_id}", headers=ANN).status_code == 200
    assert client.get(f"/private-report/{rid}/blobs/{file_id}", headers=BOB).status_code == 403


def test_no_blob_route_for_models_without_binary(client: TestClient) -> None:
    r = client.post("/note", json={"text": "t"}, headers=ANN)
    rid = r.json()["resource_id"]
    assert client.get(f"/note/{rid}/blobs/{'0' * 64}", headers=ANN).status_code == 404


def test_unknown_input_is_refused(client: TestClient) -> None:
    file_id = upload(client, b"abc")["file_id"]
    r = client.get(f"/blobs/{file_id}?inline=1", headers=ANN)
    assert r.status_code == 400
    assert "inline" in r.text
    r = client.post(
        "/blobs/upload",
        files={"file": ("a", b"x", "text/plain")},
        data={"extra": "1"},
        headers=ANN,
    )
    assert r.status_code == 422
    assert "extra" in r.text
    r = client.post("/blobs/upload-sessions", json={"colour": "red"}, headers=ANN)
    assert r.status_code == 422
    assert "colour" in r.text
    r = client.post("/blobs/upload-sessions", json={"upload_method": "fax"}, headers=ANN)
    assert r.status_code == 422
    assert "upload_method" in r.text


def test_upload_session_over_http(client: TestClient) -> None:
    parts = [b"a" * 1000, b"b" * 1000, b"c" * 10]
    whole = b"".join(parts)
    r = client.post(
        "/blobs/upload-sessions",
        json={
            "content_type": "application/x-test",
            "size": len(whole),
            "total_parts": 3,
            "sha256": hashlib.sha256(whole).hexdigest(),
        },
        headers=ANN,
    )
    assert r.status_code == 201, r.text
    session = r.json()
    upload_id = session["upload_id"]
    assert session["status"] == "pending"
    assert session["upload_method"] == "proxy"
    base = f"/blobs/upload-sessions/{upload_id}"
    for n in (3, 1):
        r = client.put(f"{base}/content?part_number={n}", content=parts[n - 1], headers=ANN)
        assert r.status_code == 200, r.text
    got = client.get(base, headers=ANN).json()
    assert got["status"] == "uploading"
    assert got["parts_received"] == [1, 3]
    assert got["uploaded_size"] == 1010
    assert client.get(base, headers=BOB).status_code == 404  # only the creator
    assert client.put(f"{base}/content", content=b"x", headers=BOB).status_code == 404
    r = client.post(f"{base}/finalize", headers=ANN)
    assert r.status_code == 422
    assert "missing [2]" in r.text
    client.put(f"{base}/content?part_number=2", content=parts[1], headers=ANN)
    r = client.post(f"{base}/finalize", json={"sha256": "f" * 64}, headers=ANN)
    assert r.status_code == 422
    r = client.post(f"{base}/finalize", headers=ANN)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "finalized"
    assert done["file_id"] == hashlib.sha256(whole).hexdigest()
    r = client.get(f"/blobs/{done['file_id']}", headers=ANN)
    assert r.content == whole
    assert r.headers["content-type"].startswith("application/x-test")
    r = client.put(f"{base}/content?part_number=0", content=b"x", headers=ANN)
    assert r.status_code == 422


def test_abort_session(client: TestClient) -> None:
    r = client.post("/blobs/upload-sessions", json={}, headers=ANN)
    base = f"/blobs/upload-sessions/{r.json()['upload_id']}"
    client.put(f"{base}/content", content=b"one", headers=ANN)
    assert client.post(f"{base}/abort", headers=ANN).json()["status"] == "aborted"
    assert client.post(f"{base}/finalize", headers=ANN).status_code == 422
    assert client.get("/blobs/upload-sessions/" + "0" * 32, headers=ANN).status_code == 404


def test_openapi_documents_the_blob_routes(client: TestClient) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/openapi.json").json()
    validate(doc)
    assert {
        "/blobs/upload",
        "/blobs/upload-sessions",
        "/blobs/upload-sessions/{upload_id}/content",
        "/blobs/{file_id}",
        "/report/{resource_id}/blobs/{file_id}",
    } <= set(doc["paths"])
    assert {"Binary", "BlobUploadSession"} <= set(doc["components"]["schemas"])
    assert "/note/{resource_id}/blobs/{file_id}" not in doc["paths"]


class BlobRules:
    """eve may not upload, mallory may not read files; everyone else may do anything."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []

    def check(self, ctx: Any) -> None:
        self.seen.append((ctx.action, ctx.user, ctx.resource_id))
        if ctx.action == "blob_upload" and ctx.user == "eve":
            raise PermissionDeniedError("eve uploads nothing")
        if ctx.action == "blob_read" and ctx.user == "mallory":
            raise PermissionDeniedError("mallory reads no files")


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[TestClient, BlobRules]]:
    rules = BlobRules()
    crud = SpecStar(
        storage_factory=SQLiteStorageFactory(tmp_path / "data"),
        dependency_provider=DependencyProvider(get_user=header_user),
        permission_checker=rules,
    )
    crud.add_model(Report)
    app = FastAPI()
    crud.apply(app)
    with TestClient(app) as c:
        yield c, rules


def _denied(r: Any, action: str) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "permission_denied"
    assert r.json()["status"] == 403


def test_upload_routes_ask_the_checker_for_blob_upload(
    guarded: tuple[TestClient, BlobRules],
) -> None:
    client, rules = guarded
    EVE = {"X-User": "eve"}
    _denied(client.post("/blobs/upload", content=b"x", headers=EVE), "blob_upload")
    _denied(
        client.post("/blobs/upload", files={"file": ("a", b"x", "text/plain")}, headers=EVE),
        "blob_upload",
    )
    _denied(client.post("/blobs/upload-sessions", json={}, headers=EVE), "blob_upload")
    r = client.post("/blobs/upload-sessions", json={}, headers=ANN)
    assert r.status_code == 201, r.text
    upload_id = r.json()["upload_id"]
    base = f"/blobs/upload-sessions/{upload_id}"
    # eve is refused by the checker before the session's owner check (403, not 404)
    _denied(client.get(base, headers=EVE), "blob_upload")
    _denied(client.put(f"{base}/content", content=b"x", headers=EVE), "blob_upload")
    _denied(client.post(f"{base}/finalize", headers=EVE), "blob_upload")
    _denied(client.post(f"{base}/abort", headers=EVE), "blob_upload")
    assert client.put(f"{base}/content", content=b"abc", headers=ANN).status_code == 200
    r = client.post(f"{base}/finalize", headers=ANN)
    assert r.status_code == 200, r.text
    assert r.json()["file_id"] == hashlib.sha256(b"abc").hexdigest()
    assert ("blob_upload", "ann", None) in rules.seen
    assert client.get("/blobs/upload-sessions/" + upload_id, headers=ANN).status_code == 200


def test_download_routes_ask_the_checker_for_blob_read(
    guarded: tuple[TestClient, BlobRules],
) -> None:
    client, rules = guarded
    MALLORY = {"X-User": "mallory"}
    file_id = upload(client, b"secret", MALLORY)["file_id"]  # she may upload...
    _denied(client.get(f"/blobs/{file_id}", headers=MALLORY), "blob_read")  # ...not read
    assert client.get(f"/blobs/{file_id}", headers=ANN).status_code == 404  # not ann's upload
    r = client.post("/report", json={"title": "r", "pdf": {"file_id": file_id}}, headers=ANN)
    rid = r.json()["resource_id"]
    r = client.get(f"/report/{rid}/blobs/{file_id}", headers=ANN)
    assert r.status_code == 200
    assert r.content == b"secret"
    assert ("blob_read", "ann", rid) in rules.seen  # with the resource id
    _denied(client.get(f"/report/{rid}/blobs/{file_id}", headers=MALLORY), "blob_read")


def test_a_rule_table_must_name_the_blob_actions(tmp_path: Path) -> None:
    from specstar.core import ActionBasedChecker
    from specstar.core.permissions import any_user

    def app_with(rules: dict[str, Any]) -> TestClient:
        crud = SpecStar(
            storage_factory=SQLiteStorageFactory(tmp_path / f"d{len(rules)}"),
            dependency_provider=DependencyProvider(get_user=header_user),
            permission_checker=ActionBasedChecker(rules),
        )
        crud.add_model(Report)
        app = FastAPI()
        crud.apply(app)
        return TestClient(app)

    with app_with({"read": any_user, "write": any_user}) as c:  # neither group holds them
        _denied(c.post("/blobs/upload", content=b"x", headers=ANN), "blob_upload")
    with app_with({"read": any_user, "write": any_user, "blob_upload": any_user}) as c:
        r = c.post("/blobs/upload", content=b"x", headers=ANN)
        assert r.status_code == 201, r.text
        _denied(c.get(f"/blobs/{r.json()['file_id']}", headers=ANN), "blob_read")

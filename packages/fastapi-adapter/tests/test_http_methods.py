"""HTTP method semantics: ``Allow`` on 405 names every method of the path; ``HEAD`` on reads."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from specstar.fastapi import SpecStar


class Item(msgspec.Struct, kw_only=True):
    name: str


def _allow(r: Any) -> list[str]:
    return [m.strip() for m in r.headers["allow"].split(",")]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/book/engines", ["GET", "HEAD", "PUT", "PATCH", "DELETE"]),
        ("PATCH", "/book", ["GET", "HEAD", "POST"]),
        ("GET", "/book/b-1/restore", ["POST"]),
        ("PUT", "/book/b-1/revisions", ["GET", "HEAD"]),
        ("GET", "/note/n-1/modify", ["POST"]),
    ],
)
def test_405_allow_lists_every_method_of_the_path(
    client: TestClient, method: str, path: str, expected: list[str]
) -> None:
    r = client.request(method, path)
    assert r.status_code == 405, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert _allow(r) == expected


def test_405_allow_without_app_level_handlers() -> None:
    """Routes on a router included in a plain app (no problem handlers installed)."""
    crud = SpecStar()
    crud.add_model(Item)
    app = FastAPI()
    router = APIRouter(prefix="/api")
    crud.apply(app, router=router)
    with TestClient(app) as c:
        r = c.post("/api/item/i-1")
        assert r.status_code == 405
        assert _allow(r) == ["GET", "HEAD", "PUT", "PATCH", "DELETE"]


def test_head_on_a_read_has_the_headers_and_no_body(client: TestClient, make_book: Any) -> None:
    info = make_book()
    rid = info["resource_id"]
    get = client.get(f"/book/{rid}")
    head = client.head(f"/book/{rid}")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"] == f'"{info["revision_id"]}"'
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))
    not_modified = client.head(f"/book/{rid}", headers={"If-None-Match": get.headers["etag"]})
    assert not_modified.status_code == 304
    assert not_modified.headers["etag"] == get.headers["etag"]
    missing = client.head("/book/nope")
    assert missing.status_code == 404
    assert missing.content == b""
    assert missing.headers["content-type"] == "application/problem+json"


def test_head_on_every_get_route(client: TestClient, make_book: Any) -> None:
    rid = make_book()["resource_id"]
    for path in ["/book", "/book/count", f"/book/{rid}", f"/book/{rid}/revisions"]:
        get = client.get(path)
        head = client.head(path)
        assert (head.status_code, head.content) == (get.status_code, b""), path
        same = {k: v for k, v in get.headers.items() if k != "date"}
        assert {k: v for k, v in head.headers.items() if k != "date"} == same, path


def test_head_is_not_a_separate_openapi_operation(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert all("head" not in item for item in paths.values())

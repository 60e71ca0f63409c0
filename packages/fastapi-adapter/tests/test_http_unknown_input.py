"""Over HTTP nothing is silently dropped: an undeclared body member is a 422 naming it, a
patch adding an undeclared path a 422, a ``partial`` path naming nothing a 400."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from specstar.fastapi import SpecStar

from .conftest import Book, book


def _locs(r: Any) -> list[str]:
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    return [e["loc"] for e in r.json()["errors"]]


def test_create_with_an_undeclared_member_is_a_422(client: TestClient) -> None:
    assert _locs(client.post("/book", json=book(nickname="x"))) == ["/nickname"]
    assert client.get("/book/count").json() == {"count": 0}


def test_nested_undeclared_members_are_named(client: TestClient) -> None:
    body = {"name": "N", "address": {"city": "C", "zip": "1"}}
    assert _locs(client.post("/user-profile", json=body)) == ["/address/zip"]


def test_unknown_members_are_listed_with_the_other_errors(client: TestClient) -> None:
    body = {"name": 1, "address": {"city": "C", "zip": "1"}, "nickname": "x"}
    assert _locs(client.post("/user-profile", json=body)) == ["/name", "/address/zip", "/nickname"]


def test_replace_and_modify_with_an_undeclared_member(client: TestClient, make_book: Any) -> None:
    rid = make_book()["resource_id"]
    assert _locs(client.put(f"/book/{rid}", json=book(nickname="x"))) == ["/nickname"]
    assert _locs(client.put("/book/new-one", json=book(nickname="x"))) == ["/nickname"]
    client.post("/note", params={"resource_id": "n-1"}, json={"text": "draft"})
    r = client.post("/note/n-1/modify", json={"data": {"text": "t", "mood": "x"}})
    assert _locs(r) == ["/mood"]


def test_patches_adding_an_undeclared_path_are_a_422(client: TestClient, make_book: Any) -> None:
    rid = make_book()["resource_id"]
    ops = [{"op": "add", "path": "/nickname", "value": "x"}]
    assert _locs(client.patch(f"/book/{rid}", json=ops)) == ["/nickname"]
    assert _locs(client.patch(f"/book/{rid}", json={"nickname": "x"})) == ["/nickname"]
    assert client.get(f"/book/{rid}").json()["meta"]["total_revision_count"] == 1


def test_a_model_may_allow_unknown_fields() -> None:
    crud = SpecStar()
    crud.add_model(Book, allow_unknown_fields=True)
    app = FastAPI()
    crud.apply(app)
    with TestClient(app) as c:
        r = c.post("/book", json=book(nickname="x"))
        assert r.status_code == 201, r.text
        data = c.get(f"/book/{r.json()['resource_id']}/data").json()
        assert "nickname" not in data


@pytest.mark.parametrize("path", ["nickname", "/address/zip", "name.first"])
def test_a_partial_path_naming_nothing_is_a_400(client: TestClient, path: str) -> None:
    rid = client.post("/user-profile", json={"name": "N"}).json()["resource_id"]
    for url in (f"/user-profile/{rid}/partial", "/user-profile/_partial"):
        r = client.get(url, params={"partial": path})
        assert r.status_code == 400, r.text
        assert path.replace(".", "/").lstrip("/") in r.json()["detail"]
    r = client.get(f"/user-profile/{rid}/partial", params={"partial": "address.city"})
    assert r.status_code == 200, r.text

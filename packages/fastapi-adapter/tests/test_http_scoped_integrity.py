"""Integrity over HTTP does not depend on who deletes, on memory, SQLite and PostgreSQL.

Users see only their own resources. Ann deletes (softly, then for good) a document that bob's
notes, bookmarks and pins refer to: every cascade and ``set_null`` reaches bob's resources,
``restrict`` counts bob's pin without naming it, and no live reference dangles after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from specstar.core import OnDelete, OwnershipChecker, Ref, StorageFactory
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers


class Document(msgspec.Struct, kw_only=True):
    title: str


class Note(msgspec.Struct, kw_only=True):
    text: str
    doc_id: Annotated[str, Ref("document", on_delete=OnDelete.cascade, cross_scope=True)]


class Bookmark(msgspec.Struct, kw_only=True):
    doc_id: Annotated[
        str | None, Ref("document", on_delete=OnDelete.set_null, cross_scope=True)
    ] = None


class Pin(msgspec.Struct, kw_only=True):
    doc_id: Annotated[str, Ref("document", on_delete=OnDelete.restrict, cross_scope=True)]


class Memo(msgspec.Struct, kw_only=True):
    doc_id: Annotated[str, Ref("document")]


def _user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


@pytest.fixture
def client(factory: StorageFactory) -> Iterator[TestClient]:
    crud = SpecStar(
        storage_factory=factory,
        permission_checker=OwnershipChecker(admins=["root"]),
        dependency_provider=DependencyProvider(get_user=_user),
    )
    for model in (Document, Note, Bookmark, Pin, Memo):
        crud.add_model(model)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


ANN, BOB, ROOT = {"X-User": "ann"}, {"X-User": "bob"}, {"X-User": "root"}


def _create(c: TestClient, path: str, body: dict[str, Any], who: dict[str, str]) -> str:
    r = c.post(path, json=body, headers=who)
    assert r.status_code == 201, r.text
    rid: str = r.json()["resource_id"]
    return rid


def _dangling(c: TestClient) -> list[str]:
    """Live references (of every user) to documents that are not live."""
    live = {
        m["resource_id"]
        for m in c.get("/document", params={"returns": "meta"}, headers=ROOT).json()
    }
    found = []
    for path in ("/note", "/bookmark", "/pin"):
        for item in c.get(path, params={"returns": "data"}, headers=ROOT).json():
            doc_id = item["data"]["doc_id"]
            if doc_id is not None and doc_id not in live:
                found.append(doc_id)
    return found


def test_a_scoped_users_deletes_reach_every_referrer(client: TestClient) -> None:
    c = client
    doc = _create(c, "/document", {"title": "ann's"}, ANN)
    note = _create(c, "/note", {"text": "bob's", "doc_id": doc}, BOB)
    mark = _create(c, "/bookmark", {"doc_id": doc}, BOB)
    pin = _create(c, "/pin", {"doc_id": doc}, BOB)

    r = c.delete(f"/document/{doc}", headers=ANN)
    assert r.status_code == 409
    problem = r.json()
    assert problem["code"] == "reference_restricted"
    assert (problem["referrer_count"], problem["hidden_referrers"], problem["referrers"]) == (
        1,
        1,
        [],
    )
    assert pin not in r.text
    assert c.delete(f"/pin/{pin}", headers=BOB).status_code == 200

    assert c.delete(f"/document/{doc}", headers=ANN).status_code == 200
    assert c.get(f"/note/{note}", headers=BOB).status_code == 410  # cascaded
    assert c.get(f"/bookmark/{mark}", headers=BOB).json()["data"]["doc_id"] is None
    assert _dangling(c) == []

    r = c.post(f"/document/{doc}/restore", params={"cascade": "true"}, headers=ANN)
    assert r.status_code == 200
    assert c.get(f"/note/{note}", headers=BOB).status_code == 200  # the cascade undone
    assert c.get(f"/note/{note}", headers=ANN).status_code == 404  # and still bob's alone

    r = c.delete(f"/document/{doc}/permanently", headers=ANN)
    assert r.status_code == 409  # bob's soft-deleted pin could come back: it still counts
    assert r.json()["hidden_referrers"] == 1
    assert pin not in r.text
    assert c.delete(f"/pin/{pin}/permanently", headers=BOB).status_code == 200
    assert c.delete(f"/document/{doc}/permanently", headers=ANN).status_code == 200
    assert c.get(f"/note/{note}", headers=ROOT).status_code == 404  # gone for good
    assert _dangling(c) == []


def test_a_reference_to_a_hidden_document_is_refused_like_a_missing_one(
    client: TestClient,
) -> None:
    c = client
    doc = _create(c, "/document", {"title": "ann's"}, ANN)
    hidden = c.post("/memo", json={"doc_id": doc}, headers=BOB)
    missing = c.post("/memo", json={"doc_id": "document:nope"}, headers=BOB)
    assert hidden.status_code == missing.status_code == 422
    assert hidden.text.replace(doc, "ID") == missing.text.replace("document:nope", "ID")
    assert c.post("/memo", json={"doc_id": doc}, headers=ANN).status_code == 201

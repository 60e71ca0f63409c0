"""Existence oracles and loose parameters, on memory, SQLite and PostgreSQL.

* an id held by a resource the user may not see answers every create-like request exactly as
  a taken id does (``PUT``, ``PUT`` with ``If-None-Match: *``, ``POST ?resource_id=``);
* ``client_ids=False`` refuses client-chosen ids with one 422 naming the setting, before
  anything is read: a hidden id, a visible one and a free one get the same answer;
* date-time query parameters take ISO 8601 only (a plain number is no date);
* another method on a fixed route (``/m/_migrate``, ``/m/count``) is 405 with ``Allow``;
* ``Unique(normalize=...)`` variants of one value are 409s naming the field and the value as
  written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from httpx2 import Response

from specstar.core import (
    ClientIdsDisabledError,
    OwnershipChecker,
    ResourceManager,
    Schema,
    StorageFactory,
    Unique,
)
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers


class Document(msgspec.Struct, kw_only=True):
    title: str


class Ticket(msgspec.Struct, kw_only=True):
    title: str


class Account(msgspec.Struct, kw_only=True):
    email: Annotated[str, Unique(normalize="casefold+nfkc+trim+invisible")]


def _user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


@pytest.fixture
def crud(factory: StorageFactory) -> SpecStar:
    crud = SpecStar(
        storage_factory=factory,
        permission_checker=OwnershipChecker(admins=["root"]),
        dependency_provider=DependencyProvider(get_user=_user),
    )
    crud.add_model(Schema(Document, "v1"), migrate_route=True)
    crud.add_model(Ticket, client_ids=False)
    crud.add_model(Account)
    return crud


@pytest.fixture
def client(crud: SpecStar) -> Iterator[TestClient]:
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


ANN, BOB = {"X-User": "ann"}, {"X-User": "bob"}


def _answer(r: Response, rid: str) -> tuple[int, str]:
    """Status and body, with the id and the request path taken out."""
    doc = r.json()
    doc.pop("instance", None)
    return r.status_code, msgspec.json.encode(doc).decode().replace(rid, "ID")


def test_a_hidden_id_answers_like_a_taken_one(client: TestClient) -> None:
    c = client
    hidden = c.post("/document", json={"title": "bob's"}, headers=BOB).json()["resource_id"]
    taken = c.post("/document", json={"title": "ann's"}, headers=ANN).json()["resource_id"]
    body = {"title": "x"}
    star = {**ANN, "If-None-Match": "*"}
    for request in (
        lambda rid: c.put(f"/document/{rid}", json=body, headers=star),
        lambda rid: c.post("/document", params={"resource_id": rid}, json=body, headers=star),
        lambda rid: c.post("/document", params={"resource_id": rid}, json=body, headers=ANN),
    ):
        assert _answer(request(hidden), hidden) == _answer(request(taken), taken)
    plain = c.put(f"/document/{hidden}", json=body, headers=ANN)
    post = c.post("/document", params={"resource_id": taken}, json=body, headers=ANN)
    assert _answer(plain, hidden) == _answer(post, taken)
    assert plain.status_code == 409
    assert c.get(f"/document/{hidden}", headers=BOB).json()["data"] == {"title": "bob's"}


def test_client_ids_can_be_disabled(client: TestClient, crud: SpecStar) -> None:
    c = client
    hidden = c.post("/ticket", json={"title": "bob's"}, headers=BOB).json()["resource_id"]
    own = c.post("/ticket", json={"title": "ann's"}, headers=ANN).json()["resource_id"]
    body = {"title": "x"}
    posts, puts = set(), set()
    for rid in (hidden, own, "free-id"):
        r = c.post("/ticket", params={"resource_id": rid}, json=body, headers=ANN)
        posts.add(_answer(r, rid))
        r = c.put(f"/ticket/{rid}", json=body, headers={**ANN, "If-None-Match": "*"})
        puts.add(_answer(r, rid))
    assert len(posts) == len(puts) == 1  # one answer, whichever id
    for answers, source in ((posts, "query"), (puts, "path")):
        [(status, text)] = answers
        doc = msgspec.json.decode(text)
        assert (status, doc["code"]) == (422, "client_ids_disabled")
        assert "client_ids=False" in doc["detail"]
        assert [(e["loc"], e["source"]) for e in doc["errors"]] == [("resource_id", source)]

    put_hidden = c.put(f"/ticket/{hidden}", json=body, headers=ANN)
    put_free = c.put("/ticket/free-id", json=body, headers=ANN)
    assert _answer(put_hidden, hidden) == _answer(put_free, "free-id")
    assert put_free.json()["code"] == "client_ids_disabled"
    assert put_free.json()["errors"][0]["source"] == "path"
    assert c.put(f"/ticket/{own}", json=body, headers=ANN).status_code == 200  # still replaces
    assert c.get("/ticket/free-id", headers={"X-User": "root"}).status_code == 404

    tickets: ResourceManager[Any] = crud.get_resource_manager("ticket")
    with pytest.raises(ClientIdsDisabledError):
        tickets.create(Ticket(title="t"), resource_id="mine", user="ann")
    with pytest.raises(ClientIdsDisabledError):
        tickets.create_or_update("mine", Ticket(title="t"), user="ann")
    assert tickets.create(Ticket(title="t"), user="ann").resource_id.startswith("ticket:")


@pytest.mark.parametrize("value", ["1700000000", "0", "-1", "1e9", "1700000000.5", "yesterday"])
def test_date_time_parameters_take_iso_8601_only(client: TestClient, value: str) -> None:
    for name in (
        "created_time_start",
        "created_time_end",
        "updated_time_start",
        "updated_time_end",
    ):
        for path in ("/document", "/document/count"):
            r = client.get(path, params={name: value}, headers=ANN)
            assert r.status_code == 422, (name, value, r.text)
            assert r.json()["code"] == "validation_error"
            assert [(e["source"], e["loc"]) for e in r.json()["errors"]] == [("query", name)]


def test_iso_8601_date_times_still_filter(client: TestClient) -> None:
    client.post("/document", json={"title": "t"}, headers=ANN)
    for value in ("2000-01-01", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00+02:00"):
        r = client.get("/document/count", params={"created_time_start": value}, headers=ANN)
        assert r.json() == {"count": 1}
    r = client.get("/document/count", params={"created_time_end": "2000-01-01"}, headers=ANN)
    assert r.json() == {"count": 0}


def test_another_method_on_a_fixed_route_is_405(client: TestClient) -> None:
    for method in ("PUT", "PATCH", "DELETE", "GET"):
        r = client.request(method, "/document/_migrate", json={"title": "x"}, headers=ANN)
        assert (r.status_code, r.headers["allow"]) == (405, "POST"), (method, r.text)
        assert r.json()["code"] == "method_not_allowed"
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        r = client.request(method, "/document/count", json={"title": "x"}, headers=ANN)
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD"), (method, r.text)
    r = client.put("/document/ordinary-id", json={"title": "x"}, headers=ANN)
    assert r.status_code == 201  # ids that name no fixed route are untouched


def test_normalised_unique_variants_are_conflicts(client: TestClient) -> None:
    first = client.post("/account", json={"email": "Ann@Example.com"}, headers=ANN)
    assert first.status_code == 201
    for variant in (
        "ann@example.com",
        "\uff21\uff2e\uff2e@example.com",
        " ann@example.com",
        "a\u200bnn@x",
    ):
        r = client.post("/account", json={"email": variant}, headers=ANN)
        if variant.endswith("@x"):
            assert r.status_code == 201  # another address
            continue
        assert r.status_code == 409
        doc = r.json()
        assert (doc["code"], doc["field"], doc["value"]) == ("unique_violation", "email", variant)
        assert doc["conflicting_resource_id"] == first.json()["resource_id"]
    hidden = client.post("/account", json={"email": "ANN@example.com "}, headers=BOB)
    assert hidden.status_code == 409
    assert hidden.json()["conflicting_resource_id"] is None  # held by a resource bob cannot see

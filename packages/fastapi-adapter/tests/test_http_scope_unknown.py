"""Rows whose scoped field is null, missing, or under a value of another type, over HTTP.

The scope of such a row is *unknown*, and only a *true* scope admits a row: every route that
addresses one resource answers 404 ``not_found`` for it and changes nothing, on memory, SQLite
and PostgreSQL, while the same route on the user's own row succeeds; lists and counts leave it
out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from httpx2 import Response

from specstar.core import MemoryStorageFactory, ResourceManager, RevisionStatus, StorageFactory
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers
from specstar.testing import OWNED_INDEXES, Owned
from specstar.testing.suites.scopes import UNKNOWN_OWNER_ROWS, PathScope

BACKENDS = ("memory", "sqlite", "postgres")
PATHS = ("owner", "org.owner")
ADMIN, USER = "root", "alice"


def _user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def _factory(backend: str, request: pytest.FixtureRequest, tag: str) -> StorageFactory:
    if backend == "memory":
        return MemoryStorageFactory()
    sql = pytest.importorskip("specstar.sql", reason="specstar-storage-sql is not installed")
    if backend == "sqlite":
        folder: Path = request.getfixturevalue("tmp_path_factory").mktemp(f"scope-{tag}")
        factory: StorageFactory = sql.SQLiteStorageFactory(folder)
        return factory
    dsn: str = request.getfixturevalue("postgres_dsn")
    run_id: str = request.getfixturevalue("specstar_run_id")
    schema = f"specstar_scope_{run_id}_{tag}"
    factory = sql.PostgresStorageFactory(dsn, schema=schema, pool_size=2)

    def drop() -> None:
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    request.addfinalizer(drop)
    return factory


@dataclass
class Env:
    client: TestClient
    owned: ResourceManager[Owned]
    path: str


@pytest.fixture(
    scope="module",
    params=[(b, p) for b in BACKENDS for p in PATHS],
    ids=[f"{b}-{p}" for b in BACKENDS for p in PATHS],
)
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    backend, path = request.param
    factory = _factory(backend, request, path.replace(".", "_"))
    crud = SpecStar(
        storage_factory=factory,
        permission_checker=PathScope(path, "eq"),
        dependency_provider=DependencyProvider(get_user=_user),
    )
    owned = crud.add_model(Owned, name="owned", indexed_fields=OWNED_INDEXES)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Env(client, owned, path)
    finally:
        close = getattr(factory, "close", None)
        if close is not None:
            close()


class Call(NamedTuple):
    method: str
    url: str
    body: Any = None
    content_type: str | None = None


class Route(NamedTuple):
    call: Callable[[str, dict[str, Any]], Call]  # (resource id, the user's ownership) -> request
    deleted: bool = False  # the route acts on a soft-deleted row
    success: int = 200
    # the answer for a row the user may not see: not found - but a PUT answers a hidden id
    # as it answers any id taken by someone else (409), so PUT is no existence oracle
    hidden: tuple[int, str] = (404, "not_found")


ROUTES: dict[str, Route] = {
    "get": Route(lambda r, o: Call("GET", f"/owned/{r}")),
    "get_meta": Route(lambda r, o: Call("GET", f"/owned/{r}", {"returns": "meta"})),
    "get_partial": Route(lambda r, o: Call("GET", f"/owned/{r}/partial", {"partial": "title"})),
    "get_revision": Route(lambda r, o: Call("GET", f"/owned/{r}", {"revision_id": f"{r}:1"})),
    "get_deleted": Route(
        lambda r, o: Call("GET", f"/owned/{r}", {"include_deleted": "true"}), deleted=True
    ),
    "revisions": Route(lambda r, o: Call("GET", f"/owned/{r}/revisions")),
    "replace": Route(
        lambda r, o: Call("PUT", f"/owned/{r}", {"title": "put", **o}),
        hidden=(409, "already_exists"),
    ),
    "merge_patch": Route(lambda r, o: Call("PATCH", f"/owned/{r}", {"title": "patched"})),
    "json_patch": Route(
        lambda r, o: Call(
            "PATCH",
            f"/owned/{r}",
            [{"op": "replace", "path": "/title", "value": "patched"}],
            "application/json-patch+json",
        )
    ),
    "modify": Route(
        lambda r, o: Call(
            "POST",
            f"/owned/{r}/modify",
            {"patch": [{"op": "replace", "path": "/title", "value": "draft"}]},
        )
    ),
    "switch": Route(lambda r, o: Call("POST", f"/owned/{r}/switch/{r}:1")),
    "delete": Route(lambda r, o: Call("DELETE", f"/owned/{r}")),
    "restore": Route(lambda r, o: Call("POST", f"/owned/{r}/restore"), deleted=True),
    "permanently_delete": Route(lambda r, o: Call("DELETE", f"/owned/{r}/permanently")),
}


def send(env: Env, call: Call) -> Response:
    headers = {"X-User": USER}
    if call.method == "GET":
        return env.client.get(call.url, params=call.body, headers=headers)
    if call.content_type is not None:
        headers["Content-Type"] = call.content_type
        import json

        return env.client.request(
            call.method, call.url, content=json.dumps(call.body), headers=headers
        )
    if call.body is None:
        return env.client.request(call.method, call.url, headers=headers)
    return env.client.request(call.method, call.url, json=call.body, headers=headers)


def ownership(env: Env) -> dict[str, Any]:
    """The data that makes the user the owner of a row."""
    return {"owner": USER} if env.path == "owner" else {"org": {"owner": USER}}


def seed(env: Env, *, deleted: bool) -> tuple[dict[str, str], str]:
    """Fresh rows with an unknown scope (by case id) and one row of the user."""
    m = env.owned
    hidden: dict[str, str] = {}
    for case, path, data in UNKNOWN_OWNER_ROWS:
        if path == env.path:
            rid = m.create({"title": case, **data}, user=ADMIN).resource_id
            m.update(rid, {"title": case, **data}, status=RevisionStatus.draft, user=ADMIN)
            hidden[case] = rid
    mine = ownership(env)
    own = m.create({"title": "mine", **mine}, user=USER).resource_id
    m.update(own, {"title": "mine", **mine}, status=RevisionStatus.draft, user=USER)
    if deleted:
        for rid in [*hidden.values(), own]:
            m.delete(rid, user=ADMIN)
    return hidden, own


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_unknown_scope_row_is_not_found(env: Env, route: str) -> None:
    spec = ROUTES[route]
    hidden, own = seed(env, deleted=spec.deleted)
    store = env.owned.storage
    for case, rid in hidden.items():
        before = (store.get_meta(rid), store.list_revision_ids(rid))
        response = send(env, spec.call(rid, ownership(env)))
        answer = (response.status_code, response.json().get("code"))
        assert answer == spec.hidden, f"{route} on {case}: {response.text}"
        assert case not in response.text
        assert (store.get_meta(rid), store.list_revision_ids(rid)) == before, (
            f"{route} changed {case} while answering {response.status_code}"
        )
    response = send(env, spec.call(own, ownership(env)))
    assert response.status_code == spec.success, response.text


def test_unknown_scope_rows_left_out_of_lists(env: Env) -> None:
    hidden, own = seed(env, deleted=False)
    headers = {"X-User": USER}
    listed = env.client.get("/owned", params={"returns": "meta"}, headers=headers)
    assert listed.status_code == 200, listed.text
    ids = {item["meta"]["resource_id"] for item in listed.json()}
    assert own in ids
    assert not ids & set(hidden.values())

"""The parameters users of the reference API send, each with its documented meaning and each
invalid value refused with a 4xx naming it — on memory, SQLite and PostgreSQL.

The app is built once per backend; every test works on its own ``group`` of resources (an
indexed field) and its own users, so tests never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from httpx2 import Response

from specstar.core import MemoryStorageFactory, StorageFactory, Unique
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers
from specstar.testing.services import drop_postgres_schema

BACKENDS = ("memory", "sqlite", "postgres")


class Item(msgspec.Struct, kw_only=True):
    group: str
    name: str
    qty: int = 0
    code: Annotated[str | None, Unique()] = None


class Labelled(msgspec.Struct, kw_only=True):
    """A model that declares ``resource_id`` as one of its own members."""

    resource_id: str
    label: str


def _user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def _factory(backend: str, request: pytest.FixtureRequest) -> StorageFactory:
    if backend == "memory":
        return MemoryStorageFactory()
    sql = pytest.importorskip("specstar.sql", reason="specstar-storage-sql is not installed")
    if backend == "sqlite":
        folder: Path = request.getfixturevalue("tmp_path_factory").mktemp("reference-params")
        factory: StorageFactory = sql.SQLiteStorageFactory(folder)
        return factory
    dsn: str = request.getfixturevalue("postgres_dsn")
    run_id: str = request.getfixturevalue("specstar_run_id")
    schema = f"specstar_refparams_{run_id}"
    factory = sql.PostgresStorageFactory(dsn, schema=schema, pool_size=4)

    def drop() -> None:

        drop_postgres_schema(dsn, schema)

    request.addfinalizer(drop)
    return factory


@pytest.fixture(scope="module", params=BACKENDS)
def client(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    crud = SpecStar(
        storage_factory=_factory(request.param, request),
        dependency_provider=DependencyProvider(get_user=_user),
    )
    crud.add_model(Item, indexed_fields=["group", "name", "qty"])
    crud.add_model(Labelled)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    with TestClient(app) as c:
        yield c


class Group(NamedTuple):
    name: str
    ids: list[str]


def _new(client: TestClient, group: str, name: str, *, user: str = "ada", **params: Any) -> str:
    rid = f"{group}-{name}"
    r = client.post(
        "/item",
        params={"resource_id": rid, **params},
        json={"group": group, "name": name, "qty": len(name)},
        headers={"X-User": user},
    )
    assert r.status_code == 201, r.text
    return rid


@pytest.fixture
def group(client: TestClient) -> Group:
    """Three items of a fresh group: ``a`` and ``bb`` by ada, ``ccc`` by bob."""
    g = f"g{uuid.uuid4().hex[:8]}"
    ids = [_new(client, g, "a"), _new(client, g, "bb"), _new(client, g, "ccc", user="bob")]
    return Group(g, ids)


def _problem(r: Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    if code is not None:
        assert body["code"] == code, body
    return body


def _names_param(r: Response, status: int, name: str) -> None:
    body = _problem(r, status)
    assert name in body["detail"] or name in [e.get("loc") for e in body.get("errors", [])], body


def _revisions(client: TestClient, rid: str) -> int:
    count: int = client.get(f"/item/{rid}").json()["meta"]["total_revision_count"]
    return count


def _body(group: Group, name: str, qty: int = 1) -> dict[str, Any]:
    return {"group": group.name, "name": name, "qty": qty}


# -- expected_revision_id ------------------------------------------------------------------------


def test_expected_revision_id_on_put(client: TestClient, group: Group) -> None:
    rid = group.ids[0]
    r = client.put(
        f"/item/{rid}", params={"expected_revision_id": f"{rid}:1"}, json=_body(group, "x")
    )
    assert (r.status_code, r.json()["revision_id"]) == (200, f"{rid}:2")
    stale = client.put(
        f"/item/{rid}", params={"expected_revision_id": f"{rid}:1"}, json=_body(group, "y")
    )
    body = _problem(stale, 412, "precondition_failed")
    assert (body["expected"], body["actual"]) == (f"{rid}:1", f"{rid}:2")
    assert _revisions(client, rid) == 2


def test_expected_revision_id_never_creates(client: TestClient, group: Group) -> None:
    missing = f"{group.name}-missing"
    r = client.put(
        f"/item/{missing}", params={"expected_revision_id": f"{missing}:1"}, json=_body(group, "m")
    )
    _problem(r, 404, "not_found")
    assert client.get(f"/item/{missing}").status_code == 404


def test_expected_revision_id_on_patch(client: TestClient, group: Group) -> None:
    rid = group.ids[0]
    ops = [{"op": "replace", "path": "/qty", "value": 9}]
    _problem(client.patch(f"/item/{rid}?expected_revision_id={rid}:7", json=ops), 412)
    assert client.patch(f"/item/{rid}?expected_revision_id={rid}:1", json=ops).status_code == 200
    _problem(client.patch(f"/item/{rid}?expected_revision_id={rid}:1", json={"qty": 3}), 412)
    assert client.get(f"/item/{rid}").json()["data"]["qty"] == 9


def test_expected_revision_id_on_delete_and_restore(client: TestClient, group: Group) -> None:
    rid = group.ids[1]
    _problem(client.delete(f"/item/{rid}?expected_revision_id={rid}:2"), 412)
    assert client.get(f"/item/{rid}").status_code == 200
    assert client.delete(f"/item/{rid}?expected_revision_id={rid}:1").status_code == 200
    _problem(client.post(f"/item/{rid}/restore?expected_revision_id={rid}:3"), 412)
    assert client.post(f"/item/{rid}/restore?expected_revision_id={rid}:1").status_code == 200


def test_expected_revision_id_must_agree_with_if_match(client: TestClient, group: Group) -> None:
    rid = group.ids[0]
    disagree = {"If-Match": f'"{rid}:2"'}
    params = {"expected_revision_id": f"{rid}:1"}
    for r in (
        client.put(f"/item/{rid}", params=params, headers=disagree, json=_body(group, "x")),
        client.patch(f"/item/{rid}", params=params, headers=disagree, json={"qty": 2}),
        client.delete(f"/item/{rid}", params=params, headers=disagree),
    ):
        body = _problem(r, 400, "invalid_precondition")
        assert "expected_revision_id" in body["detail"]
        assert "If-Match" in body["detail"]
    assert _revisions(client, rid) == 1
    agree = {"If-Match": f'"{rid}:1"'}
    assert client.patch(f"/item/{rid}", params=params, headers=agree, json={"qty": 2}).is_success
    star = {"If-Match": "*"}
    params = {"expected_revision_id": f"{rid}:2"}
    assert client.put(
        f"/item/{rid}", params=params, headers=star, json=_body(group, "z")
    ).is_success


def test_invalid_expected_revision_id_is_named(client: TestClient, group: Group) -> None:
    r = client.put(f"/item/{group.ids[0]}?expected_revision_id=%20bad", json=_body(group, "x"))
    _names_param(r, 422, "expected_revision_id")


def test_expected_revision_id_with_create_only_is_400(client: TestClient, group: Group) -> None:
    rid = f"{group.name}-new"
    r = client.put(
        f"/item/{rid}?expected_revision_id={rid}:1",
        headers={"If-None-Match": "*"},
        json=_body(group, "n"),
    )
    _problem(r, 400, "invalid_precondition")


# -- mode and change_status ----------------------------------------------------------------------


def test_put_mode_modify_edits_the_draft_in_place(client: TestClient, group: Group) -> None:
    rid = _new(client, group.name, "draft", status="draft")
    r = client.put(f"/item/{rid}?mode=modify", json=_body(group, "draft", 5))
    assert (r.status_code, r.json()["revision_id"]) == (200, f"{rid}:1")
    assert r.json()["status"] == "draft"
    r = client.put(f"/item/{rid}?mode=modify&change_status=stable", json=_body(group, "draft", 6))
    assert (r.json()["revision_id"], r.json()["status"]) == (f"{rid}:1", "stable")
    read = client.get(f"/item/{rid}").json()
    assert (read["data"]["qty"], read["meta"]["total_revision_count"]) == (6, 1)
    stale = client.put(f"/item/{rid}?mode=modify", json=_body(group, "draft", 7))
    _problem(stale, 409, "revision_not_draft")


def test_patch_mode_modify_json_and_merge_patch(client: TestClient, group: Group) -> None:
    rid = _new(client, group.name, "draft", status="draft")
    ops = [{"op": "replace", "path": "/qty", "value": 11}]
    r = client.patch(f"/item/{rid}?mode=modify", json=ops)
    assert (r.status_code, r.json()["revision_id"]) == (200, f"{rid}:1")
    r = client.patch(f"/item/{rid}?mode=modify&change_status=stable", json={"name": "merged"})
    assert (r.json()["revision_id"], r.json()["status"]) == (f"{rid}:1", "stable")
    data = client.get(f"/item/{rid}").json()["data"]
    assert (data["qty"], data["name"]) == (11, "merged")
    _problem(client.patch(f"/item/{rid}?mode=modify", json={"qty": 1}), 409, "revision_not_draft")


def test_merge_patch_in_place_checks_the_precondition(client: TestClient, group: Group) -> None:
    rid = _new(client, group.name, "draft", status="draft")
    tag = client.get(f"/item/{rid}").headers["ETag"]
    client.patch(f"/item/{rid}?mode=modify", json={"qty": 2})  # the draft's content changes
    r = client.patch(f"/item/{rid}?mode=modify", headers={"If-Match": tag}, json={"qty": 3})
    _problem(r, 412, "precondition_failed")
    r = client.patch(f"/item/{rid}?mode=modify&expected_revision_id={rid}:1", json={"qty": 4})
    assert r.status_code == 200
    assert client.get(f"/item/{rid}").json()["data"]["qty"] == 4


def test_change_status_on_update_is_the_new_revisions(client: TestClient, group: Group) -> None:
    rid = group.ids[0]
    r = client.put(f"/item/{rid}?change_status=draft", json=_body(group, "x"))
    assert (r.json()["revision_id"], r.json()["status"]) == (f"{rid}:2", "draft")
    r = client.patch(f"/item/{rid}?change_status=stable", json={"qty": 4})
    assert (r.json()["revision_id"], r.json()["status"]) == (f"{rid}:3", "stable")
    ops = [{"op": "replace", "path": "/qty", "value": 5}]
    r = client.patch(f"/item/{rid}?change_status=draft", json=ops)
    assert (r.json()["revision_id"], r.json()["status"]) == (f"{rid}:4", "draft")


def test_invalid_mode_and_status_are_named(client: TestClient, group: Group) -> None:
    rid = group.ids[0]
    _names_param(client.put(f"/item/{rid}?mode=replace", json=_body(group, "x")), 422, "mode")
    _names_param(client.patch(f"/item/{rid}?mode=update2", json={"qty": 1}), 422, "mode")
    r = client.patch(f"/item/{rid}?change_status=final", json={"qty": 1})
    _names_param(r, 422, "change_status")
    r = client.put(f"/item/{rid}?status=draft&change_status=stable", json=_body(group, "x"))
    assert "change_status" in _problem(r, 400, "invalid_parameter")["detail"]
    r = client.put(f"/item/{rid}?mode=modify", headers={"If-None-Match": "*"}, json={})
    _problem(r, 400, "invalid_precondition")
    assert _revisions(client, rid) == 1


# -- switch and revision_id by number --------------------------------------------------------------


def test_switch_and_read_by_a_bare_revision_number(client: TestClient, group: Group) -> None:
    rid = group.ids[0]
    client.put(f"/item/{rid}", json=_body(group, "second"))
    r = client.post(f"/item/{rid}/switch/1")
    assert (r.status_code, r.json()["current_revision_id"]) == (200, f"{rid}:1")
    assert client.get(f"/item/{rid}?revision_id=2").json()["data"]["name"] == "second"
    assert client.get(f"/item/{rid}?revision_id=2").json()["info"]["revision_id"] == f"{rid}:2"
    _problem(client.post(f"/item/{rid}/switch/9"), 404, "not_found")
    _problem(client.post(f"/item/{rid}/switch/2?expected_revision_id={rid}:2"), 412)


# -- the revision list -----------------------------------------------------------------------------


@pytest.fixture
def branched(client: TestClient, group: Group) -> str:
    """A resource with revisions 1-2-3-4, switched back to 2, then 5 (child of 2)."""
    rid = group.ids[0]
    for name in ("b", "c", "d"):
        client.put(f"/item/{rid}", json=_body(group, name))
    client.post(f"/item/{rid}/switch/2")
    client.put(f"/item/{rid}", json=_body(group, "e"))
    return rid


def _revs(r: Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [i["revision_id"].rpartition(":")[2] for i in r.json()]


def test_revision_list_sort_chain_and_start(client: TestClient, branched: str) -> None:
    path = f"/item/{branched}/revisions"
    assert _revs(client.get(path)) == ["1", "2", "3", "4", "5"]
    assert _revs(client.get(path, params={"sort": "-created_time"})) == ["5", "4", "3", "2", "1"]
    assert _revs(client.get(path, params={"sort": "+created_time"})) == ["1", "2", "3", "4", "5"]
    chain = client.get(path, params={"chain_only": "true", "sort": "-created_time"})
    assert (_revs(chain), chain.headers["X-Total-Count"]) == (["5", "2", "1"], "3")
    start = client.get(path, params={"from_revision_id": "3", "limit": 1})
    assert (_revs(start), start.headers["X-Has-More"]) == (["3"], "true")
    assert start.headers["X-Total-Count"] == "3"
    more = client.get(path, params={"from_revision_id": f"{branched}:3", "offset": 1})
    assert _revs(more) == ["4", "5"]
    r = client.get(path, params={"from_revision_id": "3", "chain_only": "true"})
    assert "from_revision_id" in _problem(r, 400, "invalid_query")["detail"]


def test_revision_list_time_bounds_and_partial(client: TestClient, branched: str) -> None:
    path = f"/item/{branched}/revisions"
    infos = client.get(path).json()
    third = infos[2]["created_time"]
    times = [datetime.fromisoformat(i["created_time"]) for i in infos]
    bound = times[2]
    after = client.get(path, params={"created_time_start": third, "partial": "revision_id"})
    expected = [i["revision_id"] for i, t in zip(infos, times, strict=True) if t >= bound]
    assert [i["revision_id"] for i in after.json()] == expected
    assert f"{branched}:3" in expected
    assert all(set(i) == {"revision_id"} for i in after.json())
    before = client.get(path, params={"created_time_end": third})
    expected = [i["revision_id"] for i, t in zip(infos, times, strict=True) if t < bound]
    assert [i["revision_id"] for i in before.json()] == expected
    assert f"{branched}:3" not in expected
    both = client.get(
        path, params=[("partial", "info/status"), ("partial[]", "parent_revision_id")]
    )
    assert both.json()[1] == {"status": "stable", "parent_revision_id": f"{branched}:1"}


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({"sort": "title"}, 422, "sort"),
        ({"chain_only": "perhaps"}, 422, "chain_only"),
        ({"created_time_start": "yesterday"}, 422, "created_time_start"),
        ({"from_revision_id": "9"}, 400, "from_revision_id"),
        ({"from_revision_id": "%bad"}, 422, "from_revision_id"),
        ({"partial": "title"}, 400, "title"),
    ],
)
def test_invalid_revision_list_parameters_are_named(
    client: TestClient, group: Group, params: dict[str, str], status: int, named: str
) -> None:
    _names_param(client.get(f"/item/{group.ids[0]}/revisions", params=params), status, named)


# -- listing filters -----------------------------------------------------------------------------


def _ids(r: Response) -> list[str]:
    assert r.status_code == 200, r.text
    return sorted(item["info"]["resource_id"] for item in r.json())


def _in_group(group: Group, **params: Any) -> dict[str, Any]:
    return {"qb": f'group == "{group.name}"', **params}


@pytest.mark.parametrize("name", ["created_bys", "updated_bys"])
def test_users_under_the_reference_names(client: TestClient, group: Group, name: str) -> None:
    a, bb, ccc = group.ids
    assert _ids(client.get("/item", params=_in_group(group, **{name: "bob"}))) == [ccc]
    assert _ids(client.get("/item", params=_in_group(group, **{name: "bob,ada"}))) == [a, bb, ccc]
    params = [("qb", f'group == "{group.name}"'), (f"{name}[]", "ada")]
    assert _ids(client.get("/item", params=params)) == [a, bb]
    assert _ids(client.get("/item", params=_in_group(group, **{name: "nobody"}))) == []
    count = client.get("/item/count", params=_in_group(group, **{name: "ada"}))
    assert count.json() == {"count": 2}


def test_rev_statuses(client: TestClient, group: Group) -> None:
    a, bb, ccc = group.ids
    d = _new(client, group.name, "draft", status="draft")
    assert _ids(client.get("/item", params=_in_group(group, rev_statuses="draft"))) == [d]
    both = _in_group(group, rev_statuses="draft,stable")
    assert _ids(client.get("/item", params=both)) == sorted([a, bb, ccc, d])
    params = [("qb", f'group == "{group.name}"'), ("rev_statuses[]", "stable")]
    assert _ids(client.get("/item", params=params)) == [a, bb, ccc]
    count = client.get("/item/count", params=_in_group(group, rev_statuses="draft"))
    assert count.json() == {"count": 1}
    grammar = {"qb": f'group == "{group.name}" & $rev_status == "draft"'}
    assert _ids(client.get("/item", params=grammar)) == [d]
    r = client.put(f"/item/{d}?mode=modify&change_status=stable", json=_body(group, "draft", 9))
    assert r.status_code == 200, r.text
    assert _ids(client.get("/item", params=_in_group(group, rev_statuses="draft"))) == []
    for path in ("/item", "/item/count"):
        bad = client.get(path, params=_in_group(group, rev_statuses="stable,published"))
        assert "rev_statuses" in _problem(bad, 400, "invalid_query")["detail"]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_rev_time_bounds_are_inclusive(client: TestClient, group: Group) -> None:
    a = group.ids[0]
    d = _new(client, group.name, "draft", status="draft")
    info = client.get(f"/item/{a}").json()["info"]
    created = info["created_time"]
    exact = _in_group(group, rev_created_time_start=created, rev_created_time_end=created)
    assert a in _ids(client.get("/item", params=exact))
    half_open = _in_group(group, created_time_start=created, created_time_end=created)
    assert _ids(client.get("/item", params=half_open)) == []  # [start, end) holds nothing
    # a draft modified in place: the revision's updated time moves, its created time does not
    before = client.get(f"/item/{d}").json()["info"]
    r = client.put(f"/item/{d}?mode=modify", json=_body(group, "draft", 6))
    assert r.status_code == 200, r.text
    moved = r.json()["updated_time"]
    assert _time(moved) > _time(before["updated_time"])
    at = _in_group(group, rev_updated_time_start=moved, rev_updated_time_end=moved)
    assert _ids(client.get("/item", params=at)) == [d]
    earlier = (_time(moved) - timedelta(microseconds=1)).isoformat()
    upto = _ids(client.get("/item", params=_in_group(group, rev_updated_time_end=earlier)))
    assert d not in upto
    assert a in upto
    same = _in_group(
        group, rev_created_time_start=before["created_time"], rev_created_time_end=earlier
    )
    assert d in _ids(client.get("/item", params=same))
    count = client.get("/item/count", params=at)
    assert count.json() == {"count": 1}
    # after a switch the fields are those of the revision switched to
    r = client.put(f"/item/{a}", json=_body(group, "a", 4))
    assert r.status_code == 200, r.text
    newer = r.json()["created_time"]
    from_newer = _in_group(group, rev_created_time_start=newer)
    assert a in _ids(client.get("/item", params=from_newer))
    assert client.post(f"/item/{a}/switch/1").status_code == 200
    assert a not in _ids(client.get("/item", params=from_newer))
    assert a in _ids(client.get("/item", params=exact))
    ordered = client.get("/item", params=_in_group(group, sorts="-$rev_updated_time"))
    assert ordered.json()[0]["info"]["resource_id"] == d


def test_data_conditions_in_the_reference_form(client: TestClient, group: Group) -> None:
    a, bb, ccc = group.ids
    conds = (
        f'[{{"field_path": "group", "operator": "eq", "value": "{group.name}"}},'
        ' {"field_path": "qty", "operator": "gte", "value": 2}]'
    )
    assert _ids(client.get("/item", params={"data_conditions": conds})) == [bb, ccc]
    either = (
        f'{{"operator": "and", "conditions": [{{"field_path": "group", "operator": "eq", '
        f'"value": "{group.name}"}}, {{"operator": "or", "conditions": ['
        '{"field_path": "name", "operator": "eq", "value": "a"},'
        '{"field_path": "qty", "operator": "eq", "value": 3}]}]}'
    )
    assert _ids(client.get("/item", params={"data_conditions": either})) == [a, ccc]
    negated = (
        f'[{{"field_path": "group", "operator": "eq", "value": "{group.name}"}},'
        ' {"operator": "not", "conditions": [{"field_path": "name", "operator": "in", '
        '"value": ["a", "bb"]}]}]'
    )
    assert _ids(client.get("/item", params={"data_conditions": negated})) == [ccc]


def test_conditions_in_the_reference_form_reach_meta_fields(
    client: TestClient, group: Group
) -> None:
    conds = f'[{{"field_path": "resource_id", "operator": "eq", "value": "{group.ids[1]}"}}]'
    assert _ids(client.get("/item", params={"conditions": conds})) == [group.ids[1]]
    # in data_conditions the same path names the data, which has no such indexed field
    r = client.get("/item", params={"data_conditions": conds})
    assert "resource_id" in _problem(r, 400, "invalid_query")["detail"]


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ('[{"field_path": "qty", "operator": "about", "value": 1}]', "about"),
        ('[{"field_path": "qty", "operator": "eq", "value": 1, "unit": "kg"}]', "unit"),
        ('[{"field_path": 3, "operator": "eq"}]', "field_path"),
        ('{"operator": "xor", "conditions": []}', "data_conditions"),
        ("[{", "data_conditions"),
    ],
)
def test_invalid_data_conditions_are_named(client: TestClient, value: str, named: str) -> None:
    body = _problem(client.get("/item", params={"data_conditions": value}), 400, "invalid_query")
    assert named in body["detail"]
    assert "data_conditions" in body["detail"]


def test_with_total(client: TestClient, group: Group) -> None:
    r = client.get("/item", params=_in_group(group, with_total="true", limit=1))
    assert (r.headers["X-Total-Count"], r.headers["X-Has-More"]) == ("3", "true")
    assert "X-Total-Count" not in client.get("/item", params=_in_group(group)).headers
    r = client.get("/item", params=_in_group(group, with_total="true", include_total="false"))
    _problem(r, 400, "invalid_parameter")
    _names_param(client.get("/item", params={"with_total": "maybe"}), 422, "with_total")


# -- returns and partial ---------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["revision_info", "revision-info", "info"])
def test_returns_revision_info_aliases(client: TestClient, group: Group, alias: str) -> None:
    rid = group.ids[0]
    assert set(client.get(f"/item/{rid}?returns={alias},meta").json()) == {"info", "meta"}
    items = client.get("/item", params=_in_group(group, returns=alias)).json()
    assert [set(i) for i in items] == [{"info"}] * 3


def test_returns_bare_forms(client: TestClient, group: Group) -> None:
    rid = group.ids[0]
    assert client.get(f"/item/{rid}?returns=only-data").json() == {
        **_body(group, "a"),
        "code": None,
    }
    meta = client.get(f"/item/{rid}?returns=only-meta").json()
    assert (meta["resource_id"], meta["current_revision_id"]) == (rid, f"{rid}:1")
    info = client.get(f"/item/{rid}?returns=only-revision_info")
    assert (info.json()["revision_id"], info.headers["ETag"]) == (f"{rid}:1", f'"{rid}:1"')
    listed = client.get("/item", params=_in_group(group, returns="only-data", sorts="qty"))
    assert [d["name"] for d in listed.json()] == ["a", "bb", "ccc"]
    partial = client.get(f"/item/{rid}?returns=only-data&partial=name")
    assert partial.json() == {"name": "a"}


@pytest.mark.parametrize("value", ["only-data,meta", "only-meta,only-data", "data,everything"])
def test_invalid_returns_are_named(client: TestClient, group: Group, value: str) -> None:
    body = _problem(client.get(f"/item/{group.ids[0]}?returns={value}"), 400, "invalid_query")
    assert "returns" in body["detail"]


def test_partial_with_prefixes(client: TestClient, group: Group) -> None:
    rid = group.ids[0]
    r = client.get(f"/item/{rid}?partial=data/name,meta/resource_id&partial[]=info/status")
    assert r.json() == {
        "data": {"name": "a"},
        "info": {"status": "stable"},
        "meta": {"resource_id": rid},
    }
    r = client.get(f"/item/{rid}/partial?partial[]=data/qty&returns=data")
    assert r.json() == {"data": {"qty": 1}}
    items = client.get(
        "/item", params=_in_group(group, partial="meta/created_by", returns="meta", sorts="qty")
    ).json()
    assert items == [{"meta": {"created_by": u}} for u in ("ada", "ada", "bob")]


@pytest.mark.parametrize(
    ("value", "returns"),
    [
        ("meta/nothing", None),
        ("info/revision_id/x", None),
        ("meta/", None),
        ("data/nothing", None),
        ("meta/resource_id", "data"),
        ("name", "meta"),
    ],
)
def test_invalid_partial_paths_are_named(
    client: TestClient, group: Group, value: str, returns: str | None
) -> None:
    params = {"partial": value, **({"returns": returns} if returns else {})}
    body = _problem(client.get(f"/item/{group.ids[0]}", params=params), 400, "invalid_query")
    assert (value.rsplit("/", 1)[-1] or value) in body["detail"]


# -- resource_id in a create body ----------------------------------------------------------------


def test_resource_id_in_a_create_body(client: TestClient) -> None:
    r = client.post("/item", json={"group": "g", "name": "n", "resource_id": "mine"})
    assert [e["loc"] for e in _problem(r, 422, "validation_error")["errors"]] == ["/resource_id"]
    assert client.get("/item/mine").status_code == 404
    rid = f"l{uuid.uuid4().hex[:8]}"
    r = client.post(f"/labelled?resource_id={rid}", json={"resource_id": "declared", "label": "L"})
    assert r.status_code == 201, r.text
    assert client.get(f"/labelled/{rid}").json()["data"]["resource_id"] == "declared"


# -- what SpecStar refuses instead ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/item/{rid}/revisions", "with_total"),
    ],
)
def test_unsupported_reference_parameters_are_refused_by_name(
    client: TestClient, group: Group, path: str, name: str
) -> None:
    r = client.get(path.format(rid=group.ids[0]), params={name: "x"})
    body = _problem(r, 400, "unknown_parameter")
    assert [e["loc"] for e in body["errors"]] == [name]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/item", "created_time_start"),
        ("/item/count", "updated_time_end"),
        ("/item/{rid}/revisions", "created_time_end"),
        ("/item", "rev_created_time_start"),
        ("/item/count", "rev_created_time_end"),
        ("/item", "rev_updated_time_start"),
        ("/item/count", "rev_updated_time_end"),
    ],
)
def test_a_number_is_no_date_time(client: TestClient, group: Group, path: str, name: str) -> None:
    for value in ("1700000000", "-1.5e-30"):
        r = client.get(path.format(rid=group.ids[0]), params={name: value})
        _names_param(r, 422, name)
    ok = client.get(path.format(rid=group.ids[0]), params={name: "2024-01-31T12:00:00Z"})
    assert ok.status_code == 200

"""Global and per-model handlers and checkers, and how every route authorizes its user.

* global event handlers run before a model's own (both run); a model's checker replaces the
  global one;
* on every route the checker sees the request's user, before any ``before`` handler, once per
  manager operation the route performs;
* conflicts name only resources the user may see (unique holders, blocking referrers), and
  writes on hidden ids answer as for any taken id (``PUT`` never spins, ``If-Match`` lists
  leak nothing);
* batches are refused up front without the permission, and only match rows in scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from specstar.core import (
    ActionBasedChecker,
    AllowAll,
    Event,
    EventHandlers,
    EventPhase,
    OnDelete,
    OperationContext,
    OwnershipChecker,
    PermissionDeniedError,
    Ref,
    RevisionStatus,
    RootOnly,
    Unique,
)
from specstar.core.permissions import any_user, owner
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers


class Gizmo(msgspec.Struct, kw_only=True):
    name: str
    serial: Annotated[str | None, Unique()] = None


class Part(msgspec.Struct, kw_only=True):
    label: str
    # parts may be attached to other users' gizmos (by default a reference to a resource the
    # writer cannot see is refused like one to a missing resource)
    gizmo_id: Annotated[str, Ref("gizmo", on_delete=OnDelete.restrict, cross_scope=True)]


def header_user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def build(crud: SpecStar) -> TestClient:
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return TestClient(app)


def as_user(name: str) -> dict[str, str]:
    return {"X-User": name}


# == global and per-model configuration ==========================================================


def test_global_handlers_run_before_the_models_own() -> None:
    seen: list[str] = []

    def tag(label: str) -> Any:
        def handler(event: Event) -> None:
            if event.phase is EventPhase.before:
                seen.append(f"{label}:{event.context.resource_name}")

        return handler

    crud = SpecStar(event_handlers=[tag("global")])
    crud.add_model(Gizmo, event_handlers=[tag("model"), EventHandlers().before("*", tag("more"))])
    crud.add_model(Part)  # no handlers of its own: the global ones only
    crud.configure(event_handlers=[tag("later")])  # models registered before keep theirs
    crud.add_model(Gizmo, name="late-gizmo", event_handlers=[tag("model")])
    with build(crud) as c:
        gid = c.post("/gizmo", json={"name": "g"}).json()["resource_id"]
        assert seen == ["global:gizmo", "model:gizmo", "more:gizmo"]
        seen.clear()
        assert c.post("/part", json={"label": "p", "gizmo_id": gid}).status_code == 201
        assert seen == ["global:part"]
        seen.clear()
        assert c.post("/late-gizmo", json={"name": "g"}).status_code == 201
        assert seen == ["later:late-gizmo", "model:late-gizmo"]


def test_a_models_checker_replaces_the_global_one() -> None:
    crud = SpecStar(
        permission_checker=RootOnly("root"),
        dependency_provider=DependencyProvider(get_user=header_user),
    )
    crud.add_model(Gizmo)  # the global checker: only root
    crud.add_model(Gizmo, name="open-gizmo", permission_checker=AllowAll())  # replaced
    with build(crud) as c:
        assert c.post("/gizmo", json={"name": "g"}, headers=as_user("ann")).status_code == 403
        assert c.post("/gizmo", json={"name": "g"}, headers=as_user("root")).status_code == 201
        assert c.post("/open-gizmo", json={"name": "g"}, headers=as_user("ann")).status_code == 201
        assert c.get("/open-gizmo/count", headers=as_user("ann")).json() == {"count": 1}
        assert c.get("/gizmo/count", headers=as_user("ann")).status_code == 403


def test_configure_sets_the_global_checker_for_later_models() -> None:
    crud = SpecStar(dependency_provider=DependencyProvider(get_user=header_user))
    crud.add_model(Gizmo, name="before")
    crud.configure(permission_checker=RootOnly("root"))
    crud.add_model(Gizmo, name="after")
    with build(crud) as c:
        assert c.get("/before/count", headers=as_user("ann")).status_code == 200
        assert c.get("/after/count", headers=as_user("ann")).status_code == 403


# == authorization on every route ================================================================


class Recorder:
    """Allows everything, and records every ``check`` with the user it saw."""

    def __init__(self, log: list[tuple[str, str, str]]) -> None:
        self.log = log

    def check(self, ctx: OperationContext) -> None:
        self.log.append(("check", ctx.action, ctx.user))


@pytest.fixture
def recorded() -> Iterator[tuple[TestClient, list[tuple[str, str, str]]]]:
    log: list[tuple[str, str, str]] = []

    def before(event: Event) -> None:
        log.append(("before", event.context.action, event.context.user))

    crud = SpecStar(
        permission_checker=Recorder(log),
        event_handlers=[EventHandlers().before("*", before)],
        dependency_provider=DependencyProvider(get_user=header_user),
    )
    crud.add_model(Gizmo, default_status=RevisionStatus.draft)
    crud.add_model(Part)
    with build(crud) as c:
        yield c, log


def test_every_route_authorizes_the_requests_user_before_any_handler(
    recorded: tuple[TestClient, list[tuple[str, str, str]]],
) -> None:
    c, log = recorded
    h = as_user("eve")
    gid = c.post("/gizmo", json={"name": "a"}, headers=h).json()["resource_id"]
    c.post("/part", json={"label": "p", "gizmo_id": gid}, headers=h)
    calls: list[tuple[str, str, dict[str, Any], list[str]]] = [
        ("POST", "/gizmo", {"json": {"name": "b"}}, ["create"]),
        ("GET", "/gizmo", {}, ["search"]),
        ("GET", "/gizmo", {"params": {"include_total": "true"}}, ["search", "count"]),
        ("GET", "/gizmo/count", {}, ["count"]),
        ("GET", f"/gizmo/{gid}", {}, ["get_meta", "get"]),
        ("GET", f"/gizmo/{gid}", {"params": {"returns": "data"}}, ["get"]),
        # a meta-only read or write tags the response with the current revision's ETag
        (
            "GET",
            f"/gizmo/{gid}",
            {"params": {"returns": "meta"}},
            ["get_meta", "get_revision_info"],
        ),
        ("GET", f"/gizmo/{gid}/revisions", {}, ["list_revisions"]),
        ("GET", f"/gizmo/{gid}/referrers", {}, ["get", "count", "search"]),
        ("PUT", f"/gizmo/{gid}", {"json": {"name": "c"}}, ["update"]),
        ("PUT", "/gizmo/fresh", {"json": {"name": "f"}}, ["update", "create"]),
        ("PATCH", f"/gizmo/{gid}", {"json": {"name": "d"}}, ["merge_patch"]),
        ("POST", f"/gizmo/{gid}/modify", {"json": {"data": {"name": "e"}}}, ["modify"]),
        ("POST", f"/gizmo/{gid}/switch/{gid}:1", {}, ["switch", "get_revision_info"]),
        ("POST", "/part/batch/delete", {"json": {"confirm_all": True}}, ["delete", "search"]),
        ("POST", "/part/batch/restore", {"json": {"confirm_all": True}}, ["restore", "search"]),
        ("DELETE", "/gizmo/fresh", {}, ["delete", "get_revision_info"]),
        ("POST", "/gizmo/fresh/restore", {}, ["restore", "get_revision_info"]),
        ("DELETE", "/gizmo/fresh/permanently", {}, ["permanently_delete"]),
    ]
    for method, url, kwargs, actions in calls:
        log.clear()
        r = c.request(method, url, headers=h, **kwargs)
        assert r.status_code < 300, (method, url, r.text)
        checks = [a for kind, a, _ in log if kind == "check"]
        # the per-row operations of a batch are authorized row by row: one row here
        row = {"delete": "delete", "restore": "restore"}.get(actions[0]) if "batch" in url else None
        assert checks == actions + ([row] if row else []), (method, url, log)
        assert {u for _, _, u in log} == {"eve"}, (method, url, log)
        handlers = [i for i, (kind, _, _) in enumerate(log) if kind == "before"]
        if handlers:
            assert log[0][0] == "check", (method, url, log)
            first_check = {a: i for i, (k, a, _) in reversed(list(enumerate(log))) if k == "check"}
            for i in handlers:
                assert first_check[log[i][1]] < i, (method, url, log)


def test_a_denied_request_never_reaches_a_before_handler() -> None:
    reached: list[str] = []
    crud = SpecStar(
        permission_checker=RootOnly("root"),
        event_handlers=[EventHandlers().before("*", lambda e: reached.append(e.context.action))],
        dependency_provider=DependencyProvider(get_user=header_user),
    )
    crud.add_model(Gizmo)
    with build(crud) as c:
        gid = c.post("/gizmo", json={"name": "a"}, headers=as_user("root")).json()["resource_id"]
        reached.clear()
        h = as_user("eve")
        for method, url, body in [
            ("POST", "/gizmo", {"name": "b"}),
            ("PUT", f"/gizmo/{gid}", {"name": "b"}),
            ("PUT", "/gizmo/new-one", {"name": "b"}),
            ("PATCH", f"/gizmo/{gid}", {"name": "b"}),
            ("POST", f"/gizmo/{gid}/modify", {"data": {"name": "b"}}),
            ("POST", f"/gizmo/{gid}/switch/{gid}:1", None),
            ("DELETE", f"/gizmo/{gid}", None),
            ("POST", f"/gizmo/{gid}/restore", None),
            ("DELETE", f"/gizmo/{gid}/permanently", None),
            ("POST", "/gizmo/batch/delete", {"confirm_all": True}),
        ]:
            r = c.request(method, url, json=body, headers=h)
            assert r.status_code == 403, (method, url, r.text)
        assert reached == []


# == conflicts name only what the user may see ===================================================


@pytest.fixture
def owned() -> Iterator[TestClient]:
    crud = SpecStar(
        permission_checker=OwnershipChecker(admins=["root"]),
        dependency_provider=DependencyProvider(get_user=header_user),
    )
    crud.add_model(Gizmo)
    crud.add_model(Part)
    with build(crud) as c:
        yield c


def test_unique_conflicts_name_the_holder_only_when_visible(owned: TestClient) -> None:
    c = owned
    body = {"name": "g", "serial": "S-1"}
    held = c.post("/gizmo", json=body, headers=as_user("bob")).json()["resource_id"]
    r = c.post("/gizmo", json=body, headers=as_user("ann"))
    assert r.status_code == 409
    assert r.json()["code"] == "unique_violation"
    assert r.json()["conflicting_resource_id"] is None
    assert held not in r.text
    r = c.post("/gizmo", json=body, headers=as_user("bob"))
    assert r.json()["conflicting_resource_id"] == held  # bob may see his own
    r = c.post("/gizmo", json=body, headers=as_user("root"))
    assert r.json()["conflicting_resource_id"] == held


def test_restricted_deletes_list_only_visible_referrers(owned: TestClient) -> None:
    c = owned
    gid = c.post("/gizmo", json={"name": "g"}, headers=as_user("ann")).json()["resource_id"]
    mine = c.post("/part", json={"label": "a", "gizmo_id": gid}, headers=as_user("ann"))
    theirs = c.post("/part", json={"label": "b", "gizmo_id": gid}, headers=as_user("bob"))
    mine_id, theirs_id = mine.json()["resource_id"], theirs.json()["resource_id"]
    r = c.delete(f"/gizmo/{gid}", headers=as_user("ann"))
    assert r.status_code == 409
    doc = r.json()
    assert doc["code"] == "reference_restricted"
    assert [x["resource_id"] for x in doc["referrers"]] == [mine_id]
    assert theirs_id not in r.text
    assert "referenced 2 times: part" in doc["detail"]
    assert "1 by resource you cannot see" in doc["detail"]
    assert (doc["referrer_count"], doc["hidden_referrers"]) == (2, 1)
    batch = c.post("/gizmo/batch/delete", json={"confirm_all": True}, headers=as_user("ann"))
    assert batch.status_code == 200
    assert batch.json()["failed"][0]["code"] == "reference_restricted"
    assert theirs_id not in batch.text
    r = c.delete(f"/gizmo/{gid}", headers=as_user("root"))
    assert {x["resource_id"] for x in r.json()["referrers"]} == {mine_id, theirs_id}


def test_writes_on_hidden_ids_answer_like_taken_ones(owned: TestClient) -> None:
    c = owned
    gid = c.post("/gizmo", json={"name": "g"}, headers=as_user("bob")).json()["resource_id"]
    ann = as_user("ann")
    own = c.post("/gizmo", json={"name": "a"}, headers=ann).json()["resource_id"]

    def same(hidden: Any, taken: Any) -> None:
        assert hidden.status_code == taken.status_code
        assert hidden.text.replace(gid, "ID") == taken.text.replace(own, "ID")

    # a plain PUT cannot have a hidden id: it is taken (409), and never an endless loop
    r = c.put(f"/gizmo/{gid}", json={"name": "mine now"}, headers=ann)
    assert (r.status_code, r.json()["code"]) == (409, "already_exists")
    taken = c.post("/gizmo", params={"resource_id": own}, json={"name": "x"}, headers=ann)
    assert taken.status_code == 409
    answers = [
        {
            **x.json(),
            "instance": None,
            "resource_id": None,
            "detail": x.json()["detail"].replace(rid, "ID"),
        }
        for x, rid in ((r, gid), (taken, own))
    ]
    assert answers[0] == answers[1]
    tags = {"If-Match": f'"{gid}:7", "{gid}:1"'}
    r = c.patch(f"/gizmo/{gid}", json={"name": "x"}, headers={**ann, **tags})
    assert r.status_code == 404
    assert "actual" not in r.json()
    create_only = {**ann, "If-None-Match": "*"}
    r = c.put(f"/gizmo/{gid}", json={"name": "x"}, headers=create_only)
    assert r.status_code == 412
    assert r.json()["actual"] is None  # the id is taken; nothing more is said
    same(r, c.put(f"/gizmo/{own}", json={"name": "x"}, headers=create_only))
    r = c.post("/gizmo", params={"resource_id": gid}, json={"name": "x"}, headers=create_only)
    same(r, c.post("/gizmo", params={"resource_id": own}, json={"name": "x"}, headers=create_only))
    r = c.post("/gizmo", params={"resource_id": gid}, json={"name": "x"}, headers=ann)
    same(r, c.post("/gizmo", params={"resource_id": own}, json={"name": "x"}, headers=ann))
    assert c.get(f"/gizmo/{gid}", headers=as_user("bob")).json()["data"]["name"] == "g"


# == batches =====================================================================================


def test_a_batch_needs_the_permission_even_with_nothing_to_change() -> None:
    crud = SpecStar(
        permission_checker=ActionBasedChecker({"read": any_user}),
        dependency_provider=DependencyProvider(get_user=header_user),
    )
    crud.add_model(Gizmo)
    with build(crud) as c:
        r = c.post("/gizmo/batch/delete", json={"confirm_all": True}, headers=as_user("ann"))
        assert r.status_code == 403
        assert r.json()["action"] == "delete"


def test_a_batch_matches_only_rows_the_user_may_change() -> None:
    checker = ActionBasedChecker({"read": any_user, "write": owner})
    crud = SpecStar(
        permission_checker=checker,
        dependency_provider=DependencyProvider(get_user=header_user),
    )
    crud.add_model(Gizmo)
    with build(crud) as c:
        for who in ("ann", "ann", "bob"):
            assert c.post("/gizmo", json={"name": who}, headers=as_user(who)).status_code == 201
        assert c.get("/gizmo/count", headers=as_user("ann")).json() == {"count": 3}
        r = c.post("/gizmo/batch/delete", json={"confirm_all": True}, headers=as_user("ann"))
        assert (r.json()["matched"], len(r.json()["succeeded"]), r.json()["failed"]) == (2, 2, [])
        assert c.get("/gizmo/count", headers=as_user("bob")).json() == {"count": 1}


def test_checkers_see_the_user_of_batch_rows() -> None:
    seen: list[tuple[str, str]] = []

    class Spy:
        def check(self, ctx: OperationContext) -> None:
            seen.append((ctx.action, ctx.user))
            if ctx.user == "eve" and ctx.action == "delete" and ctx.resource_id == "locked":
                raise PermissionDeniedError("locked", user=ctx.user, action=ctx.action)

    crud = SpecStar(
        permission_checker=Spy(), dependency_provider=DependencyProvider(get_user=header_user)
    )
    crud.add_model(Gizmo)
    with build(crud) as c:
        for rid in ("locked", "free"):
            c.post("/gizmo", params={"resource_id": rid}, json={"name": rid})
        seen.clear()
        r = c.post("/gizmo/batch/delete", json={"confirm_all": True}, headers=as_user("eve"))
        body = r.json()
        assert body["succeeded"] == ["free"]
        assert [(f["resource_id"], f["status"]) for f in body["failed"]] == [("locked", 403)]
        assert {u for _, u in seen} == {"eve"}

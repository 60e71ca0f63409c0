"""Every route, by every role, in three permission setups, on every storage backend: no leak.

For each route of the HTTP API (reads, writes, history, batches, migration, references) and
each permission setup (action rules composed with ownership, ownership alone, RBAC kept as
resources), on memory, SQLite and PostgreSQL:

* the **allowed** user (an admin) gets a 2xx;
* the **denied** user gets 403 with a problem document that carries no data, and nothing
  changes;
* the **scoped** user (who owns some rows) sees only their own rows in lists, counts, batches,
  referrers and migrations, gets 404 for another user's resource (nothing changes), and 2xx for
  their own;
* no request ever answers 5xx, and no response to the denied or scoped user contains a secret
  or an id of a row they may not see.

Each case seeds fresh resources (two owners, each with a folder, a document with two revisions
and a document still in the old schema version), so cases never depend on each other.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from httpx2 import Response

from specstar.core import (
    QB,
    ActionBasedChecker,
    CompositeChecker,
    DisplayName,
    Membership,
    MemoryStorageFactory,
    OwnershipChecker,
    PermissionChecker,
    PermissionRule,
    RBACChecker,
    Ref,
    ResourceManager,
    ResourceMeta,
    RevisionStatus,
    Role,
    Schema,
    StorageFactory,
    entity_tag,
)
from specstar.core.backup import ArchiveReader, dump
from specstar.core.backup.format import Resource
from specstar.core.permissions import admin_only
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers
from specstar.testing.services import drop_postgres_schema

# == models ======================================================================================


class Folder(msgspec.Struct, kw_only=True):
    name: Annotated[str, DisplayName()]
    secret: str = ""


class DocV1(msgspec.Struct, kw_only=True):
    title: str
    folder_id: str
    secret: str = ""


class Doc(msgspec.Struct, kw_only=True):
    title: str
    # documents refer to other owners' folders on purpose (cross_scope): the references must
    # then stay hidden from whoever may not see the referrer
    folder_id: Annotated[str, Ref("folder", cross_scope=True)]
    secret: str = ""


def upgrade(old: DocV1) -> Doc:
    return Doc(title=old.title, folder_id=old.folder_id, secret=old.secret)


OWNERS = ("alice", "bob")  # alice is the scoped user; bob owns what she must not see

# == permission setups ===========================================================================


def _members(ctx: Any) -> bool:
    return bool(ctx.user in {"alice", "bob"})


def action_rules(_: StorageFactory) -> PermissionChecker:
    """Action rules (who may act at all) composed with ownership (which rows)."""
    return CompositeChecker(
        ActionBasedChecker({"*": admin_only("admin") | _members}),
        OwnershipChecker(admins=["admin"]),
    )


def ownership(_: StorageFactory) -> PermissionChecker:
    """Ownership alone: the denied user is the anonymous one (no ``X-User``)."""
    return OwnershipChecker(admins=["admin"])


def rbac(_: StorageFactory) -> PermissionChecker:
    """Roles, memberships and rules kept as resources."""
    roles = ResourceManager(Role, name="role")
    memberships = ResourceManager(Membership, name="membership", indexed_fields=["user"])
    rules = ResourceManager(PermissionRule, name="permission-rule", indexed_fields=["role"])
    roles.create(Role(name="admin"))
    roles.create(Role(name="member"))
    memberships.create(Membership(user="admin", role="admin"))
    memberships.create(Membership(user="alice", role="member"))
    memberships.create(Membership(user="bob", role="member"))
    rules.create(PermissionRule(role="admin", resource="*", action="*"))
    rules.create(
        PermissionRule(role="member", resource="*", action="*", scope='$created_by == "$user"')
    )
    return RBACChecker(roles, memberships, rules)


SETUPS: dict[str, Callable[[StorageFactory], PermissionChecker]] = {
    "action_rules": action_rules,
    "ownership": ownership,
    "rbac": rbac,
}
#: The user each role acts as, per setup (``None``: no ``X-User`` header, i.e. anonymous).
ACTORS: dict[str, dict[str, str | None]] = {
    "action_rules": {"allowed": "admin", "denied": "mallory", "scoped": "alice"},
    "ownership": {"allowed": "admin", "denied": None, "scoped": "alice"},
    "rbac": {"allowed": "admin", "denied": "mallory", "scoped": "alice"},
}
BACKENDS = ("memory", "sqlite", "postgres")

# == the app under test ==========================================================================


@dataclass
class Env:
    backend: str
    setup: str
    client: TestClient
    folders: ResourceManager[Any]
    docs: ResourceManager[Any]
    legacy: ResourceManager[Any]  # writes documents in the old schema version

    def headers(self, role: str) -> dict[str, str]:
        user = ACTORS[self.setup]["scoped" if role.startswith("scoped") else role]
        return {} if user is None else {"X-User": user}


def _user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def _factory(backend: str, request: pytest.FixtureRequest, setup: str) -> StorageFactory:
    if backend == "memory":
        return MemoryStorageFactory()
    sql = pytest.importorskip("specstar.sql", reason="specstar-storage-sql is not installed")
    if backend == "sqlite":
        folder: Path = request.getfixturevalue("tmp_path_factory").mktemp(f"authz-{setup}")
        factory: StorageFactory = sql.SQLiteStorageFactory(folder)
        return factory
    dsn: str = request.getfixturevalue("postgres_dsn")
    run_id: str = request.getfixturevalue("specstar_run_id")
    schema = f"specstar_authz_{run_id}_{setup}"
    factory = sql.PostgresStorageFactory(dsn, schema=schema, pool_size=4)

    def drop() -> None:

        drop_postgres_schema(dsn, schema)

    request.addfinalizer(drop)
    return factory


@pytest.fixture(
    scope="module",
    params=[(b, s) for b in BACKENDS for s in SETUPS],
    ids=[f"{b}-{s}" for b in BACKENDS for s in SETUPS],
)
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    backend, setup = request.param
    factory = _factory(backend, request, setup)
    crud = SpecStar(
        storage_factory=factory,
        permission_checker=SETUPS[setup](factory),
        dependency_provider=DependencyProvider(get_user=_user),
    )
    folders = crud.add_model(Folder, indexed_fields=["name"])
    schema = Schema(Doc, "v2").step("v1", upgrade, source_type=DocV1)
    docs = crud.add_model(schema, indexed_fields=["title"], migrate_route=True)
    legacy: ResourceManager[Any] = ResourceManager(
        DocV1,
        storage=docs.storage,
        name="doc",
        schema_version="v1",
        indexed_fields=["title", "folder_id"],
    )
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Env(backend, setup, client, folders, docs, legacy)
    finally:
        close = getattr(factory, "close", None)
        if close is not None:
            close()


# == per-case data ===============================================================================


@dataclass
class Seed:
    tag: str
    folder: dict[str, str] = field(default_factory=dict)
    doc: dict[str, str] = field(default_factory=dict)  # two revisions, the current a draft
    etag: dict[str, str] = field(default_factory=dict)  # of the current draft of each doc
    old: dict[str, str] = field(default_factory=dict)  # still in schema version v1
    secrets: dict[str, list[str]] = field(default_factory=dict)
    archive: bytes = b""  # the seeded documents, dumped by the admin (for the import route)

    def ids(self, owner: str) -> list[str]:
        return [self.doc[owner], self.old[owner]]

    def all_ids(self) -> list[str]:
        return [rid for owner in OWNERS for rid in self.ids(owner)]


def seed(env: Env) -> Seed:
    """Fresh rows for one case, written by their owners (through the permission checker)."""
    s = Seed(tag=uuid.uuid4().hex[:12])
    for owner in OWNERS:
        secret = f"SECRET-{s.tag}-{owner}"
        s.secrets[owner] = [secret]
        s.folder[owner] = env.folders.create(
            Folder(name=f"{owner}'s", secret=secret),
            resource_id=f"f-{s.tag}-{owner}",
            user=owner,
        ).resource_id
    for owner in OWNERS:
        secret = s.secrets[owner][0]
        rid = f"d-{s.tag}-{owner}"
        # both documents refer to alice's folder: bob's reference must stay hidden from her
        env.docs.create(
            Doc(title=f"{s.tag} doc {owner}", folder_id=s.folder["alice"], secret=secret),
            resource_id=rid,
            user=owner,
        )
        draft = env.docs.update(
            rid,
            Doc(title=f"{s.tag} doc {owner} v2", folder_id=s.folder["alice"], secret=secret),
            status=RevisionStatus.draft,
            user=owner,
        )
        s.doc[owner] = rid
        s.etag[owner] = entity_tag(draft)
        # both old documents refer to bob's folder: alice's own data names it, legitimately
        s.old[owner] = env.legacy.create(
            DocV1(title=f"{s.tag} old {owner}", folder_id=s.folder["bob"], secret=secret),
            resource_id=f"o-{s.tag}-{owner}",
            user=owner,
        ).resource_id
    return s


def metas(env: Env, s: Seed) -> dict[str, ResourceMeta | None]:
    """The stored metas of every seeded row, read without permission checks."""
    out: dict[str, ResourceMeta | None] = {}
    for owner in OWNERS:
        out[s.folder[owner]] = env.folders.storage.get_meta(s.folder[owner])
        for rid in s.ids(owner):
            out[rid] = env.docs.storage.get_meta(rid)
    return out


# == the routes ==================================================================================


class Call(NamedTuple):
    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = {}
    content_type: str | None = None


def _doc_body(s: Seed, owner: str) -> dict[str, Any]:
    return {"title": f"{s.tag} doc {owner} put", "folder_id": s.folder["alice"]}


def _title_filter(s: Seed) -> dict[str, str]:
    return {"qb": f'title.starts_with("{s.tag}")'}


class Route(NamedTuple):
    """One route: how to call it on a target row, and what must hold for each role."""

    name: str
    kind: str  # "single" (addresses one resource), "collection" or "public"
    call: Callable[[Seed, str], Call]  # (seed, target owner) -> request
    prepare: Callable[[Env, Seed], None] | None = None
    success: int = 200


def _dump_targets(env: Env, s: Seed) -> None:
    out = io.BytesIO()
    where = QB["title"].starts_with(s.tag)
    dump([env.docs], out, model_queries={"doc": where}, user="admin")
    s.archive = out.getvalue()


def _archived_ids(archive: bytes) -> set[str]:
    frames = ArchiveReader(io.BytesIO(archive))
    return {f.meta.resource_id for f in frames if isinstance(f, Resource)}


def _soft_delete_targets(env: Env, s: Seed) -> None:
    for owner in OWNERS:
        for rid in s.ids(owner):
            env.docs.delete(rid, user=owner)


ROUTES: list[Route] = [
    # -- collections --
    Route(
        "create",
        "collection",
        lambda s, o: Call("POST", "/doc", _doc_body(s, o)),
        success=201,
    ),
    Route(
        "list",
        "collection",
        lambda s, o: Call("GET", "/doc", {**_title_filter(s), "include_total": "true"}),
    ),
    Route(
        "list_partial",
        "collection",
        lambda s, o: Call(
            "GET",
            "/doc/_partial",
            {**_title_filter(s), "include_total": "true", "partial": "title"},
        ),
    ),
    Route("count", "collection", lambda s, o: Call("GET", "/doc/count", _title_filter(s))),
    Route(
        "batch_delete",
        "collection",
        lambda s, o: Call("POST", "/doc/batch/delete", _title_filter(s)),
    ),
    Route(
        "batch_restore",
        "collection",
        lambda s, o: Call("POST", "/doc/batch/restore", _title_filter(s)),
        prepare=_soft_delete_targets,
    ),
    Route("migrate_all", "collection", lambda s, o: Call("POST", "/doc/_migrate")),
    Route("export", "collection", lambda s, o: Call("GET", "/doc/export", _title_filter(s))),
    Route(
        "import",
        "collection",
        lambda s, o: Call("POST", "/doc/import", s.archive, {}, "application/octet-stream"),
        prepare=_dump_targets,
    ),
    Route("relationships", "public", lambda s, o: Call("GET", "/_relationships")),
    # -- one resource --
    Route("get", "single", lambda s, o: Call("GET", f"/doc/{s.doc[o]}")),
    Route(
        "get_partial",
        "single",
        lambda s, o: Call("GET", f"/doc/{s.doc[o]}/partial", {"partial": "title"}),
    ),
    Route("get_meta", "single", lambda s, o: Call("GET", f"/doc/{s.doc[o]}", {"returns": "meta"})),
    Route(
        "get_old_revision",
        "single",
        lambda s, o: Call("GET", f"/doc/{s.doc[o]}", {"revision_id": f"{s.doc[o]}:1"}),
    ),
    Route("revisions", "single", lambda s, o: Call("GET", f"/doc/{s.doc[o]}/revisions")),
    Route("replace", "single", lambda s, o: Call("PUT", f"/doc/{s.doc[o]}", _doc_body(s, o))),
    Route(
        "patch",
        "single",
        lambda s, o: Call("PATCH", f"/doc/{s.doc[o]}", {"title": f"{s.tag} patched"}),
    ),
    Route(
        "patch_if_match_list",
        "single",
        lambda s, o: Call(
            "PATCH",
            f"/doc/{s.doc[o]}",
            [{"op": "replace", "path": "/title", "value": f"{s.tag} patched"}],
            {"If-Match": f'"{s.doc[o]}:9", "{s.etag[o]}"'},
            "application/json-patch+json",
        ),
    ),
    Route(
        "modify",
        "single",
        lambda s, o: Call(
            "POST",
            f"/doc/{s.doc[o]}/modify",
            {"patch": [{"op": "replace", "path": "/title", "value": f"{s.tag} draft"}]},
        ),
    ),
    Route(
        "switch",
        "single",
        lambda s, o: Call("POST", f"/doc/{s.doc[o]}/switch/{s.doc[o]}:1"),
    ),
    Route("delete", "single", lambda s, o: Call("DELETE", f"/doc/{s.doc[o]}")),
    Route(
        "restore",
        "single",
        lambda s, o: Call("POST", f"/doc/{s.doc[o]}/restore"),
        prepare=_soft_delete_targets,
    ),
    Route(
        "permanently_delete",
        "single",
        lambda s, o: Call("DELETE", f"/doc/{s.doc[o]}/permanently"),
    ),
    Route("migrate", "single", lambda s, o: Call("POST", f"/doc/{s.old[o]}/migrate")),
    Route(
        "referrers",
        "single",
        lambda s, o: Call("GET", f"/folder/{s.folder[o]}/referrers"),
    ),
]

ROLES_BY_KIND = {
    "single": ("allowed", "denied", "scoped_hidden", "scoped_own"),
    "collection": ("allowed", "denied", "scoped"),
    "public": ("allowed", "denied", "scoped"),
}
CASES = [(route, role) for route in ROUTES for role in ROLES_BY_KIND[route.kind]]

PROBLEM_MEMBERS = {"type", "title", "status", "code", "detail", "instance", "user", "action"}
PROBLEM_MEMBERS_404 = {"type", "title", "status", "code", "detail", "instance", "resource_id"}


def send(env: Env, call: Call, role: str) -> Response:
    headers = {**env.headers(role), **call.headers}
    if call.method == "GET":
        return env.client.get(call.url, params=call.body, headers=headers)
    if isinstance(call.body, bytes):
        headers["Content-Type"] = call.content_type or "application/octet-stream"
        return env.client.request(call.method, call.url, content=call.body, headers=headers)
    if call.content_type is not None:
        headers["Content-Type"] = call.content_type
        return env.client.request(
            call.method, call.url, content=msgspec.json.encode(call.body), headers=headers
        )
    if call.body is None:
        return env.client.request(call.method, call.url, headers=headers)
    return env.client.request(call.method, call.url, json=call.body, headers=headers)


def forbidden_text(s: Seed, role: str, route: Route, target: str) -> list[str]:
    """Strings the response must not contain: data and ids of rows the user may not see."""
    if role == "allowed":
        return []
    hidden = ["alice", "bob"] if role == "denied" else ["bob"]
    out: list[str] = []
    for owner in hidden:
        out += s.secrets[owner]
        if route.name == "import":  # the ids are the caller's own input: refusals name them
            continue
        out += [rid for rid in s.ids(owner) if rid not in route.call(s, target).url]
    return out


# == the matrix ==================================================================================


@pytest.mark.parametrize(
    ("route", "role"), CASES, ids=[f"{route.name}-{role}" for route, role in CASES]
)
def test_route_role(env: Env, route: Route, role: str) -> None:
    s = seed(env)
    if route.prepare is not None:
        route.prepare(env, s)
    target = "alice" if role == "scoped_own" else "bob"
    before = metas(env, s)
    response = send(env, route.call(s, target), role)
    status = response.status_code
    text = response.text
    assert status < 500, (status, text)
    for needle in forbidden_text(s, role, route, target):
        assert needle not in text, f"{role} saw {needle!r}: {text}"
    after = metas(env, s)

    if route.kind == "public":
        assert status == 200, text
        assert response.json() == [
            {
                "source": "doc",
                "field": "folder_id",
                "target": "folder",
                "on_delete": "dangling",
                "ref_type": "resource_id",
                "is_list": False,
                "nullable": False,
            }
        ]
        return
    if role == "denied":
        assert status == 403, text
        problem = response.json()
        assert problem["code"] == "permission_denied"
        assert set(problem) <= PROBLEM_MEMBERS, problem
        assert after == before, "a denied request changed something"
        return
    if role == "scoped_hidden":
        problem = response.json()
        if route.name == "replace":  # PUT would create the id: it is taken, like any other
            assert (status, problem["code"]) == (409, "already_exists"), text
        else:
            assert status == 404, text
            assert problem["code"] == "not_found"
        assert set(problem) <= PROBLEM_MEMBERS_404, problem
        assert after == before, "a request on a hidden resource changed something"
        return
    assert status == route.success, text
    CHECKS.get(route.name, check_single)(Outcome(env, s, role, response, before, after))


# == what an allowed or scoped request must show =================================================


@dataclass
class Outcome:
    env: Env
    seed: Seed
    role: str
    response: Response
    before: dict[str, ResourceMeta | None]
    after: dict[str, ResourceMeta | None]

    @property
    def visible(self) -> set[str]:
        """The seeded documents the user may see."""
        s = self.seed
        return set(s.all_ids() if self.role == "allowed" else s.ids("alice"))

    def bob_untouched(self) -> None:
        """A scoped user's request left every row of the other user as it was."""
        if self.role.startswith("scoped"):
            for rid in [self.seed.folder["bob"], *self.seed.ids("bob")]:
                assert self.after[rid] == self.before[rid], f"the scoped user changed {rid}"


def check_single(o: Outcome) -> None:
    o.bob_untouched()


def check_create(o: Outcome) -> None:
    expected = "admin" if o.role == "allowed" else "alice"
    assert o.response.json()["created_by"] == expected


def check_list(o: Outcome) -> None:
    items = o.response.json()
    assert {i["meta"]["resource_id"] for i in items} == o.visible
    assert o.response.headers["x-total-count"] == str(len(o.visible))
    if o.role == "scoped":
        assert {i["meta"]["created_by"] for i in items} == {"alice"}


def check_count(o: Outcome) -> None:
    assert o.response.json() == {"count": len(o.visible)}


def check_batch(o: Outcome) -> None:
    result = o.response.json()
    assert result["matched"] == len(o.visible)
    assert set(result["succeeded"]) == o.visible
    assert result["failed"] == []
    o.bob_untouched()


def check_migrate_all(o: Outcome) -> None:
    assert o.response.headers["content-type"].startswith("application/x-ndjson")
    lines = [msgspec.json.decode(line) for line in o.response.text.splitlines()]
    assert lines[0]["done"] == 0
    assert "migrated" in lines[-1], lines
    for owner in OWNERS:
        meta = o.after[o.seed.old[owner]]
        assert meta is not None
        migrated = owner == "alice" or o.role == "allowed"
        assert meta.schema_version == ("v2" if migrated else "v1"), (owner, o.role)
    o.bob_untouched()


def check_referrers(o: Outcome) -> None:
    s, items = o.seed, o.response.json()
    if o.role == "allowed":  # bob's folder: both old documents refer to it
        assert {i["resource_id"] for i in items} == {s.old["alice"], s.old["bob"]}
    else:  # alice's folder: both documents refer to it, she sees only her own
        assert [i["resource_id"] for i in items] == [s.doc["alice"]]
        assert o.response.headers["x-total-count"] == "1"


def check_export(o: Outcome) -> None:
    assert _archived_ids(o.response.content) == o.visible


def check_import(o: Outcome) -> None:
    stats = o.response.json()["doc"]
    assert stats["total"] == 4
    assert stats["loaded"] == len(o.visible)
    assert {f["resource_id"] for f in stats["failures"]} == set(o.seed.all_ids()) - o.visible
    # the archive holds the documents as they are: overwriting them changes nothing
    assert o.after == o.before


CHECKS: dict[str, Callable[[Outcome], None]] = {
    "export": check_export,
    "import": check_import,
    "create": check_create,
    "list": check_list,
    "list_partial": check_list,
    "count": check_count,
    "batch_delete": check_batch,
    "batch_restore": check_batch,
    "migrate_all": check_migrate_all,
    "referrers": check_referrers,
}


def _served(app: FastAPI, model: str) -> set[tuple[str, str]]:
    return {
        (method, path.replace(f"/{model}", "/m", 1))
        for route in app.routes
        if (path := getattr(route, "path", "")) == f"/{model}" or path.startswith(f"/{model}/")
        for method in getattr(route, "methods", ()) or ()
    }


def test_the_matrix_covers_every_route_the_app_serves(env: Env) -> None:
    """No generated route escapes the matrix (a new template must add its routes above).

    The matrix calls the routes of ``doc``; ``folder`` has the same routes from the same
    templates (without the opt-in migration routes), plus its referrers.
    """
    app = env.client.app
    assert isinstance(app, FastAPI)
    covered = {
        "create": ("POST", "/m"),
        "list": ("GET", "/m"),
        "list_partial": ("GET", "/m/_partial"),
        "count": ("GET", "/m/count"),
        "batch_delete": ("POST", "/m/batch/delete"),
        "batch_restore": ("POST", "/m/batch/restore"),
        "migrate_all": ("POST", "/m/_migrate"),
        "export": ("GET", "/m/export"),
        "import": ("POST", "/m/import"),
        "get": ("GET", "/m/{resource_id}"),
        "get_partial": ("GET", "/m/{resource_id}/partial"),
        "revisions": ("GET", "/m/{resource_id}/revisions"),
        "replace": ("PUT", "/m/{resource_id}"),
        "patch": ("PATCH", "/m/{resource_id}"),
        "modify": ("POST", "/m/{resource_id}/modify"),
        "switch": ("POST", "/m/{resource_id}/switch/{revision_id}"),
        "delete": ("DELETE", "/m/{resource_id}"),
        "restore": ("POST", "/m/{resource_id}/restore"),
        "permanently_delete": ("DELETE", "/m/{resource_id}/permanently"),
        "migrate": ("POST", "/m/{resource_id}/migrate"),
    }
    referrers = ("GET", "/m/{resource_id}/referrers")
    assert {r.name for r in ROUTES} >= {*covered, "referrers", "relationships"}
    assert _served(app, "doc") == set(covered.values())
    migration = {covered["migrate_all"], covered["migrate"]}
    assert _served(app, "folder") == (set(covered.values()) - migration) | {referrers}
    assert {getattr(r, "path", "") for r in app.routes} >= {"/_relationships"}

"""The shape of the manager: layering without import cycles, the adapter-facing interface,
the action enum, per-attempt ``before`` events, and the ``create_or_update``/``get_resource``
verbs."""

from __future__ import annotations

import ast
import io
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest

import specstar.core
from specstar.core import (
    Event,
    EventPhase,
    GoneError,
    MemoryStorage,
    NotFoundError,
    OperationContext,
    PreconditionFailedError,
    QueryError,
    ResourceManager,
    RevisionStatus,
    UnsetType,
    dump,
    load,
)
from specstar.core import errors as core_errors
from specstar.core.actions import (
    BACKUP_ACTIONS,
    MAINTENANCE_ACTIONS,
    READ_ACTIONS,
    WRITE_ACTIONS,
    Action,
)
from specstar.core.refs import OnDelete, Ref, Registry

CORE = Path(specstar.core.__file__).parent
PACKAGES = CORE.parents[3]
NOW = datetime(2024, 1, 1, tzinfo=UTC)


# == layering ====================================================================================


def _modules(root: Path, package: str) -> dict[str, tuple[Path, list[str]]]:
    found: dict[str, tuple[Path, list[str]]] = {}
    for path in root.rglob("*.py"):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
            pkg = parts
        else:
            pkg = parts[:-1]
        found[".".join(parts)] = (path, pkg)
    return found


def _imports(path: Path, pkg: list[str], known: set[str] | None = None) -> set[str]:
    """Every module ``path`` imports (``TYPE_CHECKING`` imports included), absolute names."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(pkg[: len(pkg) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.add(sub if known is not None and sub in known else module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def _core_graph() -> dict[str, set[str]]:
    modules = _modules(CORE, "specstar.core")
    known = set(modules)
    return {
        name: {m for m in _imports(path, pkg, known) if m in known and m != name}
        for name, (path, pkg) in modules.items()
    }


def test_core_has_no_import_cycles() -> None:
    assert _cycles(_core_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


#: Use cases built on the manager's public verbs: the only layer above the manager.
USE_CASES = {
    "specstar.core.batch",
    "specstar.core.history",
    "specstar.core.redaction",
    "specstar.core.referrers",
    # jobs: the job manager extends the manager; the worker drives it through its verbs
    "specstar.core.jobs",
    "specstar.core.jobs.manager",
    "specstar.core.jobs.worker",
    "specstar.core.jobs.pool",
    "specstar.core.cli",
    # backups: dump reads and load writes through the managers
    "specstar.core.backup",
    "specstar.core.backup.writer",
    "specstar.core.backup.loader",
    "specstar.core.backup.command",
    # files: uploads are recorded as resources; the collector reads every revision
    "specstar.core.uploads",
    "specstar.core.blob_gc",
}

#: Facades re-exporting the public API, the manager included.
FACADES = {"specstar.core", "specstar.core.compat"}


def test_lower_layers_do_not_import_the_manager() -> None:
    graph = _core_graph()
    manager = {m for m in graph if m.startswith("specstar.core.manager")}
    for name in manager:
        assert not graph[name] & USE_CASES, f"{name} imports a use case above it"
    for name, deps in graph.items():
        if name in manager or name in USE_CASES or name in FACADES:
            continue
        assert not deps & manager, f"{name} imports the manager"
    # the manager constructs no adapter: the default storage is wired by the package
    for name in manager:
        assert "specstar.core.memory" not in graph[name], name


def test_adapters_import_only_the_public_core_and_the_spi() -> None:
    allowed = {"specstar.core", "specstar.core.spi", "specstar.core.compat"}
    core = set(_modules(CORE, "specstar.core"))
    offenders: list[str] = []
    for package, root in (
        ("specstar.testing", PACKAGES / "testing/src/specstar/testing"),
        ("specstar.fastapi", PACKAGES / "fastapi-adapter/src/specstar/fastapi"),
        ("specstar.sql", PACKAGES / "storage-sql/src/specstar/sql"),
        ("specstar.redis", PACKAGES / "mq-redis/src/specstar/redis"),
    ):
        for name, (path, pkg) in _modules(root, package).items():
            for imported in _imports(path, pkg, core):
                if imported.startswith("specstar.core") and imported not in allowed:
                    offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_the_spi_names_exist() -> None:
    from specstar.core import spi

    missing = [name for name in spi.__all__ if not hasattr(spi, name)]
    assert missing == []


def test_a_manager_without_storage_gets_the_package_default() -> None:
    class Note(msgspec.Struct):
        text: str

    assert isinstance(ResourceManager(Note).storage, MemoryStorage)


# == errors ======================================================================================


def test_every_core_error_lives_in_errors_and_old_locations_alias_them() -> None:
    from specstar.core import redaction, refs, schema

    for module in (redaction, refs, schema):
        for name in dir(module):
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, Exception):
                assert value.__module__ == "specstar.core.errors", (module.__name__, name)
    assert refs.ReferenceRestrictedError is core_errors.ReferenceRestrictedError
    assert schema.BulkMigrationError is core_errors.BulkMigrationError
    error = core_errors.RevisionNotMigratedError("r", "r:1", "1", "2")
    assert error.details() == {
        "resource_id": "r",
        "revision_id": "r:1",
        "revision_schema_version": "1",
        "current_schema_version": "2",
    }


# == actions =====================================================================================


class Recorder:
    """Allows everything and records every action it is asked about."""

    def __init__(self) -> None:
        self.actions: list[str] = []

    def check(self, ctx: OperationContext) -> None:
        self.actions.append(ctx.action)


class Person(msgspec.Struct, kw_only=True):
    name: str


class Doc(msgspec.Struct, kw_only=True):
    title: str
    n: int = 0
    owner_id: Annotated[str | None, Ref("person", on_delete=OnDelete.set_null)] = None


def test_every_action_the_manager_runs_is_an_action_member_in_a_group() -> None:
    recorder = Recorder()
    emitted: list[str] = []
    registry: Registry[ResourceManager[Any]] = Registry()
    people = ResourceManager(Person, registry=registry, permission_checker=recorder)
    docs = ResourceManager(
        Doc,
        registry=registry,
        permission_checker=recorder,
        default_user="u",
        default_now=lambda: NOW,
        event_handlers=[lambda event: emitted.append(event.context.action)],
    )
    pid = people.create(Person(name="p"), user="u", now=NOW).resource_id
    rid = docs.create(Doc(title="a", owner_id=pid)).resource_id
    docs.update(rid, Doc(title="b", owner_id=pid))
    docs.patch(rid, [{"op": "replace", "path": "/n", "value": 1}])
    docs.merge_patch(rid, {"n": 2})
    first = docs.list_revisions(rid)[0]
    docs.switch(rid, first)
    docs.migrate(rid)
    docs.get(rid)
    docs.get_meta(rid)
    docs.get_revision_info(rid)
    docs.exists(rid)
    docs.revision_exists(rid, first)
    docs.search()
    docs.count()
    docs.prune_revisions(rid, keep_last_n=1)
    people.delete(pid, user="u", now=NOW)  # set_null on the doc
    assert docs.get(rid).data.owner_id is None
    docs.delete(rid)
    docs.restore(rid)
    docs.permanently_delete(rid)
    draft = docs.create(Doc(title="d"), status=RevisionStatus.draft).resource_id
    docs.modify(draft, {"title": "e"})
    archive = io.BytesIO()
    dump([docs], archive)
    load([docs], io.BytesIO(archive.getvalue()))
    # set_null is integrity maintenance: a system step the checker is not asked about (the
    # delete of the target was), seen by the referrer's event handlers
    assert emitted.count("set_null") == 3  # before, on_success, after
    assert "set_null" not in recorder.actions
    seen = set(recorder.actions) | set(emitted)
    assert seen == set(Action)
    assert set(Action) == READ_ACTIONS | WRITE_ACTIONS | BACKUP_ACTIONS
    assert not BACKUP_ACTIONS & (READ_ACTIONS | WRITE_ACTIONS)
    assert {"migrate", "prune", "set_null"} == MAINTENANCE_ACTIONS
    assert MAINTENANCE_ACTIONS < WRITE_ACTIONS
    assert Action.UPDATE == "update"  # existing string comparisons keep working


# == before events run once per attempt =========================================================


def test_before_handlers_run_again_with_fresh_data_when_an_attempt_loses_a_race() -> None:
    seen: list[tuple[EventPhase, Any]] = []
    raced = threading.Event()

    def handler(event: Event) -> None:
        seen.append((event.phase, event.context.data))
        if event.phase is EventPhase.before and not raced.is_set():
            raced.set()  # a concurrent writer commits between this attempt's read and commit
            docs.storage.commit(_bump(docs, rid))

    docs = ResourceManager(Doc, default_user="u", default_now=lambda: NOW)
    rid = docs.create(Doc(title="a")).resource_id
    docs.pipeline.event_handlers.append(handler)
    docs.patch(rid, [{"op": "replace", "path": "/title", "value": "b"}])
    befores = [data for phase, data in seen if phase is EventPhase.before]
    assert [d.n for d in befores] == [0, 7]  # the retry saw the concurrent write's data
    assert [d.title for d in befores] == ["b", "b"]
    assert [p for p, _ in seen if p is not EventPhase.before] == [
        EventPhase.on_success,
        EventPhase.after,
    ]
    assert docs.get(rid).data == Doc(title="b", n=7)


def _bump(docs: ResourceManager[Doc], rid: str) -> Any:
    from specstar.core.spi import NewRevision, Write

    meta = docs.storage.get_meta(rid)
    assert meta is not None
    data = Doc(title="a", n=7)
    return Write(
        resource_id=rid,
        expected_revision_id=meta.current_revision_id,
        time=NOW,
        user="other",
        append=NewRevision(
            data=msgspec.json.encode(data),
            data_hash="sha256:other",
            schema_version=None,
            status=RevisionStatus.stable,
        ),
        indexed_data={},
    )


def test_an_explicit_expected_revision_is_never_retried() -> None:
    attempts: list[EventPhase] = []
    docs = ResourceManager(
        Doc,
        default_user="u",
        default_now=lambda: NOW,
        event_handlers=[lambda e: attempts.append(e.phase)],
    )
    info = docs.create(Doc(title="a"))
    docs.update(info.resource_id, Doc(title="b"))
    attempts.clear()
    with pytest.raises(PreconditionFailedError):
        docs.update(info.resource_id, Doc(title="c"), expected_revision_id=info.revision_id)
    assert attempts == [EventPhase.on_failure, EventPhase.after]


# == create_or_update and get_resource ==========================================================


@pytest.fixture
def docs() -> ResourceManager[Doc]:
    return ResourceManager(Doc, default_user="u", default_now=lambda: NOW)


def test_create_or_update_creates_then_replaces(docs: ResourceManager[Doc]) -> None:
    created = docs.create_or_update("doc:1", {"title": "a"}, status="draft")  # type: ignore[arg-type]
    assert created.parent_revision_id is None
    assert created.status == "draft"
    updated = docs.create_or_update("doc:1", Doc(title="b"))
    assert updated.parent_revision_id == created.revision_id
    assert docs.get("doc:1").data.title == "b"


def test_create_or_update_with_an_expected_revision_is_a_conditional_update(
    docs: ResourceManager[Doc],
) -> None:
    with pytest.raises(NotFoundError):
        docs.create_or_update("doc:1", Doc(title="a"), expected_revision_id="doc:1:1")
    assert not docs.exists("doc:1")
    first = docs.create_or_update("doc:1", Doc(title="a"))
    second = docs.create_or_update("doc:1", Doc(title="b"), expected_revision_id=first.revision_id)
    with pytest.raises(PreconditionFailedError):
        docs.create_or_update("doc:1", Doc(title="c"), expected_revision_id=first.revision_id)
    assert docs.get("doc:1").info.revision_id == second.revision_id


def test_get_resource_returns_the_asked_parts(docs: ResourceManager[Doc]) -> None:
    first = docs.create(Doc(title="a", n=1), resource_id="doc:1")
    docs.update("doc:1", Doc(title="b", n=2))
    whole = docs.get_resource("doc:1")
    assert whole.data == Doc(title="b", n=2)
    assert not isinstance(whole.info, UnsetType)
    assert not isinstance(whole.meta, UnsetType)
    assert whole.info.revision_id == whole.meta.current_revision_id
    old = docs.get_resource(
        "doc:1", returns=("data", "info"), partial=["title"], revision_id=first.revision_id
    )
    assert old.data == {"title": "a"}
    assert not isinstance(old.info, UnsetType)
    assert old.info.revision_id == first.revision_id
    assert isinstance(old.meta, UnsetType)
    meta_only = docs.get_resource("doc:1", returns=["meta"])
    assert isinstance(meta_only.data, UnsetType)
    assert not isinstance(meta_only.meta, UnsetType)
    with pytest.raises(NotFoundError):
        docs.get_resource("doc:1", returns=["meta"], revision_id="doc:1:99")
    with pytest.raises(QueryError):
        docs.get_resource("doc:1", returns=["everything"])
    with pytest.raises(QueryError, match="partial"):
        docs.get_resource("doc:1", returns=["meta"], partial=["title"])
    docs.delete("doc:1")
    with pytest.raises(GoneError):
        docs.get_resource("doc:1")
    assert not isinstance(docs.get_resource("doc:1", include_deleted=True).meta, UnsetType)

"""Bulk migration, create-or-update and ``authorize`` under access scopes: authorized once,
scoped, never stuck."""

from __future__ import annotations

import threading

import msgspec
import pytest

from specstar.core import (
    AlreadyExistsError,
    MemoryStorage,
    MissingOperationContextError,
    OperationContext,
    OwnershipChecker,
    PermissionDeniedError,
    ResourceManager,
    Schema,
)
from specstar.core.pipeline import Unrestricted


class NoteV1(msgspec.Struct, kw_only=True):
    text: str


class Note(msgspec.Struct, kw_only=True):
    body: str


def upgrade(old: NoteV1) -> Note:
    return Note(body=old.text)


class Recorder:
    """Ownership scopes, and a record of every ``check`` (action, resource id)."""

    def __init__(self) -> None:
        self.inner = OwnershipChecker(admins=["root"])
        self.checks: list[tuple[str, str | None]] = []

    def check(self, ctx: OperationContext) -> None:
        self.checks.append((ctx.action, ctx.resource_id))
        if ctx.user == "mallory":
            raise PermissionDeniedError("mallory may not", user=ctx.user, action=ctx.action)
        self.inner.check(ctx)

    def access_scope(self, ctx: OperationContext) -> object:
        return self.inner.access_scope(ctx)


@pytest.fixture
def storage() -> MemoryStorage:
    store = MemoryStorage()
    v1 = ResourceManager(NoteV1, storage=store, name="note", schema_version="v1")
    for owner in ("ann", "ann", "bob"):
        v1.create(NoteV1(text=f"by {owner}"), user=owner)
    return store


def notes(storage: MemoryStorage, checker: Recorder) -> ResourceManager[Note]:
    schema = Schema(Note, "v2").step("v1", upgrade, source_type=NoteV1)
    return ResourceManager(schema, storage=storage, name="note", permission_checker=checker)


def test_bulk_migration_is_authorized_once_up_front(storage: MemoryStorage) -> None:
    checker = Recorder()
    manager = notes(storage, checker)
    with pytest.raises(PermissionDeniedError):
        manager.migrate_all(user="mallory")
    assert checker.checks == [("migrate", None)]
    assert {m.schema_version for m in manager.search(user="root")} == {"v1"}


def test_bulk_migration_with_nothing_to_do_still_authorizes(storage: MemoryStorage) -> None:
    checker = Recorder()
    manager = notes(storage, checker)
    assert manager.migrate_all(user="root") == 3
    with pytest.raises(PermissionDeniedError):
        manager.migrate_all(user="mallory")  # nothing is pending, but mallory is still refused


def test_bulk_migration_stays_inside_the_users_scope(storage: MemoryStorage) -> None:
    checker = Recorder()
    manager = notes(storage, checker)
    started: list[int] = []
    seen: list[tuple[int, int]] = []
    migrated = manager.migrate_all(
        user="ann", on_start=started.append, progress=lambda d, t: seen.append((d, t))
    )
    assert (migrated, started, seen) == (2, [2], [(2, 2)])
    versions = {(m.created_by, m.schema_version) for m in manager.search(user="root")}
    assert versions == {("ann", "v2"), ("bob", "v1")}
    assert manager.migrate_all(user="ann", on_start=started.append) == 0
    assert started == [2, 0]
    assert manager.migrate_all(user="root") == 1


def test_create_or_update_of_a_hidden_id_is_taken_and_never_spins(
    storage: MemoryStorage,
) -> None:
    manager = notes(storage, Recorder())
    bobs = manager.search(user="bob")[0].resource_id
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            manager.create_or_update(bobs, Note(body="mine now"), user="ann")
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "create_or_update kept retrying a hidden id"
    assert len(outcome) == 1
    assert isinstance(outcome[0], AlreadyExistsError)  # as for any taken id
    with pytest.raises(AlreadyExistsError):  # nor does if_not_exists say more than "taken"
        manager.create(Note(body="x"), resource_id=bobs, if_not_exists=True, user="ann")
    assert manager.get(bobs, user="bob").data == Note(body="by bob")
    own = manager.create_or_update("ann-new", Note(body="fresh"), user="ann")
    assert own.resource_id == "ann-new"


def test_authorize_asks_the_checker_and_returns_the_scope(storage: MemoryStorage) -> None:
    checker = Recorder()
    manager = notes(storage, checker)
    assert isinstance(manager.authorize("delete", user="root"), Unrestricted)
    scope = manager.authorize("delete", user="ann")
    assert [m.created_by for m in manager.search(scope, user="root")] == ["ann", "ann"]
    with pytest.raises(PermissionDeniedError):
        manager.authorize("delete", user="mallory")
    with pytest.raises(PermissionDeniedError):
        manager.authorize("get", user="anonymous")  # OwnershipChecker refuses anonymous
    assert checker.checks[-1] == ("get", None)
    manager.authorize("get", user="ann", resource_id="x")
    assert checker.checks[-1] == ("get", "x")


def test_authorize_of_a_write_needs_a_user_under_a_strict_context(storage: MemoryStorage) -> None:
    strict = ResourceManager(Note, storage=storage, name="note", strict_operation_context=True)
    assert isinstance(strict.authorize("search"), Unrestricted)  # reads need no user
    with pytest.raises(MissingOperationContextError):
        strict.authorize("delete")

"""The row a create is predicted to write (what an access scope is checked against before the
write) carries what the stored row will carry."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from specstar.core import MemoryStorage, OperationContext, Resource, ResourceManager
from specstar.core._access import row_admits
from specstar.core.query import Condition, Field, Op
from specstar.core.query.ast import And

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


class Note(msgspec.Struct, kw_only=True):
    body: str


def counters(total: int, seq: int) -> And:
    return And(
        (
            Condition(Field("total_revision_count", meta=True), Op.eq, total),
            Condition(Field("revision_seq", meta=True), Op.eq, seq),
        )
    )


def test_a_create_is_predicted_with_the_revision_counters_it_is_stored_with() -> None:
    notes = ResourceManager(Note, storage=MemoryStorage(), name="note")
    stored = notes.get_meta(notes.create(Note(body="x"), user="ann").resource_id)
    ctx = OperationContext(
        action="create", resource_name="note", user="ann", now=NOW, data={"body": "y"}
    )
    assert row_admits(counters(stored.total_revision_count, stored.revision_seq), ctx)
    assert not row_admits(counters(0, 0), ctx)


class CounterScope:
    """Everyone may do anything, but only to rows whose revision counters are ``(1, 1)``."""

    def check(self, ctx: OperationContext) -> None:
        return None

    def access_scope(self, ctx: OperationContext) -> object:
        return counters(1, 1)


def test_the_write_guard_predicts_a_create_as_the_scope_check_and_the_store_do() -> None:
    """A scope on the revision counters admits a create everywhere, or nowhere: the guard that
    checks the written row must predict the counters the row is stored with (1, 1)."""
    notes = ResourceManager(
        Note, storage=MemoryStorage(), name="note", permission_checker=CounterScope()
    )
    info = notes.create(Note(body="x"), user="ann")
    got: Resource[Note] = notes.get(info.resource_id, user="ann")
    assert got.data.body == "x"
    stored = notes.get_meta(info.resource_id, user="ann")
    assert (stored.total_revision_count, stored.revision_seq) == (1, 1)

"""Branches of the SQL commit path that the conformance suites pass by: a create the database
refuses on every attempt, the retry of a write that was not applied, the holder lookup of
unique values of every kind, and the writes that read a revision besides the meta row (on
PostgreSQL in a second statement, after the row lock). On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

import msgspec
import pytest

from specstar.core import (
    AlreadyExistsError,
    ConflictError,
    ResourceManager,
    RevisionNotDraftError,
    RevisionStatus,
    StorageFactory,
    StorageUnavailableError,
    Unique,
    UniqueConstraintError,
    WriteOutcomeUnknownError,
)
from specstar.core.ports import NewRevision, Write
from specstar.sql import SQLStorage
from specstar.sql._backend import Tx, Violation
from specstar.testing import ITEM_INDEXES, Item


class Seat(msgspec.Struct, kw_only=True):
    """A unique value of each kind the unique indexes hold."""

    number: Annotated[int, Unique()]
    label: Annotated[str, Unique()]
    weight: Annotated[float | None, Unique()] = None
    booked: Annotated[datetime | None, Unique()] = None
    open: Annotated[bool | None, Unique()] = None


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _items(factory: StorageFactory) -> ResourceManager[Item]:
    return ResourceManager(
        Item,
        storage_factory=factory,
        name=_name("cp"),
        indexed_fields=ITEM_INDEXES,
        default_user="u",
    )


def _sql(manager: ResourceManager[Item] | ResourceManager[Seat]) -> SQLStorage:
    storage = manager.storage
    assert isinstance(storage, SQLStorage)
    return storage


def test_a_create_refused_on_every_attempt_is_already_exists(sql_factory: StorageFactory) -> None:
    """A create the primary keys refuse while no meta row is visible is retried (the resource
    may have been purged meanwhile); refused on every attempt, it answers
    AlreadyExistsError, stores nothing and leaves the rows it collided with as they were."""
    items = _items(sql_factory)
    storage = _sql(items)
    rid = items.create(Item(name="first")).resource_id
    with storage._backend.write() as tx:  # a revision row without its meta row
        tx.run(f"DELETE FROM {storage.meta_table} WHERE resource_id = ?", (rid,))
    assert storage.get_meta(rid) is None
    create = Write(
        resource_id=rid,
        expected_revision_id=None,
        time=datetime.now(UTC),
        user="u",
        append=NewRevision(
            data=msgspec.msgpack.encode({"name": "second"}),
            data_hash="h2",
            schema_version=None,
            status=RevisionStatus.stable,
        ),
        indexed_data={"name": "second"},
    )
    with pytest.raises(AlreadyExistsError) as caught:
        storage.commit(create)
    assert caught.value.resource_id == rid
    assert storage.get_meta(rid) is None
    with storage._backend.read() as tx:
        rows = tx.all(f"SELECT seq FROM {storage.revision_table} WHERE resource_id = ?", (rid,))
    assert rows == [(1,)]


_LONG = "x" * 300  # longer than the prefix PostgreSQL's text index keys hold


@pytest.mark.parametrize(
    ("taken", "duplicate", "field"),
    [
        (Seat(number=7, label="a"), Seat(number=7, label="b"), "number"),
        (Seat(number=1, label="a"), Seat(number=2, label="a"), "label"),
        (Seat(number=1, label=_LONG + "1"), Seat(number=2, label=_LONG + "1"), "label"),
        (
            Seat(number=1, label="a", weight=2.5),
            Seat(number=2, label="b", weight=2.5),
            "weight",
        ),
        (
            Seat(number=1, label="a", booked=datetime(2024, 5, 1, 12, tzinfo=UTC)),
            Seat(
                number=2,
                label="b",
                booked=datetime(2024, 5, 1, 14, tzinfo=timezone(timedelta(hours=2))),
            ),
            "booked",
        ),
        (Seat(number=1, label="a", open=True), Seat(number=2, label="b", open=True), "open"),
    ],
    ids=["int", "str", "long-str", "float", "datetime", "bool"],
)
def test_a_unique_conflict_names_its_holder_for_every_kind(
    sql_factory: StorageFactory,
    taken: Seat,
    duplicate: Seat,
    field: str,
) -> None:
    """The holder of a refused unique value is looked up after the rollback with the
    column's own type (and, on PostgreSQL, a text column's index key as well)."""
    seats = ResourceManager(Seat, storage_factory=sql_factory, name=_name("seat"))
    holder = seats.create(taken).resource_id
    with pytest.raises(UniqueConstraintError) as caught:
        seats.create(duplicate)
    assert caught.value.field == field
    assert caught.value.value == getattr(taken, field)  # the same instant for the datetime
    assert caught.value.conflicting_resource_id == holder
    assert seats.count() == 1


def test_a_switch_reads_the_revision_it_names(sql_factory: StorageFactory) -> None:
    """A switch needs the info of its target besides the meta row: with row locks it is read
    after the lock, without in the same statement; either way the target is found."""
    items = _items(sql_factory)
    rid = items.create(Item(name="one")).resource_id
    first = items.get_meta(rid).current_revision_id
    items.update(rid, Item(name="two"))
    meta = items.switch(rid, first)
    assert meta.current_revision_id == first
    assert items.get(rid).data.name == "one"
    assert items.get_meta(rid).indexed_data["name"] == "one"


def test_a_draft_rewrite_reads_the_current_revision(sql_factory: StorageFactory) -> None:
    """A rewrite of a draft reads the current revision with the meta row: a stable one
    refuses it, a draft is rewritten under the same id."""
    items = _items(sql_factory)
    rid = items.create(Item(name="d"), status=RevisionStatus.draft).resource_id
    draft = items.get_meta(rid).current_revision_id
    info = items.modify(rid, Item(name="d2"))
    assert info.revision_id == draft
    assert items.get(rid).data.name == "d2"
    items.modify(rid, status=RevisionStatus.stable)
    with pytest.raises(RevisionNotDraftError):
        items.modify(rid, Item(name="d3"))
    assert items.get(rid).data.name == "d2"


def test_a_write_not_applied_runs_once_more_and_no_more(sql_factory: StorageFactory) -> None:
    """A transaction lost before ``COMMIT`` changed nothing: it runs once more, and when that
    one is lost too the error reaches the caller (not a conflict, not a third attempt)."""
    storage = _sql(_items(sql_factory))
    attempts: list[int] = []

    def lost_once(tx: Tx) -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise StorageUnavailableError()
        row = tx.one("SELECT 1")
        assert row is not None
        return "done"

    assert storage._commits._write(None, lost_once) == "done"
    assert len(attempts) == 2

    attempts.clear()

    def always_lost(tx: Tx) -> str:
        attempts.append(1)
        raise StorageUnavailableError()

    with pytest.raises(StorageUnavailableError) as caught:
        storage._commits._write(None, always_lost)
    assert type(caught.value) is StorageUnavailableError
    assert len(attempts) == 2


def test_a_write_whose_outcome_is_unknown_is_not_run_again(sql_factory: StorageFactory) -> None:
    """A transaction whose ``COMMIT`` got no answer may have been applied: running it again
    could apply it twice, so the error reaches the caller after the one attempt."""
    storage = _sql(_items(sql_factory))
    attempts: list[int] = []

    def unknown(tx: Tx) -> str:
        attempts.append(1)
        raise WriteOutcomeUnknownError()

    with pytest.raises(WriteOutcomeUnknownError):
        storage._commits._write(None, unknown)
    assert attempts == [1]


def test_a_duplicate_key_no_write_explains_is_a_conflict_at_once(
    sql_factory: StorageFactory,
) -> None:
    """A primary key refusing a transaction outside the statements of a commit (which
    explain their own refusals) is a conflict: running it again would meet the same row."""
    storage = _sql(_items(sql_factory))
    attempts: list[int] = []

    def duplicate(tx: Tx) -> str:
        attempts.append(1)
        raise Violation(None)

    with pytest.raises(ConflictError) as caught:
        storage._commits._write(None, duplicate)
    assert type(caught.value) is ConflictError
    assert attempts == [1]

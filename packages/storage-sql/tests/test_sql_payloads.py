"""SQLite meta with revision data in a separate payload store (the in-memory reference one).

The whole storage conformance suite runs on that pairing; the tests below check what only a
split store can get wrong: data is written before the pointer moves, a refused write leaves no
payload, a draft rewrite never overwrites an object a reader may hold, and orphans are found
and collected.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from specstar.core import (
    MemoryPayloadStoreFactory,
    PreconditionFailedError,
    ResourceManager,
    RevisionStatus,
    UniqueConstraintError,
)
from specstar.core.payloads import new_payload_key
from specstar.sql import SQLiteStorageFactory, SQLStorage
from specstar.testing import ITEM_INDEXES, Item, StorageSuite


class TestSQLiteWithPayloadStore(StorageSuite):
    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> Iterator[SQLiteStorageFactory]:
        factory = SQLiteStorageFactory(tmp_path / "store", payloads=MemoryPayloadStoreFactory())
        yield factory
        factory.close()


@pytest.fixture
def items(tmp_path: Path) -> Iterator[ResourceManager[Item]]:
    factory = SQLiteStorageFactory(tmp_path, payloads=MemoryPayloadStoreFactory())
    yield ResourceManager(
        Item, storage_factory=factory, indexed_fields=ITEM_INDEXES, default_user="u"
    )
    factory.close()


def _storage(items: ResourceManager[Item]) -> SQLStorage:
    storage = items.storage
    assert isinstance(storage, SQLStorage)
    assert storage.payload_store is not None
    return storage


def _rows(storage: SQLStorage) -> list[tuple[object, ...]]:
    with storage._backend.read() as tx:  # the raw rows, to see where the data went
        return tx.all(f"SELECT resource_id, seq, data, payload_key FROM {storage.revision_table}")


def test_data_lives_in_the_payload_store(items: ResourceManager[Item]) -> None:
    storage = _storage(items)
    rid = items.create(Item(name="a")).resource_id
    items.update(rid, Item(name="b"))
    rows = _rows(storage)
    assert len(rows) == 2
    assert all(bytes(r[2]) == b"" and r[3] is not None for r in rows)  # type: ignore[arg-type]
    payloads = storage.payload_store
    assert payloads is not None
    for r in rows:
        stored = storage.get_revision(rid, f"{rid}:{r[1]}")
        assert stored is not None
        assert payloads.get(rid, str(r[3])) == stored.data
    assert items.get(rid).data.name == "b"
    assert storage.orphan_payloads(timedelta(0)) == []


def test_refused_writes_leave_no_payload(items: ResourceManager[Item]) -> None:
    storage = _storage(items)
    payloads = storage.payload_store
    assert payloads is not None
    first = items.create(Item(name="a", email="a@x"))
    items.update(first.resource_id, Item(name="a2", email="a@x"))
    with pytest.raises(PreconditionFailedError):
        items.update(first.resource_id, Item(name="late"), expected_revision_id=first.revision_id)
    with pytest.raises(UniqueConstraintError):
        items.create(Item(name="b", email="a@x"))
    assert len(list(payloads.list())) == 2  # only the two committed revisions
    assert storage.orphan_payloads(timedelta(0)) == []


def test_draft_rewrite_never_overwrites_and_orphans_are_collected(
    items: ResourceManager[Item],
) -> None:
    storage = _storage(items)
    payloads = storage.payload_store
    assert payloads is not None
    rid = items.create(Item(name="draft"), status=RevisionStatus.draft).resource_id
    (old_key,) = [str(r[3]) for r in _rows(storage)]
    old_bytes = payloads.get(rid, old_key)
    items.modify(rid, Item(name="draft 2"))
    (new_key,) = [str(r[3]) for r in _rows(storage)]
    assert new_key != old_key
    assert payloads.get(rid, old_key) == old_bytes  # a reader holding the old key still reads
    assert items.get(rid).data.name == "draft 2"
    assert storage.orphan_payloads() == []  # within the grace period: maybe a write in flight
    orphans = storage.orphan_payloads(timedelta(0))
    assert [(o.resource_id, o.key) for o in orphans] == [(rid, old_key)]
    # a payload put by a writer that crashed before its commit is an orphan too
    crashed = new_payload_key(b"{}")
    payloads.put("other", crashed, b"{}")
    assert storage.collect_orphan_payloads(timedelta(0)) == 2
    assert payloads.get(rid, old_key) is None
    assert payloads.get(rid, new_key) is not None
    assert items.get(rid).data.name == "draft 2"


def test_purge_and_prune_delete_their_payloads(items: ResourceManager[Item]) -> None:
    storage = _storage(items)
    payloads = storage.payload_store
    assert payloads is not None
    rid = items.create(Item(name="v1")).resource_id
    for i in range(2, 5):
        items.update(rid, Item(name=f"v{i}"))
    assert len(list(payloads.list(rid))) == 4
    assert items.prune_revisions(rid, keep_last_n=1) == 3
    assert len(list(payloads.list(rid))) == 1
    items.permanently_delete(rid)
    assert list(payloads.list(rid)) == []


def test_without_a_payload_store_data_stays_in_the_rows(tmp_path: Path) -> None:
    factory = SQLiteStorageFactory(tmp_path)
    try:
        items = ResourceManager(Item, storage_factory=factory, default_user="u")
        storage = items.storage
        assert isinstance(storage, SQLStorage)
        assert storage.payload_store is None
        rid = items.create(Item(name="a")).resource_id
        ((_, _, data, key),) = _rows(storage)
        assert key is None
        assert bytes(data) == storage.get_revision(rid, f"{rid}:1").data  # type: ignore[arg-type,union-attr]
        assert storage.orphan_payloads(timedelta(0)) == []
        assert storage.collect_orphan_payloads(timedelta(0)) == 0
    finally:
        factory.close()

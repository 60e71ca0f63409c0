"""Tables written before the ``rev_*`` meta columns existed get them at start-up, filled from
each resource's current revision."""

from __future__ import annotations

import uuid

from specstar.core import QB, ResourceManager, RevisionStatus, StorageFactory
from specstar.sql import SQLStorage
from specstar.testing import ITEM_INDEXES, Item

_COLUMNS = ("rev_status", "rev_created_time", "rev_updated_time")


def _manager(factory: StorageFactory, name: str) -> ResourceManager[Item]:
    return ResourceManager(
        Item, storage_factory=factory, name=name, indexed_fields=ITEM_INDEXES, default_user="u"
    )


def _rev(items: ResourceManager[Item], rid: str) -> tuple[object, ...]:
    meta = items.get_meta(rid)
    return (meta.rev_status, meta.rev_created_time, meta.rev_updated_time)


def test_rev_columns_are_added_and_backfilled(sql_factory: StorageFactory) -> None:
    name = f"rc-{uuid.uuid4().hex[:10]}"
    items = _manager(sql_factory, name)
    draft = items.create(Item(name="d"), status=RevisionStatus.draft).resource_id
    items.modify(draft, Item(name="d2"))
    switched = items.create(Item(name="s")).resource_id
    items.update(switched, Item(name="s2"), status=RevisionStatus.draft)
    items.switch(switched, f"{switched}:1")
    plain = items.create(Item(name="p")).resource_id
    before = {rid: _rev(items, rid) for rid in (draft, switched, plain)}
    storage = items.storage
    assert isinstance(storage, SQLStorage)
    with storage._backend.write() as tx:  # the table as an older release left it
        for column in _COLUMNS:
            tx.run(f"ALTER TABLE {storage.meta_table} DROP COLUMN {column}")

    again = _manager(sql_factory, name)  # start-up: the columns come back, filled
    assert {rid: _rev(again, rid) for rid in before} == before
    for rid, rev in before.items():
        info = again.get_revision_info(rid)
        assert rev == (info.status, info.created_time, info.updated_time)
    assert {m.resource_id for m in again.search(QB.rev_status() == "draft")} == {draft}
    with storage._backend.read() as tx:
        nulls = tx.one(
            f"SELECT count(*) FROM {storage.meta_table} WHERE rev_status IS NULL "
            "OR rev_created_time IS NULL OR rev_updated_time IS NULL"
        )
    assert nulls is not None
    assert nulls[0] == 0

"""What only the SQL stores can get wrong when adopting archived resources: texts the tables
cannot hold, revision data in a payload store, ids no row can have."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from specstar.core import (
    MemoryPayloadStoreFactory,
    ResourceManager,
    StorageFactory,
    UniqueConstraintError,
    ValidationError,
)
from specstar.core.spi import Adoption
from specstar.sql import SQLiteStorageFactory, SQLStorage
from specstar.testing import ITEM_INDEXES, Item


def _adoption(rid: str, emails: list[str]) -> Adoption:
    """A resource with one revision per email, made in a fresh in-memory store."""
    m = ResourceManager(Item, name="item", indexed_fields=ITEM_INDEXES, default_user="u")
    for n, email in enumerate(emails):
        m.create_or_update(rid, Item(name=f"{rid}-{n}", email=email))
    history = m.storage.get_history(rid)
    assert history is not None
    meta, ids = history
    revisions = [r for r in m.storage.get_revisions([(rid, i) for i in ids]) if r is not None]
    return Adoption(meta=meta, revisions=revisions, indexed_data=meta.indexed_data)


def _items(factory: StorageFactory) -> ResourceManager[Item]:
    return ResourceManager(
        Item,
        name=f"adopt-{uuid.uuid4().hex[:8]}",
        storage_factory=factory,
        indexed_fields=ITEM_INDEXES,
    )


def test_a_text_the_tables_cannot_hold_refuses_only_its_resource(
    sql_factory: StorageFactory,
) -> None:
    items = _items(sql_factory)
    good = _adoption("good", ["g@x"])
    bad = _adoption("bad", ["b@x"])
    bad = msgspec.structs.replace(bad, meta=msgspec.structs.replace(bad.meta, created_by="a\0b"))
    outcomes = items.storage.adopt_resources([good, bad])
    assert outcomes[0] == good.meta
    assert isinstance(outcomes[1], ValidationError)
    assert items.storage.get_meta("bad") is None
    assert items.storage.list_revision_ids("bad") == []
    # ids no row can have are simply missing
    assert items.storage.get_metas(["good", "x\0y", "bad", "good"]) == [
        good.meta,
        None,
        None,
        good.meta,
    ]


@pytest.fixture
def split(tmp_path: Path) -> Iterator[ResourceManager[Item]]:
    factory = SQLiteStorageFactory(tmp_path, payloads=MemoryPayloadStoreFactory())
    yield _items(factory)
    factory.close()


def test_adopted_data_goes_to_the_payload_store_and_a_refused_one_leaves_none(
    split: ResourceManager[Item],
) -> None:
    storage = split.storage
    assert isinstance(storage, SQLStorage)
    payloads = storage.payload_store
    assert payloads is not None
    split.create(Item(name="h", email="taken@x"), resource_id="holder")
    good = _adoption("good", ["g1@x", "g2@x"])
    clash = _adoption("clash", ["c@x", "taken@x"])
    outcomes = storage.adopt_resources([good, clash])
    assert outcomes[0] == good.meta
    assert isinstance(outcomes[1], UniqueConstraintError)
    assert {e.resource_id for e in payloads.list()} == {"holder", "good"}
    assert storage.get_revisions(
        [(r.info.resource_id, r.info.revision_id) for r in good.revisions]
    ) == list(good.revisions)
    # an overwrite drops the payloads of the history it replaces
    new = _adoption("good", ["n@x"])
    stored = storage.adopt_resource(new.meta, new.revisions, new.indexed_data, replaces=good.meta)
    assert stored == new.meta
    assert sum(e.resource_id == "good" for e in payloads.list()) == 1
    assert split.get("good").data.email == "n@x"

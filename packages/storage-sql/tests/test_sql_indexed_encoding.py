"""A write encodes its indexed values once, and stores the bytes they read back from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import msgspec
import pytest

from specstar.core import ResourceManager, StorageFactory
from specstar.core.ports import Write
from specstar.sql import _rows
from specstar.sql._store import SQLStorage
from specstar.testing import ITEM_INDEXES, Item


class _CountingEncoder:
    """Stands in for the module's msgpack encoder and records what it encodes."""

    def __init__(self) -> None:
        self.encoded: list[Any] = []
        self._inner = msgspec.msgpack.Encoder()

    def encode(self, obj: Any) -> bytes:
        self.encoded.append(obj)
        return self._inner.encode(obj)


def _stored_blob(store: SQLStorage, resource_id: str) -> bytes:
    backend = store._backend
    with backend.read() as tx:
        row = tx.one(
            f"SELECT indexed_data FROM {store.meta_table} WHERE resource_id = ?", (resource_id,)
        )
    assert row is not None
    return bytes(backend.decode_blob(row[0]))


def test_a_write_encodes_the_indexed_values_once(
    sql_factory: StorageFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = ResourceManager(
        Item, storage_factory=sql_factory, indexed_fields=ITEM_INDEXES, default_user="u"
    )
    store = cast(SQLStorage, items.storage)
    rid = items.create(Item(name="n", email="once@x")).resource_id
    encoder = _CountingEncoder()
    monkeypatch.setattr(_rows, "_ENCODER", encoder)
    naive = datetime(2024, 5, 6, 7, 8, 9, 123456)
    indexed: dict[str, Any] = {
        "name": "n",
        "email": "once-changed@x",
        "age": 2**40,
        "tags": ("a", "b"),
        "when": naive,
        "spans": [naive, datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5)))],
        "nested": {"x": [1.5, None, True], "y": b"\x00\xff"},
    }
    for step in range(2):
        meta = store.get_meta(rid)
        assert meta is not None
        write = Write(
            resource_id=rid,
            expected_revision_id=meta.current_revision_id,
            time=datetime(2024, 1, 1, tzinfo=UTC),
            user="u",
            indexed_data={**indexed, "age": indexed["age"] + step},
        )
        encoder.encoded.clear()
        result = store.commit(write)
        assert len(encoder.encoded) == 1, encoder.encoded
        # the stored bytes are those of the values as they read back, encoded again
        stored = _stored_blob(store, rid)
        assert stored == msgspec.msgpack.encode(result.meta.indexed_data)
        after = store.get_meta(rid)
        assert after is not None
        assert after.indexed_data == result.meta.indexed_data
        assert after.indexed_data["when"] == naive.replace(tzinfo=UTC)
        assert after.indexed_data["tags"] == ["a", "b"]
    # a write that keeps the indexed values encodes them once too
    meta = store.get_meta(rid)
    assert meta is not None
    encoder.encoded.clear()
    store.commit(
        Write(
            resource_id=rid,
            expected_revision_id=meta.current_revision_id,
            time=datetime(2024, 1, 2, tzinfo=UTC),
            user="u",
            is_deleted=True,
        )
    )
    assert len(encoder.encoded) == 1, encoder.encoded


def test_a_create_encodes_the_indexed_values_once(
    sql_factory: StorageFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create derives the index columns and the ``indexed_data`` bytes from one encoding, as
    an update does: none is derived again from the stored meta."""
    items = ResourceManager(
        Item, storage_factory=sql_factory, indexed_fields=ITEM_INDEXES, default_user="u"
    )
    store = cast(SQLStorage, items.storage)
    encoder = _CountingEncoder()
    monkeypatch.setattr(_rows, "_ENCODER", encoder)
    rid = items.create(Item(name="n", email="created-once@x", age=3)).resource_id
    assert len(encoder.encoded) == 1, encoder.encoded
    meta = store.get_meta(rid)
    assert meta is not None
    assert _stored_blob(store, rid) == msgspec.msgpack.encode(meta.indexed_data)

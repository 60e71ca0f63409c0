"""A SQLite database locked by another process longer than ``timeout``: a write is refused as
not applied (``StorageUnavailableError``, HTTP 503), never a storage fault."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import pytest

from specstar.core import QB, ResourceManager, StorageUnavailableError, WriteOutcomeUnknownError
from specstar.sql import SQLiteStorageFactory


class Row(msgspec.Struct, kw_only=True):
    name: str


def test_a_write_that_waited_out_the_lock_was_not_applied(tmp_path: Path) -> None:
    factory = SQLiteStorageFactory(tmp_path, timeout=0.2)
    try:
        rows = ResourceManager(Row, storage_factory=factory, indexed_fields=["name"])
        rows.create(Row(name="before"), user="u")
        other = sqlite3.connect(tmp_path / "specstar.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(StorageUnavailableError) as err:
                rows.create(Row(name="blocked"), user="u")
            assert not isinstance(err.value, WriteOutcomeUnknownError)
            assert "not applied" in err.value.message
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert rows.count(QB["name"] == "blocked") == 0
        rows.create(Row(name="after"), user="u")
        assert rows.count() == 2
    finally:
        factory.close()

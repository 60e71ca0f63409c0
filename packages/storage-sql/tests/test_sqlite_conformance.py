"""The SQLite adapter runs the full conformance suites, across threads and processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from specstar.sql import FileBlobStore, SQLiteStorageFactory
from specstar.testing import BlobStoreSuite, FactoryRecipe, ProcessSuite, StorageSuite


class TestSQLiteStorage(StorageSuite):
    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> Iterator[SQLiteStorageFactory]:
        factory = SQLiteStorageFactory(tmp_path / "store")
        yield factory
        factory.close()


class TestSQLiteProcesses(ProcessSuite):
    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> Iterator[SQLiteStorageFactory]:
        factory = SQLiteStorageFactory(tmp_path / "store")
        yield factory
        factory.close()

    @pytest.fixture
    def factory_recipe(self, tmp_path: Path) -> FactoryRecipe:
        return ("specstar.sql.sqlite:SQLiteStorageFactory", {"path": str(tmp_path / "store")})


class TestFileBlobStore(BlobStoreSuite):
    @pytest.fixture
    def blob_store(self, tmp_path: Path) -> FileBlobStore:
        return FileBlobStore(tmp_path / "blobs")

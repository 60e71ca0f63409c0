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


class TestSQLiteProcessesNormalSync(ProcessSuite):
    """``synchronous="NORMAL"`` syncs the WAL at checkpoints only: a killed *process* still
    loses no acknowledged write (only a power loss could). The crash test runs on it; the
    other process tests do not depend on the sync mode."""

    test_no_lost_appends_across_processes = None  # type: ignore[assignment]
    test_no_lost_draft_edits_across_processes = None  # type: ignore[assignment]
    test_one_unique_winner_across_processes = None  # type: ignore[assignment]
    test_concurrent_startup_of_a_new_type = None  # type: ignore[assignment]

    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> Iterator[SQLiteStorageFactory]:
        factory = SQLiteStorageFactory(tmp_path / "store", synchronous="NORMAL")
        yield factory
        factory.close()

    @pytest.fixture
    def factory_recipe(self, tmp_path: Path) -> FactoryRecipe:
        kwargs = {"path": str(tmp_path / "store"), "synchronous": "NORMAL"}
        return ("specstar.sql.sqlite:SQLiteStorageFactory", kwargs)


class TestFileBlobStore(BlobStoreSuite):
    @pytest.fixture
    def blob_store(self, tmp_path: Path) -> FileBlobStore:
        return FileBlobStore(tmp_path / "blobs")

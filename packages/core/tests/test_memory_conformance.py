"""The memory adapters run the full conformance suites."""

from __future__ import annotations

import pytest

from specstar.core import MemoryBlobStore, MemoryStorageFactory
from specstar.testing import BlobStoreSuite, ProcessSuite, StorageSuite


class TestMemoryStorage(StorageSuite):
    @pytest.fixture
    def storage_factory(self) -> MemoryStorageFactory:
        return MemoryStorageFactory()


class TestMemoryProcesses(ProcessSuite):
    """Skipped: memory is neither durable nor shared between processes."""

    @pytest.fixture
    def storage_factory(self) -> MemoryStorageFactory:
        return MemoryStorageFactory()


class TestMemoryBlobStore(BlobStoreSuite):
    @pytest.fixture
    def blob_store(self) -> MemoryBlobStore:
        return MemoryBlobStore()

"""The memory adapters run the full conformance suites."""

from __future__ import annotations

import pytest

from specstar.core import MemoryBlobStore, MemoryPayloadStoreFactory, MemoryStorageFactory
from specstar.testing import BlobStoreSuite, PayloadStoreSuite, ProcessSuite, StorageSuite


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


class TestMemoryPayloadStore(PayloadStoreSuite):
    @pytest.fixture
    def payload_store_factory(self) -> MemoryPayloadStoreFactory:
        return MemoryPayloadStoreFactory()

"""Job state lives in the resource storage: the in-process queue's whole MessageQueueSuite
runs with the job resources in SQLite and in PostgreSQL."""

from __future__ import annotations

import pytest

from specstar.core import MemoryMessageQueueFactory, StorageFactory
from specstar.testing import MessageQueueSuite


class TestMemoryQueueOnSQLStorage(MessageQueueSuite):
    @pytest.fixture
    def message_queue_factory(self) -> MemoryMessageQueueFactory:
        return MemoryMessageQueueFactory()

    @pytest.fixture
    def storage_factory(self, sql_factory: StorageFactory) -> StorageFactory:
        return sql_factory

"""The in-process queue with in-memory job storage runs the whole MessageQueueSuite."""

from __future__ import annotations

import pytest

from specstar.core import MemoryMessageQueueFactory, MemoryStorageFactory
from specstar.testing import MessageQueueSuite


class TestMemoryQueueOnMemoryStorage(MessageQueueSuite):
    @pytest.fixture
    def message_queue_factory(self) -> MemoryMessageQueueFactory:
        return MemoryMessageQueueFactory()

    @pytest.fixture
    def storage_factory(self) -> MemoryStorageFactory:
        return MemoryStorageFactory()

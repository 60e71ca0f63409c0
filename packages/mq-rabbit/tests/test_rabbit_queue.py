"""The RabbitMQ queue passes the whole ``MessageQueueSuite`` (job resources in memory)."""

from __future__ import annotations

import pytest

from specstar.core import StorageFactory
from specstar.core.memory import MemoryStorageFactory
from specstar.rabbit import RabbitMessageQueueFactory
from specstar.testing import MessageQueueSuite


class TestRabbitQueue(MessageQueueSuite):
    @pytest.fixture
    def message_queue_factory(
        self, rabbit_factory: RabbitMessageQueueFactory
    ) -> RabbitMessageQueueFactory:
        return rabbit_factory

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        return MemoryStorageFactory()

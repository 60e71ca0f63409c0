"""The Redis queue passes the whole MessageQueueSuite (job resources in memory)."""

from __future__ import annotations

import pytest

from specstar.core import StorageFactory
from specstar.core.memory import MemoryStorageFactory
from specstar.redis import RedisMessageQueueFactory
from specstar.testing import MessageQueueSuite


class TestRedisQueue(MessageQueueSuite):
    @pytest.fixture
    def message_queue_factory(
        self, redis_queues: RedisMessageQueueFactory
    ) -> RedisMessageQueueFactory:
        return redis_queues

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        return MemoryStorageFactory()

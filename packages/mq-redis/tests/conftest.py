"""Fixtures of the Redis tests: a factory whose keys carry a prefix of their own, deleted after.

The Redis server is shared: tests touch only keys under their own prefix, never FLUSHALL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from specstar.redis import RedisMessageQueueFactory


def delete_prefixed(url: str, prefix: str) -> int:
    """Delete every key under ``prefix``; how many there were."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"specstar-test:{uuid.uuid4().hex[:10]}:"
    yield prefix
    delete_prefixed(redis_url, prefix)


@pytest.fixture
def redis_queues(redis_url: str, redis_prefix: str) -> Iterator[RedisMessageQueueFactory]:
    factory = RedisMessageQueueFactory(redis_url, prefix=redis_prefix, retry_seconds=5)
    yield factory
    factory.close()

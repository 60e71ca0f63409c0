"""Redis lease locks run the lock suite: threads, processes, expiry on the server's clock.

Each test uses a key prefix of its own and deletes its keys afterwards, so runs and other
users of the same Redis never share leases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from specstar.core import LockNotOwnedError, StorageUnavailableError
from specstar.redis import RedisLockBackend
from specstar.testing import LockRecipe, LockSuite


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    prefix = f"specstar-test:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class TestRedisLocks(LockSuite):
    @pytest.fixture
    def lock_backend(self, redis_url: str, prefix: str) -> Iterator[RedisLockBackend]:
        backend = RedisLockBackend(redis_url, prefix=prefix)
        yield backend
        backend.close()

    @pytest.fixture
    def lock_recipe(self, redis_url: str, prefix: str) -> LockRecipe:
        return ("specstar.redis.locks:RedisLockBackend", {"url": redis_url, "prefix": prefix})


def test_leases_follow_the_server_clock(redis_url: str, prefix: str) -> None:
    """A lease ends when Redis expires its key, whatever the client believes."""
    backend = RedisLockBackend(redis_url, prefix=prefix)
    client = redis.Redis.from_url(redis_url)
    try:
        held = backend.try_lock("clock", 3600)
        assert held is not None
        assert 0 < client.pttl(f"{prefix}lease:clock") <= 3600 * 1000
        client.pexpire(f"{prefix}lease:clock", 1)  # the server ends the lease
        for _ in range(10_000):  # until Redis has dropped the key
            if client.pttl(f"{prefix}lease:clock") == -2:
                break
        with pytest.raises(LockNotOwnedError):
            backend.renew(held, 3600)
        successor = backend.try_lock("clock", 60)
        assert successor is not None
        assert successor.token == held.token + 1
        assert client.ttl(f"{prefix}fence:clock") == -1, "the fencing counter must not expire"
        backend.release(successor)
    finally:
        client.close()
        backend.close()


def test_a_given_client_is_used_and_left_open(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        backend = RedisLockBackend(client=client, prefix=prefix)
        held = backend.try_lock("given", 30)
        assert held is not None
        backend.release(held)
        backend.close()
        assert client.ping()
    finally:
        client.close()


def test_invalid_options_are_rejected(redis_url: str) -> None:
    with pytest.raises(ValueError, match="url= and client="):
        RedisLockBackend()
    with pytest.raises(ValueError, match="url= and client="):
        RedisLockBackend(redis_url, client=redis.Redis.from_url(redis_url))
    with pytest.raises(ValueError, match="prefix"):
        RedisLockBackend(redis_url, prefix="")


def test_unreachable_server_is_reported() -> None:
    backend = RedisLockBackend("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(StorageUnavailableError):
            backend.try_lock("anything", 30)
    finally:
        backend.close()

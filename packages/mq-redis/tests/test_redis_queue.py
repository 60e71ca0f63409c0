"""The Redis queue passes the whole MessageQueueSuite (job resources in memory), and keeps
its promises where only Redis can break them: lost replies, several processes, its keys."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from specstar.core import Lease, StorageFactory
from specstar.core.memory import MemoryStorageFactory
from specstar.redis import RedisMessageQueue, RedisMessageQueueFactory
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


# -- what only the Redis queue has ------------------------------------------------------------


class _Proxy:
    """A TCP proxy to Redis that, when armed, drops the connection carrying the next reply:
    the server ran the command, the client never hears of it (a lost reply)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db = parts.path or "/0"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.dropped = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.db}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, replies: bool) -> None:
        try:
            while data := src.recv(65536):
                if replies and self.armed.is_set():
                    self.armed.clear()
                    self.dropped += 1
                    break  # the reply is lost with the connection
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


@pytest.fixture
def proxied(redis_url: str, redis_prefix: str) -> Iterator[tuple[_Proxy, RedisMessageQueue]]:
    proxy = _Proxy(redis_url)
    factory = RedisMessageQueueFactory(proxy.url, prefix=redis_prefix, retry_seconds=5)
    yield proxy, factory.build("lost-replies")
    factory.close()
    proxy.close()


def test_a_claim_whose_reply_was_lost_returns_that_lease(
    proxied: tuple[_Proxy, RedisMessageQueue],
) -> None:
    proxy, q = proxied
    q.enqueue("a")
    q.enqueue("b")
    proxy.armed.set()
    first = q.claim(lease_seconds=60, wait=5)  # ran on the server; re-sent after the drop
    assert proxy.dropped == 1
    assert first is not None
    assert (first.job_id, first.deliveries) == ("a", 1)  # not "b", with "a" leased to nobody
    second = q.claim(lease_seconds=60, wait=5)
    assert second is not None
    assert second.job_id == "b"
    assert q.claim(lease_seconds=60) is None
    proxy.armed.set()
    assert q.ack(first) is True  # the first run acknowledged it: the re-sent call says so
    assert proxy.dropped == 2
    assert q.size() == 1


def test_an_enqueue_whose_reply_was_lost_reports_it_queued(
    proxied: tuple[_Proxy, RedisMessageQueue],
) -> None:
    proxy, q = proxied
    proxy.armed.set()
    assert q.enqueue("a") is True
    assert proxy.dropped == 1
    assert q.enqueue("a") is False
    assert q.size() == 1


def test_another_process_reclaims_an_expired_lease(
    redis_url: str, redis_prefix: str, redis_queues: RedisMessageQueueFactory
) -> None:
    other = RedisMessageQueueFactory(redis_url, prefix=redis_prefix)
    try:
        mine, theirs = redis_queues.build("shared"), other.build("shared")
        assert mine.consumer != theirs.consumer
        mine.enqueue("a")
        lost = mine.claim(lease_seconds=0.2, wait=5)
        assert lost is not None
        again = theirs.claim(lease_seconds=60, wait=5)
        assert again is not None
        assert (again.job_id, again.deliveries) == ("a", 2)
        assert mine.ack(lost) is False
        assert mine.ack(again) is True  # a lease is the token's, whichever process holds it
        assert theirs.size() == 0
    finally:
        other.close()


def test_invalid_options_are_refused_by_name(redis_queues: RedisMessageQueueFactory) -> None:
    q = redis_queues.build("options")
    with pytest.raises(ValueError, match="lease_seconds"):
        q.claim(lease_seconds=86400 * 2)
    with pytest.raises(ValueError, match="lease_seconds"):
        q.claim(lease_seconds=0)
    with pytest.raises(ValueError, match="partition_key"):
        q.enqueue("a", partition_key="")
    with pytest.raises(ValueError, match="delay"):
        q.enqueue("a", delay=float("nan"))
    with pytest.raises(ValueError, match="name"):
        redis_queues.build("")
    for option in ("max_lease_seconds", "pool_size", "socket_timeout"):
        with pytest.raises(ValueError, match=option):
            RedisMessageQueueFactory(redis_queues.url, **{option: 0})
    with pytest.raises(ValueError, match="retry_seconds"):
        RedisMessageQueueFactory(redis_queues.url, retry_seconds=-1)
    assert q.size() == 0
    # a token that is not one of this queue's holds nothing
    q.enqueue("a")
    assert q.ack(Lease(job_id="a", token="garbage")) is False
    assert q.size() == 1


def test_every_key_is_under_the_prefix(
    redis_url: str, redis_prefix: str, redis_queues: RedisMessageQueueFactory
) -> None:
    q = redis_queues.build("keys")
    q.enqueue("a", partition_key="p")
    q.enqueue("b", partition_key="p")
    q.enqueue("c", delay=3600)
    lease = q.claim(lease_seconds=60, wait=5)
    assert lease is not None
    assert q.dead_letter(lease, reason="boom")
    held = q.claim(lease_seconds=60, wait=5)  # "b", the partition's new head
    assert held is not None
    assert held.job_id == "b"
    client = redis.Redis.from_url(redis_url)
    try:
        keys = {k.decode() for k in client.scan_iter(match=f"{redis_prefix}*")}
    finally:
        client.close()
    base = f"{redis_prefix}{{keys}}:"
    assert {k for k in keys if not k.startswith(f"{base}r:")} == {
        f"{base}{suffix}"
        for suffix in ("stream", "jobs", "delayed", "dead", "last", "leases", "p:p")
    }


def test_a_partition_waits_for_its_delayed_head(redis_queues: RedisMessageQueueFactory) -> None:
    q = redis_queues.build("delayed-head")
    q.enqueue("p0", partition_key="p", delay=0.3)
    q.enqueue("p1", partition_key="p")
    assert q.claim(lease_seconds=60, wait=0.1) is None  # p1 is behind the delayed head
    head = q.claim(lease_seconds=60, wait=5)
    assert head is not None
    assert head.job_id == "p0"
    assert q.retry(head, delay=3600) is True  # the head keeps its place, an hour away
    assert q.claim(lease_seconds=60, wait=0.1) is None
    assert q.size() == 2


def test_a_dead_lettered_or_expired_head_moves_its_partition_on(
    redis_queues: RedisMessageQueueFactory,
) -> None:
    q = redis_queues.build("dead-head")
    for i in range(3):
        q.enqueue(f"p{i}", partition_key="p")
    head = q.claim(lease_seconds=60, wait=5)
    assert head is not None
    assert q.dead_letter(head, reason="bad") is True
    lost = q.claim(lease_seconds=0.05, wait=5)
    assert lost is not None
    assert lost.job_id == "p1"
    time.sleep(0.1)
    assert q.recover() == 1
    again = q.claim(lease_seconds=60, wait=5)
    assert again is not None
    assert (again.job_id, again.deliveries) == ("p1", 2)
    assert q.claim(lease_seconds=60, wait=0.1) is None  # p2 waits for p1
    assert q.ack(again) is True
    last = q.claim(lease_seconds=60, wait=5)
    assert last is not None
    assert last.job_id == "p2"
    assert q.dead_letters() == {"p0": "bad"}


def test_an_expired_lease_behind_many_live_ones_is_reclaimed(
    redis_queues: RedisMessageQueueFactory,
) -> None:
    q = redis_queues.build("long-pending")
    live = 500  # far more than one XAUTOCLAIM call scans from the start of the pending list
    for i in range(live):
        q.enqueue(f"m{i:03}")
    q.enqueue("short")
    leases = [q.claim(lease_seconds=600, wait=5) for _ in range(live)]
    assert all(lease is not None for lease in leases)
    short = q.claim(lease_seconds=0.05, wait=5)
    assert short is not None
    assert short.job_id == "short"
    again = q.claim(lease_seconds=60, wait=10)
    assert again is not None
    assert (again.job_id, again.deliveries) == ("short", 2)
    assert q.size() == live + 1

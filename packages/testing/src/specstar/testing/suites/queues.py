"""The ``MessageQueue`` port on its own: leases, delays, partitions, dead letters."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from specstar.core import MessageQueue, MessageQueueFactory

__all__ = ["QueuePortTests"]

WAIT = 10.0  # an upper bound for a message that must come; the tests never wait it out


class QueuePortTests:
    """Tests of the port itself; the adapter's test class provides ``message_queue_factory``."""

    @pytest.fixture
    def message_queue_factory(self) -> MessageQueueFactory:
        raise NotImplementedError("the adapter's test class must define message_queue_factory")

    @pytest.fixture
    def new_queue(self, message_queue_factory: MessageQueueFactory) -> Callable[[], MessageQueue]:
        def make() -> MessageQueue:
            return message_queue_factory.build(f"q-{uuid.uuid4().hex[:10]}")

        return make

    def test_enqueue_is_idempotent_per_id(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        assert q.enqueue("a") is True
        assert q.enqueue("a") is False
        assert q.size() == 1
        lease = q.claim(lease_seconds=60, wait=WAIT)
        assert lease is not None
        assert lease.job_id == "a"
        assert lease.deliveries == 1
        assert q.enqueue("a") is False  # leased is still queued
        assert q.claim(lease_seconds=60) is None
        assert q.ack(lease) is True
        assert q.size() == 0
        assert q.ack(lease) is False

    def test_each_message_goes_to_one_consumer(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        ids = [f"m{i}" for i in range(200)]
        for i in ids:
            q.enqueue(i)
        got: list[str] = []
        lock = threading.Lock()

        def consume(_: int) -> None:
            while True:
                lease = q.claim(lease_seconds=60, wait=0.2)
                if lease is None:
                    return
                with lock:
                    got.append(lease.job_id)
                assert q.ack(lease)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(consume, range(8)))
        assert sorted(got) == sorted(ids)

    def test_expired_lease_is_delivered_again(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        q.enqueue("a")
        first = q.claim(lease_seconds=0.2, wait=WAIT)
        assert first is not None
        second = q.claim(lease_seconds=60, wait=WAIT)  # the first consumer "died"
        assert second is not None
        assert second.job_id == "a"
        assert second.token != first.token
        assert second.deliveries == 2
        # the dead consumer's lease is stale: it changes nothing
        assert q.ack(first) is False
        assert q.retry(first, delay=0) is False
        assert q.extend(first, lease_seconds=60) is False
        assert q.dead_letter(first, reason="x") is False
        assert q.size() == 1
        assert q.ack(second) is True

    def test_extend_keeps_the_lease(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        q.enqueue("a")
        lease = q.claim(lease_seconds=0.5, wait=WAIT)
        assert lease is not None
        for _ in range(5):
            assert q.extend(lease, lease_seconds=60) is True
        time.sleep(0.6)  # past the first lease: only the extension holds it
        assert q.claim(lease_seconds=60) is None
        assert q.ack(lease) is True

    def test_recover_releases_expired_leases(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        q.enqueue("a")
        q.enqueue("b")
        held = q.claim(lease_seconds=60, wait=WAIT)
        lost = q.claim(lease_seconds=0.05, wait=WAIT)
        assert held is not None
        assert lost is not None
        time.sleep(0.1)
        assert q.recover() == 1
        again = q.claim(lease_seconds=60, wait=WAIT)
        assert again is not None
        assert again.job_id == lost.job_id

    def test_delay_is_honoured(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        q.enqueue("later", delay=3600)
        start = time.monotonic()
        q.enqueue("soon", delay=0.2)
        lease = q.claim(lease_seconds=60, wait=WAIT)
        assert lease is not None
        assert lease.job_id == "soon"
        assert time.monotonic() - start >= 0.2
        assert q.ack(lease)
        assert q.claim(lease_seconds=60, wait=0.1) is None  # "later" is still an hour away
        assert q.size() == 1

    def test_retry_delays_the_next_delivery(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        q.enqueue("a")
        lease = q.claim(lease_seconds=60, wait=WAIT)
        assert lease is not None
        assert q.retry(lease, delay=3600) is True
        assert q.claim(lease_seconds=60, wait=0.1) is None
        q2 = new_queue()
        q2.enqueue("b")
        lease = q2.claim(lease_seconds=60, wait=WAIT)
        assert lease is not None
        start = time.monotonic()
        assert q2.retry(lease, delay=0.2)
        again = q2.claim(lease_seconds=60, wait=WAIT)
        assert again is not None
        assert again.deliveries == 2
        assert time.monotonic() - start >= 0.2

    def test_dead_letters(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        q.enqueue("a")
        lease = q.claim(lease_seconds=60, wait=WAIT)
        assert lease is not None
        assert q.dead_letter(lease, reason="boom") is True
        assert q.size() == 0
        assert q.dead_letters() == {"a": "boom"}
        assert q.claim(lease_seconds=60, wait=0.1) is None
        assert q.enqueue("a") is True  # queued again: out of the dead letters
        assert q.dead_letters() == {}

    def test_partition_runs_one_at_a_time_in_order(
        self, new_queue: Callable[[], MessageQueue]
    ) -> None:
        q = new_queue()
        for i in range(3):
            q.enqueue(f"p{i}", partition_key="p")
        q.enqueue("free")
        first = q.claim(lease_seconds=60, wait=WAIT)
        other = q.claim(lease_seconds=60, wait=WAIT)
        assert first is not None
        assert other is not None
        assert {first.job_id, other.job_id} == {"p0", "free"}
        assert q.claim(lease_seconds=60, wait=0.1) is None  # p1 waits for p0
        p0 = first if first.job_id == "p0" else other
        assert q.retry(p0, delay=0)  # a retried head keeps its place
        head = q.claim(lease_seconds=60, wait=WAIT)
        assert head is not None
        assert head.job_id == "p0"
        order = []
        while head is not None:
            order.append(head.job_id)
            assert q.ack(head)
            head = q.claim(lease_seconds=60, wait=0.5)
        assert order == ["p0", "p1", "p2"]

    def test_claim_wakes_on_enqueue(self, new_queue: Callable[[], MessageQueue]) -> None:
        q = new_queue()
        got: list[str] = []

        def wait_for_one() -> None:
            lease = q.claim(lease_seconds=60, wait=WAIT)
            if lease is not None:
                got.append(lease.job_id)

        t = threading.Thread(target=wait_for_one)
        t.start()
        time.sleep(0.05)
        q.enqueue("a")
        t.join(WAIT + 5)
        assert got == ["a"]

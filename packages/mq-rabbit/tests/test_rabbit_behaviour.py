"""What the RabbitMQ queue adds to the suite: delay rounding, option checks, connections the
broker drops, partitions and dead letters seen from two processes (two factories)."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from specstar.rabbit import RabbitMessageQueueFactory
from specstar.rabbit._topology import delay_ms
from specstar.testing.services import services_required


def test_delays_are_rounded_up_never_down() -> None:
    assert delay_ms(0.0001) == 1
    assert delay_ms(0.0421) == 43
    assert delay_ms(0.2) == 200
    assert delay_ms(0.2371) == 240
    assert delay_ms(3600) == 3_600_000
    for seconds in (0.001, 0.099, 0.1234, 1.5, 7.77, 123.456):
        ms = delay_ms(seconds)
        assert seconds * 1000 <= ms <= seconds * 1000 * 1.1 + 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("prefetch", 0), ("partition_shards", 0), ("reconnect_seconds", -1), ("dedup_seconds", -1)],
)
def test_invalid_options_are_named(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        RabbitMessageQueueFactory(**{option: value})  # type: ignore[arg-type]


def test_a_queue_name_too_long_is_refused(rabbit_factory: RabbitMessageQueueFactory) -> None:
    with pytest.raises(ValueError, match="at most"):
        rabbit_factory.build("x" * 300)


@pytest.fixture
def second_factory(amqp_url: str, rabbit_prefix: str) -> Iterator[RabbitMessageQueueFactory]:
    """Another factory on the same queues: what another process sees."""
    factory = RabbitMessageQueueFactory(amqp_url, prefix=rabbit_prefix, reconnect_seconds=10)
    yield factory
    factory.close()


def test_a_partition_passes_one_job_at_a_time_across_processes(
    rabbit_factory: RabbitMessageQueueFactory, second_factory: RabbitMessageQueueFactory
) -> None:
    name = f"q-{uuid.uuid4().hex[:8]}"
    a, b = rabbit_factory.build(name), second_factory.build(name)
    for i in range(3):
        a.enqueue(f"p{i}", partition_key="acct")
    first = a.claim(lease_seconds=60, wait=10)
    assert first is not None
    assert first.job_id == "p0"
    assert b.claim(lease_seconds=60, wait=0.5) is None  # p1 waits for p0, in every process
    a.close()  # the holder dies without a word: the broker gives p0 back, at the head
    again = b.claim(lease_seconds=60, wait=10)
    assert again is not None
    assert again.job_id == "p0"
    assert again.deliveries >= 2
    order = []
    while again is not None:
        order.append(again.job_id)
        assert b.ack(again)
        again = b.claim(lease_seconds=60, wait=1)
    assert order == ["p0", "p1", "p2"]


def test_dead_letters_are_seen_by_every_process(
    rabbit_factory: RabbitMessageQueueFactory, second_factory: RabbitMessageQueueFactory
) -> None:
    name = f"q-{uuid.uuid4().hex[:8]}"
    a, b = rabbit_factory.build(name), second_factory.build(name)
    a.enqueue("x")
    lease = a.claim(lease_seconds=60, wait=10)
    assert lease is not None
    assert a.dead_letter(lease, reason="out of retries")
    assert b.dead_letters() == {"x": "out of retries"}
    assert b.dead_letters() == {"x": "out of retries"}  # reading them keeps them


def _close_all_connections() -> None:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        message = "rabbitmqctl is not installed: cannot cut the broker's connections"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    subprocess.run([tool, "close_all_connections", "test"], check=True, capture_output=True)


def test_a_dropped_connection_voids_leases_and_everything_reconnects(
    rabbit_factory: RabbitMessageQueueFactory,
) -> None:
    q = rabbit_factory.build(f"q-{uuid.uuid4().hex[:8]}")
    q.enqueue("a")
    lease = q.claim(lease_seconds=60, wait=10)
    assert lease is not None
    _close_all_connections()
    deadline = time.monotonic() + 10
    while q.extend(lease, lease_seconds=60) and time.monotonic() < deadline:
        time.sleep(0.05)  # the consumer notices the drop
    assert q.ack(lease) is False  # the broker took the delivery back
    assert q.enqueue("b") is True  # the publisher reconnects
    got = {}
    for _ in range(2):
        again = q.claim(lease_seconds=60, wait=10)
        assert again is not None
        got[again.job_id] = again.deliveries
        assert q.ack(again)
    assert got == {"a": 2, "b": 1}
    assert q.size() == 0

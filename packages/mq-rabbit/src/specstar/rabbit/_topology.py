"""The broker objects of one job model: queue names, their arguments, delay buckets."""

from __future__ import annotations

import hashlib
import math
from typing import Any

__all__ = [
    "DEAD_LETTER_GRACE_MS",
    "HEADER_DELIVERIES",
    "HEADER_ORIGIN",
    "HEADER_REASON",
    "HEADER_SEQ",
    "Topology",
    "delay_ms",
]

HEADER_DELIVERIES = "x-specstar-deliveries"  # deliveries of the id before this copy was published
HEADER_ORIGIN = "x-specstar-origin"  # the queue object that published this copy
HEADER_SEQ = "x-specstar-seq"  # its publish counter
HEADER_REASON = "x-specstar-reason"  # why a dead letter was dead-lettered
DEAD_LETTER_GRACE_MS = 60_000  # a delay queue outlives its last message by this much
_MAX_NAME = 200  # AMQP queue names are at most 255 bytes; delay queues add a suffix


def delay_ms(seconds: float) -> int:
    """A delay in whole milliseconds, rounded *up* so a delay is never shortened.

    From 100 ms on it is rounded up to two significant digits (at most 10 % longer), so
    jittered backoffs share a bounded number of delay queues.
    """
    ms = max(1, math.ceil(seconds * 1000))
    if ms < 100:
        return ms
    step = int(10 ** (len(str(ms)) - 2))
    return -(-ms // step) * step


class Topology:
    """Names and declarations of a job model's queues.

    - ``{prefix}.{name}``: the work queue (durable, classic);
    - ``{prefix}.{name}.p{i}``: partition queues, one active consumer each (partitioned jobs
      are hashed onto them, so one partition's jobs pass one at a time, in order);
    - ``{prefix}.{name}.dead``: the dead letters;
    - ``{target}.delay.{ms}``: delay queues: a message waits ``ms`` there (queue TTL), then the
      broker dead-letters it into ``target``; unused delay queues delete themselves.
    """

    def __init__(self, prefix: str, name: str, shards: int) -> None:
        base = f"{prefix}.{name}"
        if not prefix or not name or len(base.encode()) > _MAX_NAME:
            raise ValueError(
                f"queue name {base!r}: prefix and name must be non-empty and together at most "
                f"{_MAX_NAME} bytes"
            )
        self.work = base
        self.shards = [f"{base}.p{i}" for i in range(shards)]
        self.dead = f"{base}.dead"

    def target(self, partition_key: str | None) -> str:
        """The queue a message of ``partition_key`` goes to."""
        if partition_key is None:
            return self.work
        digest = hashlib.sha256(partition_key.encode()).digest()
        return self.shards[int.from_bytes(digest[:8], "big") % len(self.shards)]

    def is_shard(self, queue: str) -> bool:
        return queue in self.shards

    @staticmethod
    def delay_queue(target: str, ms: int) -> str:
        return f"{target}.delay.{ms}"

    def declare(self, channel: Any) -> None:
        """Declare the work, partition and dead-letter queues (idempotent)."""
        channel.queue_declare(self.work, durable=True)
        for shard in self.shards:
            channel.queue_declare(shard, durable=True, arguments={"x-single-active-consumer": True})
        channel.queue_declare(self.dead, durable=True)

    @staticmethod
    def declare_delay(channel: Any, target: str, ms: int) -> str:
        """Declare (and so keep alive) the delay queue of ``ms`` into ``target``."""
        name = Topology.delay_queue(target, ms)
        channel.queue_declare(
            name,
            durable=True,
            arguments={
                "x-message-ttl": ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": target,
                "x-expires": ms + DEAD_LETTER_GRACE_MS,
            },
        )
        return name

    def queues(self) -> list[str]:
        return [self.work, *self.shards, self.dead]

"""Building the RabbitMQ queue of each job model from one broker URL."""

from __future__ import annotations

import threading
from typing import Any

import pika

from ._publisher import Publisher
from .queue import RabbitMessageQueue

__all__ = ["RabbitMessageQueueFactory"]


class RabbitMessageQueueFactory:
    """Queues of every job model on one RabbitMQ broker (same name → same queue object).

    Args:
        url: the broker, as an AMQP URL (``amqp://user:password@host:5672/vhost``).
        prefix: prepended to every queue name (``{prefix}.{model}``), to share a vhost.
        prefetch: most unacknowledged work-queue deliveries a consuming process holds.
        partition_shards: how many single-consumer queues partitioned jobs are hashed onto.
        reconnect_seconds: how long a publish keeps retrying through a dropped connection.
        dedup_seconds: how long this process trusts that an id it published is still queued
            (for ``enqueue``'s answer and ``size()``; a second copy is published regardless).
        heartbeat: AMQP heartbeat in seconds (``None``: the broker's).
    """

    def __init__(
        self,
        url: str = "amqp://guest:guest@127.0.0.1:5672/%2F",
        *,
        prefix: str = "specstar",
        prefetch: int = 16,
        partition_shards: int = 8,
        reconnect_seconds: float = 30.0,
        dedup_seconds: float = 600.0,
        heartbeat: int | None = None,
    ) -> None:
        for option, value, low in (
            ("prefetch", prefetch, 1),
            ("partition_shards", partition_shards, 1),
            ("reconnect_seconds", reconnect_seconds, 0),
            ("dedup_seconds", dedup_seconds, 0),
        ):
            if value < low:
                raise ValueError(f"RabbitMessageQueueFactory: {option} must be >= {low}")
        self.parameters = pika.URLParameters(url)
        if heartbeat is not None:
            self.parameters.heartbeat = heartbeat
        self.url = url
        self.prefix = prefix
        self.prefetch = prefetch
        self.partition_shards = partition_shards
        self.dedup_seconds = dedup_seconds
        self._queues: dict[str, RabbitMessageQueue] = {}
        self._lock = threading.Lock()
        self.publisher = Publisher(
            self.parameters, reconnect_seconds=reconnect_seconds, on_connect=self._declare_all
        )

    def _declare_all(self, channel: Any) -> None:
        with self._lock:
            queues = list(self._queues.values())
        for queue in queues:
            queue.topology.declare(channel)

    def build(self, name: str) -> RabbitMessageQueue:
        with self._lock:
            queue = self._queues.get(name)
            if queue is not None:
                return queue
            queue = self._queues[name] = RabbitMessageQueue(self, name)
        self.publisher.run(queue.topology.declare, f"declare the queues of {name!r}")
        return queue

    def delete_queues(self) -> None:
        """Delete the broker queues of every model built here (tests, teardown)."""
        with self._lock:
            queues = list(self._queues.values())
        for queue in queues:
            queue.delete()

    def close(self) -> None:
        """Stop the consumers and close every connection."""
        with self._lock:
            queues = list(self._queues.values())
        for queue in queues:
            queue.close()
        self.publisher.close()

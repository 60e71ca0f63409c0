"""The consuming side of one queue: a dedicated I/O thread that owns its connection.

pika's ``BlockingConnection`` is not thread-safe, and deliveries must be acknowledged on the
channel that received them. One thread per queue owns the consuming connection: it receives
deliveries into the queue's buffer and runs the acks, nacks and rejects other threads ask for
through ``add_callback_threadsafe`` (the one thread-safe call of a blocking connection), so
worker threads never touch the socket. When the broker drops the connection the thread opens
a new one; every delivery of the old one was returned to the queue by the broker.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import AMQPError

from ._topology import Topology

__all__ = ["Consumer", "Delivery"]

log = logging.getLogger("specstar.rabbit")


class Delivery:
    """One message as received: where to settle it, and what it carries."""

    __slots__ = ("body", "channel", "generation", "headers", "partitioned", "redelivered", "tag")

    def __init__(
        self,
        *,
        generation: int,
        channel: BlockingChannel,
        tag: int,
        redelivered: bool,
        headers: dict[str, Any],
        body: bytes,
        partitioned: bool,
    ) -> None:
        self.generation = generation
        self.channel = channel
        self.tag = tag
        self.redelivered = redelivered
        self.headers = headers
        self.body = body
        self.partitioned = partitioned


class Consumer(threading.Thread):
    """Consumes a job model's work and partition queues until stopped.

    Args:
        parameters: where the broker is.
        topology: the queues.
        prefetch: most unacknowledged deliveries of the work queue held at once.
        on_delivery: called on this thread with each delivery.
        on_lost: called on this thread with the generation whose connection was lost.
    """

    def __init__(
        self,
        parameters: pika.URLParameters,
        topology: Topology,
        *,
        prefetch: int,
        on_delivery: Callable[[Delivery], None],
        on_lost: Callable[[int], None],
    ) -> None:
        super().__init__(name=f"{topology.work}-consumer", daemon=True)
        self._parameters = parameters
        self._topology = topology
        self._prefetch = prefetch
        self._on_delivery = on_delivery
        self._on_lost = on_lost
        self._stopping = threading.Event()
        self.generation = 0
        self._connection: BlockingConnection | None = None
        self.connected = threading.Event()

    def _subscribe(self, connection: BlockingConnection, generation: int) -> None:
        work = connection.channel()
        self._topology.declare(work)
        work.basic_qos(prefetch_count=self._prefetch)
        work.basic_consume(self._topology.work, self._receiver(generation, work, False))
        # one unacknowledged delivery per partition queue: a partition's next job waits
        # until the current one is settled
        parts = connection.channel()
        parts.basic_qos(prefetch_count=1)
        for shard in self._topology.shards:
            parts.basic_consume(shard, self._receiver(generation, parts, True))

    def _receiver(self, generation: int, channel: BlockingChannel, partitioned: bool) -> Any:
        def receive(_ch: Any, method: Any, properties: Any, body: bytes) -> None:
            headers = dict(properties.headers or {})
            try:
                body.decode()
            except UnicodeDecodeError:  # not a job id: nothing can run it
                log.error("%s: dropping a message that is not a job id: %r", self.name, body)
                channel.basic_reject(method.delivery_tag, requeue=False)
                return
            self._on_delivery(
                Delivery(
                    generation=generation,
                    channel=channel,
                    tag=method.delivery_tag,
                    redelivered=bool(method.redelivered),
                    headers=headers,
                    body=body,
                    partitioned=partitioned,
                )
            )

        return receive

    def run(self) -> None:
        pause = 0.05
        while not self._stopping.is_set():
            generation = self.generation + 1
            try:
                connection = BlockingConnection(self._parameters)
                self._connection, self.generation = connection, generation
                self._subscribe(connection, generation)
                self.connected.set()
                pause = 0.05
                while not self._stopping.is_set():
                    connection.process_data_events(time_limit=0.2)
                with contextlib.suppress(AMQPError):
                    connection.close()
            except (AMQPError, OSError) as exc:
                if not self._stopping.is_set():
                    log.warning("%s: connection lost (%r); reconnecting", self.name, exc)
            except Exception:  # a bug must not end consuming for good: log it, reconnect
                log.exception("%s: consumer failed; reconnecting", self.name)
            finally:
                self.connected.clear()
                self._connection = None
                self._on_lost(generation)
            if not self._stopping.is_set():
                self._stopping.wait(pause)
                pause = min(pause * 2, 2.0)

    def call(self, generation: int, operation: Callable[[], None]) -> bool:
        """Run ``operation`` on the I/O thread if ``generation``'s connection is still up.

        Returns whether it was scheduled (``False``: that connection is gone, and with it
        every delivery it held).
        """
        connection = self._connection
        if connection is None or generation != self.generation:
            return False
        if threading.current_thread() is self:
            operation()
            return True

        def guarded() -> None:
            if generation == self.generation:
                operation()

        try:
            connection.add_callback_threadsafe(guarded)
        except Exception:  # the connection closed meanwhile
            return False
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
        # a wait on the connection ends within the loop's time limit
        time.sleep(0)

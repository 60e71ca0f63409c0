"""Publishing with confirms: one connection per thread, reconnecting after the broker drops it.

pika's ``BlockingConnection`` is not thread-safe, and a publisher confirm is a round trip the
caller waits for. Giving each publishing thread its own connection lets many threads publish
at once without a lock around the socket and without routing every publish through one I/O
thread; a broker keeps thousands of connections without trouble.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import AMQPError

from specstar.core import StorageUnavailableError

__all__ = ["Publisher"]

T = TypeVar("T")
log = logging.getLogger("specstar.rabbit")


class Publisher:
    """Runs channel operations on the calling thread's connection, retrying through drops.

    Args:
        parameters: where the broker is.
        reconnect_seconds: how long an operation keeps retrying before it raises.
        on_connect: called with each new channel (declares the queues).
    """

    def __init__(
        self,
        parameters: pika.URLParameters,
        *,
        reconnect_seconds: float,
        on_connect: Callable[[BlockingChannel], None],
    ) -> None:
        self._parameters = parameters
        self._reconnect_seconds = reconnect_seconds
        self._on_connect = on_connect
        self._local = threading.local()
        self._connections: list[BlockingConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _channel(self) -> BlockingChannel:
        channel: BlockingChannel | None = getattr(self._local, "channel", None)
        if channel is not None and channel.is_open:
            return channel
        self._drop()
        connection = BlockingConnection(self._parameters)
        with self._lock:
            self._connections.append(connection)
        channel = connection.channel()
        channel.confirm_delivery()
        self._on_connect(channel)
        self._local.connection, self._local.channel = connection, channel
        return channel

    def _drop(self) -> None:
        connection: BlockingConnection | None = getattr(self._local, "connection", None)
        self._local.connection = self._local.channel = None
        if connection is None:
            return
        with self._lock:
            if connection in self._connections:
                self._connections.remove(connection)
        try:
            if connection.is_open:
                connection.close()
        except Exception:  # already broken: nothing to release
            pass

    def run(self, operation: Callable[[BlockingChannel], T], what: str) -> T:
        """Run ``operation`` on this thread's channel; reconnect and run it again on a drop.

        ``operation`` must be safe to repeat (a publish repeated after a drop may leave a
        second copy: deliveries are at-least-once).

        Raises:
            StorageUnavailableError: the broker did not answer for ``reconnect_seconds``.
        """
        deadline = time.monotonic() + self._reconnect_seconds
        pause = 0.05
        while True:
            if self._closed:
                raise StorageUnavailableError(f"RabbitMQ queue closed: cannot {what}")
            try:
                return operation(self._channel())
            except (AMQPError, OSError) as exc:
                self._drop()
                if time.monotonic() + pause > deadline:
                    raise StorageUnavailableError(
                        f"RabbitMQ did not answer for {self._reconnect_seconds:g} s: cannot {what}"
                    ) from exc
                log.warning("RabbitMQ connection lost (%r); reconnecting to %s", exc, what)
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def close(self) -> None:
        """Close every thread's connection."""
        self._closed = True
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                if connection.is_open:
                    connection.close()
            except Exception:  # closing a broken connection
                pass


def publish(channel: BlockingChannel, queue: str, job_id: str, headers: dict[str, Any]) -> None:
    """Publish a persistent message to ``queue``; returns once the broker confirmed it."""
    channel.basic_publish(
        "",
        queue,
        job_id.encode(),
        pika.BasicProperties(delivery_mode=2, headers=headers),
        mandatory=True,
    )

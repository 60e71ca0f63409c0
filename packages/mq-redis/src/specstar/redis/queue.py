"""A message queue on Redis Streams: any number of processes on any number of hosts share it.

Each job model's queue is a stream read through one consumer group. A claim is one Lua script
that moves due delayed messages into the stream, reclaims a lease that ran out
(``XAUTOCLAIM``) or reads a new entry (``XREADGROUP``), and sets the lease — so a claim is
atomic, and every other change (enqueue, ack, retry, dead letter, recover) is one script too:
no check-then-write across round trips. See ``_scripts`` for the keys and how leases map onto
the group's pending list.

An idle consumer blocks on ``XREAD`` after the stream's last entry, so an enqueue wakes it at
once; it looks again when a delayed message falls due or a lease runs out (the script tells it
when), so nothing polls.

Dropped connections: every command goes through redis-py's retry (reconnect with backoff for
``retry_seconds``). A script whose reply was lost with the connection is re-sent with the same
request id and answered from the reply stored by the run that happened (kept longer than the
client goes on re-sending), so a claim whose reply
was lost returns that very lease instead of leaving it to expire, and an ack is not reported as
failed because its first run succeeded.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from specstar.core import Lease, MessageQueue, StorageError

from . import _scripts

__all__ = ["RedisMessageQueue", "RedisMessageQueueFactory"]

_GROUP = "specstar"


class RedisMessageQueueFactory:
    """Queues of every job model on one Redis database (same name → same queue).

    Args:
        url: ``redis://`` (or ``rediss://``, ``unix://``) URL of the server and database.
        prefix: start of every key this factory writes; the queue ``name`` lives under
            ``<prefix>{<name>}:`` (one hash tag, so a queue's keys share a cluster slot).
        max_lease_seconds: the longest lease a claim or heartbeat may ask for; a lease is
            encoded in the pending entry's idle time, counted down from this.
        pool_size: most connections open at once (an idle consumer holds one while it waits).
        socket_timeout: seconds before a silent connection counts as dropped.
        retry_seconds: how long a command keeps reconnecting after the connection dropped
            before the error reaches the caller.
        client_name: the name of this factory's connections in ``CLIENT LIST``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "specstar:",
        max_lease_seconds: float = 86400.0,
        pool_size: int = 32,
        socket_timeout: float = 10.0,
        retry_seconds: float = 30.0,
        client_name: str = "specstar-queue",
    ) -> None:
        for option, value in (
            ("max_lease_seconds", max_lease_seconds),
            ("pool_size", pool_size),
            ("socket_timeout", socket_timeout),
        ):
            if not value > 0:
                raise ValueError(f"RedisMessageQueueFactory: {option} must be > 0, got {value!r}")
        if retry_seconds < 0:
            raise ValueError(
                f"RedisMessageQueueFactory: retry_seconds must be >= 0, got {retry_seconds!r}"
            )
        if not isinstance(prefix, str):
            raise TypeError(f"RedisMessageQueueFactory: prefix must be a str, got {prefix!r}")
        self.url = url
        self.prefix = prefix
        self.max_lease_ms = int(max_lease_seconds * 1000)
        self.socket_timeout = socket_timeout
        # backoff 50 ms doubling to 1 s: enough tries to cover retry_seconds
        retries = 0
        total, step = 0.0, 0.05
        while total < retry_seconds:
            total += step
            step = min(step * 2, 1.0)
            retries += 1
        # a reply is kept longer than the client may go on re-sending its request (every try
        # may also wait out the timeout), so a re-sent request always finds it
        self.keep_reply_ms = int((total + (retries + 1) * socket_timeout + 60) * 1000)
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=pool_size,
            timeout=socket_timeout + retry_seconds,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            socket_keepalive=True,
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError, ConnectionError],
            client_name=client_name,
        )
        self.client = redis.Redis(connection_pool=pool)
        self.scripts = {
            name: self.client.register_script(getattr(_scripts, name)) for name in _scripts.__all__
        }
        self._queues: dict[str, RedisMessageQueue] = {}
        self._lock = threading.Lock()
        self._closed = False

    def build(self, name: str) -> RedisMessageQueue:
        """The queue of the job model ``name``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"RedisMessageQueueFactory.build: a non-empty name, got {name!r}")
        with self._lock:
            if self._closed:
                raise StorageError("RedisMessageQueueFactory: closed")
            if name not in self._queues:
                self._queues[name] = RedisMessageQueue(self, name)
            return self._queues[name]

    def close(self) -> None:
        """Stop every queue's waiting consumers and close the connections."""
        with self._lock:
            self._closed = True
            queues = list(self._queues.values())
        for q in queues:
            q.close()
        self.client.close()
        self.client.connection_pool.disconnect()


class RedisMessageQueue(MessageQueue):
    """The queue of one job model in a :class:`RedisMessageQueueFactory`'s database."""

    def __init__(self, factory: RedisMessageQueueFactory, name: str) -> None:
        self.name = name
        self._factory = factory
        self._client = factory.client
        self.base = f"{factory.prefix}{{{name}}}:"
        self.stream = f"{self.base}stream"
        self._keys = [
            self.stream,
            f"{self.base}jobs",
            f"{self.base}delayed",
            f"{self.base}dead",
            f"{self.base}last",
            f"{self.base}leases",
        ]
        # one consumer of the group per queue object; its name says where it runs
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._closed = False
        self._call(self._ensure_group)

    # -- plumbing --------------------------------------------------------------------------

    def _ensure_group(self) -> None:
        try:
            self._client.xgroup_create(self.stream, _GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise StorageError(f"Redis queue {self.name!r}: {exc}") from exc

    def _run(self, script: str, *args: Any, memo: bool = True) -> Any:
        """Run one script; ``memo`` gives it a request id so a re-sent call is answered once."""
        rid = f"{self.consumer}:{threading.get_ident()}|{uuid.uuid4().hex}" if memo else ""
        f = self._factory
        argv = [self.base, rid, f.max_lease_ms, f.keep_reply_ms, *args]
        fn = f.scripts[script]
        return self._call(fn, keys=self._keys, args=argv, client=self._client)

    def _ms(self, seconds: float, what: str) -> int:
        if not math.isfinite(seconds):
            raise ValueError(
                f"{self.name}: {what} must be a finite number of seconds, got {seconds}"
            )
        return max(int(seconds * 1000), 0)

    def _lease_ms(self, lease_seconds: float) -> int:
        ms = self._ms(lease_seconds, "lease_seconds")
        if not 0 < ms <= self._factory.max_lease_ms:
            raise ValueError(
                f"{self.name}: lease_seconds must be > 0 and at most the factory's "
                f"max_lease_seconds ({self._factory.max_lease_ms / 1000:g}), got {lease_seconds!r}"
            )
        return ms

    @staticmethod
    def _token(lease: Lease) -> tuple[str, str] | None:
        entry, sep, deliveries = lease.token.rpartition("/")
        if not sep or not entry or not deliveries.isdigit():
            return None  # not a token of this queue: it holds nothing
        return entry, deliveries

    def _held(self, script: str, lease: Lease, *extra: Any, memo: bool = True) -> bool:
        token = self._token(lease)
        if token is None:
            return False
        return int(self._run(script, lease.job_id, *token, *extra, memo=memo)) == 1

    # -- the port --------------------------------------------------------------------------

    def enqueue(self, job_id: str, *, delay: float = 0.0, partition_key: str | None = None) -> bool:
        if partition_key == "":
            raise ValueError(f"{self.name}: partition_key must be None or a non-empty string")
        added = self._run("ENQUEUE", job_id, self._ms(delay, "delay"), partition_key or "")
        return int(added) == 1

    def claim(self, *, lease_seconds: float, wait: float = 0.0) -> Lease | None:
        lease_ms = self._lease_ms(lease_seconds)
        deadline = time.monotonic() + wait
        while not self._closed:
            got = self._run("CLAIM", lease_ms, self.consumer)
            job_id = got[0].decode() if isinstance(got[0], bytes) else str(got[0])
            if job_id:
                token = got[1].decode() if isinstance(got[1], bytes) else str(got[1])
                return Lease(job_id=job_id, token=token, deliveries=int(got[2]))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            pause = min(remaining, 0.5)  # close() is seen within half a second
            if int(got[2]) >= 0:  # a delayed message or a lease falls due
                pause = min(pause, int(got[2]) / 1000)
            block_ms = max(int(pause * 1000), 1)
            last = got[1]
            self._call(self._client.xread, {self.stream: last}, count=1, block=block_ms)
        return None

    def extend(self, lease: Lease, *, lease_seconds: float) -> bool:
        lease_ms = self._lease_ms(lease_seconds)
        return self._held("EXTEND", lease, lease_ms, self.consumer, memo=False)

    def ack(self, lease: Lease) -> bool:
        return self._held("ACK", lease)

    def retry(self, lease: Lease, *, delay: float = 0.0) -> bool:
        return self._held("RETRY", lease, self._ms(delay, "delay"))

    def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        return self._held("DEAD_LETTER", lease, reason)

    def dead_letters(self) -> dict[str, str]:
        raw = self._call(self._client.hgetall, self._keys[3])
        return {k.decode(): v.decode() for k, v in raw.items()}

    def recover(self) -> int:
        return int(self._run("RECOVER"))

    def size(self) -> int:
        return int(self._call(self._client.hlen, self._keys[1]))

    def close(self) -> None:
        """Stop this queue's claims: a waiting one returns ``None`` within half a second (its
        ``XREAD`` blocks at most that long). The connections are the factory's to close."""
        self._closed = True

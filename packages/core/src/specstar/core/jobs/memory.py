"""The in-process message queue: threads of one process share it (tests, single-process apps).

Its messages live in memory, so they die with the process; the job resources do not, and a
job manager re-queues every unfinished job when its workers start (see
:meth:`~specstar.core.jobs.JobManager.requeue_unfinished`).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable

from .queue import Lease, MessageQueue

__all__ = ["MemoryMessageQueue", "MemoryMessageQueueFactory"]


class _Message:
    __slots__ = ("available_at", "deliveries", "job_id", "lease_until", "partition", "seq", "token")

    def __init__(self, job_id: str, seq: int, available_at: float, partition: str | None) -> None:
        self.job_id = job_id
        self.seq = seq
        self.available_at = available_at
        self.partition = partition
        self.token: str | None = None
        self.lease_until = 0.0
        self.deliveries = 0


class MemoryMessageQueue(MessageQueue):
    """A :class:`~specstar.core.jobs.MessageQueue` in this process's memory.

    Args:
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._messages: dict[str, _Message] = {}
        self._dead: dict[str, str] = {}
        self._seq = itertools.count()
        self._closed = False

    def enqueue(self, job_id: str, *, delay: float = 0.0, partition_key: str | None = None) -> bool:
        with self._cond:
            if job_id in self._messages:
                return False
            self._dead.pop(job_id, None)
            at = self._clock() + max(delay, 0.0)
            self._messages[job_id] = _Message(job_id, next(self._seq), at, partition_key)
            self._cond.notify()
            return True

    def _next(self, now: float) -> _Message | tuple[None, float]:
        """The message to deliver now, or (None, seconds until one may become available)."""
        held: set[str] = set()
        head: dict[str, _Message] = {}
        for m in self._messages.values():
            if m.token is not None and m.lease_until <= now:
                m.token = None  # the consumer died or stalled: deliver again
            if m.partition is not None:
                if m.token is not None:
                    held.add(m.partition)
                first = head.get(m.partition)
                if first is None or m.seq < first.seq:
                    head[m.partition] = m
        best: _Message | None = None
        soonest = 3600.0
        for m in self._messages.values():
            if m.token is not None:
                soonest = min(soonest, m.lease_until - now)
                continue
            if m.partition is not None and (m.partition in held or head[m.partition] is not m):
                continue
            if m.available_at > now:
                soonest = min(soonest, m.available_at - now)
                continue
            if best is None or (m.available_at, m.seq) < (best.available_at, best.seq):
                best = m
        return best if best is not None else (None, max(soonest, 0.001))

    def claim(self, *, lease_seconds: float, wait: float = 0.0) -> Lease | None:
        deadline = self._clock() + wait
        with self._cond:
            while not self._closed:
                now = self._clock()
                found = self._next(now)
                if isinstance(found, _Message):
                    found.token = uuid.uuid4().hex
                    found.lease_until = now + lease_seconds
                    found.deliveries += 1
                    return Lease(
                        job_id=found.job_id, token=found.token, deliveries=found.deliveries
                    )
                remaining = deadline - now
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, found[1]))
            return None

    def _held(self, lease: Lease) -> _Message | None:
        m = self._messages.get(lease.job_id)
        if m is None or m.token != lease.token or m.lease_until <= self._clock():
            return None
        return m

    def extend(self, lease: Lease, *, lease_seconds: float) -> bool:
        with self._cond:
            m = self._held(lease)
            if m is None:
                return False
            m.lease_until = self._clock() + lease_seconds
            return True

    def ack(self, lease: Lease) -> bool:
        with self._cond:
            if self._held(lease) is None:
                return False
            del self._messages[lease.job_id]
            self._cond.notify_all()  # a partition may have become available
            return True

    def retry(self, lease: Lease, *, delay: float = 0.0) -> bool:
        with self._cond:
            m = self._held(lease)
            if m is None:
                return False
            m.token = None
            m.available_at = self._clock() + max(delay, 0.0)
            self._cond.notify_all()
            return True

    def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        with self._cond:
            if self._held(lease) is None:
                return False
            del self._messages[lease.job_id]
            self._dead[lease.job_id] = reason
            self._cond.notify_all()
            return True

    def dead_letters(self) -> dict[str, str]:
        with self._cond:
            return dict(self._dead)

    def recover(self) -> int:
        with self._cond:
            now = self._clock()
            expired = [m for m in self._messages.values() if m.token and m.lease_until <= now]
            for m in expired:
                m.token = None
                m.available_at = now
            if expired:
                self._cond.notify_all()
            return len(expired)

    def size(self) -> int:
        with self._cond:
            return len(self._messages)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class MemoryMessageQueueFactory:
    """One :class:`MemoryMessageQueue` per job model name, shared by every caller."""

    def __init__(self) -> None:
        self._queues: dict[str, MemoryMessageQueue] = {}
        self._lock = threading.Lock()

    def build(self, name: str) -> MemoryMessageQueue:
        with self._lock:
            if name not in self._queues:
                self._queues[name] = MemoryMessageQueue()
            return self._queues[name]

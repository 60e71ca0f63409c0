"""The ``MessageQueue`` port on RabbitMQ (see :class:`RabbitMessageQueue` for the mapping)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from typing import Protocol

import pika.connection
from pika.adapters.blocking_connection import BlockingChannel

from specstar.core import Lease, MessageQueue, StorageUnavailableError

from ._consumer import Consumer, Delivery
from ._publisher import Publisher, publish
from ._topology import (
    HEADER_DELIVERIES,
    HEADER_ORIGIN,
    HEADER_REASON,
    HEADER_SEQ,
    Topology,
    delay_ms,
)

__all__ = ["RabbitMessageQueue"]

log = logging.getLogger("specstar.rabbit")


class Connections(Protocol):
    """What a queue takes from the factory that made it (``RabbitMessageQueueFactory``): the
    broker's address, the shared publishing connection and the queue settings."""

    parameters: pika.connection.Parameters
    publisher: Publisher
    prefix: str
    partition_shards: int
    prefetch: int
    dedup_seconds: float


_MEMORY = 100_000  # ids remembered for delivery counts and obsolete copies

# states of an id this process knows about
_PUBLISHED = "published"  # on the broker, not held here
_BUFFERED = "buffered"  # delivered here, waiting for a claim
_LEASED = "leased"  # claimed
_PARKED = "parked"  # a partition head retried with a delay: held here until due


class _Entry:
    __slots__ = (
        "available_at",
        "deliveries",
        "delivery",
        "lease_until",
        "published_at",
        "seq",
        "state",
        "token",
    )

    def __init__(self, state: str, seq: int, now: float) -> None:
        self.state = state
        self.seq = seq  # the last copy this object published (-1: none)
        self.published_at = now
        self.delivery: Delivery | None = None
        self.deliveries = 0
        self.token: str | None = None
        self.lease_until = 0.0
        self.available_at = 0.0


def _remember(memory: OrderedDict[str, int], key: str, value: int) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > _MEMORY:
        memory.popitem(last=False)


class RabbitMessageQueue(MessageQueue):
    """The queue of one job model on RabbitMQ (build it with :class:`RabbitMessageQueueFactory`).

    How the port maps onto AMQP:

    - **enqueue** publishes a persistent message (the job id) with publisher confirms to the
      durable work queue, or, with a ``partition_key``, to one of the partition queues; with a
      delay, to a delay queue whose TTL dead-letters it into its target when due (no plugin).
      Delays are rounded *up* to whole milliseconds (two significant digits from 100 ms).
    - **a lease** is an unacknowledged delivery on this process's consuming connection. The
      lease time is kept here: a lease that ran out is handed back to the broker (``nack``
      with requeue, so it keeps its place) by the next ``claim`` or by ``recover``. If the
      process dies or its connection drops, the broker returns every delivery it held at once.
    - **ack** acknowledges; **retry** without delay requeues in place; **retry** with a delay
      publishes a copy to a delay queue, then acknowledges; **dead_letter** publishes to the
      ``.dead`` queue with the reason, then acknowledges. Publish-then-ack loses nothing; a
      crash between the two leaves a second copy, which the job's compare-and-swap claim
      makes harmless (a redelivered message never runs an attempt twice: the worker reads the
      job resource and acknowledges a finished one).
    - **partitions**: each partition key is hashed onto one of ``partition_shards`` queues with
      a single active consumer and a prefetch of one, so a partition's jobs pass one at a time,
      in order, across every process. A partition head retried with a delay stays held (the
      partition waits, as the port wants). Partitions sharing a queue also wait for each other.

    Where the broker's semantics differ from the port (also in ``docs/jobs.md``):

    - AMQP has no per-id lookup. ``enqueue`` idempotency, ``size()`` and the stale-lease
      checks use what *this process* knows: the ids it published and has not seen settled, and
      the deliveries it holds. An ``enqueue`` of an id this process holds changes nothing; of an
      id it published but does not hold, it returns ``False`` yet publishes a second copy,
      because another process may have taken and acknowledged the first (skipping the publish
      could strand the job). Copies are at-least-once deliveries: this process drops its own
      obsolete copies, others acknowledge them after reading the finished job. ``size()`` is
      exact when one process produces and consumes; otherwise count pending jobs instead.
    - ``deliveries`` is exact for redeliveries this process saw; after another process died
      holding the message, it is a lower bound (classic queues do not count redeliveries).
    - A process holds up to ``prefetch`` undelivered messages in its buffer once it claimed;
      a partition head retried with a delay in a process that then dies is delivered at once.
    - ``dead_letters()`` browses the ``.dead`` queue (cost linear in its length); an id queued
      again *by this process* is taken out of it then.
    """

    def __init__(self, factory: Connections, name: str) -> None:
        self.name = name
        self._factory = factory
        self.topology = Topology(factory.prefix, name, factory.partition_shards)
        self._origin = uuid.uuid4().hex
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._entries: dict[str, _Entry] = {}
        self._buffer: deque[str] = deque()
        self._leased: set[str] = set()
        self._parked: set[str] = set()
        self._obsolete: OrderedDict[str, int] = OrderedDict()
        self._released: OrderedDict[str, int] = OrderedDict()
        self._delay_queues: set[str] = set()
        self._consumer: Consumer | None = None
        self._closed = False

    # -- publishing ------------------------------------------------------------------------

    def _publish(self, job_id: str, *, target: str, delay: float, seq: int, prior: int) -> None:
        headers = {HEADER_DELIVERIES: prior, HEADER_ORIGIN: self._origin, HEADER_SEQ: seq}
        if delay > 0:
            ms = delay_ms(delay)
            queue = Topology.delay_queue(target, ms)
            with self._cond:
                self._delay_queues.add(queue)

            def send(channel: BlockingChannel) -> None:
                Topology.declare_delay(channel, target, ms)  # renews its expiry
                publish(channel, queue, job_id, headers)

        else:

            def send(channel: BlockingChannel) -> None:
                publish(channel, target, job_id, headers)

        self._factory.publisher.run(send, f"queue job {job_id!r}")

    def enqueue(self, job_id: str, *, delay: float = 0.0, partition_key: str | None = None) -> bool:
        now = time.monotonic()
        with self._cond:
            entry = self._entries.get(job_id)
            if entry is not None and entry.state != _PUBLISHED:
                return False  # held here: its holder decides what comes next
            known = entry is not None and now - entry.published_at < self._factory.dedup_seconds
            seq = next(self._seq)
            if entry is None:
                entry = self._entries[job_id] = _Entry(_PUBLISHED, seq, now)
            entry.seq, entry.published_at = seq, now
        try:
            self._publish(
                job_id,
                target=self.topology.target(partition_key),
                delay=max(delay, 0.0),
                seq=seq,
                prior=0,
            )
        except BaseException:
            with self._cond:
                if not known and self._entries.get(job_id) is entry and entry.seq == seq:
                    del self._entries[job_id]
            raise
        return not known

    # -- consuming -------------------------------------------------------------------------

    def _consume(self) -> Consumer:
        with self._cond:
            if self._consumer is None:
                self._consumer = Consumer(
                    self._factory.parameters,
                    self.topology,
                    prefetch=self._factory.prefetch,
                    on_delivery=self._delivered,
                    on_lost=self._lost,
                )
                self._consumer.start()
            return self._consumer

    def _delivered(self, d: Delivery) -> None:
        """A message arrived (on the consumer's thread)."""
        job_id = d.body.decode()
        origin, seq = d.headers.get(HEADER_ORIGIN), d.headers.get(HEADER_SEQ, -1)
        prior = int(d.headers.get(HEADER_DELIVERIES, 0))
        with self._cond:
            entry = self._entries.get(job_id)
            duplicate = entry is not None and entry.state != _PUBLISHED
            obsolete = origin == self._origin and seq <= self._obsolete.get(job_id, -1)
            if duplicate or obsolete or self._closed:
                if self._closed:
                    d.channel.basic_nack(d.tag, requeue=True)
                else:  # another copy is held here, or this one was settled already
                    d.channel.basic_ack(d.tag)
                return
            if d.redelivered:
                prior = max(prior + 1, self._released.pop(job_id, 0))
            if entry is None:
                entry = self._entries[job_id] = _Entry(_BUFFERED, -1, time.monotonic())
            entry.state, entry.delivery, entry.deliveries = _BUFFERED, d, prior + 1
            self._buffer.append(job_id)
            self._cond.notify()

    def _lost(self, generation: int) -> None:
        """The consuming connection dropped: the broker took back every delivery it held."""
        with self._cond:
            for job_id, entry in self._entries.items():
                if entry.delivery is not None and entry.delivery.generation == generation:
                    if entry.state in (_LEASED, _PARKED):
                        _remember(self._released, job_id, entry.deliveries)
                    entry.state, entry.delivery, entry.token = _PUBLISHED, None, None
                    self._leased.discard(job_id)
                    self._parked.discard(job_id)
            self._cond.notify_all()

    def _settle(self, entry: _Entry, how: str) -> None:
        """Ack, or nack with requeue, a held delivery (on the consumer's thread)."""
        d, consumer = entry.delivery, self._consumer
        if d is None or consumer is None:
            return
        if how == "ack":
            consumer.call(d.generation, lambda: d.channel.basic_ack(d.tag))
        else:
            consumer.call(d.generation, lambda: d.channel.basic_nack(d.tag, requeue=True))

    def _release_locked(self, job_id: str, entry: _Entry) -> None:
        """Give a held delivery back to the broker (it keeps its place in the queue)."""
        _remember(self._released, job_id, entry.deliveries)
        self._settle(entry, "nack")
        entry.state, entry.delivery, entry.token = _PUBLISHED, None, None
        entry.published_at = time.monotonic()
        self._leased.discard(job_id)
        self._parked.discard(job_id)

    def _expire_locked(self, now: float) -> int:
        expired = [j for j in self._leased if self._entries[j].lease_until <= now]
        for job_id in expired:
            self._release_locked(job_id, self._entries[job_id])
        return len(expired)

    def _unpark_locked(self, now: float) -> None:
        for job_id in [j for j in self._parked if self._entries[j].available_at <= now]:
            entry = self._entries[job_id]
            self._parked.discard(job_id)
            entry.state, entry.deliveries = _BUFFERED, entry.deliveries + 1
            self._buffer.appendleft(job_id)

    def _next_due(self, now: float) -> float:
        due = [self._entries[j].lease_until for j in self._leased]
        due += [self._entries[j].available_at for j in self._parked]
        return max(min(due, default=now + 0.5) - now, 0.001)

    def claim(self, *, lease_seconds: float, wait: float = 0.0) -> Lease | None:
        consumer = self._consume()
        deadline = time.monotonic() + wait
        if wait > 0:
            consumer.connected.wait(min(wait, 5.0))
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                self._expire_locked(now)
                self._unpark_locked(now)
                while self._buffer:
                    job_id = self._buffer.popleft()
                    entry = self._entries.get(job_id)
                    if entry is None or entry.state != _BUFFERED:
                        continue
                    entry.state, entry.token = _LEASED, uuid.uuid4().hex
                    entry.lease_until = now + lease_seconds
                    self._leased.add(job_id)
                    return Lease(job_id=job_id, token=entry.token, deliveries=entry.deliveries)
                remaining = deadline - now
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, self._next_due(now)))
        return None

    def _held(self, lease: Lease) -> _Entry | None:
        entry = self._entries.get(lease.job_id)
        consumer = self._consumer
        if (
            entry is None
            or entry.state != _LEASED
            or entry.token != lease.token
            or entry.lease_until <= time.monotonic()
            or entry.delivery is None
            or consumer is None
            or entry.delivery.generation != consumer.generation
        ):
            return None
        return entry

    def extend(self, lease: Lease, *, lease_seconds: float) -> bool:
        with self._cond:
            entry = self._held(lease)
            if entry is None:
                return False
            entry.lease_until = time.monotonic() + lease_seconds
            return True

    def _finish_locked(self, job_id: str, entry: _Entry) -> None:
        """The id needs no more deliveries from this process: forget it, drop its copies."""
        del self._entries[job_id]
        self._leased.discard(job_id)
        _remember(self._obsolete, job_id, entry.seq)
        self._released.pop(job_id, None)
        self._cond.notify_all()

    def ack(self, lease: Lease) -> bool:
        with self._cond:
            entry = self._held(lease)
            if entry is None:
                return False
            self._settle(entry, "ack")
            self._finish_locked(lease.job_id, entry)
            return True

    def retry(self, lease: Lease, *, delay: float = 0.0) -> bool:
        with self._cond:
            entry = self._held(lease)
            if entry is None:
                return False
            assert entry.delivery is not None
            if delay <= 0:
                self._release_locked(lease.job_id, entry)
                self._cond.notify_all()
                return True
            if entry.delivery.partitioned:  # hold the head: its partition waits with it
                entry.state, entry.token = _PARKED, None
                entry.available_at = time.monotonic() + delay
                self._leased.discard(lease.job_id)
                self._parked.add(lease.job_id)
                self._cond.notify_all()
                return True
            seq = next(self._seq)
            entry.state, entry.token, entry.seq = _PUBLISHED, None, seq
            entry.published_at = time.monotonic()
            self._leased.discard(lease.job_id)
            held = entry.delivery
            entry.delivery = None
        try:
            self._publish(
                lease.job_id,
                target=self.topology.work,
                delay=delay,
                seq=seq,
                prior=entry.deliveries,
            )
        except StorageUnavailableError:
            log.warning("%s: retry copy not published; delivering again now", lease.job_id)
            self._settle_delivery(held, "nack")
            return True
        self._settle_delivery(held, "ack")
        return True

    def _settle_delivery(self, d: Delivery, how: str) -> None:
        entry = _Entry(_PUBLISHED, -1, 0.0)
        entry.delivery = d
        self._settle(entry, how)

    def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        with self._cond:
            entry = self._held(lease)
            if entry is None:
                return False
            held = entry.delivery
            assert held is not None
            before = self._obsolete.get(lease.job_id)
            self._finish_locked(lease.job_id, entry)
        headers = {HEADER_REASON: reason, HEADER_ORIGIN: self._origin}
        try:
            self._factory.publisher.run(
                lambda ch: publish(ch, self.topology.dead, lease.job_id, headers),
                f"dead-letter job {lease.job_id!r}",
            )
        except StorageUnavailableError:
            with self._cond:  # the message comes back: it must not pass for an obsolete copy
                if before is None:
                    self._obsolete.pop(lease.job_id, None)
                else:
                    self._obsolete[lease.job_id] = before
            self._settle_delivery(held, "nack")  # not lost: delivered again
            raise
        self._settle_delivery(held, "ack")
        return True

    def dead_letters(self) -> dict[str, str]:
        def browse(channel: BlockingChannel) -> dict[str, str]:
            found: dict[str, tuple[str, int]] = {}
            drop: list[int] = []
            while True:
                method, properties, body = channel.basic_get(self.topology.dead)
                if method is None:
                    break
                job_id = body.decode()
                reason = str((properties.headers or {}).get(HEADER_REASON, ""))
                if job_id in found:
                    drop.append(found[job_id][1])  # an older dead letter of the same id
                found[job_id] = (reason, method.delivery_tag)
            with self._cond:
                queued = [j for j in found if j in self._entries]
            drop += [found.pop(j)[1] for j in queued]
            for tag in drop:
                channel.basic_ack(tag)
            if found:
                channel.basic_nack(0, multiple=True, requeue=True)
            return {job_id: reason for job_id, (reason, _) in found.items()}

        return self._factory.publisher.run(browse, "read the dead letters")

    def recover(self) -> int:
        with self._cond:
            n = self._expire_locked(time.monotonic())
            if n:
                self._cond.notify_all()
            return n

    def size(self) -> int:
        now = time.monotonic()
        with self._cond:
            stale = [
                j
                for j, e in self._entries.items()
                if e.state == _PUBLISHED and now - e.published_at >= self._factory.dedup_seconds
            ]
            for job_id in stale:
                del self._entries[job_id]
            return len(self._entries)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            consumer, self._consumer = self._consumer, None
            self._cond.notify_all()
        if consumer is not None:
            consumer.stop()

    def delete(self) -> None:
        """Delete this model's queues on the broker (tests, teardown): messages go with them."""
        self.close()
        with self._cond:
            names = [*self.topology.queues(), *self._delay_queues]

        def remove(channel: BlockingChannel) -> None:
            for name in names:
                channel.queue_delete(name)

        self._factory.publisher.run(remove, f"delete the queues of {self.name!r}")

"""The ``MessageQueue`` port: what a job queue adapter must guarantee.

The queue carries job *ids* only; the truth about a job is the job resource, whose every state
change is a revision written with compare-and-swap. The queue's task is delivery: hand each
queued id to one consumer at a time, under a lease that expires when the consumer stops
showing it is alive, so an id is never lost when a consumer dies. Delivering an id twice is
harmless (the worker's compare-and-swap from ``pending`` to ``processing`` lets one attempt
run), so adapters may be at-least-once; losing an id is the one thing an adapter must never do.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import msgspec

__all__ = ["Lease", "MessageQueue", "MessageQueueFactory"]


class Lease(msgspec.Struct, frozen=True, kw_only=True):
    """One delivery of a queued job id to one consumer.

    Attributes:
        job_id: the resource id of the job.
        token: identifies this delivery; a later delivery of the same id has another token,
            and the queue refuses ``ack``/``retry``/``extend``/``dead_letter`` with a stale one.
        deliveries: how many times the id has been claimed, this delivery included.
    """

    job_id: str
    token: str
    deliveries: int = 1


@runtime_checkable
class MessageQueue(Protocol):
    """A queue of job ids with leases, delays, partitions and dead letters.

    Contract (every adapter runs ``specstar.testing.MessageQueueSuite``):

    - **enqueue** is idempotent per id: while an id is queued (ready, delayed or leased) a
      second ``enqueue`` changes nothing and returns ``False``. An id in the dead letters is
      taken out of them and queued again.
    - **claim** gives a message that is *available*: its delay has passed and no live lease
      holds it. A lease whose time ran out is recovered by ``claim`` itself (the id is
      delivered again, with a new token), so a consumer that died never strands an id.
      Messages with the same ``partition_key`` are delivered one at a time, in the order they
      were first enqueued: only the oldest message of a partition is available, and only while
      no message of that partition is leased. Among available messages, the one available
      earliest goes first. ``wait`` blocks up to that many seconds for a message.
    - **extend** (a heartbeat) pushes the lease's end to ``lease_seconds`` from now.
    - **ack** removes the message: the job needs no more deliveries.
    - **retry** releases the message for another delivery after ``delay`` seconds (same
      partition position).
    - **dead_letter** removes the message from delivery and keeps the id in
      :meth:`dead_letters` with the reason.
    - ``extend``/``ack``/``retry``/``dead_letter`` return ``False`` and change nothing when the
      lease is no longer held (it expired and the id was claimed again, or it was acked).
    - **recover** makes every expired lease's message available now and returns how many.
    - Every method is safe to call from many threads; adapters that span processes (SQL,
      brokers) keep the contract across processes.
    """

    def enqueue(self, job_id: str, *, delay: float = 0.0, partition_key: str | None = None) -> bool:
        """Queue ``job_id``, available after ``delay`` seconds; ``False`` when already queued."""
        ...

    def claim(self, *, lease_seconds: float, wait: float = 0.0) -> Lease | None:
        """Lease the next available message for ``lease_seconds``; ``None`` when none came."""
        ...

    def extend(self, lease: Lease, *, lease_seconds: float) -> bool:
        """Keep holding ``lease`` for ``lease_seconds`` more."""
        ...

    def ack(self, lease: Lease) -> bool:
        """The job needs no more deliveries: remove its message."""
        ...

    def retry(self, lease: Lease, *, delay: float = 0.0) -> bool:
        """Deliver the message again after ``delay`` seconds."""
        ...

    def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        """Stop delivering the message and keep its id among the dead letters."""
        ...

    def dead_letters(self) -> dict[str, str]:
        """The dead-lettered job ids and their reasons."""
        ...

    def recover(self) -> int:
        """Make every message whose lease expired available now; return how many."""
        ...

    def size(self) -> int:
        """How many messages are queued (ready, delayed or leased)."""
        ...

    def close(self) -> None:
        """Release connections; wake any ``claim`` waiting."""
        ...


@runtime_checkable
class MessageQueueFactory(Protocol):
    """Builds the queue of one job model from its resource name."""

    def build(self, name: str) -> MessageQueue:
        """The queue of the job model ``name`` (the same queue for the same name)."""
        ...

"""What the SQL message queues share: the table's shape, the held-lease statements, waiting."""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import AbstractContextManager
from typing import Any, Protocol

from specstar.core import Lease, MessageQueue

__all__ = ["QueueTx", "SQLMessageQueue"]


class QueueTx(Protocol):
    """A transaction of a SQL queue (``?`` placeholders)."""

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None: ...

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> int: ...


def eligible(table: str, now: str) -> str:
    """The condition of a deliverable row ``m`` (one ``?`` parameter: the queue name comes
    from ``m.queue`` itself)."""
    return f"""m.queue = ? AND m.dead IS NULL AND m.available_at <= {now}
        AND (m.token IS NULL OR m.lease_until <= {now})
        AND (m.partition_key IS NULL OR NOT EXISTS (
            SELECT 1 FROM {table} o WHERE o.queue = m.queue AND o.dead IS NULL
            AND o.partition_key = m.partition_key AND o.seq < m.seq))"""


class SQLMessageQueue(MessageQueue):
    """A message queue in one SQL table shared by every queue name (rows keyed by
    ``(queue, job_id)``); subclasses give the transactions, the clock and the claim.

    Times are seconds since the epoch on the database's clock (:attr:`now_sql`).
    """

    table: str
    now_sql: str
    poll_seconds = 0.05

    def __init__(self, name: str) -> None:
        self.name = name
        self._closed = False
        self._wake = threading.Condition()
        self._generation = 0

    # -- what a dialect gives --------------------------------------------------------------

    def tx(self) -> AbstractContextManager[QueueTx]:
        raise NotImplementedError

    def relaxed_tx(self) -> AbstractContextManager[QueueTx]:
        """A transaction whose commit may be lost in a crash of the database server.

        For the changes a lost commit cannot harm: a claim, a lease extension, an ack or a
        retry that vanish leave the message deliverable again (at once or when the lease
        ends), and the job resource decides what the redelivery does (its compare-and-swap
        claim runs an attempt at most once; a terminal job is acked). Enqueue and dead letters
        stay durable. By default the same as :meth:`tx`.
        """
        return self.tx()

    def _claim_once(self, token: str, lease_seconds: float) -> tuple[str, int] | None:
        raise NotImplementedError

    def _notify(self, tx: QueueTx) -> None:
        """Tell waiting consumers (in every process) that a message may be available."""

    def _next_seq(self) -> str:
        raise NotImplementedError

    # -- the port --------------------------------------------------------------------------

    def enqueue(self, job_id: str, *, delay: float = 0.0, partition_key: str | None = None) -> bool:
        t, now = self.table, self.now_sql
        with self.tx() as tx:
            added = tx.run(
                f"""INSERT INTO {t} (queue, job_id, seq, partition_key, available_at, deliveries)
                VALUES (?, ?, {self._next_seq()}, ?, {now} + ?, 0)
                ON CONFLICT (queue, job_id) DO UPDATE SET dead = NULL, token = NULL,
                    seq = excluded.seq, partition_key = excluded.partition_key,
                    available_at = excluded.available_at
                WHERE {t}.dead IS NOT NULL""",
                (self.name, job_id, partition_key, max(delay, 0.0)),
            )
            if added:
                self._notify(tx)
        if added:
            self._poke()
        return added == 1

    def claim(self, *, lease_seconds: float, wait: float = 0.0) -> Lease | None:
        deadline = time.monotonic() + wait
        while not self._closed:
            generation = self._generation
            token = uuid.uuid4().hex
            got = self._claim_once(token, lease_seconds)
            if got is not None:
                return Lease(job_id=got[0], token=token, deliveries=got[1])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with self._wake:
                if self._generation == generation:
                    self._wake.wait(min(remaining, self._pause()))
        return None

    def _pause(self) -> float:
        """How long an idle consumer waits before looking again."""
        return self.poll_seconds

    def _poke(self, waiters: int = 1) -> None:
        """Wake ``waiters`` consumers of this process waiting in :meth:`claim`.

        One message made available needs one consumer: waking them all would send every idle
        consumer to the database for one row (and the losers to ``_pause``). A consumer that
        wakes always looks again before it returns, so a wake-up is never lost, and a poke
        that finds nobody waiting bumps the generation, so a consumer about to wait looks again
        instead.
        """
        with self._wake:
            self._generation += 1
            self._wake.notify(waiters)

    def _held(self, tx: QueueTx, sql: str, params: tuple[Any, ...], lease: Lease) -> bool:
        where = f"WHERE queue = ? AND job_id = ? AND token = ? AND lease_until > {self.now_sql}"
        return tx.run(f"{sql} {where}", (*params, self.name, lease.job_id, lease.token)) == 1

    def extend(self, lease: Lease, *, lease_seconds: float) -> bool:
        with self.relaxed_tx() as tx:
            return self._held(
                tx,
                f"UPDATE {self.table} SET lease_until = {self.now_sql} + ?",
                (lease_seconds,),
                lease,
            )

    def ack(self, lease: Lease) -> bool:
        where = f"WHERE queue = ? AND job_id = ? AND token = ? AND lease_until > {self.now_sql}"
        with self.relaxed_tx() as tx:
            row = tx.one(
                f"DELETE FROM {self.table} {where} RETURNING partition_key",
                (self.name, lease.job_id, lease.token),
            )
            # only the next message of its partition can become deliverable
            freed = row is not None and row[0] is not None
            if freed:
                self._notify(tx)
        if freed:
            self._poke()
        return row is not None

    def retry(self, lease: Lease, *, delay: float = 0.0) -> bool:
        with self.relaxed_tx() as tx:
            done = self._held(
                tx,
                f"UPDATE {self.table} SET token = NULL, available_at = {self.now_sql} + ?",
                (max(delay, 0.0),),
                lease,
            )
            if done:
                self._notify(tx)
        self._poke()
        return done

    def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        with self.tx() as tx:
            done = self._held(
                tx, f"UPDATE {self.table} SET token = NULL, dead = ?", (reason,), lease
            )
            if done:
                self._notify(tx)
        self._poke()
        return done

    def dead_letters(self) -> dict[str, str]:
        with self.tx() as tx:
            rows = tx.all(
                f"SELECT job_id, dead FROM {self.table} WHERE queue = ? AND dead IS NOT NULL",
                (self.name,),
            )
        return {str(r[0]): str(r[1]) for r in rows}

    def recover(self) -> int:
        now = self.now_sql
        with self.tx() as tx:
            n = tx.run(
                f"""UPDATE {self.table} SET token = NULL, available_at = {now}
                WHERE queue = ? AND dead IS NULL AND token IS NOT NULL AND lease_until <= {now}""",
                (self.name,),
            )
            if n:
                self._notify(tx)
        self._poke()
        return n

    def size(self) -> int:
        with self.tx() as tx:
            row = tx.one(
                f"SELECT COUNT(*) FROM {self.table} WHERE queue = ? AND dead IS NULL",
                (self.name,),
            )
        return int(row[0]) if row else 0

    def close(self) -> None:
        self._closed = True
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

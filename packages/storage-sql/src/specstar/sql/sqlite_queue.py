"""A message queue in a SQLite file: several processes on one host share it.

Every change is one ``BEGIN IMMEDIATE`` transaction (SQLite serialises writers), so a claim
reads the next deliverable row and leases it atomically. Consumers in the same process wake
at once on an enqueue; other processes see it on their next look (every ``poll_seconds``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._queue_base import QueueTx, SQLMessageQueue, eligible

__all__ = ["SQLiteMessageQueue", "SQLiteMessageQueueFactory"]

_TABLE = "specstar_queue"


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql, params).fetchall())

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self.conn.execute(sql, params).rowcount


class SQLiteMessageQueueFactory:
    """Queues of every job model in one SQLite file (same name → same queue).

    Args:
        path: the database file (created with its folder when missing).
        timeout: seconds a transaction waits for the write lock.
        poll_seconds: how often an idle consumer looks for messages queued by other processes.
    """

    def __init__(
        self, path: str | Path, *, timeout: float = 30.0, poll_seconds: float = 0.05
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self._local = threading.local()
        self._queues: dict[str, SQLiteMessageQueue] = {}
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        with self.transaction() as tx:
            tx.run(
                f"""CREATE TABLE IF NOT EXISTS {_TABLE} (
                    queue TEXT NOT NULL, job_id TEXT NOT NULL, seq INTEGER NOT NULL,
                    partition_key TEXT, available_at REAL NOT NULL, token TEXT,
                    lease_until REAL, deliveries INTEGER NOT NULL, dead TEXT,
                    PRIMARY KEY (queue, job_id))"""
            )
            tx.run(
                f"CREATE INDEX IF NOT EXISTS {_TABLE}_due ON {_TABLE} (queue, available_at, seq)"
            )
            tx.run(
                f"CREATE INDEX IF NOT EXISTS {_TABLE}_part ON {_TABLE} (queue, partition_key, seq)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[QueueTx]:
        """One ``BEGIN IMMEDIATE`` transaction on this thread's connection."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _Tx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def build(self, name: str) -> SQLiteMessageQueue:
        with self._lock:
            if name not in self._queues:
                self._queues[name] = SQLiteMessageQueue(self, name)
            return self._queues[name]

    def close(self) -> None:
        """Close every connection this factory opened."""
        for q in list(self._queues.values()):
            q.close()
        with self._lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()


class SQLiteMessageQueue(SQLMessageQueue):
    """The queue of one job model in a :class:`SQLiteMessageQueueFactory`'s file."""

    table = _TABLE
    #: Seconds since the epoch on this host's clock (millisecond precision).
    now_sql = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, factory: SQLiteMessageQueueFactory, name: str) -> None:
        super().__init__(name)
        self._factory = factory
        self.poll_seconds = factory.poll_seconds

    @contextmanager
    def tx(self) -> Iterator[QueueTx]:
        with self._factory.transaction() as tx:
            yield tx

    def _next_seq(self) -> str:
        return f"(SELECT COALESCE(MAX(seq), 0) + 1 FROM {_TABLE})"

    def _claim_once(self, token: str, lease_seconds: float) -> tuple[str, int] | None:
        with self.tx() as tx:
            row = tx.one(
                f"SELECT m.job_id FROM {_TABLE} m WHERE {eligible(_TABLE, self.now_sql)} "
                "ORDER BY m.available_at, m.seq LIMIT 1",
                (self.name,),
            )
            if row is None:
                return None
            tx.run(
                f"UPDATE {_TABLE} SET token = ?, lease_until = {self.now_sql} + ?, "
                "deliveries = deliveries + 1 WHERE queue = ? AND job_id = ?",
                (token, lease_seconds, self.name, row[0]),
            )
            got = tx.one(
                f"SELECT deliveries FROM {_TABLE} WHERE queue = ? AND job_id = ?",
                (self.name, row[0]),
            )
        assert got is not None
        return str(row[0]), int(got[0])

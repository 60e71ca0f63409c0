"""A message queue in PostgreSQL: any number of processes on any number of hosts share it.

A claim is one statement: ``UPDATE ... WHERE job_id = (SELECT ... FOR UPDATE SKIP LOCKED)``,
so concurrent consumers never wait on each other's rows. Every change that may make a message
deliverable sends a ``NOTIFY``; each queue keeps one connection ``LISTEN``-ing and wakes its
waiting consumers at once, so an idle worker starts a new job without polling. Times are the
database server's clock, so hosts need not agree on theirs. Claims, lease extensions, acks and
retries commit without waiting for the disk (``synchronous_commit = off``): losing one in a
server crash only delivers the message again, which the job's compare-and-swap makes harmless;
an enqueue and a dead letter wait for the disk.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

try:
    import psycopg
    from psycopg_pool import ConnectionPool
except ImportError as exc:  # pragma: no cover - exercised with the storage's import test
    raise ImportError(
        "the PostgreSQL queue needs the psycopg driver and pool: "
        'pip install "specstar-storage-sql[postgres]"'
        f" ({exc})",
        name=exc.name,
    ) from exc

from specstar.core import StorageError

from ._layout import ident
from ._queue_base import QueueTx, SQLMessageQueue, eligible

__all__ = ["PostgresMessageQueue", "PostgresMessageQueueFactory"]


class _Tx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def _execute(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        try:
            return self._conn.execute(sql.replace("?", "%s"), tuple(params))
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL queue: {exc}") from exc

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._execute(sql, params).fetchall()

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._execute(sql, params).rowcount


class PostgresMessageQueueFactory:
    """Queues of every job model in one table of one schema (same name → same queue).

    Args:
        dsn: libpq connection string or URL.
        schema: the schema of the table (created when missing).
        pool_size: most connections the pool opens (listeners have their own).
        timeout: seconds to wait for a connection.
    """

    def __init__(
        self, dsn: str, *, schema: str = "public", pool_size: int = 10, timeout: float = 30.0
    ) -> None:
        self.dsn = dsn
        self.table = f"{ident(schema)}.specstar_queue"
        self.seq = f"{ident(schema)}.specstar_queue_seq"
        self._pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            timeout=timeout,
            name=f"specstar-queue-{schema}",
            open=False,
        )
        self._pool.open(wait=True, timeout=timeout)
        self._queues: dict[str, PostgresMessageQueue] = {}
        self._lock = threading.Lock()
        with self.transaction() as tx:
            tx.run("SELECT pg_advisory_xact_lock(hashtextextended('specstar_queue_ddl', 0))")
            tx.run(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
            tx.run(f"CREATE SEQUENCE IF NOT EXISTS {self.seq}")
            tx.run(
                f"""CREATE TABLE IF NOT EXISTS {self.table} (
                    queue text COLLATE "C" NOT NULL, job_id text COLLATE "C" NOT NULL,
                    seq bigint NOT NULL, partition_key text COLLATE "C",
                    available_at double precision NOT NULL, token text,
                    lease_until double precision, deliveries integer NOT NULL, dead text,
                    PRIMARY KEY (queue, job_id))"""
            )
            tx.run(
                f"CREATE INDEX IF NOT EXISTS specstar_queue_due "
                f"ON {self.table} (queue, available_at, seq) WHERE dead IS NULL"
            )
            tx.run(
                f"CREATE INDEX IF NOT EXISTS specstar_queue_part "
                f"ON {self.table} (queue, partition_key, seq) WHERE dead IS NULL"
            )

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[QueueTx]:
        """One transaction on a pooled connection; ``durable=False`` commits without waiting
        for the write-ahead log to reach the disk (``synchronous_commit = off``: a crash of
        the server may lose the last such commits, never corrupt anything)."""
        with self._pool.connection() as conn, conn.transaction():
            tx = _Tx(conn)
            if not durable:
                tx.run("SET LOCAL synchronous_commit = off")
            yield tx

    def build(self, name: str) -> PostgresMessageQueue:
        with self._lock:
            if name not in self._queues:
                self._queues[name] = PostgresMessageQueue(self, name)
            return self._queues[name]

    def close(self) -> None:
        """Stop the listeners and close the pool."""
        for q in list(self._queues.values()):
            q.close()
        self._pool.close()


class PostgresMessageQueue(SQLMessageQueue):
    """The queue of one job model in a :class:`PostgresMessageQueueFactory`'s table."""

    now_sql = "extract(epoch from clock_timestamp())::double precision"

    def __init__(self, factory: PostgresMessageQueueFactory, name: str) -> None:
        super().__init__(name)
        self._factory = factory
        self.table = factory.table
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        self.channel = f"specstar_q_{digest}"
        self._listener: threading.Thread | None = None
        self._listen_conn: psycopg.Connection[Any] | None = None
        self._start_lock = threading.Lock()
        self._origin = uuid.uuid4().hex

    def tx(self) -> Any:
        return self._factory.transaction()

    def relaxed_tx(self) -> Any:
        return self._factory.transaction(durable=False)

    def _next_seq(self) -> str:
        return f"nextval('{self._factory.seq}')"

    def _notify(self, tx: QueueTx) -> None:
        # the payload names this queue object: its own listener skips the echo, since the
        # change already woke this process's consumers (see ``_relay``)
        tx.run("SELECT pg_notify(?, ?)", (self.channel, self._origin))

    def _claim_once(self, token: str, lease_seconds: float) -> tuple[str, int] | None:
        self._listen()
        t, now = self.table, self.now_sql
        with self.relaxed_tx() as tx:  # a lost claim is a redelivery (see ``relaxed_tx``)
            row = tx.one(
                f"""UPDATE {t} SET token = ?, lease_until = {now} + ?,
                    deliveries = deliveries + 1
                WHERE queue = ? AND job_id = (
                    SELECT m.job_id FROM {t} m WHERE {eligible(t, now)}
                    ORDER BY m.available_at, m.seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING job_id, deliveries""",
                (token, lease_seconds, self.name, self.name),
            )
        return None if row is None else (str(row[0]), int(row[1]))

    def _pause(self) -> float:
        """Until the next delayed message or lease end is due (a notify wakes earlier)."""
        now = self.now_sql
        with self.tx() as tx:
            row = tx.one(
                f"""SELECT MIN(CASE WHEN token IS NULL THEN available_at ELSE lease_until END)
                    - {now} FROM {self.table} WHERE queue = ? AND dead IS NULL""",
                (self.name,),
            )
        due = row[0] if row else None
        return 5.0 if due is None else min(max(float(due), 0.001), 5.0)

    def _listen(self) -> None:
        """Start the thread that turns this queue's notifications into wake-ups (once)."""
        if self._listener is not None or self._closed:
            return
        with self._start_lock:
            if self._listener is not None:
                return
            conn = psycopg.connect(self._factory.dsn, autocommit=True)
            conn.execute(f"LISTEN {self.channel}")
            self._listen_conn = conn
            self._listener = threading.Thread(
                target=self._relay, name=f"{self.name}-listen", daemon=True
            )
            self._listener.start()

    def _relay(self) -> None:
        conn = self._listen_conn
        assert conn is not None
        try:
            while not self._closed:
                for note in conn.notifies(timeout=0.5, stop_after=1):
                    if note.payload != self._origin:
                        self._poke()
        except psycopg.Error:
            if not self._closed:
                raise
        finally:
            conn.close()

    def close(self) -> None:
        super().close()
        if self._listener is not None:
            self._listener.join(5)

"""Lease locks in PostgreSQL: one row per key, on the database server's clock.

Why rows and not advisory locks: an advisory lock belongs to a database session. It never
expires (a holder that hangs with its connection open blocks the key for ever), it cannot
outlive the connection it was taken on (so a pooled connection must stay checked out for the
whole critical section, and a dropped connection silently ends it), and it carries no fencing
token. A lease row has none of these problems: the grant is a statement, the lease ends at a
time the server computes (``clock_timestamp()``; hosts need not agree on their clocks), and
the row keeps the key's fencing token across grants.

A grant is one statement::

    INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE lease_until <= clock_timestamp()

The conflict path locks the row, so concurrent grants of a key serialise on it and only one
of them finds the lease over; the token column increases by one on every grant. Renewal and
release are ``UPDATE``\\ s that match the key, token, owner and a lease still running. A
released row stays (lease ended, token kept), so the next grant continues the sequence.
"""

from __future__ import annotations

import time
from typing import Any

try:
    import psycopg
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - exercised with the storage's import test
    raise ImportError(
        "the PostgreSQL lock backend needs the psycopg driver and pool: "
        'pip install "specstar-storage-sql[postgres]"'
        f" ({exc})",
        name=exc.name,
    ) from exc

import msgspec

from specstar.core import Capabilities, LockNotOwnedError, StorageError, StorageUnavailableError
from specstar.core.spi import (
    Lock,
    LockBackend,
    check_lock,
    check_lock_key,
    check_lock_ttl,
    new_lock_owner,
)

from ._layout import ident

__all__ = ["PostgresLockBackend"]


class PostgresLockBackend(LockBackend):
    """Lease locks in one table of one PostgreSQL schema (created when missing).

    Args:
        dsn: libpq connection string or URL.
        schema: the schema of the ``specstar_locks`` table.
        pool_size: most connections the pool opens.
        timeout: seconds to wait for a connection.
    """

    capabilities = Capabilities(multi_process=True, durable=True)

    def __init__(
        self, dsn: str, *, schema: str = "public", pool_size: int = 4, timeout: float = 30.0
    ) -> None:
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 1:
            raise ValueError(f"pool_size must be an integer >= 1, got {pool_size!r}")
        self.schema = schema
        self.table = f"{ident(schema)}.specstar_locks"
        self._pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True},
            timeout=timeout,
            name=f"specstar-locks-{schema}",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise StorageUnavailableError("PostgreSQL is unavailable for the lock table") from exc
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('specstar_locks_ddl', 0))")
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
            conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {self.table} (
                    key text COLLATE "C" PRIMARY KEY,
                    token bigint NOT NULL,
                    owner text NOT NULL,
                    lease_until timestamptz NOT NULL)"""
            )

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        try:
            with self._pool.connection() as conn:
                row: tuple[Any, ...] | None = conn.execute(sql, params).fetchone()
                return row
        except (PoolTimeout, psycopg.OperationalError) as exc:
            raise StorageUnavailableError(
                "PostgreSQL is unavailable; the lock operation may not have applied"
            ) from exc
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL lock backend: {exc}") from exc

    def try_lock(self, key: str, ttl: float) -> Lock | None:
        check_lock_key(key)
        ttl = check_lock_ttl(ttl)
        owner = new_lock_owner()
        start = time.monotonic()
        row = self._one(
            f"""INSERT INTO {self.table} AS held (key, token, owner, lease_until)
                VALUES (%s, 1, %s, clock_timestamp() + make_interval(secs => %s))
                ON CONFLICT (key) DO UPDATE
                    SET token = held.token + 1, owner = EXCLUDED.owner,
                        lease_until = EXCLUDED.lease_until
                    WHERE held.lease_until <= clock_timestamp()
                RETURNING token""",
            (key, owner, ttl),
        )
        if row is None:
            return None
        return Lock(key=key, token=int(row[0]), owner=owner, ttl=ttl, deadline=start + ttl)

    def renew(self, lock: Lock, ttl: float) -> Lock:
        check_lock(lock)
        ttl = check_lock_ttl(ttl)
        start = time.monotonic()
        row = self._one(
            f"""UPDATE {self.table}
                SET lease_until = clock_timestamp() + make_interval(secs => %s)
                WHERE key = %s AND token = %s AND owner = %s
                  AND lease_until > clock_timestamp()
                RETURNING token""",
            (ttl, lock.key, lock.token, lock.owner),
        )
        if row is None:
            raise LockNotOwnedError(lock.key, lock.token)
        return msgspec.structs.replace(lock, ttl=ttl, deadline=start + ttl)

    def release(self, lock: Lock) -> None:
        check_lock(lock)
        row = self._one(
            f"""UPDATE {self.table} SET lease_until = '-infinity'
                WHERE key = %s AND token = %s AND owner = %s
                  AND lease_until > clock_timestamp()
                RETURNING token""",
            (lock.key, lock.token, lock.owner),
        )
        if row is None:
            raise LockNotOwnedError(lock.key, lock.token)

    def close(self) -> None:
        """Close the connection pool (leases held remain until they expire)."""
        self._pool.close()

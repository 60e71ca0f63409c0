"""PostgreSQL connections: the pool, the checked hand-out, transactions, and a lost
connection's retry.

A statement outside a transaction whose connection was lost runs once more on a fresh
connection (it stood alone: nothing was applied); inside a transaction a lost connection means
the server rolled the transaction back (:class:`~specstar.core.errors.StorageUnavailableError`),
and one lost while ``COMMIT`` was sent leaves a write's outcome unknown
(:class:`~specstar.core.errors.WriteOutcomeUnknownError`). Driver errors become the store's
errors here (:func:`_translate`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

try:
    import psycopg
    import psycopg.errors
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - exercised by a test that hides the driver
    raise ImportError(
        "PostgreSQL storage needs the psycopg driver and pool: "
        'pip install "specstar-storage-sql[postgres]"'
        f" ({exc})",
        name=exc.name,
    ) from exc

from specstar.core import (
    QueryTimeoutError,
    StorageError,
    StorageUnavailableError,
    WriteOutcomeUnknownError,
)

from ._backend import Tx, Violation

__all__ = ["Pool"]

#: The unique indexes of the meta tables (``<table>_ux<n>``, ``<table>_uq<n>`` for texts).
_UNIQUE_INDEX = re.compile(r"_meta_u[xq]([0-9]+)$")


def _placeholders(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (our SQL never holds a literal ``?`` or ``%``)."""
    if "%" in sql:
        raise StorageError("internal error: '%' in generated SQL")
    return sql.replace("?", "%s")


def _translate(exc: psycopg.Error) -> Exception:
    if isinstance(exc, psycopg.errors.UniqueViolation):
        name = exc.diag.constraint_name or ""
        match = _UNIQUE_INDEX.search(name)
        return Violation(f"ix_{match.group(1)}" if match else None)
    return StorageError(f"PostgreSQL: {exc}")


def _lost(conn: psycopg.Connection[Any], exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone (terminated, network failure): the
    server has rolled back whatever transaction it had open."""
    return isinstance(exc, psycopg.OperationalError) and (conn.broken or conn.closed)


class _PgTx:
    """Statements on one pooled connection, each under the store's time budget.

    Outside a transaction (``renew`` given) every statement stands alone, so a statement
    whose connection was lost runs once more on a fresh connection from ``renew``; inside one
    a lost connection means the transaction was rolled back, and raises
    :class:`~specstar.core.errors.StorageUnavailableError`.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        budget: float | None,
        renew: Callable[[], psycopg.Connection[Any]] | None = None,
    ) -> None:
        self._conn = conn
        self._budget = budget
        self._renew = renew

    def _execute(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Any]:
        query = _placeholders(sql)
        try:
            return self._conn.execute(query, tuple(params))
        except psycopg.errors.QueryCanceled as exc:
            raise self._cancelled(exc) from exc
        except psycopg.Error as exc:
            if not _lost(self._conn, exc):
                raise _translate(exc) from exc
            if self._renew is None:
                raise StorageUnavailableError() from exc
            renew, self._renew = self._renew, None  # once per session
            self._conn = renew()
        with self._last_attempt():
            cursor = self._conn.execute(query, tuple(params))
        return cursor

    @contextmanager
    def _last_attempt(self) -> Iterator[None]:
        """The store's errors for a statement that is not tried again: a cancelled one is the
        time budget's, a lost connection :class:`StorageUnavailableError`."""
        try:
            yield
        except psycopg.errors.QueryCanceled as exc:
            raise self._cancelled(exc) from exc
        except psycopg.Error as exc:
            if _lost(self._conn, exc):
                raise StorageUnavailableError() from exc
            raise _translate(exc) from exc

    def _cancelled(self, exc: psycopg.errors.QueryCanceled) -> Exception:
        """The error for a cancelled statement: the time budget, or the driver's own."""
        if self._budget is not None and "statement timeout" in str(exc):
            return QueryTimeoutError(self._budget)
        return _translate(exc)

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``executemany`` (psycopg pipelines the rows); only inside a transaction, so a lost
        connection is :class:`~specstar.core.errors.StorageUnavailableError`."""
        with self._last_attempt(), self._conn.cursor() as cursor:
            cursor.executemany(_placeholders(sql), rows)


def _configurer(budget: float | None) -> Callable[[psycopg.Connection[Any]], None]:
    """Sets up a new pooled connection: UTC, and the statement time budget."""
    millis = 0 if budget is None else max(1, math.ceil(budget * 1000))

    def configure(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SET TIME ZONE 'UTC'")
        conn.execute(f"SET statement_timeout = {int(millis)}")

    return configure


class Pool:
    """The pooled connections of one backend, and the sessions on them.

    Args:
        dsn: libpq connection string or URL.
        name: the pool's name (in the driver's logs).
        size: most connections the pool opens.
        timeout: seconds to wait for a connection (at start-up and from the pool).
        query_timeout: seconds one statement may run (``statement_timeout`` of every
            connection), or ``None`` for no budget.

    Raises:
        StorageError: no connection could be opened within ``timeout``.
    """

    def __init__(
        self,
        dsn: str,
        *,
        name: str,
        size: int,
        timeout: float,
        query_timeout: float | None,
    ) -> None:
        self.query_timeout = query_timeout
        self._timeout = timeout
        self._max_size = max(1, size)
        self._pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(1, size),
            kwargs={"autocommit": True},
            configure=_configurer(query_timeout),
            timeout=timeout,
            name=name,
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise StorageError(f"PostgreSQL: cannot connect within {timeout}s: {exc}") from exc

    @contextmanager
    def connection(self, check: str | None = "") -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection that answered ``check`` (a statement with no effect when the
        connection is lost: an empty one, or the ``BEGIN`` of a transaction, which then
        saves its own round trip) as it was handed out; with ``None``, the first connection
        the pool hands out, unchecked (its user's first statement is the check).

        A connection the server closed while it sat in the pool (a restart, a failover,
        ``pg_terminate_backend``) fails the check; it goes back to the pool, which discards
        and replaces it, and the next one is tried at once. (The pool's own ``check`` waits
        1, 2, 4... seconds between failed checks: after all idle connections were dropped, a
        request would wait many seconds for a good one.)
        """
        deadline = time.monotonic() + self._timeout
        for _ in range(self._max_size + 1):
            try:
                conn = self._pool.getconn(timeout=max(deadline - time.monotonic(), 0.001))
            except PoolTimeout as exc:
                raise StorageUnavailableError(
                    "no storage connection became available in time; the operation was not applied"
                ) from exc
            try:
                if check is not None:
                    conn.execute(check)
            except psycopg.Error:
                self._pool.putconn(conn)
                continue
            try:
                yield conn
            finally:
                self._pool.putconn(conn)
            return
        raise StorageUnavailableError(
            "every storage connection failed its check; the operation was not applied"
        )

    @contextmanager
    def transaction(self, lock_key: str | None = None, reading: bool = False) -> Iterator[Tx]:
        """A transaction; a connection lost before ``COMMIT`` was sent leaves nothing applied
        (:class:`StorageUnavailableError`), one lost during ``COMMIT`` leaves the outcome
        of a write unknown (:class:`WriteOutcomeUnknownError`; a read-only transaction has
        read what it read)."""
        with self.connection(check="BEGIN") as conn:
            tx = _PgTx(conn, self.query_timeout)
            try:
                if lock_key is not None:
                    tx.run("SET LOCAL statement_timeout = 0")  # schema changes may take long
                    tx.run("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (lock_key,))
                yield tx
            except BaseException:
                if not (conn.broken or conn.closed):
                    with suppress(psycopg.Error):  # the pool discards or resets it then
                        conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                if not _lost(conn, exc):
                    raise _translate(exc) from exc
                if not reading:
                    raise WriteOutcomeUnknownError() from exc

    @contextmanager
    def statements(self) -> Iterator[Tx]:
        """A session outside a transaction: each statement stands alone, and one whose
        connection was lost runs once more on a fresh, checked connection (once per session).
        The first connection is used unchecked: its first statement is the check, so a read
        costs no extra round trip."""
        with ExitStack() as connections:
            conn = connections.enter_context(self.connection(check=None))

            def renew() -> psycopg.Connection[Any]:
                return connections.enter_context(self.connection())

            yield _PgTx(conn, self.query_timeout, renew)

    @property
    def driver_pool(self) -> ConnectionPool[Any]:
        """The driver's pool."""
        return self._pool

    def close(self) -> None:
        self._pool.close()

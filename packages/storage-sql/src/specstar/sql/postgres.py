"""PostgreSQL storage: the scale-out store.

Meta records and revisions live in per-resource-type tables of one schema; any number of
processes on any number of hosts share them. Every write is one transaction on a pooled
connection: ``SELECT ... FOR UPDATE`` of the meta row, the compare-and-swap check, the revision
insert with ``seq = revision_seq + 1``, the meta update, and the unique check — with partial
unique indexes (``WHERE NOT is_deleted``) as the final word when transactions race.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from datetime import UTC, datetime
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
    PayloadStoreFactory,
    QueryTimeoutError,
    StorageError,
    StorageUnavailableError,
    WriteOutcomeUnknownError,
)
from specstar.core.spi import (
    DEFAULT_QUERY_TIMEOUT,
    CachingStorageFactory,
    Kind,
    check_timeout,
    compile_regex,
)

from ._backend import Backend, Tx, Violation
from ._dialect import Dialect, RegexHook, Sql, Target
from ._layout import IndexColumn, ident, rev_backfill, to_utc
from ._store import SQLStorage
from .postgres_blobs import PostgresBlobStore, blob_tables_ddl

__all__ = ["PostgresStorage", "PostgresStorageFactory"]

_TYPES: dict[str, str] = {
    "str": 'text COLLATE "C"',
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "datetime": "timestamptz",
}
_ARRAYS: dict[str, str] = {
    "str": "text[]",
    "int": "bigint[]",
    "float": "double precision[]",
    "bool": "boolean[]",
    "datetime": "timestamptz[]",
}
_UNIQUE_INDEX = re.compile(r"_meta_u[xq]([0-9]+)$")
#: Characters of an indexed text value (or list element) its index entry holds: a B-tree or
#: GIN entry holds at most about 2,700 bytes, and with ``resource_id`` (at most 200
#: characters) a B-tree entry stays well below that (4 bytes per character at worst).
KEY_CHARS = 256
#: The function a list of texts is indexed through (per schema): its elements' prefixes.
_HEADS = "specstar_heads"
#: The function a unique text is indexed through (per schema): the SHA-256 of its UTF-8.
_DIGEST = "specstar_digest"


class PostgresDialect(Dialect):
    """PostgreSQL spellings: native types, arrays with ``@>``/``&&`` (GIN-indexed).

    Text values of any length can be indexed: a text column's B-tree holds the first
    :data:`KEY_CHARS` characters of each value and a list of texts is GIN-indexed through
    ``specstar_heads`` (the same prefixes of its elements); every condition tests the prefix
    (answered by the index) and then the full value. A ``Unique`` text is enforced by a unique
    index on ``specstar_digest`` (the SHA-256 of the value), so two values are refused as
    duplicates only when they are equal (or their SHA-256 collide, which no known pair does).

    Args:
        prefix: the schema prefix (``'"schema".'``) of the ``specstar_heads`` function.
    """

    index_prefix = KEY_CHARS

    def __init__(self, prefix: str = "") -> None:
        self.heads = f"{prefix}{_HEADS}"
        self.digest = f"{prefix}{_DIGEST}"

    def encode(self, kind: Kind, value: Any) -> Any:
        if value is None:
            return None
        if kind == "datetime":
            return to_utc(value)
        if kind == "float":
            return float(value)
        return value

    def encode_list(self, kind: Kind, values: Sequence[Any]) -> Any:
        return [self.encode(kind, v) for v in values]

    def list_contains(self, column: str, kind: Kind, value: Any) -> Sql:
        test = Sql(f"{column} @> CAST(? AS {_ARRAYS[kind]})", ([value],))
        if kind != "str":
            return test
        return (
            Sql(f"{self.heads}({column}) @> CAST(? AS text[]) AND ", ([value[:KEY_CHARS]],)) + test
        )

    def list_contains_any(self, column: str, kind: Kind, values: Sequence[Any]) -> Sql:
        test = Sql(f"{column} && CAST(? AS {_ARRAYS[kind]})", (list(values),))
        if kind != "str":
            return test
        heads = list(dict.fromkeys(v[:KEY_CHARS] for v in values))
        return Sql(f"{self.heads}({column}) && CAST(? AS text[]) AND ", (heads,)) + test

    def substring(self, column: str, needle: str) -> Sql:
        return Sql(f"strpos({column}, ?) > 0", (needle,))

    def prefix(self, column: str, length: int) -> str:
        return f"left({column}, {int(length)})"

    def suffix(self, column: str, length: int) -> str:
        return f"right({column}, {int(length)})"

    _upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def fold(self, column: str) -> str:
        # translate() maps exactly A-Z, whatever the database's locale and collation
        return f"translate({column}, '{self._upper}', '{self._upper.lower()}')"

    def strip(self, column: str) -> str:
        return f"btrim({column}, ?)"

    def text_length(self, column: str) -> str:
        return f"char_length({column})"

    def list_length(self, column: str) -> str:
        return f"cardinality({column})"

    def elements(self, column: str, kind: Kind) -> tuple[str, str]:
        # array elements take the database's collation: compare text by code point like the
        # scalar columns (text COLLATE "C")
        value = 'e.v COLLATE "C"' if kind == "str" else "e.v"
        return f"unnest({column}) AS e(v)", value


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


class PostgresBackend(Backend):
    """One schema of one PostgreSQL database, reached through a connection pool."""

    lock_clause = " FOR UPDATE OF m"
    no_limit = None

    def __init__(
        self,
        dsn: str,
        *,
        schema: str,
        pool_size: int,
        timeout: float,
        query_timeout: float | None,
    ) -> None:
        self.schema = schema
        self.prefix = f"{ident(schema)}."
        self.query_timeout = query_timeout
        self.dialect: PostgresDialect = PostgresDialect(self.prefix)
        self._timeout = timeout
        self._max_size = max(1, pool_size)
        self._pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            configure=_configurer(query_timeout),
            timeout=timeout,
            name=f"specstar-{schema}",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise StorageError(f"PostgreSQL: cannot connect within {timeout}s: {exc}") from exc
        try:
            self._initialise()
        except BaseException:
            self._pool.close()
            raise

    def _initialise(self) -> None:
        with self.ddl("") as tx:
            row = tx.one("SHOW server_encoding")
            if row is None or str(row[0]).upper() not in ("UTF8", "UTF-8"):
                raise StorageError(f"PostgreSQL: the database encoding must be UTF8, not {row}")
            tx.run(f"CREATE SCHEMA IF NOT EXISTS {ident(self.schema)}")
            tx.run(
                f"CREATE TABLE IF NOT EXISTS {self.prefix}specstar_fields ("
                'resource_name text COLLATE "C" NOT NULL, path text COLLATE "C" NOT NULL, '
                "kind text NOT NULL, is_list boolean NOT NULL, col integer NOT NULL, "
                "backfilled boolean NOT NULL, "
                "CONSTRAINT specstar_fields_pkey PRIMARY KEY (resource_name, path, kind, is_list),"
                " CONSTRAINT specstar_fields_col_key UNIQUE (resource_name, col))"
            )
            for statement in blob_tables_ddl(self.prefix):
                tx.run(statement)
            tx.run(
                f"CREATE OR REPLACE FUNCTION {self.dialect.heads}(text[]) RETURNS text[] "
                "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
                f"AS 'SELECT ARRAY(SELECT left(e, {KEY_CHARS}) FROM unnest($1) AS e)'"
            )
            # convert_to is only "stable" (conversions can change); UTF8 to UTF8 never does,
            # and the database encoding was checked above
            tx.run(
                f"CREATE OR REPLACE FUNCTION {self.dialect.digest}(text) RETURNS bytea "
                "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
                "AS 'SELECT sha256(convert_to($1, ''UTF8''))'"
            )

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection that answered a round trip as it was handed out.

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
                conn.execute("")
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
    def _transaction(self, lock_key: str | None = None, reading: bool = False) -> Iterator[Tx]:
        """A transaction; a connection lost before ``COMMIT`` was sent leaves nothing applied
        (:class:`StorageUnavailableError`), one lost during ``COMMIT`` leaves the outcome
        of a write unknown (:class:`WriteOutcomeUnknownError`; a read-only transaction has
        read what it read)."""
        with self._connection() as conn:
            tx = _PgTx(conn, self.query_timeout)
            tx.run("BEGIN")
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

    def write(self) -> AbstractContextManager[Tx]:
        return self._transaction()

    def ddl(self, base: str) -> AbstractContextManager[Tx]:
        return self._transaction(f"specstar:{self.schema}:{base}")

    @contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Tx]:
        """A read session: outside a snapshot each statement is retried once on a fresh
        connection when its connection was lost (a read changes nothing)."""
        if snapshot:
            with self._transaction(reading=True) as tx:
                tx.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield tx
            return
        with ExitStack() as connections:
            conn = connections.enter_context(self._connection())

            def renew() -> psycopg.Connection[Any]:
                return connections.enter_context(self._connection())

            yield _PgTx(conn, self.query_timeout, renew)

    def create_tables(self, tx: Tx, base: str) -> None:
        meta = self.prefix + ident(base + "_meta")
        rev = self.prefix + ident(base + "_rev")
        text = 'text COLLATE "C"'
        tx.run(
            f"CREATE TABLE IF NOT EXISTS {meta} ("
            f"resource_id {text} NOT NULL, current_revision_id {text} NOT NULL, "
            f"schema_version {text}, total_revision_count bigint NOT NULL, "
            "revision_seq bigint NOT NULL, created_time timestamptz NOT NULL, "
            f"created_by {text} NOT NULL, updated_time timestamptz NOT NULL, "
            f"updated_by {text} NOT NULL, is_deleted boolean NOT NULL, "
            "indexed_data bytea NOT NULL, rev_status text, rev_created_time timestamptz, "
            "rev_updated_time timestamptz, "
            f"CONSTRAINT {ident(base + '_meta_pkey')} PRIMARY KEY (resource_id))"
        )
        for suffix, column in (("ct", "created_time"), ("ut", "updated_time")):
            tx.run(
                f"CREATE INDEX IF NOT EXISTS {ident(f'{base}_meta_{suffix}')} "
                f"ON {meta} (is_deleted, {column}, resource_id)"
            )
        tx.run(
            f"CREATE TABLE IF NOT EXISTS {rev} ("
            f"resource_id {text} NOT NULL, seq bigint NOT NULL, parent_revision_id {text}, "
            f"schema_version {text}, data_hash text NOT NULL, status text NOT NULL, "
            "created_time timestamptz NOT NULL, created_by text NOT NULL, "
            "updated_time timestamptz NOT NULL, updated_by text NOT NULL, data bytea NOT NULL, "
            f"payload_key {text}, "
            f"CONSTRAINT {ident(base + '_rev_pkey')} PRIMARY KEY (resource_id, seq))"
        )
        has_key = tx.one(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? AND column_name = 'payload_key'",
            (self.schema, base + "_rev"),
        )
        if has_key is None:  # tables of 0.x releases; ALTER only when needed (it locks)
            tx.run(f"ALTER TABLE {rev} ADD COLUMN IF NOT EXISTS payload_key {text}")
        has_rev = tx.one(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? AND column_name = 'rev_status'",
            (self.schema, base + "_meta"),
        )
        if has_rev is None:  # tables of 0.x releases: add and fill the columns
            tx.run(
                f"ALTER TABLE {meta} ADD COLUMN IF NOT EXISTS rev_status text, "
                "ADD COLUMN IF NOT EXISTS rev_created_time timestamptz, "
                "ADD COLUMN IF NOT EXISTS rev_updated_time timestamptz"
            )
            tx.run(rev_backfill(meta, rev))

    def sync_columns(
        self, tx: Tx, base: str, columns: Sequence[IndexColumn], unique: frozenset[int]
    ) -> None:
        table = base + "_meta"
        meta = self.prefix + ident(table)
        present = {
            str(r[0])
            for r in tx.all(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                (self.schema, table),
            )
        }
        indexes = {
            str(r[0])
            for r in tx.all(
                "SELECT indexname FROM pg_indexes WHERE schemaname = ? AND tablename = ?",
                (self.schema, table),
            )
        }
        by_number = {c.number: c for c in columns}
        for column in columns:
            f = column.field
            value = ident(column.value)
            if column.value not in present:
                kind = _ARRAYS[f.kind] if f.is_list else _TYPES[f.kind]
                tx.run(f"ALTER TABLE {meta} ADD COLUMN IF NOT EXISTS {value} {kind}")
            if column.presence not in present:
                tx.run(
                    f"ALTER TABLE {meta} ADD COLUMN IF NOT EXISTS {ident(column.presence)} "
                    "boolean NOT NULL DEFAULT FALSE"
                )
            plain = f"{table}_ix{column.number}"
            if f.kind != "str":
                name = plain
                spec = (
                    f"USING gin ({value})" if f.is_list else f"(is_deleted, {value}, resource_id)"
                )
            else:  # prefixes only: an index entry has a size limit, a text has none
                name = f"{table}_ik{column.number}"
                spec = (
                    f"USING gin ({self.dialect.heads}({value}))"
                    if f.is_list
                    else f"(is_deleted, {self.dialect.index_key(value)}, resource_id)"
                )
                if plain in indexes:  # the whole-value index of earlier releases
                    tx.run(f"DROP INDEX IF EXISTS {self.prefix}{ident(plain)}")
            if name not in indexes:
                tx.run(f"CREATE INDEX IF NOT EXISTS {ident(name)} ON {meta} {spec}")
        wanted = {}
        for number in unique:
            text = by_number[number].field.kind == "str"
            wanted[f"{table}_{'uq' if text else 'ux'}{number}"] = number
        for name in indexes:
            if name.startswith((f"{table}_ux", f"{table}_uq")) and name not in wanted:
                tx.run(f"DROP INDEX IF EXISTS {self.prefix}{ident(name)}")
        for name, number in wanted.items():
            if name in indexes:
                continue
            value = ident(f"ix_{number}")
            if name.startswith(f"{table}_uq"):  # the SHA-256 of a text: a bounded key
                value = f"{self.dialect.digest}({value})"
            tx.run(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {ident(name)} ON {meta} ({value}) "
                "WHERE NOT is_deleted"
            )

    def regex_hook(self, tx: Tx, table: str) -> RegexHook:
        """The query ``regex`` dialect pushed down as PostgreSQL's ``~``: the pattern
        re-emitted as an advanced regular expression deciding the same values."""

        def regex(target: Target, pattern: str) -> Sql:
            return Sql(f"{target.column} ~ ?", (compile_regex(pattern).to_posix(),))

        return regex

    def explain(self, tx: Tx, sql: str, params: Sequence[Any]) -> list[str]:
        return [str(row[0]) for row in tx.all("EXPLAIN " + sql, params)]

    def analyze(self, tx: Tx, table: str) -> None:
        tx.run(f"ANALYZE {table}")

    def encode_time(self, value: datetime) -> Any:
        return to_utc(value)

    def decode_time(self, raw: Any) -> datetime:
        value: datetime = raw
        return value.astimezone(UTC)

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A pooled connection (autocommit) for maintenance and tests."""
        return self._connection()

    @property
    def pool(self) -> ConnectionPool[Any]:
        return self._pool

    def close(self) -> None:
        self._pool.close()


class PostgresStorage(SQLStorage):
    """Meta records and revisions of one resource type in the factory's PostgreSQL schema."""


class PostgresStorageFactory(CachingStorageFactory[PostgresStorage]):
    """Storage in one PostgreSQL schema, shared by any number of processes and hosts.

    Tables, indexes and the schema itself are created at start-up, idempotently and safely
    when several processes start at once (DDL runs under a transaction-scoped advisory lock).

    Args:
        dsn: libpq connection string or URL.
        schema: the schema holding every table (created when missing).
        pool_size: most connections the pool opens.
        timeout: seconds to wait for a connection (at start-up and from the pool).
        query_timeout: seconds one statement may run (``statement_timeout`` of every pooled
            connection) before PostgreSQL cancels it and it fails with
            :class:`~specstar.core.errors.QueryTimeoutError`; ``None`` for no budget. Schema
            changes at start-up run without it.
        payloads: where revision data lives; ``None`` (default) keeps it in the revision rows.
            With a payload store (S3, say) each revision's bytes are put there before the
            transaction that commits the revision row naming them.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "specstar",
        pool_size: int = 10,
        timeout: float = 30.0,
        query_timeout: float | None = DEFAULT_QUERY_TIMEOUT,
        payloads: PayloadStoreFactory | None = None,
    ) -> None:
        super().__init__()
        query_timeout = check_timeout(query_timeout)
        ident(schema)
        self.schema = schema
        self._backend = PostgresBackend(
            dsn,
            schema=schema,
            pool_size=pool_size,
            timeout=timeout,
            query_timeout=query_timeout,
        )
        self._blobs = PostgresBlobStore(self._backend, f"{ident(schema)}.")
        self._payloads = payloads

    def create(self, resource_name: str) -> PostgresStorage:
        store = None if self._payloads is None else self._payloads.build(resource_name)
        return PostgresStorage(self._backend, resource_name, store)

    def blob_store(self) -> PostgresBlobStore:
        return self._blobs

    def close(self) -> None:
        self._backend.close()
        if self._payloads is not None:
            self._payloads.close()

    def __repr__(self) -> str:
        return f"PostgresStorageFactory(schema={self.schema!r})"

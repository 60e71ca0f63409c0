"""One schema of one PostgreSQL database as the shared SQL storage's backend.

The backend creates the schema, its helper functions and each resource type's tables and
indexes (idempotently, under a transaction-scoped advisory lock, so several processes may
start at once), and opens the sessions the storage runs its statements in, on the
connections of its :class:`~._postgres_pool.Pool`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from specstar.core import StorageError
from specstar.core.spi import compile_regex

from ._backend import Backend, Tx
from ._dialect import RegexHook, Sql, Target
from ._layout import IndexColumn, ident, rev_backfill, to_utc
from ._postgres_dialect import ARRAY_TYPES, KEY_CHARS, SCALAR_TYPES, PostgresDialect
from ._postgres_pool import Pool
from .postgres_blobs import blob_tables_ddl

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresBackend"]


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
        self._pool = Pool(
            dsn,
            name=f"specstar-{schema}",
            size=pool_size,
            timeout=timeout,
            query_timeout=query_timeout,
        )
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

    def write(self) -> AbstractContextManager[Tx]:
        return self._pool.transaction()

    def ddl(self, base: str) -> AbstractContextManager[Tx]:
        return self._pool.transaction(f"specstar:{self.schema}:{base}")

    @contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Tx]:
        """A read session: outside a snapshot each statement is retried once on a fresh
        connection when its connection was lost (a read changes nothing)."""
        if snapshot:
            with self._pool.transaction(reading=True) as tx:
                tx.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield tx
            return
        with self._pool.statements() as tx:
            yield tx

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
                kind = ARRAY_TYPES[f.kind] if f.is_list else SCALAR_TYPES[f.kind]
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
        # the sessions are in UTC (see the pool), so the driver's datetimes mostly are already
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    def connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A pooled connection (autocommit) for maintenance and tests."""
        return self._pool.connection()

    @property
    def pool(self) -> ConnectionPool[Any]:
        return self._pool.driver_pool

    def close(self) -> None:
        self._pool.close()

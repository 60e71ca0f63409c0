"""SQLite storage: the embedded default.

One database file (``specstar.db``, WAL mode) holds the meta records, the revisions and the
field registry of every resource type; blobs are content-addressed files next to it. Several
processes may open the same folder: every write is a ``BEGIN IMMEDIATE`` transaction, which takes
SQLite's single write lock, so compare-and-swap, revision-id allocation and unique checks are
atomic across processes, not only threads.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import msgspec

from specstar.core import (
    PayloadStoreFactory,
    QueryTimeoutError,
    StorageError,
    StorageUnavailableError,
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
from .blobs import FileBlobStore

__all__ = ["SQLiteStorage", "SQLiteStorageFactory"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Stored times (microseconds since the epoch) below this decode through a float: up to 2**32
#: seconds (the year 2106) ``raw / 1e6`` is within 0.25 us of the exact quotient (half a
#: double's spacing there), so ``fromtimestamp``, which rounds to the nearest microsecond,
#: gives back exactly ``raw``. Later (and earlier) times take the exact integer path.
_FLOAT_EXACT_UNTIL = 2**32 * 1_000_000
_MICROSECOND = timedelta(microseconds=1)
_TYPES: dict[str, str] = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "REAL",
    "bool": "INTEGER",
    "datetime": "INTEGER",
}
_UNIQUE_FAILED = re.compile(r"UNIQUE constraint failed: [a-z0-9_]+\.(ix_[0-9]+)$")


class SQLiteDialect(Dialect):
    """SQLite spellings: datetimes as integer microseconds since the epoch (UTC), booleans as
    0/1, lists as JSON arrays searched with ``json_each``."""

    # SQLite's parser stack overflows beyond ~35 nested parentheses.
    max_depth = 24
    # 1/0 rather than TRUE/FALSE (the same values in SQLite): the planner can use a partial
    # index only when the query repeats its WHERE term verbatim, and the unique indexes are
    # partial on ``is_deleted = 0``; with ``is_deleted = FALSE`` an equality on a unique field
    # could not use its unique index and scanned the created_time index instead.
    true = "1"
    false = "0"
    # Without range statistics SQLite always reads a range filter's index and sorts.
    walks_sort_index = True

    def encode(self, kind: Kind, value: Any) -> Any:
        if value is None:
            return None
        if kind == "datetime":
            return (to_utc(value) - _EPOCH) // _MICROSECOND
        if kind == "bool":
            return int(value)
        if kind == "float":
            return float(value)
        return value

    def encode_list(self, kind: Kind, values: Sequence[Any]) -> Any:
        encoded = [self.encode(kind, v) for v in values]
        if kind != "float":
            return msgspec.json.encode(encoded).decode()
        # JSON has no infinities; SQLite's JSON reads 9e999 as one.
        parts = []
        for v in encoded:
            if v is None:
                parts.append("null")
            elif v in (float("inf"), float("-inf")):
                parts.append("9e999" if v > 0 else "-9e999")
            else:
                parts.append(repr(v))
        return "[" + ",".join(parts) + "]"

    def list_contains(self, column: str, kind: Kind, value: Any) -> Sql:
        return Sql(f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)", (value,))

    def list_contains_any(self, column: str, kind: Kind, values: Sequence[Any]) -> Sql:
        marks = ", ".join("?" * len(values))
        return Sql(
            f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value IN ({marks}))", tuple(values)
        )

    def substring(self, column: str, needle: str) -> Sql:
        return Sql(f"instr({column}, ?) > 0", (needle,))

    def prefix(self, column: str, length: int) -> str:
        return f"substr({column}, 1, {int(length)})"

    def suffix(self, column: str, length: int) -> str:
        return f"substr({column}, -{int(length)})"

    def fold(self, column: str) -> str:
        # SQLite's built-in lower() folds ASCII letters only (the ICU extension is never loaded)
        return f"lower({column})"

    def strip(self, column: str) -> str:
        return f"trim({column}, ?)"

    def text_length(self, column: str) -> str:
        return f"length({column})"

    def list_length(self, column: str) -> str:
        return f"json_array_length({column})"

    def elements(self, column: str, kind: Kind) -> tuple[str, str]:
        return f"json_each({column})", "value"


def _regexp(pattern: str | None, value: str | None) -> int | None:
    """``specstar_regexp(pattern, value)``: the query ``regex`` dialect's linear-time search
    (the pattern was validated when the query was resolved), null on null."""
    if pattern is None or value is None:
        return None
    return 1 if compile_regex(pattern).search(value) else 0


def _translate(exc: sqlite3.Error) -> Exception:
    if isinstance(exc, sqlite3.IntegrityError):
        match = _UNIQUE_FAILED.search(str(exc))
        if match:
            return Violation(match.group(1))
        if "UNIQUE constraint failed" in str(exc):
            return Violation(None)
    if isinstance(exc, sqlite3.OperationalError) and str(exc) in _BUSY:
        # the statement waited ``timeout`` seconds for another process's lock and did not
        # run; a write transaction around it is rolled back (see SQLiteBackend._transaction)
        return StorageUnavailableError(
            "the database stayed locked by another writer; the operation was not applied"
        )
    return StorageError(f"SQLite: {exc}")


_BUSY = frozenset({"database is locked", "database table is locked", "database is busy"})


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._execute(sql, params).rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc


class _Pool:
    """Reusable connections: any number in use, a few kept idle."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], max_idle: int = 8) -> None:
        self._connect = connect
        self._max_idle = max_idle
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StorageError("the SQLite storage factory is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite: cannot open the database: {exc}") from exc
        keep: sqlite3.Connection | None = conn
        try:
            yield conn
        finally:
            with self._lock:
                idle = not self._closed and not conn.in_transaction
                if idle and len(self._idle) < self._max_idle:
                    self._idle.append(conn)
                    keep = None
            if keep is not None:
                keep.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


#: Virtual machine steps between two looks at a read's deadline.
_PROGRESS_STEPS = 1000


class SQLiteBackend(Backend):
    """One SQLite database file in WAL mode, shared by threads and processes."""

    dialect = SQLiteDialect()
    prefix = ""
    lock_clause = ""
    no_limit = -1

    def __init__(
        self, path: Path, *, timeout: float, synchronous: str, query_timeout: float | None
    ) -> None:
        self.path = path
        self._timeout = timeout
        self._query_timeout = query_timeout
        self._synchronous = synchronous
        self._pool = _Pool(self._open)
        self._write_lock = threading.Lock()
        try:
            self._use_wal(timeout)
            with self.write() as tx:
                tx.run(
                    "CREATE TABLE IF NOT EXISTS specstar_fields ("
                    "resource_name TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, "
                    "is_list INTEGER NOT NULL, col INTEGER NOT NULL, "
                    "backfilled INTEGER NOT NULL, "
                    "PRIMARY KEY (resource_name, path, kind, is_list), "
                    "UNIQUE (resource_name, col))"
                )
        except BaseException:
            self._pool.close()
            raise

    def _use_wal(self, timeout: float) -> None:
        """Switch the database to WAL (persistent); other processes opening a new file at the
        same moment can make the switch busy for a moment."""
        deadline = time.monotonic() + timeout
        with self._pool.connection() as conn:
            while True:
                try:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise StorageError(f"SQLite: cannot open {self.path}: {exc}") from exc
                    time.sleep(0.01)
                except sqlite3.Error as exc:
                    raise StorageError(f"SQLite: cannot open {self.path}: {exc}") from exc
        if mode is None or str(mode[0]).lower() != "wal":
            raise StorageError(f"SQLite: {self.path} cannot use WAL mode (got {mode!r})")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.create_function("specstar_regexp", 2, _regexp, deterministic=True)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Tx]:
        with self._write_lock, self._pool.connection() as conn:
            tx = _SQLiteTx(conn)
            tx.run("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            try:
                tx.run("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def write(self) -> AbstractContextManager[Tx]:
        return self._transaction()

    def ddl(self, base: str) -> AbstractContextManager[Tx]:
        return self._transaction()

    @contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Tx]:
        # A single SELECT is already a consistent snapshot; searches issue exactly one.
        with self._pool.connection() as conn:
            budget = self._query_timeout
            if budget is None:
                yield _SQLiteTx(conn)
                return
            deadline = time.monotonic() + budget
            stopped = False

            def progress() -> int:
                nonlocal stopped
                stopped = stopped or time.monotonic() > deadline
                return 1 if stopped else 0  # non-zero interrupts the running statement

            conn.set_progress_handler(progress, _PROGRESS_STEPS)
            try:
                yield _SQLiteTx(conn)
            except StorageError as exc:
                if stopped:
                    raise QueryTimeoutError(budget) from exc
                raise
            finally:
                conn.set_progress_handler(None, 0)

    def create_tables(self, tx: Tx, base: str) -> None:
        meta, rev = ident(base + "_meta"), ident(base + "_rev")
        tx.run(
            f"CREATE TABLE IF NOT EXISTS {meta} ("
            "resource_id TEXT NOT NULL PRIMARY KEY, current_revision_id TEXT NOT NULL, "
            "schema_version TEXT, total_revision_count INTEGER NOT NULL, "
            "revision_seq INTEGER NOT NULL, created_time INTEGER NOT NULL, "
            "created_by TEXT NOT NULL, updated_time INTEGER NOT NULL, updated_by TEXT NOT NULL, "
            "is_deleted INTEGER NOT NULL, indexed_data BLOB NOT NULL, rev_status TEXT, "
            "rev_created_time INTEGER, rev_updated_time INTEGER)"
        )
        for suffix, column in (("ct", "created_time"), ("ut", "updated_time")):
            tx.run(
                f"CREATE INDEX IF NOT EXISTS {ident(f'{base}_meta_{suffix}')} "
                f"ON {meta} (is_deleted, {column}, resource_id)"
            )
        tx.run(
            f"CREATE TABLE IF NOT EXISTS {rev} ("
            "resource_id TEXT NOT NULL, seq INTEGER NOT NULL, parent_revision_id TEXT, "
            "schema_version TEXT, data_hash TEXT NOT NULL, status TEXT NOT NULL, "
            "created_time INTEGER NOT NULL, created_by TEXT NOT NULL, "
            "updated_time INTEGER NOT NULL, updated_by TEXT NOT NULL, data BLOB NOT NULL, "
            "payload_key TEXT, PRIMARY KEY (resource_id, seq))"
        )
        if "payload_key" not in {str(r[1]) for r in tx.all(f"PRAGMA table_info({rev})")}:
            tx.run(f"ALTER TABLE {rev} ADD COLUMN payload_key TEXT")  # tables of 0.x releases
        present = {str(r[1]) for r in tx.all(f"PRAGMA table_info({meta})")}
        if "rev_status" not in present:  # tables of 0.x releases: add and fill the columns
            for name, kind in (
                ("rev_status", "TEXT"),
                ("rev_created_time", "INTEGER"),
                ("rev_updated_time", "INTEGER"),
            ):
                tx.run(f"ALTER TABLE {meta} ADD COLUMN {name} {kind}")
            tx.run(rev_backfill(meta, rev))

    def sync_columns(
        self, tx: Tx, base: str, columns: Sequence[IndexColumn], unique: frozenset[int]
    ) -> None:
        table = base + "_meta"
        meta = ident(table)
        present = {str(r[1]) for r in tx.all(f"PRAGMA table_info({meta})")}
        indexes = {
            str(r[0])
            for r in tx.all(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,)
            )
        }
        for column in columns:
            f = column.field
            if column.value not in present:
                kind = "TEXT" if f.is_list else _TYPES[f.kind]
                tx.run(f"ALTER TABLE {meta} ADD COLUMN {ident(column.value)} {kind}")
            if column.presence not in present:
                tx.run(
                    f"ALTER TABLE {meta} ADD COLUMN {ident(column.presence)} "
                    "INTEGER NOT NULL DEFAULT 0"
                )
            name = f"{table}_ix{column.number}"
            if not f.is_list and name not in indexes:
                tx.run(
                    f"CREATE INDEX {ident(name)} ON {meta} "
                    f"(is_deleted, {ident(column.value)}, resource_id)"
                )
        wanted = {f"{table}_ux{n}": n for n in unique}
        prefix = f"{table}_ux"
        for name in indexes:
            if name.startswith(prefix) and name not in wanted:
                tx.run(f"DROP INDEX {ident(name)}")
        for name, number in wanted.items():
            if name not in indexes:
                tx.run(
                    f"CREATE UNIQUE INDEX {ident(name)} ON {meta} ({ident(f'ix_{number}')}) "
                    "WHERE is_deleted = 0"
                )

    def regex_hook(self, tx: Tx, table: str) -> RegexHook:
        def regex(target: Target, pattern: str) -> Sql:
            return Sql(f"specstar_regexp(?, {target.column})", (pattern,))

        return regex

    def explain(self, tx: Tx, sql: str, params: Sequence[Any]) -> list[str]:
        return [str(row[-1]) for row in tx.all("EXPLAIN QUERY PLAN " + sql, params)]

    def analyze(self, tx: Tx, table: str) -> None:
        tx.run(f"ANALYZE {table}")

    def encode_time(self, value: datetime) -> Any:
        return (to_utc(value) - _EPOCH) // _MICROSECOND

    def decode_time(self, raw: Any) -> datetime:
        if type(raw) is int and 0 <= raw < _FLOAT_EXACT_UNTIL:
            try:
                return datetime.fromtimestamp(raw / 1_000_000, UTC)  # exact there, 3x faster
            except (OverflowError, OSError):  # a platform whose time_t ends in 2038
                pass
        return _EPOCH + timedelta(microseconds=int(raw))

    def close(self) -> None:
        self._pool.close()


class SQLiteStorage(SQLStorage):
    """Meta records and revisions of one resource type in the factory's SQLite database."""


class SQLiteStorageFactory(CachingStorageFactory[SQLiteStorage]):
    """Storage in one folder: ``specstar.db`` (SQLite, WAL) and ``blobs/`` (content-addressed
    files).

    Safe for many threads and for several processes opening the same folder (e.g. two
    uvicorn workers): writes serialise on SQLite's write lock, waiting up to ``timeout``.

    Args:
        path: the folder (created when missing).
        synchronous: ``"FULL"`` (default) syncs the WAL on every commit, so acknowledged writes
            survive a power loss; ``"NORMAL"`` syncs at checkpoints only: acknowledged writes
            still survive a crash of the process (``kill -9``), but the last ones may be lost if
            the machine loses power.
        timeout: seconds a writer waits for the write lock before failing with
            :class:`~specstar.core.errors.StorageError`.
        query_timeout: seconds one read (a search, a count) may run before SQLite interrupts
            it and it fails with :class:`~specstar.core.errors.QueryTimeoutError`; ``None``
            for no budget.
        payloads: where revision data lives; ``None`` (default) keeps it in the revision rows
            of ``specstar.db``. With a payload store (S3, say) each revision's bytes are put
            there before the transaction that commits the revision row naming them.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        timeout: float = 30.0,
        query_timeout: float | None = DEFAULT_QUERY_TIMEOUT,
        payloads: PayloadStoreFactory | None = None,
    ) -> None:
        super().__init__()
        query_timeout = check_timeout(query_timeout)
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be 'FULL' or 'NORMAL', not {synchronous!r}")
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._backend = SQLiteBackend(
            self.path / "specstar.db",
            timeout=timeout,
            synchronous=synchronous,
            query_timeout=query_timeout,
        )
        self._blobs = FileBlobStore(self.path / "blobs")
        self._payloads = payloads

    def create(self, resource_name: str) -> SQLiteStorage:
        store = None if self._payloads is None else self._payloads.build(resource_name)
        return SQLiteStorage(self._backend, resource_name, store)

    def blob_store(self) -> FileBlobStore:
        return self._blobs

    def close(self) -> None:
        self._backend.close()
        if self._payloads is not None:
            self._payloads.close()

    def __repr__(self) -> str:
        return f"SQLiteStorageFactory({str(self.path)!r})"

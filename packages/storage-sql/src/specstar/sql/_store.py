"""The storage logic shared by SQLite and PostgreSQL: one commit, the registry, search.

A resource type has two tables, ``<base>_meta`` (one row per resource: the meta record, its
``indexed_data`` as msgpack, and per indexed path a typed value column ``ix_<n>`` and a presence
column ``p_<n>``) and ``<base>_rev`` (one row per revision, keyed by ``(resource_id, seq)``).
The ``specstar_fields`` registry records, per resource type, which column holds which
``(path, kind, is_list)`` and whether its values are known for every row (backfilled).

Every write is one transaction: lock or read the meta row, check the expected revision,
allocate ``seq = revision_seq + 1``, insert or rewrite the revision, write the meta row, and
check unique values — a unique index over non-deleted rows is the last line of defence when two
transactions race.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from specstar.core.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    RevisionNotDraftError,
    StorageError,
    UniqueConstraintError,
)
from specstar.core.indexes import IndexSpec
from specstar.core.ports import Capabilities, CommitResult, Storage, StoredRevision, Write
from specstar.core.query.ast import And, Condition, Expr, Not, Op, Or, Query
from specstar.core.query.cursor import encode_cursor
from specstar.core.query.resolve import DEFAULT_LIMIT
from specstar.core.types import Page, ResourceMeta, RevisionInfo, RevisionStatus

from ._backend import Backend, Tx, Violation, iter_chunks
from ._compile import Compiler, Sql
from ._layout import IndexColumn, ident, revision_seq, table_base, text_problem, to_utc
from ._plan import SortIndexWalk
from ._registry import Registry, path_of
from ._rows import META_SELECT, REV_INFO_SELECT, Rows, check_texts

__all__ = ["SQLStorage"]

T = TypeVar("T")
_ATTEMPTS = 3


class SQLStorage(Storage):
    """Meta records and revisions of one resource type in SQL tables.

    Built by a storage factory; :meth:`setup` must run (the manager calls it) before use.
    """

    capabilities = Capabilities(durable=True, multi_process=True)

    def __init__(self, backend: Backend, resource_name: str) -> None:
        self.resource_name = resource_name
        self._backend = backend
        self._base = table_base(resource_name)
        self.meta_table = f"{backend.prefix}{ident(self._base + '_meta')}"
        self.revision_table = f"{backend.prefix}{ident(self._base + '_rev')}"
        self._registry = Registry(backend, resource_name, self._base)
        self._rows = Rows(backend)
        self._columns: dict[str, IndexColumn] | None = None

    # -- schema -------------------------------------------------------------------------------

    def setup(self, spec: IndexSpec) -> frozenset[str]:
        self._columns, stale = self._registry.sync(spec)
        return stale

    def mark_indexed(self, paths: Sequence[str]) -> None:
        columns = self._ready()
        self._registry.mark_backfilled([columns[p].number for p in paths if p in columns])

    def _ready(self) -> dict[str, IndexColumn]:
        if self._columns is None:
            raise StorageError(f"{self.resource_name}: call setup() before using the storage")
        return self._columns

    # -- reads --------------------------------------------------------------------------------

    def get_meta(self, resource_id: str) -> ResourceMeta | None:
        if not _storable_id(resource_id):
            return None
        with self._backend.read() as tx:
            return self._load_meta(tx, resource_id, lock=False)

    def _load_meta(self, tx: Tx, resource_id: str, *, lock: bool) -> ResourceMeta | None:
        row = tx.one(
            f"SELECT {META_SELECT} FROM {self.meta_table} WHERE resource_id = ?"
            + (self._backend.lock_clause if lock else ""),
            (resource_id,),
        )
        return None if row is None else self._rows.meta(row)

    def get_revision(self, resource_id: str, revision_id: str) -> StoredRevision | None:
        seq = revision_seq(resource_id, revision_id)
        if seq is None or not _storable_id(resource_id):
            return None
        with self._backend.read() as tx:
            row = tx.one(
                f"SELECT {REV_INFO_SELECT}, data FROM {self.revision_table} "
                "WHERE resource_id = ? AND seq = ?",
                (resource_id, seq),
            )
        if row is None:
            return None
        return StoredRevision(self._rows.revision(row), self._backend.decode_blob(row[-1]))

    def get_revision_info(self, resource_id: str, revision_id: str) -> RevisionInfo | None:
        seq = revision_seq(resource_id, revision_id)
        if seq is None or not _storable_id(resource_id):
            return None
        with self._backend.read() as tx:
            return self._load_info(tx, resource_id, seq)

    def _load_info(self, tx: Tx, resource_id: str, seq: int) -> RevisionInfo | None:
        row = tx.one(
            f"SELECT {REV_INFO_SELECT} FROM {self.revision_table} "
            "WHERE resource_id = ? AND seq = ?",
            (resource_id, seq),
        )
        return None if row is None else self._rows.revision(row)

    def list_revisions(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[RevisionInfo]:
        if not _storable_id(resource_id):
            return []
        sql = (
            f"SELECT {REV_INFO_SELECT} FROM {self.revision_table} "
            "WHERE resource_id = ? ORDER BY seq"
        )
        with self._backend.read() as tx:
            if offset < 0 or (limit is not None and limit < 0):  # Python slice semantics
                rows = tx.all(sql, (resource_id,))
                end = None if limit is None else offset + limit
                rows = rows[offset:end]
            else:
                rows = tx.all(
                    sql + " LIMIT ? OFFSET ?",
                    (resource_id, self._backend.no_limit if limit is None else limit, offset),
                )
        return [self._rows.revision(r) for r in rows]

    # -- search -------------------------------------------------------------------------------

    def _compiled(self, tx: Tx, query: Query) -> tuple[Compiler, Sql]:
        compiler = Compiler(
            self._backend.dialect,
            self._ready(),
            self._backend.regex_hook(tx, self.meta_table),
        )
        return compiler, compiler.where(query, compiler.decode_cursor(query))

    def _search_sql(self, compiler: Compiler, where: Sql, query: Query, limit: int) -> Sql:
        sql = (
            f"SELECT {META_SELECT} FROM {self.meta_table} WHERE {where.text} "
            f"ORDER BY {compiler.order_by(query)} LIMIT ? OFFSET ?"
        )
        return Sql(sql, (*where.params, limit + 1, query.offset))

    def _search_rows(self, tx: Tx, query: Query, limit: int) -> tuple[Sql, list[tuple[Any, ...]]]:
        """The statement that gave the page's rows (``limit + 1`` at most), and the rows: from
        a walk of the sort index where the database cannot choose that plan (see ``_plan``),
        else from the plain search."""
        compiler, where = self._compiled(tx, query)
        walk = SortIndexWalk.plan(compiler, self.meta_table, query, limit)
        found = None if walk is None else walk.run(tx)
        if found is not None:
            return found
        sql = self._search_sql(compiler, where, query, limit)
        return sql, tx.all(sql.text, sql.params)

    def search(self, query: Query) -> Page[ResourceMeta]:
        limit = DEFAULT_LIMIT if query.limit is None else max(query.limit, 0)
        with self._backend.read(snapshot=_needs_snapshot(query)) as tx:
            _, rows = self._search_rows(tx, query, limit)
        metas = [self._rows.meta(r) for r in rows]
        items = metas[:limit]
        has_more = len(metas) > limit
        next_cursor = encode_cursor(query, items[-1]) if has_more and items else None
        return Page[ResourceMeta](items=items, next_cursor=next_cursor, has_more=has_more)

    def count(self, query: Query) -> int:
        with self._backend.read(snapshot=_needs_snapshot(query)) as tx:
            _, where = self._compiled(tx, query.replace(cursor=None))
            row = tx.one(f"SELECT count(*) FROM {self.meta_table} WHERE {where.text}", where.params)
        assert row is not None
        return int(row[0])

    def explain(self, query: Query) -> list[str]:
        """The database's plan for the statement that answers :meth:`search` of a resolved
        query (a walk of the sort index or the plain query), one line per step."""
        limit = DEFAULT_LIMIT if query.limit is None else max(query.limit, 0)
        with self._backend.read(snapshot=True) as tx:
            sql, _ = self._search_rows(tx, query, limit)
            return self._backend.explain(tx, sql.text, sql.params)

    def analyze(self) -> None:
        """Refresh the planner's statistics of the meta table (after bulk loads)."""
        with self._backend.read() as tx:
            self._backend.analyze(tx, self.meta_table)

    # -- writes -------------------------------------------------------------------------------

    def commit(self, write: Write) -> CommitResult:
        return self._write(lambda tx: self._apply(tx, write), write)

    def commit_many(self, writes: Sequence[Write]) -> list[CommitResult]:
        """Apply several writes in one transaction: all of them, or none when one fails.

        Each write has the semantics of :meth:`commit` and sees the writes before it. Useful
        for bulk loads (one transaction instead of one per resource).
        """
        return self._write(lambda tx: [self._apply(tx, w) for w in writes], None)

    def _write(self, body: Callable[[Tx], T], write: Write | None) -> T:
        """Run ``body`` in a write transaction. When a unique index reports a race the
        transaction is retried, so the unique check in ``body`` names the committed holder."""
        self._ready()
        for _ in range(_ATTEMPTS):
            try:
                with self._backend.write() as tx:
                    return body(tx)
            except Violation as exc:
                last = exc
        if last.column is None:
            if write is not None and write.expected_revision_id is None:
                raise AlreadyExistsError(write.resource_id)
            raise ConflictError("a concurrent write created the same resource or revision")
        path = path_of(self._ready(), last.column)
        raise UniqueConstraintError(path, None, None)

    def _apply(self, tx: Tx, write: Write) -> CommitResult:
        rid = write.resource_id
        check_texts(write)
        indexed: dict[str, Any] | None = None
        index_columns: dict[str, Any] | None = None
        if write.indexed_data is not None:
            index_columns = self._rows.index_values(self._ready(), write.indexed_data)
            indexed = self._rows.normalize(write.indexed_data)
        old = self._load_meta(tx, rid, lock=True)
        write.check(old)
        now = to_utc(write.time)
        changes: dict[str, Any] = {}
        new_info: RevisionInfo | None = None
        if write.append is not None:
            seq = (old.revision_seq if old else 0) + 1
            new_info = RevisionInfo(
                resource_id=rid,
                revision_id=f"{rid}:{seq}",
                parent_revision_id=write.expected_revision_id,
                schema_version=write.append.schema_version,
                data_hash=write.append.data_hash,
                status=write.append.status,
                created_time=now,
                created_by=write.user,
                updated_time=now,
                updated_by=write.user,
            )
            self._insert_revision(tx, seq, new_info, write.append.data)
            changes.update(
                current_revision_id=new_info.revision_id,
                revision_seq=seq,
                total_revision_count=(old.total_revision_count if old else 0) + 1,
                schema_version=write.append.schema_version,
            )
        if write.rewrite is not None:
            assert old is not None
            seq_now = revision_seq(rid, old.current_revision_id)
            current = None if seq_now is None else self._load_info(tx, rid, seq_now)
            if seq_now is None or current is None:
                raise StorageError(f"{rid!r}: the current revision is missing")
            if current.status != RevisionStatus.draft:
                raise RevisionNotDraftError(rid, current.revision_id)
            new_info = msgspec.structs.replace(
                current,
                data_hash=write.rewrite.data_hash,
                schema_version=write.rewrite.schema_version,
                status=write.rewrite.status,
                updated_time=now,
                updated_by=write.user,
            )
            self._rewrite_revision(tx, seq_now, new_info, write.rewrite.data)
            changes["schema_version"] = write.rewrite.schema_version
        if write.switch_to is not None:
            seq_to = revision_seq(rid, write.switch_to)
            target = None if seq_to is None else self._load_info(tx, rid, seq_to)
            if target is None:
                raise NotFoundError(
                    f"revision {write.switch_to!r} of {rid!r} does not exist",
                    resource_id=rid,
                    revision_id=write.switch_to,
                )
            changes["current_revision_id"] = write.switch_to
            changes["schema_version"] = target.schema_version
        if write.is_deleted is not None:
            changes["is_deleted"] = write.is_deleted
        if indexed is not None:
            changes["indexed_data"] = indexed
        if write.schema_version is not msgspec.UNSET:
            changes["schema_version"] = write.schema_version
        if write.touch:
            changes.update(updated_time=now, updated_by=write.user)

        if old is None:
            meta = ResourceMeta(
                resource_id=rid,
                created_time=now,
                created_by=write.user,
                updated_time=now,
                updated_by=write.user,
                current_revision_id=changes.pop("current_revision_id"),
                schema_version=changes.pop("schema_version"),
                total_revision_count=changes.pop("total_revision_count"),
                revision_seq=changes.pop("revision_seq"),
            )
            meta = msgspec.structs.replace(meta, **changes)
        else:
            meta = msgspec.structs.replace(old, **changes)
        if old is None and index_columns is None:
            index_columns = self._rows.index_values(self._ready(), meta.indexed_data)
        self._check_unique(tx, meta)
        self._store_meta(tx, meta, index_columns, old)
        return CommitResult(meta, new_info)

    def _insert_revision(self, tx: Tx, seq: int, info: RevisionInfo, data: bytes) -> None:
        enc = self._backend.encode_time
        tx.run(
            f"INSERT INTO {self.revision_table} (resource_id, seq, parent_revision_id, "
            "schema_version, data_hash, status, created_time, created_by, updated_time, "
            "updated_by, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                info.resource_id,
                seq,
                info.parent_revision_id,
                info.schema_version,
                info.data_hash,
                info.status.value,
                enc(info.created_time),
                info.created_by,
                enc(info.updated_time),
                info.updated_by,
                data,
            ),
        )

    def _rewrite_revision(self, tx: Tx, seq: int, info: RevisionInfo, data: bytes) -> None:
        tx.run(
            f"UPDATE {self.revision_table} SET schema_version = ?, data_hash = ?, status = ?, "
            "updated_time = ?, updated_by = ?, data = ? WHERE resource_id = ? AND seq = ?",
            (
                info.schema_version,
                info.data_hash,
                info.status.value,
                self._backend.encode_time(info.updated_time),
                info.updated_by,
                data,
                info.resource_id,
                seq,
            ),
        )

    def _check_unique(self, tx: Tx, meta: ResourceMeta) -> None:
        """Raise when a unique value of ``meta`` is held by another non-deleted resource."""
        if meta.is_deleted:
            return
        dialect = self._backend.dialect
        for column in self._ready().values():
            value = meta.indexed_data.get(column.field.path)
            if not column.field.unique or value is None:
                continue
            row = tx.one(
                f"SELECT resource_id FROM {self.meta_table} WHERE {ident(column.value)} = ? "
                f"AND is_deleted = {dialect.false} AND resource_id <> ? LIMIT 1",
                (dialect.encode(column.field.kind, value), meta.resource_id),
            )
            if row is not None:
                raise UniqueConstraintError(column.field.path, value, row[0])

    def _store_meta(
        self,
        tx: Tx,
        meta: ResourceMeta,
        index_columns: dict[str, Any] | None,
        old: ResourceMeta | None,
    ) -> None:
        """Insert the meta row, or update it on the condition that it still names the revision
        read at the start of the transaction (the compare-and-swap, checked again by the
        database even though the row is locked)."""
        values: dict[str, Any] = self._rows.meta_values(meta)
        if index_columns is not None:
            values.update(index_columns)
        names = list(values)
        if old is None:
            marks = ", ".join("?" * len(names))
            tx.run(
                f"INSERT INTO {self.meta_table} ({', '.join(ident(n) for n in names)}) "
                f"VALUES ({marks})",
                list(values.values()),
            )
            return
        names.remove("resource_id")
        sets = ", ".join(f"{ident(n)} = ?" for n in names)
        changed = tx.run(
            f"UPDATE {self.meta_table} SET {sets} "
            "WHERE resource_id = ? AND current_revision_id = ?",
            [*(values[n] for n in names), meta.resource_id, old.current_revision_id],
        )
        if changed != 1:
            raise PreconditionFailedError(meta.resource_id, old.current_revision_id, None)

    def purge(self, resource_id: str, expected_revision_id: str) -> ResourceMeta:
        def body(tx: Tx) -> ResourceMeta:
            old = self._load_meta(tx, resource_id, lock=True) if _storable_id(resource_id) else None
            if old is None:
                raise NotFoundError(
                    f"resource {resource_id!r} does not exist", resource_id=resource_id
                )
            if old.current_revision_id != expected_revision_id:
                raise PreconditionFailedError(
                    resource_id, expected_revision_id, old.current_revision_id
                )
            tx.run(f"DELETE FROM {self.revision_table} WHERE resource_id = ?", (resource_id,))
            tx.run(f"DELETE FROM {self.meta_table} WHERE resource_id = ?", (resource_id,))
            return old

        return self._write(body, None)

    def prune(self, resource_id: str, revision_ids: Sequence[str]) -> int:
        def body(tx: Tx) -> int:
            meta = (
                self._load_meta(tx, resource_id, lock=True) if _storable_id(resource_id) else None
            )
            if meta is None:
                raise NotFoundError(
                    f"resource {resource_id!r} does not exist", resource_id=resource_id
                )
            if meta.current_revision_id in revision_ids:
                raise ConflictError(
                    f"revision {meta.current_revision_id!r} is current and cannot be pruned"
                )
            seqs = sorted({s for r in revision_ids if (s := revision_seq(resource_id, r))})
            removed = 0
            for chunk in iter_chunks(seqs, 500):
                marks = ", ".join("?" * len(chunk))
                removed += tx.run(
                    f"DELETE FROM {self.revision_table} WHERE resource_id = ? AND seq IN ({marks})",
                    (resource_id, *chunk),
                )
            if removed:
                tx.run(
                    f"UPDATE {self.meta_table} SET total_revision_count = ? WHERE resource_id = ?",
                    (meta.total_revision_count - removed, resource_id),
                )
            return removed

        return self._write(body, None)


def _storable_id(resource_id: str) -> bool:
    """Whether a stored row could have this id (no stored text holds NUL or surrogates)."""
    return isinstance(resource_id, str) and text_problem(resource_id) is None


def _needs_snapshot(query: Query) -> bool:
    """Whether reading ``query`` takes more than one statement: a ``regex`` condition makes the
    backend look at the column's values before the search (PostgreSQL), and both statements must
    see the same rows. Any other search or count is a single ``SELECT``, already consistent on
    its own, so it runs without the extra transaction (``BEGIN``, ``SET TRANSACTION``,
    ``COMMIT``: three round trips more on PostgreSQL)."""

    def has_regex(node: Expr | None) -> bool:
        if isinstance(node, Condition):
            return node.op is Op.regex
        if isinstance(node, Not):
            return has_regex(node.item)
        if isinstance(node, And | Or):
            return any(has_regex(item) for item in node.items)
        return False

    return has_regex(query.where)

"""The write transactions of the SQL storage: commit, purge and prune of one resource type.

Every write is one transaction that only reads and persists; what it means is
:meth:`~specstar.core.commits.Write.apply`, shared with every other adapter:

* a create inserts the revision and the meta row, nothing else: the primary keys refuse an
  existing resource;
* any other write reads the meta row (locked, joined with the one revision the write needs),
  applies the write, inserts or rewrites the revision and updates the meta row on the condition
  that it still names the revision read (compare-and-swap).

``Unique`` values are enforced by partial unique indexes over non-deleted rows; only when one
refuses a write is the holder looked up (after the rollback), so the error names it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from specstar.core import (
    AlreadyExistsError,
    ConflictError,
    PreconditionFailedError,
    ResourceMeta,
    RevisionInfo,
    StorageError,
    StorageUnavailableError,
    UniqueConstraintError,
    WriteOutcomeUnknownError,
)
from specstar.core.spi import (
    AppliedWrite,
    CommitResult,
    Write,
    check_prune,
    check_purge,
    new_payload_key,
)

from ._adoption import holder_of
from ._backend import Backend, Tx, Violation
from ._layout import IndexColumn, ident, revision_seq, to_utc
from ._registry import path_of
from ._revisions import RevisionTable, storable_id
from ._rows import META_SELECT, META_WIDTH, REV_INFO_SELECT, Rows, check_texts, qualified

__all__ = ["Commits"]

T = TypeVar("T")
_ATTEMPTS = 3


class Commits:
    """The write transactions on the tables of one resource type (``SQLStorage`` delegates
    :meth:`commit`, :meth:`purge` and :meth:`prune` here)."""

    def __init__(
        self,
        backend: Backend,
        meta_table: str,
        revs: RevisionTable,
        rows: Rows,
        *,
        ready: Callable[[], dict[str, IndexColumn]],
        get_meta: Callable[[str], ResourceMeta | None],
    ) -> None:
        self._backend = backend
        self.meta_table = meta_table
        self.revision_table = revs.table
        self._revs = revs
        self._rows = rows
        self._ready = ready
        self.get_meta = get_meta

    def commit(self, write: Write) -> CommitResult:
        """Apply one write in one transaction (see the module docstring for its statements).

        With a payload store the new data is put there first, under a fresh key; when the
        transaction is refused the payload is deleted again (when its outcome is unknown — a
        lost connection — it stays, at worst an orphan).
        """
        columns = self._ready()
        check_texts(write)
        changes: dict[str, Any] = {"time": to_utc(write.time)}
        index_columns: dict[str, Any] | None = None
        if write.indexed_data is not None:
            index_columns = self._rows.index_values(columns, write.indexed_data)
            changes["indexed_data"], index_columns["indexed_data"] = self._rows.normalize(
                write.indexed_data
            )
        write = msgspec.structs.replace(write, **changes)
        part = write.append or write.rewrite or write.adopt
        key = None
        if part is not None and self._revs.payloads is not None:
            key = new_payload_key(part.data)
            self._revs.put_payload(write.resource_id, key, part.data)
        try:
            return self._write(write, lambda tx: self._apply(tx, write, index_columns, key))
        except StorageError:
            raise
        except Exception:
            if key is not None:
                self._revs.drop_payloads([(write.resource_id, key)])
            raise

    def _write(self, write: Write | None, body: Callable[[Tx], T]) -> T:
        """Run ``body`` in a write transaction. When a unique index refuses it, look up the
        holder (after the rollback) to name it; when the holder is gone by then, try again.
        A transaction whose connection was lost before ``COMMIT`` runs once more."""
        self._ready()
        column: str | None = None
        for attempt in range(_ATTEMPTS):
            try:
                with self._backend.write() as tx:
                    return body(tx)
            except StorageUnavailableError as exc:
                # the connection was lost before COMMIT: nothing was applied, try once more
                # (not when the outcome is unknown: the write may have happened)
                if isinstance(exc, WriteOutcomeUnknownError) or attempt > 0:
                    raise
            except _Refused as refused:
                column = refused.column
                self._explain_refusal(write, refused)
            except Violation as exc:
                column = exc.column
                if column is None:
                    break
        if column is None:
            if write is not None and write.expected_revision_id is None:
                raise AlreadyExistsError(write.resource_id)
            raise ConflictError("a concurrent write created the same resource or revision")
        raise UniqueConstraintError(path_of(self._ready(), column), None, None)

    def _explain_refusal(self, write: Write | None, refused: _Refused) -> None:
        """Raise the error a refused write deserves, or return to retry it."""
        meta = refused.meta
        creating = write is not None and write.expected_revision_id is None
        if creating and self.get_meta(meta.resource_id) is not None:
            raise AlreadyExistsError(meta.resource_id)
        if refused.column is None:
            if creating:
                return  # the resource was purged again meanwhile: retry the create
            raise ConflictError("a concurrent write created the same resource or revision")
        path = path_of(self._ready(), refused.column)
        value = meta.indexed_data.get(path)
        with self._backend.read() as tx:
            holder = holder_of(
                tx,
                self._backend,
                self.meta_table,
                self._ready()[path],
                value=value,
                rid=meta.resource_id,
            )
        if holder is not None:
            raise UniqueConstraintError(path, value, holder)

    def _locked(
        self, tx: Tx, resource_id: str, revision_id: str | None = None
    ) -> tuple[ResourceMeta | None, RevisionInfo | None]:
        """The meta row, locked for the transaction, and the info of ``revision_id`` when
        given (joined in the same statement where the whole transaction is serialized).

        With row locks (PostgreSQL, read committed) a statement that waited for the lock
        re-reads only the locked row: a joined revision row would be the one from before the
        wait, and a draft rewritten meanwhile would go unnoticed. There the revision is read
        in a second statement, after the lock is held.
        """
        if not storable_id(resource_id):
            return None, None
        seq = None if revision_id is None else revision_seq(resource_id, revision_id)
        lock = self._backend.lock_clause
        if seq is None or lock:
            row = tx.one(
                f"SELECT {qualified(META_SELECT, 'm')} FROM {self.meta_table} m "
                f"WHERE m.resource_id = ?{lock}",
                (resource_id,),
            )
            if row is None:
                return None, None
            meta = self._rows.meta(row)
            if revision_id is None or seq is None:
                return meta, None
            return meta, self._revs.info(tx, resource_id, revision_id)
        row = tx.one(
            f"SELECT {qualified(META_SELECT, 'm')}, {qualified(REV_INFO_SELECT, 'r')} "
            f"FROM {self.meta_table} m "
            f"LEFT JOIN {self.revision_table} r ON r.resource_id = m.resource_id AND r.seq = ? "
            f"WHERE m.resource_id = ?{lock}",
            (seq, resource_id),
        )
        if row is None:
            return None, None
        meta = self._rows.meta(row[:META_WIDTH])
        info = None if row[META_WIDTH] is None else self._rows.revision(row[META_WIDTH:])
        return meta, info

    def _apply(
        self, tx: Tx, write: Write, index_columns: dict[str, Any] | None, key: str | None
    ) -> CommitResult:
        if write.expected_revision_id is None:  # a create: the primary keys refuse duplicates
            old, target = None, None
        else:
            old, target = self._locked(tx, write.resource_id, write.revision_to_read)
        applied = write.apply(old, target)
        if old is None and index_columns is None:
            index_columns = self._rows.index_values(self._ready(), applied.meta.indexed_data)
        try:
            self._persist(tx, applied, index_columns, old, key)
        except Violation as exc:
            raise _Refused(exc.column, applied.meta) from exc
        return applied.result()

    def _persist(
        self,
        tx: Tx,
        applied: AppliedWrite,
        index_columns: dict[str, Any] | None,
        old: ResourceMeta | None,
        key: str | None,
    ) -> None:
        if applied.revision is not None:
            assert applied.data is not None
            store = self._revs.insert if applied.appended else self._revs.rewrite
            store(tx, applied.revision, applied.data, key)
        self._store_meta(tx, applied.meta, index_columns, old)

    def _store_meta(
        self,
        tx: Tx,
        meta: ResourceMeta,
        index_columns: dict[str, Any] | None,
        old: ResourceMeta | None,
    ) -> None:
        """Insert the meta row, or update it on the condition that it still names the revision
        read at the start of the transaction (the compare-and-swap, checked again by the
        database even though the row is locked).

        ``index_columns`` may hold the ``indexed_data`` column already encoded, next to the
        ``ix_<n>``/``p_<n>`` columns: it is then written as it is, not encoded again.
        """
        blob = None if index_columns is None else index_columns.get("indexed_data")
        values: dict[str, Any] = self._rows.meta_values(meta, blob)
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
        keys: list[str] = []

        def body(tx: Tx) -> ResourceMeta:
            old = check_purge(self._locked(tx, resource_id)[0], resource_id, expected_revision_id)
            keys.extend(self._revs.delete(tx, resource_id, None)[1])
            tx.run(f"DELETE FROM {self.meta_table} WHERE resource_id = ?", (resource_id,))
            return old

        last = self._write(None, body)
        self._revs.drop_payloads((resource_id, k) for k in keys)
        return last

    def prune(self, resource_id: str, revision_ids: Sequence[str]) -> int:
        keys: list[str] = []

        def body(tx: Tx) -> int:
            meta = check_prune(self._locked(tx, resource_id)[0], resource_id, revision_ids)
            seqs = sorted({s for r in revision_ids if (s := revision_seq(resource_id, r))})
            removed, dropped = self._revs.delete(tx, resource_id, seqs) if seqs else (0, [])
            keys.extend(dropped)
            if removed:
                tx.run(
                    f"UPDATE {self.meta_table} SET total_revision_count = ? WHERE resource_id = ?",
                    (meta.total_revision_count - removed, resource_id),
                )
            return removed

        removed = self._write(None, body)
        self._revs.drop_payloads((resource_id, k) for k in keys)
        return removed


class _Refused(Exception):
    """A constraint refused the rows of an applied write (raised inside the transaction, so it
    rolls back; the holder is looked up afterwards)."""

    def __init__(self, column: str | None, meta: ResourceMeta) -> None:
        super().__init__(column or "primary key")
        self.column = column
        self.meta = meta

"""Adopting whole resources (a backup load) in one transaction.

:meth:`SQLStorage.adopt_resources` stores a batch of resources — every revision row, the meta
row with its indexed columns, and so the unique claims (the partial unique indexes over the
meta rows) — in one write transaction:

* first optimistically, with one ``INSERT`` per table run for every row of the whole batch
  (``executemany``: parsed once, the rows streamed; the resources a batch replaces are
  checked — compare-and-swap on the current revision, the row locked — and deleted first);
* when anything of it is refused (a ``Unique`` value held, a resource that exists, a stale
  ``replaces``), the transaction is rolled back and the batch runs again in a new one, each
  resource inside its own savepoint: a refused resource is rolled back to its savepoint and
  reported with the error a commit would raise, the others are stored.

A resource is thus always all or nothing, also when the process dies: the transaction
commits the old resource's removal together with the new one's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from specstar.core import (
    AlreadyExistsError,
    ConflictError,
    FieldError,
    PreconditionFailedError,
    ResourceMeta,
    SpecStarError,
    StorageUnavailableError,
    UniqueConstraintError,
    ValidationError,
    WriteOutcomeUnknownError,
)
from specstar.core.spi import Adoption, new_payload_key

from ._backend import Backend, Tx, Violation
from ._dialect import Sql
from ._layout import IndexColumn, ident, text_problem, to_utc
from ._registry import path_of
from ._revisions import REV_INSERT_COLUMNS, RevisionTable
from ._rows import Rows

__all__ = ["Adopter", "holder_of"]

_SAVEPOINT = "specstar_adopt"

Outcome = ResourceMeta | SpecStarError | ValueError


@dataclass
class _Ready:
    """One checked resource: its rows, and the payload keys put for them."""

    index: int
    adoption: Adoption
    meta: ResourceMeta
    values: dict[str, Any]
    revisions: list[tuple[Any, ...]]
    keys: list[str] = field(default_factory=list)


class Adopter:
    """The adopt statements of one resource type's tables."""

    def __init__(
        self,
        backend: Backend,
        meta_table: str,
        revs: RevisionTable,
        rows: Rows,
        columns: Callable[[], dict[str, IndexColumn]],
    ) -> None:
        self._backend = backend
        self._meta_table = meta_table
        self._revs = revs
        self._rows = rows
        self._columns = columns

    def run(self, adoptions: Sequence[Adoption]) -> list[Outcome]:
        """Store ``adoptions`` (see the module docstring); per resource the stored meta or
        the error that refused it."""
        out: list[Outcome | None] = [None] * len(adoptions)
        ready: list[_Ready] = []
        for i, a in enumerate(adoptions):
            try:
                ready.append(self._prepare(i, a))
            except (SpecStarError, ValueError) as exc:
                out[i] = exc
        put: list[tuple[str, str]] = []
        try:
            for r in ready:
                self._put_payloads(r, put)
            dropped = self._store(ready, out)
        except BaseException as exc:
            if not isinstance(exc, WriteOutcomeUnknownError):  # else they may be named now
                self._revs.drop_payloads(put)
            raise
        stored = {
            (r.adoption.resource_id, k) for r in ready if out[r.index] is r.meta for k in r.keys
        }
        self._revs.drop_payloads([*dropped, *(p for p in put if p not in stored)])
        return [o for o in out if o is not None]

    def _store(self, ready: list[_Ready], out: list[Outcome | None]) -> list[tuple[str, str]]:
        """The transaction(s); returns the payload keys of the revisions replaced."""
        if not ready:
            return []
        if len(ready) > 1:
            try:
                with self._backend.write() as tx:
                    dropped = self._all(tx, ready)
            except StorageUnavailableError:
                raise
            except (Violation, SpecStarError):
                pass  # one of them is refused: again, resource by resource
            else:
                for r in ready:
                    out[r.index] = r.meta
                return dropped
        dropped = []
        with self._backend.write() as tx:
            for r in ready:
                tx.run(f"SAVEPOINT {_SAVEPOINT}")
                try:
                    gone = self._all(tx, [r])
                except StorageUnavailableError:
                    raise
                except (Violation, SpecStarError) as exc:
                    tx.run(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                    out[r.index] = self._refusal(tx, r, exc)
                else:
                    out[r.index] = r.meta
                    dropped += gone
                tx.run(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        return dropped

    # -- inside the transaction ---------------------------------------------------------------

    def _all(self, tx: Tx, ready: Sequence[_Ready]) -> list[tuple[str, str]]:
        """Remove what the resources replace, then insert every revision and meta row."""
        dropped: list[tuple[str, str]] = []
        for r in ready:
            if r.adoption.replaces is not None:
                dropped += self._remove(tx, r.adoption.resource_id, r.adoption.replaces)
        _insert(tx, self._revs.table, REV_INSERT_COLUMNS, [v for r in ready for v in r.revisions])
        names = tuple(ready[0].values)
        _insert(
            tx,
            self._meta_table,
            tuple(ident(n) for n in names),
            [tuple(r.values[n] for n in names) for r in ready],
        )
        return dropped

    def _remove(self, tx: Tx, rid: str, replaces: ResourceMeta) -> list[tuple[str, str]]:
        """Delete the resource ``replaces`` read, locked, after a compare-and-swap on its
        current revision; returns the payload keys its revisions named."""
        expected = replaces.current_revision_id
        row = tx.one(
            f"SELECT m.current_revision_id FROM {self._meta_table} m "
            f"WHERE m.resource_id = ?{self._backend.lock_clause}",
            (rid,),
        )
        actual = None if row is None else str(row[0])
        if actual != expected:
            raise PreconditionFailedError(rid, expected, actual)
        keys = self._revs.delete(tx, rid, None)[1]
        tx.run(f"DELETE FROM {self._meta_table} WHERE resource_id = ?", (rid,))
        return [(rid, k) for k in keys]

    def _refusal(self, tx: Tx, r: _Ready, exc: Exception) -> SpecStarError:
        """The error a refused resource gets, as :meth:`SQLStorage.commit` would raise it."""
        if not isinstance(exc, Violation):
            assert isinstance(exc, SpecStarError)
            return exc
        rid = r.adoption.resource_id
        if exc.column is None:
            if r.adoption.replaces is None:
                return AlreadyExistsError(rid)
            return ConflictError("a concurrent write created the same resource or revision")
        columns = self._columns()
        path = path_of(columns, exc.column)
        value = r.meta.indexed_data.get(path)
        holder = holder_of(tx, self._backend, self._meta_table, columns[path], value=value, rid=rid)
        return UniqueConstraintError(path, value, holder)

    # -- before the transaction ---------------------------------------------------------------

    def _prepare(self, index: int, adoption: Adoption) -> _Ready:
        """The checks and rows of one resource (nothing stored)."""
        meta = adoption.stored_meta()
        _check_texts(adoption)
        indexed, blob = self._rows.normalize(adoption.indexed_data)
        meta = msgspec.structs.replace(
            meta,
            indexed_data=indexed,
            created_time=to_utc(meta.created_time),
            updated_time=to_utc(meta.updated_time),
        )
        values = self._rows.meta_values(meta, blob)
        values.update(self._rows.index_values(self._columns(), indexed))
        revisions = [self._revs.row(s.info, s.data, None) for s in adoption.revisions]
        return _Ready(index, adoption, meta, values, revisions)

    def _put_payloads(self, r: _Ready, put: list[tuple[str, str]]) -> None:
        """With a payload store, the revisions' data goes there first, under fresh keys."""
        if self._revs.payloads is None:
            return
        rid = r.adoption.resource_id
        for i, s in enumerate(r.adoption.revisions):
            key = new_payload_key(s.data)
            self._revs.put_payload(rid, key, s.data)
            put.append((rid, key))
            r.keys.append(key)
            r.revisions[i] = self._revs.row(s.info, s.data, key)


def holder_of(
    tx: Tx, backend: Backend, meta_table: str, column: IndexColumn, *, value: Any, rid: str
) -> str | None:
    """Which other non-deleted resource holds ``value`` in a unique column, if any."""
    dialect = backend.dialect
    encoded = dialect.encode(column.field.kind, value)
    test = Sql(f"{ident(column.value)} = ?", (encoded,))
    if dialect.index_prefix is not None and column.field.kind == "str":  # see Dialect
        key = Sql(
            f"{dialect.index_key(ident(column.value))} = ?", (encoded[: dialect.index_prefix],)
        )
        test = key + Sql(" AND ") + test
    row = tx.one(
        f"SELECT resource_id FROM {meta_table} WHERE {test.text} "
        f"AND is_deleted = {dialect.false} AND resource_id <> ? LIMIT 1",
        (*test.params, rid),
    )
    return None if row is None else str(row[0])


def _insert(tx: Tx, table: str, names: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """One ``INSERT`` statement run for every row (``executemany``)."""
    if rows:
        marks = ", ".join("?" * len(names))
        tx.many(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)


def _check_texts(adoption: Adoption) -> None:
    """Raise ValidationError when a text of the resource cannot be stored (NUL, surrogates)."""
    m = adoption.meta
    texts: list[tuple[str, Any]] = [
        ("resource_id", m.resource_id),
        ("created_by", m.created_by),
        ("updated_by", m.updated_by),
        ("schema_version", m.schema_version),
    ]
    for s in adoption.revisions:
        i = s.info
        texts += [
            ("revision.schema_version", i.schema_version),
            ("revision.parent_revision_id", i.parent_revision_id),
            ("revision.created_by", i.created_by),
            ("revision.updated_by", i.updated_by),
            ("revision.data_hash", i.data_hash),
        ]
    for name, value in texts:
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            raise ValidationError(f"{name}: {problem}", [FieldError(name, problem)])

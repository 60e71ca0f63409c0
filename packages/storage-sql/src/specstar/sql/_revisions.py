"""The revision table of one resource type, and where revision data lives.

Each revision is a row of ``<base>_rev`` keyed by ``(resource_id, seq)``: its information and,
by default, its data (``data``). With a :class:`~specstar.core.payloads.PayloadStore` the row
keeps ``payload_key`` instead (and empty ``data``): the bytes are put in the payload store under
a fresh key *before* the transaction that inserts the row, so a committed row always names
stored bytes and a crash in between leaves at most an orphan payload.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

from specstar.core import PayloadStore, RevisionInfo, StorageError
from specstar.core.spi import StoredRevision

from ._backend import Backend, Tx, iter_chunks
from ._layout import revision_seq, text_problem
from ._rows import REV_INFO_SELECT, Rows

__all__ = ["REV_INSERT_COLUMNS", "REV_SELECT", "RevisionTable", "storable_id"]

#: A revision's information, data and payload key (``REV_INFO_SELECT`` plus two columns).
REV_SELECT = f"{REV_INFO_SELECT}, data, payload_key"
#: The columns of a revision row as :meth:`RevisionTable.row` gives their values.
REV_INSERT_COLUMNS = (
    "resource_id",
    "seq",
    "parent_revision_id",
    "schema_version",
    "data_hash",
    "status",
    "created_time",
    "created_by",
    "updated_time",
    "updated_by",
    "data",
    "payload_key",
)
#: Pairs per batched statement (two parameters each, within every driver's limits).
_BATCH = 400


def storable_id(resource_id: str) -> bool:
    """Whether a stored row could have this id (no stored text holds NUL or surrogates)."""
    return isinstance(resource_id, str) and text_problem(resource_id) is None


class RevisionTable:
    """Reads and writes of one ``<base>_rev`` table (and its payload store, if any)."""

    def __init__(
        self, backend: Backend, table: str, rows: Rows, payloads: PayloadStore | None
    ) -> None:
        self._backend = backend
        self.table = table
        self._rows = rows
        self.payloads = payloads

    # -- reading ------------------------------------------------------------------------------

    def select(self, alias: str) -> str:
        """``REV_SELECT`` with every column qualified by ``alias``."""
        return ", ".join(f"{alias}.{c.strip()}" for c in REV_SELECT.split(","))

    def stored(self, row: tuple[Any, ...]) -> StoredRevision | None:
        """A ``REV_SELECT`` row as a stored revision (fetching an external payload); ``None``
        when its payload is gone — deleted by a prune or purge that committed after the row
        was read (the caller re-reads)."""
        info = self._rows.revision(row)
        return self.resolve([(info, row[10], row[11])])[0]

    def resolve(
        self, rows: Sequence[tuple[RevisionInfo, Any, str | None]]
    ) -> list[StoredRevision | None]:
        """``(info, data column, payload key)`` triples as stored revisions; the external
        payloads among them are fetched in one ``get_many`` (``None`` where one is gone)."""
        external = [(info.resource_id, key) for info, _, key in rows if key is not None]
        fetched = iter(self.payloads.get_many(external) if external and self.payloads else [])
        out: list[StoredRevision | None] = []
        for info, data, key in rows:
            if key is None:
                out.append(StoredRevision(info, self._backend.decode_blob(data)))
                continue
            payload = next(fetched, None)
            out.append(None if payload is None else StoredRevision(info, payload))
        return out

    def confirm_gone(self, tx: Tx, resource_id: str, revision_id: str) -> None:
        """After a payload was missing: raise unless the revision row is gone too."""
        if self.info(tx, resource_id, revision_id) is not None:
            raise StorageError(f"the payload of revision {revision_id!r} is missing")

    def get(self, tx: Tx, resource_id: str, revision_id: str) -> StoredRevision | None:
        seq = _stored_seq(resource_id, revision_id)
        if seq is None:
            return None
        row = tx.one(
            f"SELECT {REV_SELECT} FROM {self.table} WHERE resource_id = ? AND seq = ?",
            (resource_id, seq),
        )
        if row is None:
            return None
        stored = self.stored(row)
        if stored is None:
            self.confirm_gone(tx, resource_id, revision_id)
        return stored

    def get_many(self, tx: Tx, refs: Sequence[tuple[str, str]]) -> list[StoredRevision | None]:
        """The revisions of ``refs`` in order, one statement per :data:`_BATCH` pairs."""
        wanted = sorted(
            {(rid, seq) for rid, rev_id in refs if (seq := _stored_seq(rid, rev_id)) is not None}
        )
        found: dict[tuple[str, int], tuple[RevisionInfo, Any, str | None]] = {}
        for chunk in iter_chunks(wanted, _BATCH):
            where = " OR ".join(["(resource_id = ? AND seq = ?)"] * len(chunk))
            params = [value for pair in chunk for value in pair]
            for row in tx.all(f"SELECT {REV_SELECT} FROM {self.table} WHERE {where}", params):
                found[(row[0], int(row[1]))] = (self._rows.revision(row), row[10], row[11])
        keys = list(found)
        stored = dict(zip(keys, self.resolve([found[k] for k in keys]), strict=True))
        out: list[StoredRevision | None] = []
        for rid, rev_id in refs:
            seq = _stored_seq(rid, rev_id)
            key = None if seq is None else (rid, seq)
            rev = None if key is None else stored.get(key)
            if rev is None and key is not None and key in found:
                self.confirm_gone(tx, rid, rev_id)
            out.append(rev)
        return out

    def info(self, tx: Tx, resource_id: str, revision_id: str) -> RevisionInfo | None:
        seq = _stored_seq(resource_id, revision_id)
        if seq is None:
            return None
        row = tx.one(
            f"SELECT {REV_INFO_SELECT} FROM {self.table} WHERE resource_id = ? AND seq = ?",
            (resource_id, seq),
        )
        return None if row is None else self._rows.revision(row)

    # -- writing (inside a write transaction) ------------------------------------------------

    def put_payload(self, resource_id: str, key: str | None, data: bytes | None) -> None:
        """Store an external payload before the transaction that names it."""
        if key is not None and self.payloads is not None and data is not None:
            self.payloads.put(resource_id, key, data)

    def drop_payloads(self, refs: Iterable[tuple[str, str]]) -> None:
        """Delete payloads no committed row names any more (best effort: what is left is an
        orphan for :meth:`SQLStorage.collect_orphan_payloads`)."""
        if self.payloads is None:
            return
        for rid, key in refs:
            with contextlib.suppress(Exception):  # an orphan is harmless and collected later
                self.payloads.delete(rid, key)

    def row(self, info: RevisionInfo, data: bytes, key: str | None) -> tuple[Any, ...]:
        """The values of a revision row, in the order of :data:`REV_INSERT_COLUMNS`."""
        enc = self._backend.encode_time
        return (
            info.resource_id,
            _seq(info),
            info.parent_revision_id,
            info.schema_version,
            info.data_hash,
            info.status.value,
            enc(info.created_time),
            info.created_by,
            enc(info.updated_time),
            info.updated_by,
            b"" if key is not None else data,
            key,
        )

    def insert(self, tx: Tx, info: RevisionInfo, data: bytes, key: str | None) -> None:
        marks = ", ".join("?" * len(REV_INSERT_COLUMNS))
        tx.run(
            f"INSERT INTO {self.table} ({', '.join(REV_INSERT_COLUMNS)}) VALUES ({marks})",
            self.row(info, data, key),
        )

    def rewrite(self, tx: Tx, info: RevisionInfo, data: bytes, key: str | None) -> None:
        tx.run(
            f"UPDATE {self.table} SET schema_version = ?, data_hash = ?, status = ?, "
            "updated_time = ?, updated_by = ?, data = ?, payload_key = ? "
            "WHERE resource_id = ? AND seq = ?",
            (
                info.schema_version,
                info.data_hash,
                info.status.value,
                self._backend.encode_time(info.updated_time),
                info.updated_by,
                b"" if key is not None else data,
                key,
                info.resource_id,
                _seq(info),
            ),
        )

    def delete(self, tx: Tx, resource_id: str, seqs: Sequence[int] | None) -> tuple[int, list[str]]:
        """Delete revisions of a resource (all of them when ``seqs`` is ``None``); returns how
        many went and the payload keys they named."""
        where, params = "resource_id = ?", [resource_id]
        chunks: Iterable[Sequence[int]] = [()] if seqs is None else iter_chunks(seqs, _BATCH)
        removed, keys = 0, []
        for chunk in chunks:
            cond = where
            if seqs is not None:
                cond += f" AND seq IN ({', '.join('?' * len(chunk))})"
            sql = f"DELETE FROM {self.table} WHERE {cond}"
            if self.payloads is None:
                removed += tx.run(sql, (*params, *chunk))
                continue
            rows = tx.all(sql + " RETURNING payload_key", (*params, *chunk))
            removed += len(rows)
            keys += [str(r[0]) for r in rows if r[0] is not None]
        return removed, keys

    def referenced(self, tx: Tx, refs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(resource_id, payload_key)`` pairs a revision row names."""
        out: set[tuple[str, str]] = set()
        for chunk in iter_chunks(list(refs), _BATCH):
            where = " OR ".join(["(resource_id = ? AND payload_key = ?)"] * len(chunk))
            params = [value for pair in chunk for value in pair]
            rows = tx.all(
                f"SELECT resource_id, payload_key FROM {self.table} WHERE {where}", params
            )
            out.update((str(r[0]), str(r[1])) for r in rows)
        return out


def _seq(info: RevisionInfo) -> int:
    seq = revision_seq(info.resource_id, info.revision_id)
    if seq is None:
        raise StorageError(f"malformed revision id {info.revision_id!r}")
    return seq


def _stored_seq(resource_id: str, revision_id: str) -> int | None:
    """The ``seq`` column of a revision id, or ``None`` when no row can have it (a malformed
    revision id, or a resource id the tables cannot hold)."""
    if not storable_id(resource_id):
        return None
    return revision_seq(resource_id, revision_id)

"""Dumping managers into an archive, streamed: one page of resources in memory at a time.

:func:`dump` writes, per model, every resource the model's query selects (soft-deleted ones
included unless a :class:`~specstar.core.query.ast.Query` says otherwise) with all its
revisions, and the blobs their data refer to. Resources are read a search page at a time
(at most the manager's ``max_limit``): their histories in one batched read, then all their
revisions in another, so a dump sends a few statements per page, not per resource. Reading
runs as the ``dump`` action, so a permission checker decides who may back up what, and its
access scope limits the rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

import msgspec
from msgspec import UNSET, UnsetType

from ..actions import Action
from ..binary import find_binaries
from ..errors import StorageError
from ..manager import ResourceManager
from ..ports import StoredRevision
from ..query.ast import Expr, Query, QueryBuilder
from ..types import ResourceMeta
from .format import (
    CHUNK_SIZE,
    FORMAT_VERSION,
    MAGIC,
    ArchivedMeta,
    ArchivedRevision,
    BlobChunk,
    BlobStart,
    Frame,
    Header,
    ModelEnd,
    ModelStart,
    Resource,
    Trailer,
    encode_frame,
)
from .progress import Progress, ProgressCallback

__all__ = ["DumpStats", "ModelQuery", "dump"]

#: What selects the resources of one model: ``None`` (all, deleted included), a filter
#: expression or builder (deleted included), or a full :class:`Query` (its ``is_deleted``
#: applies; its limit is the page size of the scan, never a cap).
ModelQuery = Query | QueryBuilder | Expr | None

_READ_ATTEMPTS = 5


class DumpStats(msgspec.Struct, kw_only=True):
    """What was written for one model."""

    resources: int = 0
    revisions: int = 0
    blobs: int = 0


class _Writer:
    """Frames to a binary stream, with the chained CRC, the counts and the bytes written."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.crc = 0
        self.frames = 0
        self.bytes = 0
        out.write(MAGIC)
        self.bytes += len(MAGIC)

    def write(self, frame: Frame) -> None:
        data, self.crc = encode_frame(frame, self.crc)
        self.out.write(data)
        self.bytes += len(data)
        self.frames += 1


def order_models(managers: Sequence[ResourceManager[Any]]) -> list[ResourceManager[Any]]:
    """``managers`` with the targets of references before their referrers (where the
    references allow it: a cycle keeps the given order), so a load checks each reference
    against resources loaded already."""
    names = {m.name for m in managers}
    done: list[ResourceManager[Any]] = []
    placed: set[str] = set()
    pending = list(managers)
    while pending:
        for m in pending:
            targets = {r.target for r in m.refs} & names - {m.name}
            if targets <= placed:
                break
        else:
            m = pending[0]  # a cycle: keep the given order
        pending.remove(m)
        done.append(m)
        placed.add(m.name)
    return done


def _as_query(query: ModelQuery) -> Query:
    if isinstance(query, Query):
        return query
    if isinstance(query, QueryBuilder):
        return query.build().replace(is_deleted=None)
    return Query(where=query, is_deleted=None)


def select(
    managers: Sequence[ResourceManager[Any]], model_queries: Mapping[str, ModelQuery] | None
) -> list[tuple[ResourceManager[Any], Query]]:
    """The managers to dump with their queries, in dump order.

    Raises:
        ValueError: ``model_queries`` names a model that is not among ``managers``.
    """
    by_name = {m.name: m for m in managers}
    if model_queries is None:
        return [(m, Query(is_deleted=None)) for m in order_models(managers)]
    unknown = sorted(set(model_queries) - set(by_name))
    if unknown:
        raise ValueError(
            f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(by_name))}"
        )
    chosen = order_models([by_name[n] for n in by_name if n in model_queries])
    return [(m, _as_query(model_queries[m.name])) for m in chosen]


def _pages(
    manager: ResourceManager[Any], query: Query, user: str | UnsetType
) -> Iterator[list[ResourceMeta]]:
    """Every meta the query selects, as the ``dump`` action lets ``user`` see them, a search
    page (at most ``manager.max_limit`` metas) at a time."""
    ctx = manager._guard.context(Action.DUMP, user, UNSET, query=query)
    resolved = manager._reader.scoped(
        ctx, query.replace(limit=manager.max_limit, cursor=None, offset=0)
    )
    while True:
        page = manager.storage.search(resolved)
        if page.items:
            yield page.items
        if not page.has_more:
            return
        resolved = resolved.replace(cursor=page.next_cursor)


def _histories(
    manager: ResourceManager[Any], listed: Sequence[ResourceMeta]
) -> Iterator[tuple[ResourceMeta, list[StoredRevision]]]:
    """The meta and all the revisions of each listed resource, in order, skipping those
    purged meanwhile: one :meth:`~specstar.core.ports.Storage.get_histories` and one
    :meth:`~specstar.core.ports.Storage.get_revisions` for the whole page; a resource whose
    revisions did not all come back (pruned or rewritten in between) is read again alone."""
    ids = [m.resource_id for m in listed]
    histories = manager.storage.get_histories(ids)
    refs = [(rid, i) for rid, h in zip(ids, histories, strict=True) if h for i in h[1]]
    revisions = iter(manager.storage.get_revisions(refs))
    for rid, history in zip(ids, histories, strict=True):
        if history is None:
            continue
        meta, revision_ids = history
        found = [r for _ in revision_ids if (r := next(revisions)) is not None]
        read = (meta, found) if len(found) == len(revision_ids) else _history(manager, rid)
        if read is not None:
            yield read


def _history(
    manager: ResourceManager[Any], rid: str
) -> tuple[ResourceMeta, list[StoredRevision]] | None:
    """A resource's meta and all its revisions, read consistently (again when a write or a
    prune lands in between); ``None`` when it was purged meanwhile."""
    for _ in range(_READ_ATTEMPTS):
        history = manager.storage.get_history(rid)
        if history is None:
            return None
        meta, ids = history
        revisions = manager.storage.get_revisions([(rid, i) for i in ids])
        found = [r for r in revisions if r is not None]
        if len(found) == len(ids):
            return meta, found
    raise StorageError(f"{manager.name} {rid!r}: its revisions keep changing while dumped")


def _record(meta: ResourceMeta, revisions: list[StoredRevision]) -> Resource:
    return Resource(
        ArchivedMeta(
            meta.resource_id,
            meta.current_revision_id,
            meta.schema_version,
            meta.revision_seq,
            meta.created_time,
            meta.created_by,
            meta.updated_time,
            meta.updated_by,
            meta.is_deleted,
        ),
        [
            ArchivedRevision(
                r.info.revision_id,
                r.info.parent_revision_id,
                r.info.schema_version,
                r.info.data_hash,
                r.info.status.value,
                r.info.created_time,
                r.info.created_by,
                r.info.updated_time,
                r.info.updated_by,
                r.data,
            )
            for r in revisions
        ],
    )


def _blob_ids(manager: ResourceManager[Any], revisions: list[StoredRevision]) -> list[str]:
    """The file ids the revisions' data refer to (read as the current schema version)."""
    ids: list[str] = []
    for stored in revisions:
        _info, data = manager._binding.decode(stored)
        ids.extend(b.file_id for _loc, b in find_binaries(data) if isinstance(b.file_id, str))
    return ids


def dump(
    managers: Sequence[ResourceManager[Any]],
    out: BinaryIO,
    *,
    model_queries: Mapping[str, ModelQuery] | None = None,
    user: str | UnsetType = UNSET,
    progress: ProgressCallback | None = None,
) -> dict[str, DumpStats]:
    """Write an archive of ``managers`` to ``out``.

    Args:
        managers: the models to back up (each named by its resource name).
        out: a binary stream; written sequentially, never sought.
        model_queries: ``{model name: query}``: only these models, each restricted to what
            its query selects (``None``: all of it). By default every model, in full.
        user: who dumps (the ``dump`` action is checked for them on every model first).
        progress: called after each resource (see :class:`Progress`).

    Returns:
        What was written, per model.

    Raises:
        ValueError: ``model_queries`` names an unknown model.
        PermissionDeniedError: ``user`` may not dump one of the models (nothing is written).
        QueryError: a query is invalid for its model.
    """
    chosen = select(managers, model_queries)
    totals = 0
    for manager, query in chosen:  # every check before the first byte
        ctx = manager._guard.context(Action.DUMP, user, UNSET, query=query)
        totals += manager.storage.count(manager._reader.scoped(ctx, query))
    writer = _Writer(out)
    writer.write(Header(FORMAT_VERSION))
    stats: dict[str, DumpStats] = {}
    done = 0
    sent_blobs: set[str] = set()
    for manager, query in chosen:
        counts = stats[manager.name] = DumpStats()
        writer.write(
            ModelStart(manager.name, manager.schema_version, manager._binding.codec.encoding)
        )
        for page in _pages(manager, query, user):
            for meta, revisions in _histories(manager, page):
                if manager.has_binary_fields:
                    for file_id in _blob_ids(manager, revisions):
                        if file_id not in sent_blobs:
                            counts.blobs += _write_blob(writer, manager, file_id)
                            sent_blobs.add(file_id)
                writer.write(_record(meta, revisions))
                counts.resources += 1
                counts.revisions += len(revisions)
                done += 1
                if progress is not None:
                    progress(
                        Progress(
                            phase="dump",
                            model=manager.name,
                            resources=done,
                            total=totals,
                            bytes=writer.bytes,
                        )
                    )
        writer.write(ModelEnd(manager.name, counts.resources, counts.revisions, counts.blobs))
    writer.write(Trailer(writer.frames, len(chosen)))
    if progress is not None:
        progress(
            Progress(
                phase="dump",
                model=None,
                resources=done,
                total=totals,
                bytes=writer.bytes,
                done=True,
            )
        )
    return stats


def _write_blob(writer: _Writer, manager: ResourceManager[Any], file_id: str) -> int:
    """Write one blob (1), or nothing when the store no longer has it (0: the data's
    reference was dangling already, and a load reports it on the resource)."""
    store = manager.blob_store
    info = store.info(file_id)
    if info is None:
        return 0
    writer.write(BlobStart(file_id, info.size, info.content_type))
    for chunk in _chunks(store.open(file_id)):
        writer.write(BlobChunk(chunk))
    return 1


def _chunks(source: Iterator[bytes]) -> Iterator[bytes]:
    """``source`` re-cut into pieces of at most :data:`CHUNK_SIZE` bytes."""
    for piece in source:
        for start in range(0, len(piece), CHUNK_SIZE):
            yield piece[start : start + CHUNK_SIZE]

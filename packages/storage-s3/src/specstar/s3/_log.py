"""The commit log of one resource type and the state it describes.

Each log entry is one immutable object ``log/<seq>`` (20 zero-padded digits), created with
``If-None-Match: *``: of all writers trying to create entry ``n`` exactly one succeeds, and each
of them built its entry from the state after entry ``n - 1``. Replaying the entries in order
therefore gives every process the same state, and a write whose entry exists was checked
against everything committed before it — compare-and-swap, revision id allocation and
``Unique`` in one conditional request.

A checkpoint ``checkpoint/<seq>`` is the whole state after entry ``seq``, so a process that
starts reads it and the entries after it instead of the whole log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from specstar.core import ResourceMeta, RevisionInfo, UniqueConstraintError
from specstar.core.spi import IndexSet, IndexSpec

__all__ = [
    "Adopt",
    "Checkpoint",
    "Commit",
    "Entry",
    "Mark",
    "Prune",
    "Purge",
    "State",
    "payload_refs",
]


class Commit(msgspec.Struct, tag="commit", kw_only=True):
    """A committed :class:`~specstar.core.ports.Write`: the meta after it, and the revision it
    appended or rewrote with the key of its payload object. ``data`` repeats a small payload's
    bytes, so the replicas that read the entry have them without a request (the payload object
    stays the one the revision names)."""

    token: str
    meta: ResourceMeta
    revision: RevisionInfo | None = None
    key: str | None = None
    data: bytes | None = None


class Purge(msgspec.Struct, tag="purge", kw_only=True):
    """A resource removed with all its revisions."""

    token: str
    resource_id: str


class Prune(msgspec.Struct, tag="prune", kw_only=True):
    """Non-current revisions removed; ``meta`` has the lowered revision count."""

    token: str
    meta: ResourceMeta
    revision_ids: list[str]


class Mark(msgspec.Struct, tag="mark", kw_only=True):
    """Indexed paths whose values are known for every resource."""

    token: str
    paths: list[str]


class Adopt(msgspec.Struct, tag="adopt", kw_only=True):
    """A whole resource stored as a backup holds it (``Storage.adopt_resource``): its meta and
    every revision with the key of its payload object, oldest first. It replaces any resource
    of the same id together with its history (the writer checked the compare-and-swap against
    the state before this entry). ``data`` repeats the small payloads, one item per revision
    (``None`` for a large one), as :class:`Commit` does.

    One entry holds the whole resource, so a crash leaves all of it or none of it."""

    token: str
    meta: ResourceMeta
    revisions: list[tuple[RevisionInfo, str]]
    data: list[bytes | None]


Entry = Commit | Purge | Prune | Mark | Adopt


class Checkpoint(msgspec.Struct, kw_only=True):
    """The state after entry ``seq``: metas, revisions (allocation order) with payload keys,
    and the known paths."""

    seq: int
    metas: list[ResourceMeta]
    revisions: list[tuple[RevisionInfo, str]]
    known: list[str]


def payload_refs(entry: Entry) -> set[tuple[str, str]]:
    """``(resource_id, key)`` of the payloads ``entry`` names."""
    if isinstance(entry, Commit) and entry.key is not None:
        return {(entry.meta.resource_id, entry.key)}
    if isinstance(entry, Adopt):
        return {(entry.meta.resource_id, key) for _, key in entry.revisions}
    return set()


_ENCODER = msgspec.msgpack.Encoder()
_ENTRY = msgspec.msgpack.Decoder(Entry)
_CHECKPOINT = msgspec.msgpack.Decoder(Checkpoint)


def encode(value: Entry | Checkpoint) -> bytes:
    return _ENCODER.encode(value)


def decode_entry(data: bytes) -> Entry:
    entry: Entry = _ENTRY.decode(data)
    return entry


def decode_checkpoint(data: bytes) -> Checkpoint:
    return _CHECKPOINT.decode(data)


class State:
    """One process's replica of a resource type: what the log says up to entry :attr:`seq`.

    Not thread-safe: the storage holds its lock around every use.
    """

    def __init__(self) -> None:
        self.seq = 0
        self.metas: dict[str, ResourceMeta] = {}
        #: resource id -> revision id -> (info, payload key), in allocation order
        self.revisions: dict[str, dict[str, tuple[RevisionInfo, str]]] = {}
        self.known: set[str] = set()
        #: unique path -> value -> holder, among non-deleted resources
        self.claims: dict[str, dict[Any, str]] = {}
        #: the secondary indexes searches run on (every meta is in them, see :meth:`declare`)
        self.index = IndexSet((), ())

    # -- unique claims ----------------------------------------------------------------------

    def declare(self, spec: IndexSpec) -> None:
        """Rebuild the claims for the unique fields of ``spec`` and the search indexes for its
        indexed fields."""
        self.claims = {f.path: {} for f in spec.unique_fields}
        self.index = IndexSet(
            [f.path for f in spec.fields if not f.is_list],
            [f.path for f in spec.fields if f.is_list],
        )
        for meta in self.metas.values():
            self._claim(meta)
            self.index.add(meta)

    def _claim(self, meta: ResourceMeta) -> None:
        if meta.is_deleted:
            return
        for path, claims in self.claims.items():
            value = meta.indexed_data.get(path)
            if value is not None:
                claims.setdefault(value, meta.resource_id)

    def _release(self, meta: ResourceMeta | None) -> None:
        if meta is None:
            return
        for path, claims in self.claims.items():
            value = meta.indexed_data.get(path)
            if value is not None and claims.get(value) == meta.resource_id:
                del claims[value]

    def check_unique(self, meta: ResourceMeta) -> None:
        """Raise :class:`UniqueConstraintError` when another live resource holds a unique
        value of ``meta``."""
        if meta.is_deleted:
            return
        for path, claims in self.claims.items():
            value = meta.indexed_data.get(path)
            if value is None:
                continue
            holder = claims.get(value)
            if holder is not None and holder != meta.resource_id:
                raise UniqueConstraintError(path, value, holder)

    # -- replay -----------------------------------------------------------------------------

    def apply(self, seq: int, entry: Entry) -> None:
        """Apply entry ``seq`` (which must be ``self.seq + 1``)."""
        if seq != self.seq + 1:
            raise AssertionError(f"log entry {seq} applied after {self.seq}")
        if isinstance(entry, Commit):
            self._set_meta(entry.meta)
            if entry.revision is not None and entry.key is not None:
                revs = self.revisions.setdefault(entry.meta.resource_id, {})
                revs[entry.revision.revision_id] = (entry.revision, entry.key)
        elif isinstance(entry, Purge):
            gone = self.metas.pop(entry.resource_id, None)
            self._release(gone)
            if gone is not None:
                self.index.remove(gone)
            self.revisions.pop(entry.resource_id, None)
        elif isinstance(entry, Prune):
            revs = self.revisions.get(entry.meta.resource_id, {})
            for rev_id in entry.revision_ids:
                revs.pop(rev_id, None)
            self._set_meta(entry.meta)
        elif isinstance(entry, Adopt):
            self._set_meta(entry.meta)
            self.revisions[entry.meta.resource_id] = {
                info.revision_id: (info, key) for info, key in entry.revisions
            }
        else:
            self.known.update(entry.paths)
        self.seq = seq

    def _set_meta(self, meta: ResourceMeta) -> None:
        old = self.metas.get(meta.resource_id)
        self._release(old)
        self.metas[meta.resource_id] = meta
        self._claim(meta)
        if old is None:
            self.index.add(meta)
        else:
            self.index.replace(old, meta)

    # -- checkpoints ------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(
            seq=self.seq,
            metas=list(self.metas.values()),
            revisions=[pair for revs in self.revisions.values() for pair in revs.values()],
            known=sorted(self.known),
        )

    @classmethod
    def restore(cls, checkpoint: Checkpoint) -> State:
        state = cls()
        state.seq = checkpoint.seq
        state.metas = {m.resource_id: m for m in checkpoint.metas}
        for meta in checkpoint.metas:
            state.index.add(meta)
        for info, key in checkpoint.revisions:
            state.revisions.setdefault(info.resource_id, {})[info.revision_id] = (info, key)
        state.known = set(checkpoint.known)
        return state

    def payload_keys(self, resource_ids: Iterable[str] | None = None) -> set[tuple[str, str]]:
        """``(resource_id, key)`` of every payload a revision names."""
        ids = self.revisions.keys() if resource_ids is None else resource_ids
        return {(rid, key) for rid in ids for _, key in self.revisions.get(rid, {}).values()}

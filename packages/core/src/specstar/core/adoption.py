"""Adopting whole resources from a backup: what :meth:`Storage.adopt_resource` stores, and the
write-by-write sequence that is its default.

An :class:`Adoption` is one resource as a backup holds it: its meta record, every revision
(ids, parents, status, schema versions, times and users kept), the indexed values of its
current data, and — for an overwrite — the meta of the resource it replaces.
:meth:`Adoption.stored_meta` checks it and computes the meta record a store must hold once it
is adopted, so every adapter stores the same thing.

:func:`adopt_by_commits` is the default of :meth:`Storage.adopt_resource` for stores without
multi-statement transactions: one :meth:`Storage.commit` per revision (``Write.adopt``), a
purge of what was stored when one fails, and for an overwrite a purge of the old resource
first and a restore of it when the new one fails. Atomic against ordinary failures, not
against a crash in the middle (adapters that can, override it with one transaction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
from msgspec import UNSET

from .commits import AdoptedRevision, CommitResult, StoredRevision, Write, revision_seq
from .errors import PreconditionFailedError, StorageError
from .types import ResourceMeta

__all__ = ["Adoption", "adopt_by_commits"]


class _Store(Protocol):
    """The :class:`~specstar.core.ports.Storage` methods the default sequence uses."""

    def get_meta(self, resource_id: str) -> ResourceMeta | None: ...

    def get_history(self, resource_id: str) -> tuple[ResourceMeta, list[str]] | None: ...

    def get_revisions(self, refs: Sequence[tuple[str, str]]) -> list[StoredRevision | None]: ...

    def commit(self, write: Write) -> CommitResult: ...

    def purge(self, resource_id: str, expected_revision_id: str) -> ResourceMeta: ...


class Adoption(msgspec.Struct, frozen=True, kw_only=True):
    """One resource to adopt, with its whole history (see :meth:`Storage.adopt_resource`).

    Attributes:
        meta: the meta record as archived: id, current revision, schema version, sequence,
            created/updated times and users, deleted flag (``total_revision_count``,
            ``indexed_data`` and the ``rev_*`` fields are recomputed).
        revisions: every revision, oldest first, with its data in the store's encoding.
        indexed_data: the indexed values of the current revision's data.
        replaces: for an overwrite, the meta of the resource it replaces as the caller read
            it (compare-and-swap on its ``current_revision_id``); ``None`` for a create.
    """

    meta: ResourceMeta
    revisions: Sequence[StoredRevision]
    indexed_data: dict[str, Any]
    replaces: ResourceMeta | None = None

    @property
    def resource_id(self) -> str:
        return self.meta.resource_id

    def stored_meta(self) -> ResourceMeta:
        """The meta record the store holds once this is adopted.

        ``total_revision_count`` is the number of revisions, ``revision_seq`` the larger of
        the archived one and the last revision's sequence, ``indexed_data`` the one given and
        ``rev_status``/``rev_created_time``/``rev_updated_time`` those of the current
        revision; everything else is ``meta`` as given.

        Raises:
            ValueError: no revisions; a revision of another resource, with a malformed id or
                out of order; or the current revision is not among them.
        """
        rid = self.meta.resource_id
        if not self.revisions:
            raise ValueError(f"{rid!r}: an adopted resource needs at least one revision")
        seq = 0
        current = None
        for stored in self.revisions:
            info = stored.info
            if info.resource_id != rid:
                raise ValueError(
                    f"adopted revision {info.revision_id!r} belongs to {info.resource_id!r}, "
                    f"not {rid!r}"
                )
            this = revision_seq(rid, info.revision_id)
            if this <= seq:
                raise ValueError(f"adopted revision {info.revision_id!r} is out of order")
            seq = this
            if info.revision_id == self.meta.current_revision_id:
                current = info
        if current is None:
            raise ValueError(
                f"{rid!r}: the current revision {self.meta.current_revision_id!r} is not "
                "among the adopted revisions"
            )
        return msgspec.structs.replace(
            self.meta,
            total_revision_count=len(self.revisions),
            revision_seq=max(seq, self.meta.revision_seq),
            indexed_data=dict(self.indexed_data),
            rev_status=current.status,
            rev_created_time=current.created_time,
            rev_updated_time=current.updated_time,
        )


def adopt_by_commits(storage: _Store, adoption: Adoption) -> ResourceMeta:
    """Store ``adoption`` through ``storage.commit``, write by write (the default of
    :meth:`Storage.adopt_resource`): a failure purges what was stored, and an overwrite puts
    the old resource back. Returns the stored meta."""
    adoption.stored_meta()  # the checks, before anything changes
    old = adoption.replaces
    if old is None:
        return _store(storage, adoption)
    rid = adoption.resource_id
    history = storage.get_history(rid)
    if history is None:
        raise PreconditionFailedError(rid, old.current_revision_id, None)
    old_meta, ids = history
    if old_meta.current_revision_id != old.current_revision_id:
        raise PreconditionFailedError(rid, old.current_revision_id, old_meta.current_revision_id)
    found = storage.get_revisions([(rid, i) for i in ids])
    if any(r is None for r in found):
        raise StorageError(f"{rid!r}: a revision vanished while it was being replaced")
    previous = Adoption(
        meta=old_meta,
        revisions=[r for r in found if r is not None],
        indexed_data=old_meta.indexed_data,
    )
    storage.purge(rid, old_meta.current_revision_id)
    try:
        return _store(storage, msgspec.structs.replace(adoption, replaces=None))
    except BaseException:
        _store(storage, previous)
        raise


def _store(storage: _Store, adoption: Adoption) -> ResourceMeta:
    """Commit a new resource revision by revision; purge what was stored when one fails."""
    meta = adoption.meta
    revisions = adoption.revisions
    commit = storage.commit
    rid = meta.resource_id
    first = revisions[0]
    result: CommitResult = commit(
        Write(
            resource_id=rid,
            expected_revision_id=None,
            time=meta.created_time,
            user=meta.created_by,
            adopt=AdoptedRevision(info=first.info, data=first.data),
            indexed_data=adoption.indexed_data,
            is_deleted=meta.is_deleted,
        )
    )
    last = first.info.revision_id
    # the last revision's commit also sets what the final one would (meta times, schema
    # version, sequence) when the current revision is the last: one commit less
    folds = meta.current_revision_id == revisions[-1].info.revision_id
    try:
        for stored in revisions[1:]:
            final = folds and stored is revisions[-1]
            result = commit(
                Write(
                    resource_id=rid,
                    expected_revision_id=last,
                    time=meta.updated_time,
                    user=meta.updated_by,
                    adopt=AdoptedRevision(info=stored.info, data=stored.data),
                    touch=final,
                    schema_version=meta.schema_version if final else UNSET,
                    min_revision_seq=meta.revision_seq if final else None,
                )
            )
            last = stored.info.revision_id
        if not (folds and len(revisions) > 1):
            switch = meta.current_revision_id if meta.current_revision_id != last else None
            result = commit(
                Write(
                    resource_id=rid,
                    expected_revision_id=last,
                    time=meta.updated_time,
                    user=meta.updated_by,
                    switch_to=switch,
                    schema_version=meta.schema_version,
                    min_revision_seq=meta.revision_seq,
                )
            )
    except BaseException:
        got = storage.get_meta(rid)
        if got is not None:
            storage.purge(rid, got.current_revision_id)
        raise
    return result.meta

"""The semantics of one storage write, shared by every storage adapter.

A :class:`Write` says what one atomic change of one resource does; :meth:`Write.apply` is the
one state machine that turns the meta (and revision) an adapter read inside its atomic step into
what it must persist. :func:`check_purge` and :func:`check_prune` are the checks of
:meth:`~specstar.core.ports.Storage.purge` and :meth:`~specstar.core.ports.Storage.prune`.
Adapters only read, call these, and persist — so memory, SQL and any later store (S3) agree by
construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from .errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    RevisionNotDraftError,
    StorageError,
)
from .etags import draft_tag, entity_tag
from .types import ResourceMeta, RevisionInfo, RevisionStatus

__all__ = [
    "AdoptedRevision",
    "AppliedWrite",
    "CommitResult",
    "NewRevision",
    "RevisionRewrite",
    "StoredRevision",
    "Write",
    "check_prune",
    "check_purge",
]


class NewRevision(msgspec.Struct, frozen=True, kw_only=True):
    """A revision to append. The store allocates ``revision_id`` and sets the parent to the
    revision that was current (``Write.expected_revision_id``)."""

    data: bytes
    data_hash: str
    schema_version: str | None
    status: RevisionStatus


class RevisionRewrite(msgspec.Struct, frozen=True, kw_only=True):
    """An in-place rewrite of the *current* revision, allowed only while it is a draft."""

    data: bytes
    data_hash: str
    schema_version: str | None
    status: RevisionStatus


class StoredRevision(msgspec.Struct, frozen=True):
    """A revision as stored: its information and its encoded data (``Storage`` encoding)."""

    info: RevisionInfo
    data: bytes


class AdoptedRevision(msgspec.Struct, frozen=True, kw_only=True):
    """A revision to append exactly as it is described, when a resource is restored from a
    backup: its id, parent, status, schema version, times and users are kept.

    ``info.revision_id`` must be ``"{resource_id}:{seq}"`` with ``seq`` above the resource's
    ``revision_seq``, so an adopted id never collides with an allocated one.
    """

    info: RevisionInfo
    data: bytes

    @property
    def schema_version(self) -> str | None:
        """The schema version of the adopted data."""
        return self.info.schema_version


def revision_seq(resource_id: str, revision_id: str) -> int:
    """The ``seq`` of ``revision_id``, which must be ``"{resource_id}:{seq}"`` (``seq >= 1``).

    Raises:
        ValueError: ``revision_id`` is not of that form.
    """
    prefix = resource_id + ":"
    tail = revision_id[len(prefix) :] if revision_id.startswith(prefix) else ""
    if not tail.isascii() or not tail.isdigit() or int(tail) < 1 or tail != str(int(tail)):
        raise ValueError(f"revision id {revision_id!r} is not {resource_id!r}:<seq>")
    return int(tail)


class Write(msgspec.Struct, frozen=True, kw_only=True):
    """One atomic change of one resource.

    Exactly what is set happens, all or nothing (at most one of ``append``, ``rewrite`` and
    ``switch_to``):

    * ``expected_revision_id is None`` creates the resource; it must not exist at all (soft
      deleted resources exist) — otherwise :class:`~specstar.core.errors.AlreadyExistsError`.
      A create must carry ``append``.
    * otherwise the resource must exist (:class:`~specstar.core.errors.NotFoundError`) and its
      current revision must equal ``expected_revision_id``
      (:class:`~specstar.core.errors.PreconditionFailedError` with the actual id).
    * ``append``: store a new revision (``created_*``/``updated_*`` = ``time``/``user``) and make
      it current.
    * ``rewrite``: replace data/hash/status/schema of the current revision, which must be a draft
      (:class:`~specstar.core.errors.RevisionNotDraftError`); ``updated_*`` of the revision move.
    * ``switch_to``: make this existing revision current (NotFoundError when it does not exist).
    * ``adopt``: store this revision with its information unchanged (a restore from a backup)
      and make it current; its sequence number must exceed ``meta.revision_seq``
      (:class:`~specstar.core.errors.ConflictError`), and ``revision_seq`` becomes it.
    * ``min_revision_seq``: raise ``meta.revision_seq`` to at least this (a restore keeps the
      sequence of a resource whose latest revisions were pruned).
    * ``is_deleted``: set the soft-delete flag.
    * ``indexed_data``: replace ``meta.indexed_data`` (``None`` keeps it).
    * ``schema_version``: replace ``meta.schema_version`` (``UNSET`` keeps it).
    * ``touch``: move ``meta.updated_time/updated_by`` to ``time``/``user`` (false for
      maintenance writes such as reindexing).
    * ``expected_draft_hash``: the current revision must still be a draft with this
      ``data_hash`` (:class:`~specstar.core.errors.PreconditionFailedError` naming the
      expected and the actual entity tag, see :func:`~specstar.core.etags.entity_tag`). A
      draft is rewritten in place under the same revision id, so a writer that read a draft
      gives its hash: the store compares it in the same atomic step as the revision id, and
      a rewrite (or any write on top of a draft) is a compare-and-swap on the content too.
      Not with ``switch_to`` nor on a create.

    After applying, unique fields of the resulting meta are checked against all other
    non-deleted resources (:class:`~specstar.core.errors.UniqueConstraintError` naming the field,
    the value and the conflicting resource); on any error nothing is stored.
    """

    resource_id: str
    expected_revision_id: str | None
    time: datetime
    user: str
    append: NewRevision | None = None
    rewrite: RevisionRewrite | None = None
    switch_to: str | None = None
    adopt: AdoptedRevision | None = None
    min_revision_seq: int | None = None
    is_deleted: bool | None = None
    indexed_data: dict[str, Any] | None = None
    schema_version: str | msgspec.UnsetType | None = msgspec.UNSET
    touch: bool = True
    expected_draft_hash: str | None = None

    def check(self, current: ResourceMeta | None, revision: RevisionInfo | None = None) -> None:
        """Raise what an adapter must raise before applying this write to ``current`` (the
        resource's meta as read inside the atomic step, ``None`` when it does not exist) and
        ``revision`` (the info of :attr:`revision_to_read`): a malformed write,
        :class:`~specstar.core.errors.AlreadyExistsError`,
        :class:`~specstar.core.errors.NotFoundError` or
        :class:`~specstar.core.errors.PreconditionFailedError`."""
        parts = (self.append, self.rewrite, self.switch_to, self.adopt)
        if sum(x is not None for x in parts) > 1:
            raise ValueError("a write carries at most one of append, rewrite, switch_to and adopt")
        if self.expected_draft_hash is not None and (
            self.switch_to is not None or self.expected_revision_id is None
        ):
            raise ValueError("expected_draft_hash needs an expected revision and no switch_to")
        rid = self.resource_id
        if self.expected_revision_id is None:
            if current is not None:
                raise AlreadyExistsError(rid)
            if self.append is None and self.adopt is None:
                raise ValueError("a create must append a revision")
        elif current is None:
            raise NotFoundError(f"resource {rid!r} does not exist", resource_id=rid)
        elif current.current_revision_id != self.expected_revision_id:
            raise PreconditionFailedError(
                rid, self.expected_revision_id, current.current_revision_id
            )
        elif self.expected_draft_hash is not None:
            self._check_draft(revision)

    def _check_draft(self, revision: RevisionInfo | None) -> None:
        """The current revision (``revision``) must be the draft with ``expected_draft_hash``."""
        assert self.expected_draft_hash is not None
        assert self.expected_revision_id is not None
        if (
            revision is not None
            and revision.revision_id == self.expected_revision_id
            and revision.status == RevisionStatus.draft
            and revision.data_hash == self.expected_draft_hash
        ):
            return
        expected = draft_tag(self.expected_revision_id, self.expected_draft_hash)
        actual = None if revision is None else entity_tag(revision)
        raise PreconditionFailedError(self.resource_id, expected, actual)

    @property
    def revision_to_read(self) -> str | None:
        """The id of the revision whose :class:`RevisionInfo` :meth:`apply` needs, or ``None``.

        A ``rewrite``, and any write with ``expected_draft_hash``, needs the current revision
        (which, once the meta passed :meth:`check`, is ``expected_revision_id``); a
        ``switch_to`` needs its target. Both ids are known before the meta is read, so an
        adapter can fetch the info in the same statement as the meta.
        """
        if self.switch_to is not None:
            return self.switch_to
        if self.rewrite is not None or self.expected_draft_hash is not None:
            return self.expected_revision_id
        return None

    def apply(
        self, current: ResourceMeta | None, revision: RevisionInfo | None = None
    ) -> AppliedWrite:
        """Compute what this write stores, without storing anything: the one state machine
        every adapter shares.

        Call it inside the atomic step with what was read there: ``current`` is the meta
        (``None`` when the resource does not exist) and ``revision`` the info of
        :attr:`revision_to_read` (``None`` when that revision does not exist or nothing is to
        be read). Then persist the result: insert ``result.revision`` with ``result.data``
        when :attr:`AppliedWrite.appended`, replace the current revision when
        :attr:`AppliedWrite.rewritten`, and store ``result.meta`` — with a compare-and-swap on
        ``current.current_revision_id`` and the ``Unique`` fields enforced atomically.

        Times are stored as given (``time``); an adapter that normalises them (to UTC, say)
        or normalises ``indexed_data`` does so on the write before calling this.

        Raises:
            ValueError: a malformed write (see :meth:`check`).
            AlreadyExistsError: a create of an existing resource.
            NotFoundError: the resource, or the ``switch_to`` revision, does not exist.
            PreconditionFailedError: the current revision is not ``expected_revision_id``, or
                not the draft with ``expected_draft_hash``.
            RevisionNotDraftError: a ``rewrite`` of a revision that is not a draft.
            StorageError: a ``rewrite`` whose current revision is missing from the store.
        """
        self.check(current, revision)
        rid = self.resource_id
        changes: dict[str, Any] = {}
        info: RevisionInfo | None = None
        data: bytes | None = None
        if self.append is not None:
            seq = (current.revision_seq if current else 0) + 1
            info = RevisionInfo(
                resource_id=rid,
                revision_id=f"{rid}:{seq}",
                parent_revision_id=self.expected_revision_id,
                schema_version=self.append.schema_version,
                data_hash=self.append.data_hash,
                status=self.append.status,
                created_time=self.time,
                created_by=self.user,
                updated_time=self.time,
                updated_by=self.user,
            )
            data = self.append.data
            changes.update(
                current_revision_id=info.revision_id,
                revision_seq=seq,
                total_revision_count=(current.total_revision_count if current else 0) + 1,
                schema_version=self.append.schema_version,
            )
        elif self.rewrite is not None:
            if revision is None or revision.revision_id != self.expected_revision_id:
                raise StorageError(f"{rid!r}: the current revision is missing")
            if revision.status != RevisionStatus.draft:
                raise RevisionNotDraftError(rid, revision.revision_id)
            info = msgspec.structs.replace(
                revision,
                data_hash=self.rewrite.data_hash,
                schema_version=self.rewrite.schema_version,
                status=self.rewrite.status,
                updated_time=self.time,
                updated_by=self.user,
            )
            data = self.rewrite.data
            changes["schema_version"] = self.rewrite.schema_version
        elif self.adopt is not None:
            info, data = self._adopted(current)
            changes.update(
                current_revision_id=info.revision_id,
                revision_seq=revision_seq(rid, info.revision_id),
                total_revision_count=(current.total_revision_count if current else 0) + 1,
                schema_version=info.schema_version,
            )
        elif self.switch_to is not None:
            if revision is None or revision.revision_id != self.switch_to:
                raise NotFoundError(
                    f"revision {self.switch_to!r} of {rid!r} does not exist",
                    resource_id=rid,
                    revision_id=self.switch_to,
                )
            changes["current_revision_id"] = self.switch_to
            changes["schema_version"] = revision.schema_version
        current_info = info if info is not None else revision if self.switch_to else None
        if current_info is not None:
            changes.update(
                rev_status=current_info.status,
                rev_created_time=current_info.created_time,
                rev_updated_time=current_info.updated_time,
            )
        if self.is_deleted is not None:
            changes["is_deleted"] = self.is_deleted
        if self.indexed_data is not None:
            changes["indexed_data"] = dict(self.indexed_data)
        if self.schema_version is not msgspec.UNSET:
            changes["schema_version"] = self.schema_version
        if self.touch:
            changes.update(updated_time=self.time, updated_by=self.user)
        if self.min_revision_seq is not None:
            seq = changes.get("revision_seq", current.revision_seq if current else 0)
            changes["revision_seq"] = max(seq, self.min_revision_seq)
        if current is None:
            meta = ResourceMeta(
                resource_id=rid,
                created_time=self.time,
                created_by=self.user,
                updated_time=self.time,
                updated_by=self.user,
                current_revision_id=changes.pop("current_revision_id"),
                schema_version=changes.pop("schema_version"),
                total_revision_count=changes.pop("total_revision_count"),
                revision_seq=changes.pop("revision_seq"),
            )
            meta = msgspec.structs.replace(meta, **changes)
        else:
            meta = msgspec.structs.replace(current, **changes)
        appended = self.append is not None or self.adopt is not None
        return AppliedWrite(meta=meta, revision=info, data=data, appended=appended)

    def _adopted(self, current: ResourceMeta | None) -> tuple[RevisionInfo, bytes]:
        """The checks of an ``adopt``: its revision belongs to this resource and comes after
        every revision id the resource has allocated."""
        assert self.adopt is not None
        info = self.adopt.info
        if info.resource_id != self.resource_id:
            raise ValueError(
                f"adopted revision {info.revision_id!r} belongs to {info.resource_id!r}, "
                f"not {self.resource_id!r}"
            )
        seq = revision_seq(self.resource_id, info.revision_id)
        if current is not None and seq <= current.revision_seq:
            raise ConflictError(
                f"revision {info.revision_id!r} does not come after the revisions of "
                f"{self.resource_id!r} (last allocated: {current.revision_seq})"
            )
        return info, self.adopt.data


class AppliedWrite(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`Write.apply` computed for an adapter to persist.

    Attributes:
        meta: the meta record after the write.
        revision: the revision appended (``appended``) or rewritten in place, else ``None``.
        data: the encoded data of ``revision`` (``None`` when no revision is written).
        appended: whether ``revision`` is new (insert it) rather than a rewrite of the
            current revision (replace it).
    """

    meta: ResourceMeta
    revision: RevisionInfo | None = None
    data: bytes | None = None
    appended: bool = False

    @property
    def rewritten(self) -> bool:
        """Whether the current revision is replaced in place (a draft ``rewrite``)."""
        return self.revision is not None and not self.appended

    def result(self) -> CommitResult:
        """The :class:`CommitResult` a ``commit`` returns once this is stored."""
        return CommitResult(self.meta, self.revision)


def check_purge(
    current: ResourceMeta | None, resource_id: str, expected_revision_id: str
) -> ResourceMeta:
    """The checks of :meth:`Storage.purge`, shared by every adapter: returns ``current``.

    Raises:
        NotFoundError: the resource does not exist (``current is None``).
        PreconditionFailedError: its current revision is not ``expected_revision_id``.
    """
    if current is None:
        raise NotFoundError(f"resource {resource_id!r} does not exist", resource_id=resource_id)
    if current.current_revision_id != expected_revision_id:
        raise PreconditionFailedError(
            resource_id, expected_revision_id, current.current_revision_id
        )
    return current


def check_prune(
    current: ResourceMeta | None, resource_id: str, revision_ids: Sequence[str]
) -> ResourceMeta:
    """The checks of :meth:`Storage.prune`, shared by every adapter: returns ``current``.

    Raises:
        NotFoundError: the resource does not exist (``current is None``).
        ConflictError: ``revision_ids`` names the current revision.
    """
    if current is None:
        raise NotFoundError(f"resource {resource_id!r} does not exist", resource_id=resource_id)
    if current.current_revision_id in revision_ids:
        raise ConflictError(
            f"revision {current.current_revision_id!r} is current and cannot be pruned"
        )
    return current


class CommitResult(msgspec.Struct, frozen=True):
    """The meta after the write, and the revision written or rewritten (if any)."""

    meta: ResourceMeta
    revision: RevisionInfo | None = None

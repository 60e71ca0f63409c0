"""Loading an archive into managers: each record checked as a write would be, each resource
atomically, revision metadata preserved.

The whole archive is checked first (:func:`~specstar.core.backup.reader.verify`; a stream
that cannot seek is spooled to a temporary file meanwhile), so a truncated or corrupted
archive, or one naming an unknown model, loads nothing. Then the resources go in batches
(:data:`_BATCH` records, or fewer when their data reaches :data:`_BATCH_BYTES`): each record
is decoded (migrated when older) and validated on its own, the ids of a batch are looked up
in one read (:meth:`Storage.get_metas`), each resource runs the checks of a write — the
permission checker's data and scope checks, references, constraint checkers, ``before``
events — and those that pass are stored with their whole history through
:meth:`Storage.adopt_resources` (one transaction on SQL). Each resource is atomic: the
store's compare-and-swap (on the resource an overwrite replaces), ``Unique`` enforcement and
indexing apply, and a resource that fails is reported in :attr:`LoadStats.failures` and
leaves the target as it was (an overwritten one is kept) while the others are stored.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

import msgspec
from msgspec import UNSET, UnsetType

from ..actions import Action
from ..adoption import Adoption
from ..binary import find_binaries
from ..commits import revision_seq
from ..errors import ArchiveError, DuplicateResourceError, SpecStarError, ValidationError
from ..manager import ResourceManager
from ..naming import check_resource_id
from ..pipeline import EventPhase, OperationContext
from ..ports import StoredRevision
from ..types import ResourceMeta, RevisionInfo, RevisionStatus
from .batch import store_batch
from .format import BlobChunk, BlobStart, Frame, ModelEnd, ModelStart, Resource
from .progress import Progress, ProgressCallback
from .reader import ArchiveReader
from .stats import LoadFailure, LoadStats, OnDuplicate

__all__ = ["LoadFailure", "LoadStats", "OnDuplicate", "load"]

#: Bytes copied at a time when spooling an archive that cannot seek.
_COPY = 1024 * 1024
#: Resources stored together (one transaction on SQL; commit latency is paid once per batch).
_BATCH = 500
#: Revision data bytes that close a batch early (memory held by the pending resources).
_BATCH_BYTES = 8 * 1024 * 1024
#: Archives smaller than this are spooled in memory rather than to a temporary file.
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


class _Refused(Exception):
    """A record fails a check; the message is the reason reported."""


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _transcode(data: bytes, source: str, target: str) -> bytes:
    """Stored data in another encoding (for data of an older schema version)."""
    if source == target:
        return data
    obj = msgspec.json.decode(data) if source == "json" else msgspec.msgpack.decode(data)
    if target == "json":
        return msgspec.json.encode(obj, order="deterministic")
    return msgspec.msgpack.encode(obj, order="deterministic")


class _BlobSource:
    """The content of one archived blob, read from the chunk frames that follow it."""

    def __init__(self, frames: Iterator[Frame], size: int) -> None:
        self.frames = frames
        self.left = size
        self.buffer = b""

    def read(self, size: int = -1, /) -> bytes:
        while not self.buffer and self.left:
            frame = next(self.frames)
            assert isinstance(frame, BlobChunk)  # the reader checked the order and sizes
            self.buffer = frame.data
            self.left -= len(frame.data)
        if size < 0 or size >= len(self.buffer):
            out, self.buffer = self.buffer, b""
        else:
            out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def drain(self) -> None:
        while self.read():
            pass


class _Loader:
    """Loads the resources of one model."""

    def __init__(
        self,
        manager: ResourceManager[Any],
        start: ModelStart,
        on_duplicate: OnDuplicate,
        user: str | UnsetType,
    ) -> None:
        self.manager = manager
        self.binding = manager._binding
        self.storage = manager.storage
        self.path = manager._changes.path
        self.encoding = start.encoding
        self.on_duplicate = on_duplicate
        self.user = user
        self.stats = LoadStats()
        self.refers_to_itself = any(r.target == manager.name for r in manager.refs)
        #: Records checked on their own, waiting for :meth:`flush`.
        self.queued: list[tuple[ResourceMeta, list[StoredRevision], Any]] = []
        self.queued_ids: set[str] = set()
        self.queued_bytes = 0
        #: Resources of the batch being flushed that passed every check.
        self.ready: list[Adoption] = []

    # == blobs ==================================================================================

    def blob(self, frame: BlobStart, frames: Iterator[Frame]) -> None:
        source = _BlobSource(frames, frame.size)
        store = self.manager.blob_store
        self.stats.blobs += 1
        if store.info(frame.file_id) is not None:
            source.drain()
            return
        info = store.put_stream(source, frame.content_type)
        source.drain()
        if info.file_id != frame.file_id:
            self._fail(frame.file_id, f"blob content does not match its id {frame.file_id!r}")

    # == resources ==============================================================================

    def resource(self, record: Resource) -> None:
        """Check one record on its own and queue it (stored by :meth:`flush`)."""
        self.stats.total += 1
        rid = record.meta.resource_id
        try:
            checked = self._checked(record)
        except (_Refused, SpecStarError, ValueError) as exc:
            self._fail(rid, str(exc) or type(exc).__name__)
            return
        if rid in self.queued_ids:
            self.flush()  # the archive repeats an id: the first one is stored first
        self.queued.append(checked)
        self.queued_ids.add(rid)
        self.queued_bytes += sum(len(r.data) for r in checked[1])
        if len(self.queued) >= _BATCH or self.queued_bytes >= _BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Store the queued resources: look up which exist (one read), run the checks of a
        write on each, and store those that pass in one batch."""
        queued, self.queued = self.queued, []
        self.queued_ids = set()
        self.queued_bytes = 0
        if not queued:
            return
        existing = self.storage.get_metas([meta.resource_id for meta, _, _ in queued])
        for (meta, revisions, current), old in zip(queued, existing, strict=True):
            rid = meta.resource_id
            try:
                if old is not None:
                    if self.on_duplicate is OnDuplicate.skip:
                        self.stats.skipped += 1
                        continue
                    if self.on_duplicate is OnDuplicate.raise_error:
                        self._store()  # what came before it stays loaded
                        raise DuplicateResourceError(self.manager.name, rid)
                    self.path.guard.visible(self._context(meta), old, True)
                indexed = self._checks(meta, current)
            except (_Refused, SpecStarError, ValueError) as exc:
                if isinstance(exc, DuplicateResourceError):
                    raise
                self._fail(rid, str(exc) or type(exc).__name__)
                continue
            self.ready.append(
                Adoption(meta=meta, revisions=revisions, indexed_data=indexed, replaces=old)
            )
        self._store()

    def _store(self) -> None:
        """Store the resources that passed their checks; count each outcome."""
        ready, self.ready = self.ready, []
        for adoption, outcome in zip(ready, store_batch(self.storage, ready), strict=True):
            if isinstance(outcome, ResourceMeta):
                self.stats.loaded += 1
            else:
                self._fail(adoption.resource_id, str(outcome) or type(outcome).__name__)

    def _fail(self, rid: str, reason: str) -> None:
        self.stats.failed += 1
        self.stats.failures.append(
            LoadFailure(model=self.manager.name, resource_id=rid, reason=reason)
        )

    def _context(self, meta: ResourceMeta) -> OperationContext:
        return self.path.guard.context(
            Action.LOAD, self.user, _utc(meta.updated_time), resource_id=meta.resource_id
        )

    def _checked(self, record: Resource) -> tuple[ResourceMeta, list[StoredRevision], Any]:
        """The record as the meta and revisions to store, and the current data, checked."""
        m = record.meta
        rid = check_resource_id(m.resource_id)
        if not record.revisions:
            raise _Refused("the resource has no revisions")
        revisions: list[StoredRevision] = []
        seq = 0
        current: Any = None
        for r in record.revisions:
            try:
                this = revision_seq(rid, r.revision_id)
            except ValueError as exc:
                raise _Refused(str(exc)) from None
            if this <= seq:
                raise _Refused(f"revision {r.revision_id!r} is out of order")
            seq = this
            info = RevisionInfo(
                resource_id=rid,
                revision_id=r.revision_id,
                parent_revision_id=r.parent_revision_id,
                schema_version=r.schema_version,
                data_hash=r.data_hash,
                status=RevisionStatus(r.status),
                created_time=_utc(r.created_time),
                created_by=r.created_by,
                updated_time=_utc(r.updated_time),
                updated_by=r.updated_by,
            )
            stored, data = self._revision(info, r.data)
            revisions.append(stored)
            if r.revision_id == m.current_revision_id:
                current = data
        if current is None:
            raise _Refused(f"the current revision {m.current_revision_id!r} is not archived")
        if m.revision_seq < seq:
            raise _Refused(f"revision_seq {m.revision_seq} is below revision {seq}")
        meta = ResourceMeta(
            resource_id=rid,
            current_revision_id=m.current_revision_id,
            schema_version=m.schema_version,
            total_revision_count=len(revisions),
            revision_seq=m.revision_seq,
            created_time=_utc(m.created_time),
            created_by=m.created_by,
            updated_time=_utc(m.updated_time),
            updated_by=m.updated_by,
            is_deleted=m.is_deleted,
        )
        return meta, revisions, current

    def _revision(self, info: RevisionInfo, data: bytes) -> tuple[StoredRevision, Any]:
        """One revision, decoded (and migrated) to check it, with its data as the target
        stores it."""
        binding = self.binding
        target = binding.codec.encoding
        bad_hash = _Refused(f"revision {info.revision_id!r}: the data does not match its hash")
        if self.encoding == "json" and _sha256(data) != info.data_hash:
            raise bad_hash  # stored JSON is the canonical JSON that was hashed
        try:
            stored = StoredRevision(info, _transcode(data, self.encoding, target))
            _info, obj = binding.decode(stored)
        except (SpecStarError, msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise _Refused(f"revision {info.revision_id!r}: {exc}") from None
        if info.schema_version == binding.schema_version and self.encoding != "json":
            encoded = binding.encode(obj)
            if encoded.data_hash != info.data_hash:
                raise bad_hash
            if self.encoding != target:
                stored = StoredRevision(info, encoded.data)
        return stored, obj

    def _checks(self, meta: ResourceMeta, current: Any) -> dict[str, Any]:
        """The checks of a write for the current data; returns its indexed values."""
        binding = self.binding
        if binding.store_binaries is not None:
            for loc, b in find_binaries(current):
                found = (
                    None
                    if not isinstance(b.file_id, str)
                    else self.manager.blob_store.info(b.file_id)
                )
                if found is None:
                    raise _Refused(f"{loc or '/'}: no stored file has the id {b.file_id!r}")
        indexed = binding.indexed(current)
        ctx = self._context(meta)
        if self.path.pipeline.stages.sees_data:
            ctx = msgspec.structs.replace(ctx, data=current, previous=None, meta=None)
        self.path.guard.check_data(ctx)
        self.path.guard.check_result(ctx, None, indexed, meta.schema_version)
        self.path.pipeline.validate(current)
        if self.path.check_refs is not None and not meta.is_deleted:
            try:
                self.path.check_refs(ctx, current, None)
            except ValidationError:
                if not (self.refers_to_itself and self.ready):
                    raise
                self._store()  # a reference may name a resource of this batch
                self.path.check_refs(ctx, current, None)
        self.path.pipeline.check_constraints(current, resource_id=meta.resource_id, previous=None)
        self.path.pipeline.emit(EventPhase.before, ctx)
        return indexed


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _spool(source: BinaryIO, stack: ExitStack) -> BinaryIO:
    """``source`` positioned at its start, copied to a temporary file (in memory while
    small) when it cannot seek."""
    try:
        if source.seekable():
            return source
    except (AttributeError, OSError):
        pass
    spool: Any = stack.enter_context(
        tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    )
    shutil.copyfileobj(source, spool, _COPY)
    spool.seek(0)
    return cast(BinaryIO, spool)


def load(
    managers: Sequence[ResourceManager[Any]],
    source: BinaryIO,
    *,
    on_duplicate: OnDuplicate | str = OnDuplicate.overwrite,
    user: str | UnsetType = UNSET,
    progress: ProgressCallback | None = None,
) -> dict[str, LoadStats]:
    """Load an archive written by :func:`~specstar.core.backup.writer.dump` into
    ``managers``.

    The archive is checked whole before anything is stored. Each resource is then checked
    as a write would be and stored atomically with its revisions as archived (ids, parents,
    status, schema versions, times and users); a resource that fails is reported in the
    returned stats with the reason, and the target keeps what it had.

    Args:
        managers: the models to load into (each archived model must be among them).
        source: a binary stream; one that cannot seek is spooled to a temporary file.
        on_duplicate: for a resource id the target has: ``"overwrite"`` (the default:
            replaced, with its history), ``"skip"``, or ``"raise_error"``.
        user: who loads (the ``load`` action is checked for them on every model first).
        progress: called after each resource (see :class:`Progress`).

    Returns:
        ``{model name: LoadStats}`` for every model of the archive.

    Raises:
        ArchiveError: the archive is malformed, truncated or corrupted, or names a model
            that is not among ``managers`` (nothing is loaded).
        ValueError: ``on_duplicate`` is not one of its values.
        DuplicateResourceError: a resource exists and ``on_duplicate`` is ``raise_error``
            (what was loaded before it stays).
        PermissionDeniedError: ``user`` may not load one of the archived models (nothing is
            loaded).
    """
    try:
        mode = OnDuplicate(on_duplicate)
    except ValueError:
        choices = ", ".join(m.value for m in OnDuplicate)
        raise ValueError(f"on_duplicate must be one of {choices}, not {on_duplicate!r}") from None
    by_name = {m.name: m for m in managers}
    with ExitStack() as stack:
        archive = _spool(source, stack)
        start = archive.tell()
        checked = ArchiveReader(archive)
        counted = 0
        for frame in checked:
            if isinstance(frame, ModelStart) and frame.name not in by_name:
                raise ArchiveError(
                    f"unknown model {frame.name!r} (known: {', '.join(sorted(by_name))})",
                    position=checked.position,
                )
            if isinstance(frame, Resource):
                counted += 1
                if progress is not None and counted % 100 == 0:
                    progress(
                        Progress(
                            phase="verify",
                            model=None,
                            resources=counted,
                            total=None,
                            bytes=checked.position,
                        )
                    )
        size = checked.position
        for name in checked.models:
            by_name[name]._guard.context(Action.LOAD, user, UNSET)
        archive.seek(start)
        reader = ArchiveReader(archive)
        frames = iter(reader)
        stats: dict[str, LoadStats] = {}
        loader: _Loader | None = None
        done = 0
        for frame in frames:
            if isinstance(frame, ModelStart):
                loader = _Loader(by_name[frame.name], frame, mode, user)
                stats[frame.name] = loader.stats
            elif isinstance(frame, ModelEnd):
                assert loader is not None
                loader.flush()
                loader = None
            elif isinstance(frame, BlobStart):
                assert loader is not None
                loader.blob(frame, frames)
            elif isinstance(frame, Resource):
                assert loader is not None
                loader.resource(frame)
                done += 1
                if progress is not None:
                    progress(
                        Progress(
                            phase="load",
                            model=loader.manager.name,
                            resources=done,
                            total=counted,
                            bytes=reader.position,
                            total_bytes=size,
                        )
                    )
        if progress is not None:
            progress(
                Progress(
                    phase="load",
                    model=None,
                    resources=done,
                    total=counted,
                    bytes=size,
                    total_bytes=size,
                    done=True,
                )
            )
        return stats

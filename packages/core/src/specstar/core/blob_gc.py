"""Blob garbage collection: files no revision references are quarantined, then deleted.

One :meth:`BlobCollector.collect` run:

1. finds the referenced files: every :class:`~specstar.core.binary.Binary` in every revision
   (soft-deleted resources and old revisions included, so switching back never dangles) of
   the given managers;
2. protects files uploaded within the ``grace`` period (an upload is usually referenced by a
   write that follows it) and the staged parts of open, unexpired upload sessions (they are
   not blobs yet, so they are never candidates);
3. releases quarantined files that are referenced again, or that a write claimed;
4. deletes files quarantined at least ``grace`` ago and still unreferenced: it first marks
   each quarantine record ``deleting`` with a compare-and-swap on the revision it read, then
   re-reads the references, and deletes only the files still unreferenced;
5. quarantines the remaining unreferenced files (recorded as resources ``blob-quarantine``);
6. aborts staged uploads of expired sessions and abandoned staging older than ``grace``.

The write side (:class:`BlobClaims`, set as ``ResourceManager.blob_claims`` by the collector on
its managers and by ``SpecStar`` on every model): a write that references a file claims its
quarantine record before it commits — a compare-and-swap from ``quarantined`` to ``claimed``,
or :class:`BlobBeingDeletedError` when the record is already ``deleting``. Of the two
compare-and-swaps on one record exactly one wins, so either the write claimed first (the
collector's mark fails and it keeps the file) or the collector marked first (the write fails
with a clear 409 and nothing references a deleted file; uploading the file again and retrying
works). A write that checks its file before the file is quarantined and commits more than
``grace`` later is the one case not covered.

Run it from a job or a cron; it reads every revision of the models with Binary fields, so its
cost grows with the data (run it rarely on large stores).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from .binary import find_binaries
from .blobs import BlobStore
from .errors import ConflictError, NotFoundError, PreconditionFailedError
from .manager import ResourceManager
from .ports import Storage, StorageFactory
from .uploads import BlobUploads, all_metas

__all__ = [
    "QUARANTINE_RESOURCE",
    "BlobBeingDeletedError",
    "BlobClaims",
    "BlobCollector",
    "CollectionReport",
    "Quarantined",
]

#: The resource name of the quarantine records.
QUARANTINE_RESOURCE = "blob-quarantine"


class Quarantined(msgspec.Struct, kw_only=True):
    """A file found unreferenced at ``since``; ``state`` is ``quarantined``, ``claimed`` (a
    write referenced it since: released at the next run) or ``deleting`` (the collector is
    deleting it: writes referencing it fail)."""

    file_id: str
    since: datetime
    state: Literal["quarantined", "claimed", "deleting"] = "quarantined"


class BlobBeingDeletedError(ConflictError):
    """The write references a file the blob collector is deleting; upload it again."""

    code = "blob_being_deleted"

    def __init__(self, file_id: str) -> None:
        super().__init__(
            f"the file {file_id!r} was unreferenced for the whole grace period and is being "
            "deleted by the blob collector; upload it again and retry"
        )
        self.file_id = file_id


def _records(storage: Storage | None, now: Callable[[], datetime]) -> ResourceManager[Quarantined]:
    return ResourceManager(
        Quarantined,
        name=QUARANTINE_RESOURCE,
        storage=storage,
        default_user="blob-collector",
        default_now=now,
    )


def _record_id(file_id: str) -> str:
    return f"quarantine:{file_id}"


class BlobClaims:
    """The write side of the collection protocol (see the module docstring): called with the
    file ids a write references, before it commits.

    Args:
        storage: the storage of the quarantine records (the collector's), or
        storage_factory: the factory that builds it.
    """

    def __init__(
        self, *, storage: Storage | None = None, storage_factory: StorageFactory | None = None
    ) -> None:
        if storage is None and storage_factory is not None:
            storage = storage_factory.build(QUARANTINE_RESOURCE)
        if storage is None:
            raise ValueError("BlobClaims needs storage= or storage_factory=")
        self.records = _records(storage, lambda: datetime.now(UTC))._for_system()

    def __call__(self, file_ids: Iterable[str]) -> None:
        for file_id in sorted(set(file_ids)):
            self.claim(file_id)

    def claim(self, file_id: str) -> None:
        """Claim the quarantine record of ``file_id``, if it has one.

        Raises:
            BlobBeingDeletedError: the collector is deleting the file.
        """
        while True:
            try:
                record = self.records.get(_record_id(file_id))
            except NotFoundError:
                return  # not quarantined
            if record.data.state == "deleting":
                raise BlobBeingDeletedError(file_id)
            if record.data.state == "claimed":
                return
            try:
                self.records.update(
                    _record_id(file_id),
                    msgspec.structs.replace(record.data, state="claimed"),
                    expected_revision_id=record.info.revision_id,
                )
                return
            except NotFoundError:
                return  # released meanwhile
            except PreconditionFailedError:
                continue  # claimed by another write, or marked by the collector: read again


class CollectionReport(msgspec.Struct, kw_only=True):
    """What one collection run did (file and upload ids, sorted)."""

    referenced: int = 0
    quarantined: list[str] = []
    released: list[str] = []
    deleted: list[str] = []
    aborted_uploads: list[str] = []


class BlobCollector:
    """Collects the unreferenced files of one blob store.

    Args:
        managers: the managers whose revisions may reference files of ``blob_store`` (those
            without Binary fields are skipped).
        blob_store: the store to collect.
        uploads: the upload records (recent uploads and open sessions are protected).
        storage: the storage of the quarantine records (or ``storage_factory``).
        grace: how long a file stays quarantined (and a fresh upload protected).
        now: the clock (for tests).
    """

    def __init__(
        self,
        managers: Iterable[Any],
        blob_store: BlobStore,
        *,
        uploads: BlobUploads | None = None,
        storage: Storage | None = None,
        storage_factory: StorageFactory | None = None,
        grace: timedelta = timedelta(hours=24),
        now: Callable[[], datetime] | None = None,
    ) -> None:
        if storage is None and storage_factory is not None:
            storage = storage_factory.build(QUARANTINE_RESOURCE)
        self.managers = [m for m in managers if m.has_binary_fields]
        self.blob_store = blob_store
        self.uploads = uploads
        self.grace = grace
        self._now = now or (lambda: datetime.now(UTC))
        self.quarantine: ResourceManager[Quarantined] = _records(storage, self._now)
        claims = BlobClaims(storage=self.quarantine.storage)
        for manager in self.managers:  # writes in this process claim before they commit
            if getattr(manager, "blob_claims", None) is None:
                manager.blob_claims = claims

    def referenced(self) -> set[str]:
        """The ids of every file a revision of the managers references."""
        found: set[str] = set()
        for manager in self.managers:
            system = manager._for_system()
            for meta in all_metas(system, None, is_deleted=None):
                try:
                    revisions = system.list_revisions(meta.resource_id)
                except NotFoundError:  # purged meanwhile
                    continue
                for revision_id in revisions:
                    try:
                        data = system.get(meta.resource_id, revision_id, include_deleted=True).data
                    except NotFoundError:  # pruned meanwhile
                        continue
                    for _, binary in find_binaries(data):
                        if isinstance(binary.file_id, str):
                            found.add(binary.file_id)
        return found

    def _quarantined(self) -> dict[str, Any]:
        """The quarantine records by file id (each a ``Resource[Quarantined]``)."""
        system = self.quarantine._for_system()
        found = {}
        for meta in all_metas(system, None):
            try:
                record = system.get(meta.resource_id)
            except NotFoundError:  # claimed and released meanwhile
                continue
            found[record.data.file_id] = record
        return found

    def _release(self, file_id: str) -> None:
        with contextlib.suppress(NotFoundError):  # released by another run meanwhile
            self.quarantine._for_system().permanently_delete(_record_id(file_id))

    def _mark_deleting(self, record: Any) -> bool:
        """Move ``record`` to ``deleting`` unless it changed since read (a write claimed it)."""
        if record.data.state == "deleting":  # a run that stopped half-way
            return True
        try:
            self.quarantine._for_system().update(
                _record_id(record.data.file_id),
                msgspec.structs.replace(record.data, state="deleting"),
                expected_revision_id=record.info.revision_id,
            )
        except (PreconditionFailedError, NotFoundError):
            return False
        return True

    def collect(self) -> CollectionReport:
        """One run (see the module docstring)."""
        now = self._now()
        system = self.quarantine._for_system()
        report = CollectionReport()
        referenced = self.referenced()
        report.referenced = len(referenced)
        protected = set(referenced)
        if self.uploads is not None:
            protected |= self.uploads.uploaded_since(now - self.grace)
        held = self._quarantined()
        for file_id in sorted(held):
            if file_id in protected or held[file_id].data.state == "claimed":
                self._release(file_id)
                report.released.append(file_id)
        due = [
            record
            for file_id, record in sorted(held.items())
            if file_id not in report.released and record.data.since + self.grace <= now
        ]
        marked = [r.data.file_id for r in due if self._mark_deleting(r)]
        for record in due:  # claimed by a write since read: in use
            if record.data.file_id not in marked:
                self._release(record.data.file_id)
                report.released.append(record.data.file_id)
        if marked:
            again = self.referenced()  # writes that landed before the marks
            for file_id in marked:
                if file_id not in again:
                    self.blob_store.delete(file_id)
                    report.deleted.append(file_id)
                else:
                    report.released.append(file_id)
                self._release(file_id)
        # files held at the start were released, deleted or stay: none is quarantined anew
        for file_id in sorted(set(self.blob_store.list_ids()) - protected - set(held)):
            system.create(Quarantined(file_id=file_id, since=now), resource_id=_record_id(file_id))
            report.quarantined.append(file_id)
        report.released.sort()
        report.aborted_uploads = self._abort_stale_uploads(now)
        return report

    def _abort_stale_uploads(self, now: datetime) -> list[str]:
        open_sessions = self.uploads.in_flight() if self.uploads is not None else set()
        aborted = []
        for upload in self.blob_store.list_uploads():
            if upload.upload_id in open_sessions or upload.created + self.grace > now:
                continue
            if self.blob_store.abort_upload(upload.upload_id):
                aborted.append(upload.upload_id)
        return sorted(aborted)

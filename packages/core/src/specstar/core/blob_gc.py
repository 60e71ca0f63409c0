"""Blob garbage collection: files no revision references are quarantined, then deleted.

One :meth:`BlobCollector.collect` run:

1. finds the referenced files: every :class:`~specstar.core.binary.Binary` in every revision
   (soft-deleted resources and old revisions included, so switching back never dangles) of
   the given managers;
2. protects files uploaded within the ``grace`` period (an upload is usually referenced by a
   write that follows it) and the staged parts of open, unexpired upload sessions (they are
   not blobs yet, so they are never candidates);
3. releases quarantined files that are referenced again;
4. deletes files quarantined at least ``grace`` ago and still unreferenced — re-reading the
   references just before, so a write landing during the run keeps its file;
5. quarantines the remaining unreferenced files (recorded as resources ``blob-quarantine``);
6. aborts staged uploads of expired sessions and abandoned staging older than ``grace``.

Run it from a job or a cron; it reads every revision of the models with Binary fields, so its
cost grows with the data (run it rarely on large stores).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from .binary import find_binaries
from .blobs import BlobStore
from .errors import NotFoundError
from .manager import ResourceManager
from .ports import Storage, StorageFactory
from .uploads import BlobUploads, all_metas

__all__ = ["QUARANTINE_RESOURCE", "BlobCollector", "CollectionReport", "Quarantined"]

#: The resource name of the quarantine records.
QUARANTINE_RESOURCE = "blob-quarantine"


class Quarantined(msgspec.Struct, kw_only=True):
    """A file found unreferenced at ``since``."""

    file_id: str
    since: datetime


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
        self.quarantine: ResourceManager[Quarantined] = ResourceManager(
            Quarantined,
            name=QUARANTINE_RESOURCE,
            storage=storage,
            default_user="blob-collector",
            default_now=self._now,
        )

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

    def _quarantined(self) -> dict[str, datetime]:
        system = self.quarantine._for_system()
        return {
            q.file_id: q.since
            for q in (system.get(m.resource_id).data for m in all_metas(system, None))
        }

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
        for file_id in sorted(set(held) & protected):
            system.permanently_delete(f"quarantine:{file_id}")
            report.released.append(file_id)
        due = [f for f, since in held.items() if f not in protected and since + self.grace <= now]
        if due:
            again = self.referenced()  # a write may have landed since the first pass
            for file_id in sorted(due):
                if file_id in again:
                    system.permanently_delete(f"quarantine:{file_id}")
                    report.released.append(file_id)
                    continue
                self.blob_store.delete(file_id)
                system.permanently_delete(f"quarantine:{file_id}")
                report.deleted.append(file_id)
        for file_id in sorted(set(self.blob_store.list_ids()) - protected - set(held)):
            system.create(
                Quarantined(file_id=file_id, since=now), resource_id=f"quarantine:{file_id}"
            )
            report.quarantined.append(file_id)
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

"""In-memory adapters: the reference implementation of the storage ports.

Thread-safe (one re-entrant lock per resource type serialises commits, so compare-and-swap,
revision id allocation and unique claims are atomic). Nothing survives the process.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import msgspec

from ._memory_index import IndexSet
from .errors import (
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    RevisionNotDraftError,
    UniqueConstraintError,
)
from .indexes import IndexSpec
from .ports import (
    BlobInfo,
    BlobStore,
    CachingStorageFactory,
    Capabilities,
    CommitResult,
    Storage,
    StoredRevision,
    Write,
)
from .query.ast import Query
from .types import Page, ResourceMeta, RevisionInfo

__all__ = ["MemoryBlobStore", "MemoryStorage", "MemoryStorageFactory"]


class MemoryStorage(Storage):
    """Meta and revisions of one resource type in dictionaries."""

    capabilities = Capabilities(durable=False, multi_process=False)

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._metas: dict[str, ResourceMeta] = {}
        self._revisions: dict[str, dict[str, StoredRevision]] = {}
        self._spec = IndexSpec()
        self._index = IndexSet((), ())
        self._known_paths: set[str] = set()
        # unique path -> value -> resource_id, for non-deleted resources only
        self._claims: dict[str, dict[Any, str]] = {}

    # -- schema -------------------------------------------------------------------------------

    def setup(self, spec: IndexSpec) -> frozenset[str]:
        with self._lock:
            self._spec = spec
            stale = set(spec.paths) - self._known_paths if self._metas else set()
            if not self._metas:
                self._known_paths = set(spec.paths)
            self._claims = {f.path: {} for f in spec.unique_fields}
            self._index = IndexSet(
                [f.path for f in spec.fields if not f.is_list],
                [f.path for f in spec.fields if f.is_list],
            )
            for meta in self._metas.values():
                self._index.add(meta)
            for meta in self._metas.values():
                if not meta.is_deleted:
                    for path, claims in self._claims.items():
                        value = meta.indexed_data.get(path)
                        if value is not None:
                            claims.setdefault(value, meta.resource_id)
            return frozenset(stale)

    def mark_indexed(self, paths: Sequence[str]) -> None:
        with self._lock:
            self._known_paths.update(paths)

    # -- reads --------------------------------------------------------------------------------

    def get_meta(self, resource_id: str) -> ResourceMeta | None:
        return self._metas.get(resource_id)

    def get_revision(self, resource_id: str, revision_id: str) -> StoredRevision | None:
        with self._lock:
            return self._revisions.get(resource_id, {}).get(revision_id)

    def list_revisions(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[RevisionInfo]:
        with self._lock:
            revs = list(self._revisions.get(resource_id, {}).values())
        end = None if limit is None else offset + limit
        return [r.info for r in revs[offset:end]]

    def search(self, query: Query) -> Page[ResourceMeta]:
        with self._lock:
            return self._index.search(self._metas, query)

    def count(self, query: Query) -> int:
        with self._lock:
            return self._index.count(self._metas, query)

    # -- writes -------------------------------------------------------------------------------

    def commit(self, write: Write) -> CommitResult:
        with self._lock:
            rid = write.resource_id
            old = self._metas.get(rid)
            write.check(old)
            revisions = self._revisions.get(rid, {})
            changes: dict[str, Any] = {}
            new_rev: StoredRevision | None = None
            if write.append is not None:
                seq = (old.revision_seq if old else 0) + 1
                rev_id = f"{rid}:{seq}"
                info = RevisionInfo(
                    resource_id=rid,
                    revision_id=rev_id,
                    parent_revision_id=write.expected_revision_id,
                    schema_version=write.append.schema_version,
                    data_hash=write.append.data_hash,
                    status=write.append.status,
                    created_time=write.time,
                    created_by=write.user,
                    updated_time=write.time,
                    updated_by=write.user,
                )
                new_rev = StoredRevision(info, write.append.data)
                changes.update(
                    current_revision_id=rev_id,
                    revision_seq=seq,
                    total_revision_count=(old.total_revision_count if old else 0) + 1,
                    schema_version=write.append.schema_version,
                )
            if write.rewrite is not None:
                assert old is not None
                current = revisions[old.current_revision_id]
                if current.info.status != "draft":
                    raise RevisionNotDraftError(rid, current.info.revision_id)
                info = msgspec.structs.replace(
                    current.info,
                    data_hash=write.rewrite.data_hash,
                    schema_version=write.rewrite.schema_version,
                    status=write.rewrite.status,
                    updated_time=write.time,
                    updated_by=write.user,
                )
                new_rev = StoredRevision(info, write.rewrite.data)
                changes["schema_version"] = write.rewrite.schema_version
            if write.switch_to is not None:
                target = revisions.get(write.switch_to)
                if target is None:
                    raise NotFoundError(
                        f"revision {write.switch_to!r} of {rid!r} does not exist",
                        resource_id=rid,
                        revision_id=write.switch_to,
                    )
                changes["current_revision_id"] = write.switch_to
                changes["schema_version"] = target.info.schema_version
            if write.is_deleted is not None:
                changes["is_deleted"] = write.is_deleted
            if write.indexed_data is not None:
                changes["indexed_data"] = dict(write.indexed_data)
            if write.schema_version is not msgspec.UNSET:
                changes["schema_version"] = write.schema_version
            if write.touch:
                changes.update(updated_time=write.time, updated_by=write.user)

            if old is None:
                meta = ResourceMeta(
                    resource_id=rid,
                    created_time=write.time,
                    created_by=write.user,
                    updated_time=write.time,
                    updated_by=write.user,
                    current_revision_id=changes.pop("current_revision_id"),
                    schema_version=changes.pop("schema_version"),
                    total_revision_count=changes.pop("total_revision_count"),
                    revision_seq=changes.pop("revision_seq"),
                )
                meta = msgspec.structs.replace(meta, **changes)
            else:
                meta = msgspec.structs.replace(old, **changes)

            self._claim_unique(old, meta)
            if new_rev is not None:
                self._revisions.setdefault(rid, {})[new_rev.info.revision_id] = new_rev
            self._store_meta(old, meta)
            return CommitResult(meta, new_rev.info if new_rev is not None else None)

    def _store_meta(self, old: ResourceMeta | None, new: ResourceMeta | None) -> None:
        """Replace a meta record (``None`` removes it), keeping the indexes in step."""
        if old is not None and new is not None:
            self._index.replace(old, new)
            self._metas[new.resource_id] = new
            return
        if old is not None:
            self._index.remove(old)
        if new is None:
            assert old is not None
            del self._metas[old.resource_id]
        else:
            self._index.add(new)
            self._metas[new.resource_id] = new

    def _claim_unique(self, old: ResourceMeta | None, new: ResourceMeta) -> None:
        """Move this resource's unique claims from ``old`` to ``new`` or raise, changing nothing."""
        rid = new.resource_id
        wanted: dict[str, Any] = {}
        if not new.is_deleted:
            for path in self._claims:
                value = new.indexed_data.get(path)
                if value is not None:
                    wanted[path] = value
        for path, value in wanted.items():
            holder = self._claims[path].get(value)
            if holder is not None and holder != rid:
                raise UniqueConstraintError(path, value, holder)
        self._release_unique(old)
        for path, value in wanted.items():
            self._claims[path][value] = rid

    def _release_unique(self, meta: ResourceMeta | None) -> None:
        if meta is None:
            return
        for path, claims in self._claims.items():
            value = meta.indexed_data.get(path)
            if value is not None and claims.get(value) == meta.resource_id:
                del claims[value]

    def purge(self, resource_id: str, expected_revision_id: str) -> ResourceMeta:
        with self._lock:
            old = self._metas.get(resource_id)
            if old is None:
                raise NotFoundError(
                    f"resource {resource_id!r} does not exist", resource_id=resource_id
                )
            if old.current_revision_id != expected_revision_id:
                raise PreconditionFailedError(
                    resource_id, expected_revision_id, old.current_revision_id
                )
            self._release_unique(old)
            self._store_meta(old, None)
            self._revisions.pop(resource_id, None)
            return old

    def prune(self, resource_id: str, revision_ids: Sequence[str]) -> int:
        with self._lock:
            meta = self._metas.get(resource_id)
            if meta is None:
                raise NotFoundError(
                    f"resource {resource_id!r} does not exist", resource_id=resource_id
                )
            if meta.current_revision_id in revision_ids:
                raise ConflictError(
                    f"revision {meta.current_revision_id!r} is current and cannot be pruned"
                )
            revisions = self._revisions[resource_id]
            removed = 0
            for rev_id in set(revision_ids):
                if revisions.pop(rev_id, None) is not None:
                    removed += 1
            if removed:
                self._store_meta(
                    meta,
                    msgspec.structs.replace(
                        meta, total_revision_count=meta.total_revision_count - removed
                    ),
                )
            return removed


class MemoryBlobStore(BlobStore):
    """Blobs in a dictionary keyed by SHA-256."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, tuple[BlobInfo, bytes]] = {}

    def put(self, data: bytes, content_type: str = "application/octet-stream") -> BlobInfo:
        file_id = hashlib.sha256(data).hexdigest()
        with self._lock:
            existing = self._blobs.get(file_id)
            if existing is not None:
                return existing[0]
            info = BlobInfo(file_id=file_id, size=len(data), content_type=content_type)
            self._blobs[file_id] = (info, bytes(data))
            return info

    def get(self, file_id: str) -> tuple[BlobInfo, bytes]:
        found = self._blobs.get(file_id)
        if found is None:
            raise NotFoundError(f"blob {file_id!r} does not exist")
        return found

    def info(self, file_id: str) -> BlobInfo | None:
        found = self._blobs.get(file_id)
        return None if found is None else found[0]

    def delete(self, file_id: str) -> bool:
        with self._lock:
            return self._blobs.pop(file_id, None) is not None


class MemoryStorageFactory(CachingStorageFactory[MemoryStorage]):
    """Builds :class:`MemoryStorage` per resource name (same name → same storage)."""

    def __init__(self) -> None:
        super().__init__()
        self._blobs = MemoryBlobStore()

    def create(self, resource_name: str) -> MemoryStorage:
        return MemoryStorage()

    def blob_store(self) -> MemoryBlobStore:
        return self._blobs

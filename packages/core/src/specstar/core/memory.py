"""In-memory adapters: the reference implementation of the storage and payload ports.

Thread-safe (one re-entrant lock per resource type serialises commits, so compare-and-swap,
revision id allocation and unique claims are atomic). Nothing survives the process.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from ._memory_index import IndexSet
from .adoption import Adoption, adopt_by_commits
from .blobs import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    BlobCapabilities,
    BlobInfo,
    BlobPart,
    BlobSource,
    BlobStore,
    BlobUpload,
    check_digest,
    check_part_number,
    check_parts,
    check_range,
    iter_chunks,
)
from .errors import ConflictError, NotFoundError, UniqueConstraintError
from .indexes import IndexSpec
from .payloads import PayloadEntry, PayloadStore, PayloadStoreFactory, check_payload_key
from .ports import (
    CachingStorageFactory,
    Capabilities,
    CommitResult,
    Storage,
    StoredRevision,
    Write,
    check_prune,
    check_purge,
)
from .query._budget import DEFAULT_QUERY_TIMEOUT, check_timeout, query_budget
from .query.ast import Query
from .types import Page, ResourceMeta, RevisionInfo

__all__ = [
    "MemoryBlobStore",
    "MemoryPayloadStore",
    "MemoryPayloadStoreFactory",
    "MemoryStorage",
    "MemoryStorageFactory",
]


class MemoryStorage(Storage):
    """Meta and revisions of one resource type in dictionaries.

    Args:
        query_timeout: seconds one search or count may run (``None``: no budget).
    """

    capabilities = Capabilities(durable=False, multi_process=False)

    def __init__(self, *, query_timeout: float | None = DEFAULT_QUERY_TIMEOUT) -> None:
        self._timeout = check_timeout(query_timeout)
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
        with self._lock:  # never a resource halfway through adopt_resource
            return self._metas.get(resource_id)

    def get_revision(self, resource_id: str, revision_id: str) -> StoredRevision | None:
        with self._lock:
            return self._revisions.get(resource_id, {}).get(revision_id)

    def get_current(self, resource_id: str) -> tuple[ResourceMeta, StoredRevision] | None:
        with self._lock:
            meta = self._metas.get(resource_id)
            if meta is None:
                return None
            return meta, self._revisions[resource_id][meta.current_revision_id]

    def get_revisions(self, refs: Sequence[tuple[str, str]]) -> list[StoredRevision | None]:
        with self._lock:
            return [self._revisions.get(rid, {}).get(rev_id) for rid, rev_id in refs]

    def list_revisions(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[RevisionInfo]:
        with self._lock:
            revs = list(self._revisions.get(resource_id, {}).values())
        end = None if limit is None else offset + limit
        return [r.info for r in revs[offset:end]]

    def list_revision_ids(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        with self._lock:
            ids = list(self._revisions.get(resource_id, {}))
        end = None if limit is None else offset + limit
        return ids[offset:end]

    def search(self, query: Query) -> Page[ResourceMeta]:
        with self._lock, query_budget(self._timeout):
            return self._index.search(self._metas, query)

    def count(self, query: Query) -> int:
        with self._lock, query_budget(self._timeout):
            return self._index.count(self._metas, query)

    # -- writes -------------------------------------------------------------------------------

    def commit(self, write: Write) -> CommitResult:
        with self._lock:
            rid = write.resource_id
            old = self._metas.get(rid)
            wanted = write.revision_to_read
            target = None
            if wanted is not None and old is not None:
                found = self._revisions.get(rid, {}).get(wanted)
                target = None if found is None else found.info
            applied = write.apply(old, target)
            self._claim_unique(old, applied.meta)
            if applied.revision is not None:
                assert applied.data is not None
                stored = StoredRevision(applied.revision, applied.data)
                self._revisions.setdefault(rid, {})[applied.revision.revision_id] = stored
            self._store_meta(old, applied.meta)
            return applied.result()

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

    def adopt_resource(
        self,
        meta: ResourceMeta,
        revisions: Sequence[StoredRevision],
        indexed_data: dict[str, Any],
        *,
        replaces: ResourceMeta | None = None,
    ) -> ResourceMeta:
        """The default write-by-write sequence, under the store's lock: no other thread sees
        the resource before it is whole, nor the old one gone while it is replaced."""
        adoption = Adoption(
            meta=meta, revisions=revisions, indexed_data=indexed_data, replaces=replaces
        )
        with self._lock:
            return adopt_by_commits(self, adoption)

    def purge(self, resource_id: str, expected_revision_id: str) -> ResourceMeta:
        with self._lock:
            old = check_purge(self._metas.get(resource_id), resource_id, expected_revision_id)
            self._release_unique(old)
            self._store_meta(old, None)
            self._revisions.pop(resource_id, None)
            return old

    def prune(self, resource_id: str, revision_ids: Sequence[str]) -> int:
        with self._lock:
            meta = check_prune(self._metas.get(resource_id), resource_id, revision_ids)
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
    """Blobs in a dictionary keyed by SHA-256 (staged uploads in another): the reference
    implementation of the port. Nothing survives the process."""

    capabilities = BlobCapabilities(durable=False)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, tuple[BlobInfo, bytes]] = {}
        self._uploads: dict[str, tuple[BlobUpload, dict[int, tuple[BlobPart, bytes]]]] = {}

    def put(self, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
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

    def put_stream(self, source: BlobSource, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        return self.put(b"".join(iter_chunks(source)), content_type)

    def open(self, file_id: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        info, data = self.get(file_id)
        begin, end = check_range(info.size, start, stop)
        return iter([data[i : min(i + CHUNK_SIZE, end)] for i in range(begin, end, CHUNK_SIZE)])

    def create_upload(self, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        upload_id = secrets.token_hex(16)
        upload = BlobUpload(upload_id=upload_id, content_type=content_type, created=_utcnow())
        with self._lock:
            self._uploads[upload_id] = (upload, {})
        return upload_id

    def _parts(self, upload_id: str) -> dict[int, tuple[BlobPart, bytes]]:
        found = self._uploads.get(upload_id)
        if found is None:
            raise NotFoundError(f"upload {upload_id!r} does not exist")
        return found[1]

    def put_part(self, upload_id: str, number: int, source: BlobSource) -> BlobPart:
        check_part_number(number)
        self._parts(upload_id)
        data = b"".join(iter_chunks(source))
        part = BlobPart(number=number, size=len(data), sha256=hashlib.sha256(data).hexdigest())
        with self._lock:
            self._parts(upload_id)[number] = (part, data)
        return part

    def list_parts(self, upload_id: str) -> list[BlobPart]:
        with self._lock:
            return [p for p, _ in sorted(self._parts(upload_id).values(), key=_number)]

    def complete_upload(
        self, upload_id: str, *, parts: int, size: int | None = None, sha256: str | None = None
    ) -> BlobInfo:
        with self._lock:
            found = self._uploads.get(upload_id)
            if found is None:
                raise NotFoundError(f"upload {upload_id!r} does not exist")
            upload, received = found
            ordered = sorted(received.values(), key=_number)
        check_parts(upload_id, [p for p, _ in ordered], count=parts, size=size)
        data = b"".join(d for _, d in ordered)
        check_digest(upload_id, hashlib.sha256(data).hexdigest(), sha256)
        info = self.put(data, upload.content_type)
        with self._lock:
            self._uploads.pop(upload_id, None)
        return info

    def abort_upload(self, upload_id: str) -> bool:
        with self._lock:
            return self._uploads.pop(upload_id, None) is not None

    def list_uploads(self) -> list[BlobUpload]:
        with self._lock:
            return [u for u, _ in self._uploads.values()]

    def list_ids(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._blobs))


def _number(entry: tuple[BlobPart, bytes]) -> int:
    return entry[0].number


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MemoryPayloadStore(PayloadStore):
    """Payloads in a dictionary: the reference implementation of the port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[tuple[str, str], tuple[bytes, datetime]] = {}

    def put(self, resource_id: str, key: str, data: bytes) -> None:
        check_payload_key(key)
        with self._lock:
            existing = self._objects.get((resource_id, key))
            if existing is not None:
                if existing[0] != data:
                    raise ConflictError(f"payload {key!r} of {resource_id!r} already exists")
                return
            self._objects[(resource_id, key)] = (bytes(data), datetime.now(UTC))

    def get(self, resource_id: str, key: str) -> bytes | None:
        found = self._objects.get((resource_id, key))
        return None if found is None else found[0]

    def delete(self, resource_id: str, key: str) -> bool:
        with self._lock:
            return self._objects.pop((resource_id, key), None) is not None

    def list(self, resource_id: str | None = None) -> Iterator[PayloadEntry]:
        with self._lock:
            items = list(self._objects.items())
        for (rid, key), (data, stored) in items:
            if resource_id is None or rid == resource_id:
                yield PayloadEntry(resource_id=rid, key=key, size=len(data), stored_time=stored)


class MemoryPayloadStoreFactory(PayloadStoreFactory):
    """One :class:`MemoryPayloadStore` per resource name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stores: dict[str, MemoryPayloadStore] = {}

    def build(self, resource_name: str) -> MemoryPayloadStore:
        with self._lock:
            store = self._stores.get(resource_name)
            if store is None:
                store = self._stores[resource_name] = MemoryPayloadStore()
            return store


class MemoryStorageFactory(CachingStorageFactory[MemoryStorage]):
    """Builds :class:`MemoryStorage` per resource name (same name → same storage).

    Args:
        query_timeout: seconds one search or count may run before it stops with
            :class:`~specstar.core.errors.QueryTimeoutError`; ``None`` for no budget.
    """

    def __init__(self, *, query_timeout: float | None = DEFAULT_QUERY_TIMEOUT) -> None:
        super().__init__()
        self._timeout = check_timeout(query_timeout)
        self._blobs = MemoryBlobStore()

    def create(self, resource_name: str) -> MemoryStorage:
        return MemoryStorage(query_timeout=self._timeout)

    def blob_store(self) -> MemoryBlobStore:
        return self._blobs

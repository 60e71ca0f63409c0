"""Uploads: direct uploads and upload sessions, recorded as resources.

Every upload is a :class:`BlobUploadSession` resource (resource id ``upload:<upload_id>``) kept
by an ordinary :class:`~specstar.core.ResourceManager` on the application's storage, so
sessions are shared by every process and survive restarts. Its ``created_by`` is the uploader:
only the creator may use a session, and a finalized upload makes its creator a reader of the
file (:meth:`BlobUploads.is_uploader`).

A session's lifecycle::

    pending → uploaded → finalized          (one part: the whole content, or a presigned PUT)
    pending → uploading → … → finalized     (several parts, in any order, in parallel)
    pending | uploading | uploaded → aborted

Parts live in the blob store's staging area (:meth:`BlobStore.put_part
<specstar.core.blobs.BlobStore.put_part>`) until finalize joins them, after checking the part
count, total size and SHA-256 the client declared. A session expires ``ttl`` seconds after it
was created: from then on every call answers :class:`UploadExpiredError` and its parts are
dropped.

No file may be larger than ``max_file_bytes`` (default :data:`DEFAULT_MAX_FILE_BYTES`,
5 GiB); a refusal is a :class:`~specstar.core.errors.ContentTooLargeError` naming ``size``:

* a direct upload is counted while it is stored: past the limit the store is abandoned
  (no blob, no staged object is kept);
* a session declaring a larger ``size`` is refused when it is created; each part is counted
  as it arrives, and a part taking the session's total past the limit (or past the declared
  ``size``, a :class:`ValidationError` naming ``size``) is refused and not kept;
* a ``single_put`` session with a declared ``size`` gets an ``upload_url`` signed for exactly
  that many bytes (where the store signs ``Content-Length``, as S3 does);
* finalize checks again, since presigned ``PUT`` requests never pass through the
  application: content over the limit is dropped and the session aborted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from ._upload_session import (
    MAX_PRESIGNED_PARTS,
    OPEN_STATUSES,
    UPLOAD_METHODS,
    UPLOAD_RESOURCE,
    BlobUploadSession,
    UploadExpiredError,
    UploadMethod,
    UploadStatus,
    invalid,
)
from .blobs import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_MAX_FILE_BYTES,
    BlobInfo,
    BlobSource,
    BlobStore,
    bounded_chunks,
    check_max_file_bytes,
    check_part_number,
)
from .context import ContextDefaults, UserSource, resolve_context
from .errors import ContentTooLargeError, NotFoundError, ValidationError
from .manager import ResourceManager
from .ports import Storage, StorageFactory
from .query import QB

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "UPLOAD_RESOURCE",
    "BlobUploadSession",
    "BlobUploads",
    "UploadExpiredError",
]


class BlobUploads:
    """Direct uploads and upload sessions over one blob store.

    Args:
        blob_store: where files and staged parts go.
        storage: the storage of the upload records (default: built by ``storage_factory``,
            which also gives the blob store when ``blob_store`` is not given).
        ttl: seconds a session may be used after it was created.
        max_file_bytes: the largest file accepted, in bytes (default 5 GiB); see the module
            docstring.
        default_user: the uploader of calls that name no user (else ``"anonymous"``).
        now: the clock (for tests).

    Raises:
        TypeError: ``max_file_bytes`` is not an ``int``.
        ValueError: ``max_file_bytes`` below 1, a ``ttl`` that is not positive, or no blob
            store.
    """

    def __init__(
        self,
        blob_store: BlobStore | None = None,
        *,
        storage: Storage | None = None,
        storage_factory: StorageFactory | None = None,
        ttl: float = 3600.0,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        default_user: UserSource | UnsetType = UNSET,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.max_file_bytes = max_file_bytes
        if blob_store is None:
            if storage_factory is None:
                raise ValueError("BlobUploads needs blob_store= or storage_factory=")
            blob_store = storage_factory.blob_store()
        if storage is None and storage_factory is not None:
            storage = storage_factory.build(UPLOAD_RESOURCE)
        if not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        self.blob_store = blob_store
        self.ttl = ttl
        self._now = now or (lambda: datetime.now(UTC))
        self._defaults = ContextDefaults(user=default_user)
        self.records: ResourceManager[BlobUploadSession] = ResourceManager(
            BlobUploadSession,
            name=UPLOAD_RESOURCE,
            storage=storage,
            indexed_fields=["file_id", "status", "expires_at"],
            default_user=default_user,
            default_now=self._now,
            blob_store=blob_store,
        )

    @property
    def max_file_bytes(self) -> int:
        """The largest file accepted, in bytes (validated when set)."""
        return self._max_file_bytes

    @max_file_bytes.setter
    def max_file_bytes(self, value: int) -> None:
        self._max_file_bytes = check_max_file_bytes(value)

    def _too_large(self, size: int | None = None) -> ContentTooLargeError:
        return ContentTooLargeError(self._max_file_bytes, size=size)

    def user_of(self, user: str | UnsetType) -> str:
        """The uploader a call by ``user`` acts as."""
        return resolve_context(
            "upload", user=user, now=UNSET, scopes=(), defaults=self._defaults, write=False
        )[0]

    # -- direct uploads -------------------------------------------------------------------------

    def upload(
        self,
        source: BlobSource,
        content_type: str = DEFAULT_CONTENT_TYPE,
        *,
        user: str | UnsetType = UNSET,
    ) -> BlobUploadSession:
        """Store a file at once (streamed) and record ``user`` as its uploader.

        Raises:
            ContentTooLargeError: the content passed ``max_file_bytes`` (nothing is kept).
        """
        limit = self._max_file_bytes
        bounded = bounded_chunks(source, limit, lambda _: self._too_large())
        info = self.blob_store.put_stream(bounded, content_type)
        upload_id = secrets.token_hex(16)
        record = BlobUploadSession(
            upload_id=upload_id,
            file_id=info.file_id,
            status="finalized",
            content_type=info.content_type,
            size=info.size,
            uploaded_size=info.size,
            total_parts=1,
            parts_received=[1],
            sha256=info.file_id,
        )
        self.records.create(record, resource_id=f"upload:{upload_id}", user=self.user_of(user))
        return record

    def is_uploader(self, file_id: str, user: str | UnsetType) -> bool:
        """Whether ``user`` finalized an upload of this file."""
        query = (
            (QB["file_id"] == file_id)
            & (QB["status"] == "finalized")
            & (QB.created_by() == self.user_of(user))
        )
        return self.records._for_system().count(query) > 0

    # -- sessions -------------------------------------------------------------------------------

    def create_session(
        self,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        size: int | None = None,
        total_parts: int | None = None,
        sha256: str | None = None,
        upload_method: UploadMethod = "proxy",
        user: str | UnsetType = UNSET,
    ) -> BlobUploadSession:
        """Start a session.

        Raises:
            ValidationError: an invalid size, part count, digest or method (naming it),
                ``single_put`` or ``presigned_parts`` on a blob store without presigned URLs,
                or ``presigned_parts`` without ``total_parts`` (or more than
                :data:`MAX_PRESIGNED_PARTS`).
            ContentTooLargeError: a declared ``size`` over ``max_file_bytes``.
        """
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise invalid("size", f"must be a non-negative integer, not {size!r}")
        if size is not None and size > self._max_file_bytes:
            raise self._too_large(size)
        if total_parts is not None:
            check_part_number(total_parts)
        if sha256 is not None and not (
            isinstance(sha256, str) and len(sha256) == 64 and set(sha256) <= set("0123456789abcdef")
        ):
            raise invalid("sha256", "must be 64 lowercase hex digits")
        if upload_method not in UPLOAD_METHODS:
            raise invalid(
                "upload_method",
                f"must be 'proxy', 'single_put' or 'presigned_parts', not {upload_method!r}",
            )
        if upload_method == "presigned_parts":
            if total_parts is None:
                raise invalid("total_parts", "a presigned_parts upload declares its part count")
            if total_parts > MAX_PRESIGNED_PARTS:
                raise invalid("total_parts", f"at most {MAX_PRESIGNED_PARTS} presigned parts")
        upload_id = self.blob_store.create_upload(content_type)
        url = ""
        part_urls: list[str] = []
        if upload_method == "presigned_parts":
            assert total_parts is not None
            for number in range(1, total_parts + 1):
                presigned = self.blob_store.presign_part(upload_id, number, int(self.ttl))
                if presigned is None:
                    self.blob_store.abort_upload(upload_id)
                    raise invalid("upload_method", "this blob store has no presigned upload URLs")
                part_urls.append(presigned)
        if upload_method == "single_put":
            if total_parts not in (None, 1):
                raise invalid("total_parts", "a single_put upload has one part")
            total_parts = 1
            presigned = self.blob_store.presign_part(upload_id, 1, int(self.ttl), size=size)
            if presigned is None:
                self.blob_store.abort_upload(upload_id)
                raise invalid("upload_method", "this blob store has no presigned upload URLs")
            url = presigned
        session = BlobUploadSession(
            upload_id=upload_id,
            upload_method=upload_method,
            upload_url=url,
            part_urls=part_urls,
            content_type=content_type,
            size=size,
            total_parts=total_parts,
            expires_at=self._now() + timedelta(seconds=self.ttl),
            sha256=sha256,
        )
        self.records.create(session, resource_id=f"upload:{upload_id}", user=self.user_of(user))
        return session

    def _own(self, upload_id: str, user: str | UnsetType) -> BlobUploadSession:
        """The session, if ``user`` created it and it has not expired.

        Raises:
            NotFoundError: no such session, or another user's (the same answer).
            UploadExpiredError: it expired (its parts are dropped).
        """
        system = self.records._for_system()
        try:
            resource = system.get(f"upload:{upload_id}")
            meta = system.get_meta(f"upload:{upload_id}")
        except (NotFoundError, ValidationError):
            raise NotFoundError(f"upload session {upload_id!r} does not exist") from None
        if meta.created_by != self.user_of(user):
            raise NotFoundError(f"upload session {upload_id!r} does not exist")
        session = resource.data
        expired = session.expires_at is not None and self._now() >= session.expires_at
        if expired and session.status in OPEN_STATUSES:
            self.blob_store.abort_upload(upload_id)
            raise UploadExpiredError(upload_id)
        return session

    def _progress(self, session: BlobUploadSession) -> BlobUploadSession:
        if session.status not in OPEN_STATUSES:
            return session
        try:
            parts = self.blob_store.list_parts(session.upload_id)
        except NotFoundError:
            return session
        received = [p.number for p in parts]
        status: UploadStatus = session.status
        if parts:
            complete = session.total_parts is not None and received == list(
                range(1, session.total_parts + 1)
            )
            status = "uploaded" if complete else "uploading"
        return msgspec.structs.replace(
            session,
            status=status,
            parts_received=received,
            uploaded_size=sum(p.size for p in parts),
        )

    def get_session(self, upload_id: str, *, user: str | UnsetType = UNSET) -> BlobUploadSession:
        """The session with its progress (parts received so far)."""
        return self._progress(self._own(upload_id, user))

    def _set(self, session: BlobUploadSession, user: str | UnsetType, **changes: Any) -> None:
        self.records._for_system().merge_patch(
            f"upload:{session.upload_id}", msgspec.to_builtins(changes), user=self.user_of(user)
        )

    def put_content(
        self,
        upload_id: str,
        source: BlobSource,
        *,
        part_number: int | None = None,
        user: str | UnsetType = UNSET,
    ) -> BlobUploadSession:
        """Receive part ``part_number`` (default: the next after the highest received, for
        sequential chunks; parallel senders must number their parts).

        Raises:
            ValidationError: the session is not open (finalized or aborted), an invalid part
                number, a part beyond the declared ``total_parts``, or a part taking the
                total past the declared ``size`` (not kept).
            ContentTooLargeError: a part taking the total past ``max_file_bytes`` (not
                kept).
        """
        session = self._own(upload_id, user)
        if session.status not in OPEN_STATUSES:
            raise invalid("status", f"the upload is {session.status}; it takes no more content")
        if session.upload_method == "single_put":
            raise invalid("upload_method", "a single_put upload goes to its upload_url")
        received = self.blob_store.list_parts(upload_id)
        if part_number is None:
            part_number = (received[-1].number if received else 0) + 1
        check_part_number(part_number)
        if session.total_parts is not None and part_number > session.total_parts:
            raise invalid(
                "part_number", f"{part_number} is beyond the declared {session.total_parts} parts"
            )
        # a part sent again replaces the earlier one: the others are what it adds to
        others = sum(p.size for p in received if p.number != part_number)
        limit, declared = self._max_file_bytes, session.size
        budget = limit if declared is None else min(limit, declared)

        def refuse(count: int) -> Exception:
            if others + count > limit:
                return self._too_large()
            return invalid("size", f"the parts hold more than the declared {declared} bytes")

        if others > budget:  # parts sent in parallel went past it already
            raise refuse(0)
        bounded = bounded_chunks(source, budget - others, refuse)
        self.blob_store.put_part(upload_id, part_number, bounded)
        updated = self._progress(session)
        if updated.status != session.status:
            self._set(session, user, status=updated.status)
        return updated

    def finalize(
        self, upload_id: str, *, sha256: str | None = None, user: str | UnsetType = UNSET
    ) -> BlobUploadSession:
        """Join the parts into the file: checks the part count (the declared one, else the
        parts received must be ``1..n``), the size and the SHA-256 (declared at creation or
        given here; both must agree).

        Raises:
            ValidationError: a check failed (naming ``total_parts``, ``size`` or ``sha256``);
                the session stays open.
            ContentTooLargeError: the parts hold more than ``max_file_bytes`` (as content
                sent to presigned URLs may): they are dropped and the session aborted.
        """
        session = self._progress(self._own(upload_id, user))
        if session.status == "finalized":
            return session
        if session.status == "aborted":
            raise invalid("status", "the upload was aborted")
        if sha256 is not None and session.sha256 is not None and sha256 != session.sha256:
            raise invalid("sha256", "differs from the digest declared when the session started")
        count = session.total_parts or len(session.parts_received)
        if count == 0:
            raise invalid("total_parts", "no content was uploaded")
        if session.uploaded_size > self._max_file_bytes:
            self.blob_store.abort_upload(upload_id)
            self._set(session, user, status="aborted", upload_url="", part_urls=[])
            raise self._too_large(session.uploaded_size)
        try:
            info: BlobInfo = self.blob_store.complete_upload(
                upload_id, parts=count, size=session.size, sha256=sha256 or session.sha256
            )
        except NotFoundError:  # a concurrent finalize (or abort) closed it first
            again = self._own(upload_id, user)
            if again.status in ("finalized", "aborted"):
                return again
            raise
        done = msgspec.structs.replace(
            session,
            status="finalized",
            file_id=info.file_id,
            size=info.size,
            uploaded_size=info.size,
            total_parts=count,
            upload_url="",
            part_urls=[],
        )
        self._set(
            session,
            user,
            status="finalized",
            file_id=info.file_id,
            size=info.size,
            uploaded_size=info.size,
            total_parts=count,
            parts_received=done.parts_received,
            upload_url="",
            part_urls=[],
        )
        return done

    def abort(self, upload_id: str, *, user: str | UnsetType = UNSET) -> BlobUploadSession:
        """Drop an open session's parts.

        Raises:
            ValidationError: it is finalized already.
        """
        session = self._own(upload_id, user)
        if session.status == "aborted":
            return session
        if session.status == "finalized":
            raise invalid("status", "the upload is finalized")
        self.blob_store.abort_upload(upload_id)
        self._set(session, user, status="aborted", upload_url="", part_urls=[])
        return msgspec.structs.replace(session, status="aborted", upload_url="", part_urls=[])

    def in_flight(self) -> set[str]:
        """The staged upload ids of sessions that are open and not expired."""
        system = self.records._for_system()
        now = self._now()
        found: set[str] = set()
        query = QB["status"].in_(list(OPEN_STATUSES))
        for meta in all_metas(system, query):
            session = system.get(meta.resource_id).data
            if session.expires_at is None or session.expires_at > now:
                found.add(session.upload_id)
        return found

    def uploaded_since(self, since: datetime) -> set[str]:
        """Files whose upload finalized at or after ``since`` (not yet referenced, maybe)."""
        system = self.records._for_system()
        query = (QB["status"] == "finalized") & (QB.updated_time() >= since)
        return {system.get(m.resource_id).data.file_id for m in all_metas(system, query)}


def all_metas(manager: Any, where: Any, *, is_deleted: bool | None = False) -> list[Any]:
    """Every meta matching ``where`` (page after page), as ``manager`` may see them."""
    from .query import Query

    found: list[Any] = []
    cursor: str | None = None
    while True:
        page = manager.search_page(
            Query(where=where, limit=500, cursor=cursor, is_deleted=is_deleted)
        )
        found.extend(page.items)
        cursor = page.next_cursor
        if not page.has_more or not cursor:
            return found

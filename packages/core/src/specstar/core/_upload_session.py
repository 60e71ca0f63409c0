"""The record of an upload (:class:`BlobUploadSession`), its states and methods, and the errors
a session answers with; the service that keeps these records is
:class:`~specstar.core.uploads.BlobUploads`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from .errors import FieldError, GoneError, ValidationError

__all__ = [
    "MAX_PRESIGNED_PARTS",
    "OPEN_STATUSES",
    "UPLOAD_METHODS",
    "UPLOAD_RESOURCE",
    "BlobUploadSession",
    "UploadExpiredError",
    "UploadMethod",
    "UploadStatus",
    "invalid",
]

#: The resource name of the upload records.
UPLOAD_RESOURCE = "blob-upload"

UploadStatus = Literal["pending", "uploading", "uploaded", "finalized", "aborted"]
UploadMethod = Literal["proxy", "single_put", "presigned_parts"]
#: The upload methods a session may use.
UPLOAD_METHODS = ("proxy", "single_put", "presigned_parts")
#: The most parts a ``presigned_parts`` session hands out URLs for.
MAX_PRESIGNED_PARTS = 1000
#: The states of a session that still takes content.
OPEN_STATUSES = ("pending", "uploading", "uploaded")


class BlobUploadSession(msgspec.Struct, kw_only=True):
    """An active or completed upload (see :mod:`specstar.core.uploads` for its lifecycle).

    Attributes:
        upload_id: the session's id.
        file_id: the file's id once finalized (empty before).
        status: the lifecycle state.
        upload_method: ``"proxy"`` (``PUT`` the bytes, or parts of them, to the application)
            or ``"single_put"`` (``PUT`` the whole content to ``upload_url``), or
            ``"presigned_parts"`` (``PUT`` part ``n`` to ``part_urls[n - 1]``, in any order
            and in parallel, straight to the blob store).
        upload_url: where to ``PUT`` the content (``single_put`` only).
        part_urls: where to ``PUT`` each part (``presigned_parts`` only; valid until
            ``expires_at``).
        content_type: MIME type of the content.
        size: the declared size in bytes (checked at finalize), or ``None``.
        uploaded_size: bytes received so far.
        total_parts: the declared number of parts (checked at finalize), or ``None``.
        parts_received: the 1-based numbers of the parts received so far.
        expires_at: when the session stops accepting calls.
        sha256: the declared SHA-256 of the whole content (checked at finalize), or ``None``.
    """

    upload_id: str
    file_id: str = ""
    status: UploadStatus = "pending"
    upload_method: UploadMethod = "proxy"
    upload_url: str = ""
    part_urls: list[str] = []
    content_type: str | UnsetType = UNSET
    size: int | None = None
    uploaded_size: int = 0
    total_parts: int | None = None
    parts_received: list[int] = []
    expires_at: datetime | None = None
    sha256: str | None = None


class UploadExpiredError(GoneError):
    """The upload session has expired; start a new one."""

    code = "upload_expired"

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"upload:{upload_id}")
        self.args = (f"upload session {upload_id!r} has expired",)


def invalid(field: str, message: str) -> ValidationError:
    """A :class:`ValidationError` naming ``field``."""
    return ValidationError(f"{field}: {message}", [FieldError(field, message)])

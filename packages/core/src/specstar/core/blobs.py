"""The :class:`BlobStore` port: content-addressed binary objects, written and read as streams.

A blob's ``file_id`` is the SHA-256 hex digest of its bytes, so the same bytes always get the
same id and are kept once. Besides whole-object ``put``/``get`` the port has:

* streaming writes (:meth:`BlobStore.put_stream`): the digest is computed while the bytes are
  written, never by holding them all in memory;
* streaming ranged reads (:meth:`BlobStore.open`);
* staged multipart uploads (:meth:`BlobStore.create_upload`, :meth:`~BlobStore.put_part`,
  :meth:`~BlobStore.complete_upload`, :meth:`~BlobStore.abort_upload`): parts may arrive in any
  order and in parallel; completing checks the part count, the total size and (when given) the
  content digest before the blob exists;
* presigned URLs where the backend has them (:meth:`~BlobStore.presign_get`,
  :meth:`~BlobStore.presign_part`);
* listing for garbage collection (:meth:`~BlobStore.list_ids`, :meth:`~BlobStore.list_uploads`).

Adapters declare what they do natively in :attr:`BlobStore.capabilities`; the conformance suite
(``specstar.testing.suites.BlobStoreSuite``) checks every adapter the same way.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import BinaryIO, Protocol

import msgspec

from .errors import FieldError, NotFoundError, ValidationError

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_MAX_FILE_BYTES",
    "MAX_PARTS",
    "BlobCapabilities",
    "BlobInfo",
    "BlobPart",
    "BlobSource",
    "BlobStore",
    "BlobUpload",
    "Hashing",
    "bounded_chunks",
    "check_digest",
    "check_file_id",
    "check_max_file_bytes",
    "check_part_number",
    "check_parts",
    "check_range",
    "check_upload_id",
    "is_file_id",
    "iter_chunks",
]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: Reads and copies move at most this many bytes at a time.
CHUNK_SIZE = 1 << 20
#: The largest file accepted by default (uploads and inline ``Binary`` data): 5 GiB.
DEFAULT_MAX_FILE_BYTES = 5 * 1024**3
#: Part numbers run from 1 to this (the S3 limit).
MAX_PARTS = 10_000

_FILE_ID = re.compile(r"[0-9a-f]{64}")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


#: What a streaming write accepts: bytes, an iterable of byte chunks, or a binary file object.
BlobSource = bytes | bytearray | memoryview | Iterable[bytes] | BinaryIO | _Readable


class BlobInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A stored binary object. ``file_id`` is the SHA-256 hex digest of the content."""

    file_id: str
    size: int
    content_type: str = DEFAULT_CONTENT_TYPE


class BlobPart(msgspec.Struct, frozen=True, kw_only=True):
    """One received part of a staged upload (``sha256`` is ``None`` when the backend received
    the part directly, e.g. through a presigned URL, and did not hash it)."""

    number: int
    size: int
    sha256: str | None = None


class BlobUpload(msgspec.Struct, frozen=True, kw_only=True):
    """A staged upload that is neither completed nor aborted."""

    upload_id: str
    content_type: str
    created: datetime


class BlobCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a blob store does natively (the suite skips the checks of what it does not).

    Attributes:
        presigned: :meth:`BlobStore.presign_get` and :meth:`BlobStore.presign_part` give URLs
            a client can use without going through the application.
        durable: written blobs survive the process.
    """

    presigned: bool = False
    durable: bool = True


def is_file_id(file_id: object) -> bool:
    """Whether ``file_id`` has the form of a blob id (64 lowercase hex digits)."""
    return isinstance(file_id, str) and _FILE_ID.fullmatch(file_id) is not None


def check_file_id(file_id: object) -> str:
    """``file_id`` if it has the form of a blob id.

    Raises:
        NotFoundError: it has not (no blob can have that id).
    """
    if not is_file_id(file_id):
        raise NotFoundError(f"blob {file_id!r} does not exist")
    return str(file_id)


def check_upload_id(upload_id: object) -> str:
    """``upload_id`` if it has the form the stores generate (32 lowercase hex digits).

    Raises:
        NotFoundError: it has not.
    """
    if not isinstance(upload_id, str) or _UPLOAD_ID.fullmatch(upload_id) is None:
        raise NotFoundError(f"upload {upload_id!r} does not exist")
    return upload_id


def check_part_number(number: object) -> int:
    """``number`` if it is a valid part number (``1..MAX_PARTS``).

    Raises:
        ValidationError: it is not.
    """
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_PARTS:
        message = f"must be an integer from 1 to {MAX_PARTS}, not {number!r}"
        raise ValidationError(f"invalid part number: {message}", [FieldError("part", message)])
    return number


def check_range(size: int, start: int, stop: int | None) -> tuple[int, int]:
    """The byte range ``[start, stop)`` of a blob of ``size`` bytes, ``stop`` defaulting to
    the end and clipped to it.

    Raises:
        ValueError: ``start`` is negative or past the end (``start == size`` is the empty
            range at the end), or ``stop < start``.
    """
    end = size if stop is None else min(stop, size)
    if start < 0 or start > size or end < start:
        raise ValueError(f"byte range [{start}, {stop}) is outside a blob of {size} bytes")
    return start, end


def check_parts(upload_id: str, parts: list[BlobPart], *, count: int, size: int | None) -> int:
    """Check the received ``parts`` (sorted by number) against the declared count and total
    size; returns the total size.

    Raises:
        ValidationError: a part is missing, or the sizes disagree (naming what differs).
    """
    numbers = [p.number for p in parts]
    if numbers != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(numbers))
        extra = sorted(set(numbers) - set(range(1, count + 1)))
        message = f"expected parts 1..{count}; missing {missing}, unexpected {extra}"
        raise ValidationError(
            f"upload {upload_id}: {message}", [FieldError("total_parts", message)]
        )
    total = sum(p.size for p in parts)
    if size is not None and total != size:
        message = f"the parts hold {total} bytes, not the declared {size}"
        raise ValidationError(f"upload {upload_id}: {message}", [FieldError("size", message)])
    return total


def check_max_file_bytes(value: object, name: str = "max_file_bytes") -> int:
    """``value`` if it is a valid file size limit: a positive ``int`` (``name`` is the
    argument named by the errors).

    Raises:
        TypeError: not an ``int`` (``bool`` included).
        ValueError: below 1.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int (bytes), not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1 byte, not {value}")
    return value


def check_digest(upload_id: str, actual: str, expected: str | None) -> None:
    """Compare a computed SHA-256 with the one the client declared.

    Raises:
        ValidationError: they differ.
    """
    if expected is not None and actual != expected.lower():
        message = f"the content's SHA-256 is {actual}, not the declared {expected}"
        raise ValidationError(f"upload {upload_id}: {message}", [FieldError("sha256", message)])


def iter_chunks(source: BlobSource, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The bytes of ``source`` in chunks (a file object is read ``chunk_size`` at a time;
    an iterable's own chunks are passed on, empty ones skipped).

    Raises:
        TypeError: ``source`` is neither bytes, a file object nor an iterable of bytes.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]
        return
    read = getattr(source, "read", None)
    if callable(read):
        while True:
            chunk = read(chunk_size)
            if not chunk:
                return
            if not isinstance(chunk, bytes | bytearray):
                raise TypeError(f"a blob source's read() must give bytes, not {type(chunk)}")
            yield bytes(chunk)
    if not isinstance(source, Iterable) or isinstance(source, str):
        raise TypeError(f"a blob source must be bytes, a file or an iterable of bytes: {source!r}")
    for chunk in source:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"a blob source must yield bytes, not {type(chunk).__name__}")
        if chunk:
            yield bytes(chunk)


def bounded_chunks(
    source: BlobSource, budget: int, refuse: Callable[[int], Exception]
) -> Iterator[bytes]:
    """The chunks of ``source`` (see :func:`iter_chunks`); raises ``refuse(count)`` as soon
    as more than ``budget`` bytes came, without passing on the chunk that went past it, so a
    store writing them abandons the write."""
    count = 0
    for chunk in iter_chunks(source):
        count += len(chunk)
        if count > budget:
            raise refuse(count)
        yield chunk


class Hashing:
    """Counts and hashes the chunks passing through :meth:`feed`."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.size = 0

    def feed(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.sha256.update(chunk)
            self.size += len(chunk)
            yield chunk

    @property
    def file_id(self) -> str:
        return self.sha256.hexdigest()


class BlobStore(abc.ABC):
    """Content-addressed binary objects: the same bytes always get the same ``file_id``.

    Every method is safe to call from several threads (and, for durable stores, several
    processes). Ids that do not have the form of a ``file_id`` (or of an upload id) never
    reach the backend: reads answer "not found", never a path or key built from them.
    """

    #: What the store does natively.
    capabilities: BlobCapabilities = BlobCapabilities()

    # -- whole objects --------------------------------------------------------------------------

    @abc.abstractmethod
    def put(self, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        """Store bytes (idempotent: storing existing content returns the existing info, whose
        content type is the one first stored)."""

    @abc.abstractmethod
    def get(self, file_id: str) -> tuple[BlobInfo, bytes]:
        """The info and content; :class:`~specstar.core.errors.NotFoundError` if absent."""

    @abc.abstractmethod
    def info(self, file_id: str) -> BlobInfo | None:
        """The info without the content, or ``None``."""

    @abc.abstractmethod
    def delete(self, file_id: str) -> bool:
        """Remove the object; returns whether it existed."""

    def url(self, file_id: str) -> str | None:
        """A direct download URL where the backend has one (:meth:`presign_get` with its
        default expiry); else ``None``."""
        return self.presign_get(file_id)

    # -- streams --------------------------------------------------------------------------------

    @abc.abstractmethod
    def put_stream(self, source: BlobSource, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        """Store the bytes of ``source`` (see :func:`iter_chunks`) like :meth:`put`, holding
        at most a bounded buffer in memory: the SHA-256 is computed while the bytes are
        written to a staging place, and the staged object becomes the blob (or is dropped
        when the blob exists already). A failure part way leaves no blob."""

    @abc.abstractmethod
    def open(self, file_id: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, stop)`` of a blob (``stop`` clipped to its size), as chunks of
        at most :data:`CHUNK_SIZE` bytes read as they are consumed.

        Raises:
            NotFoundError: no such blob (raised by this call, before any chunk is read).
            ValueError: the range lies outside the blob (see :func:`check_range`).
        """

    # -- staged multipart uploads ---------------------------------------------------------------

    @abc.abstractmethod
    def create_upload(self, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        """Start a staged upload; returns its id (32 lowercase hex digits)."""

    @abc.abstractmethod
    def put_part(self, upload_id: str, number: int, source: BlobSource) -> BlobPart:
        """Store part ``number`` (``1..MAX_PARTS``) of an upload, streaming and hashing it.

        Parts may come in any order and concurrently; putting a number again replaces it.

        Raises:
            NotFoundError: no such open upload.
            ValidationError: an invalid part number.
        """

    @abc.abstractmethod
    def list_parts(self, upload_id: str) -> list[BlobPart]:
        """The received parts of an open upload, by number.

        Raises:
            NotFoundError: no such open upload.
        """

    @abc.abstractmethod
    def complete_upload(
        self, upload_id: str, *, parts: int, size: int | None = None, sha256: str | None = None
    ) -> BlobInfo:
        """Join parts ``1..parts`` into a blob and close the upload.

        Checks, before the blob exists, that exactly the parts ``1..parts`` were received,
        that they hold ``size`` bytes (when given) and that the joined content's SHA-256 is
        ``sha256`` (when given). A failed check raises and leaves the upload open (a part
        may be sent again, or the upload aborted).

        Raises:
            NotFoundError: no such open upload.
            ValidationError: a check failed (naming ``total_parts``, ``size`` or ``sha256``).
        """

    @abc.abstractmethod
    def abort_upload(self, upload_id: str) -> bool:
        """Drop an open upload and its parts; returns whether it was open."""

    @abc.abstractmethod
    def list_uploads(self) -> list[BlobUpload]:
        """The open uploads (for collecting abandoned ones)."""

    # -- listing --------------------------------------------------------------------------------

    @abc.abstractmethod
    def list_ids(self) -> Iterator[str]:
        """Every stored ``file_id`` (in no particular order; for garbage collection)."""

    # -- presigned URLs -------------------------------------------------------------------------

    def presign_get(
        self, file_id: str, expires_in: int = 3600, filename: str | None = None
    ) -> str | None:
        """A URL that downloads the blob without credentials for ``expires_in`` seconds, or
        ``None`` where the backend has no such URLs (the default)."""
        return None

    def presign_part(
        self, upload_id: str, number: int, expires_in: int = 3600, *, size: int | None = None
    ) -> str | None:
        """A URL a client may ``PUT`` part ``number`` of an open upload to, for
        ``expires_in`` seconds, or ``None`` where the backend has no such URLs (the
        default). With ``size`` the URL is signed for a body of exactly that many bytes
        (``Content-Length``): the backend refuses another size."""
        return None

"""The backup archive format: a magic string, then checksummed frames.

An archive is ``MAGIC`` followed by frames. A frame is an 8-byte prefix — the payload length
and a CRC-32, both unsigned big-endian 32-bit integers — and the payload, one MessagePack
record. The CRC of each frame is chained (computed over its payload starting from the CRC of
the frame before it, 0 for the first), so a changed, dropped, repeated or reordered frame
breaks the chain where it happens.

The frames, in order::

    Header
    ( ModelStart  ( BlobStart BlobChunk* | Resource )*  ModelEnd )*
    Trailer

A ``Resource`` frame holds one resource: its meta and every revision, oldest first, with
the data as the source stored it (``ModelStart.encoding``). Blobs come before the first
resource that refers to them, each once per archive, in chunks of at most
:data:`CHUNK_SIZE` bytes. ``ModelEnd`` repeats the counts of its model and the ``Trailer``
the number of frames before it, so a reader knows an archive is complete only when it has
checked them.
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime
from typing import Literal

import msgspec

__all__ = [
    "CHUNK_SIZE",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_FRAME",
    "ArchivedMeta",
    "ArchivedRevision",
    "BlobChunk",
    "BlobStart",
    "Frame",
    "Header",
    "ModelEnd",
    "ModelStart",
    "Resource",
    "Trailer",
    "encode_frame",
]

#: The first bytes of every archive.
MAGIC = b"SPECSTAR-BACKUP\n"
#: The version of the frame layout this module reads and writes.
FORMAT_VERSION = 1
#: The largest payload a frame may have (a reader refuses a longer length field before
#: reading it, so a corrupted length never makes it allocate more).
MAX_FRAME = 256 * 1024 * 1024
#: Blob content per ``BlobChunk`` frame.
CHUNK_SIZE = 1024 * 1024

PREFIX = struct.Struct(">II")


class Header(msgspec.Struct, frozen=True, tag="header", array_like=True):
    """The first frame: the format version."""

    version: int


class ModelStart(msgspec.Struct, frozen=True, tag="model", array_like=True):
    """The start of one model's records.

    Attributes:
        name: the resource name.
        schema_version: the model's schema version when dumped.
        encoding: how revision data is encoded (``"json"`` or ``"msgpack"``).
    """

    name: str
    schema_version: str | None
    encoding: Literal["json", "msgpack"]


class ArchivedMeta(msgspec.Struct, frozen=True, array_like=True):
    """The meta record of a resource, without what a load derives again (indexed values,
    revision counts, the current revision's status and times)."""

    resource_id: str
    current_revision_id: str
    schema_version: str | None
    revision_seq: int
    created_time: datetime
    created_by: str
    updated_time: datetime
    updated_by: str
    is_deleted: bool


class ArchivedRevision(msgspec.Struct, frozen=True, array_like=True):
    """One revision: its information (``resource_id`` is the resource's) and stored data."""

    revision_id: str
    parent_revision_id: str | None
    schema_version: str | None
    data_hash: str
    status: Literal["draft", "stable"]
    created_time: datetime
    created_by: str
    updated_time: datetime
    updated_by: str
    data: bytes


class Resource(msgspec.Struct, frozen=True, tag="resource", array_like=True):
    """A resource with all its revisions, oldest first."""

    meta: ArchivedMeta
    revisions: list[ArchivedRevision]


class BlobStart(msgspec.Struct, frozen=True, tag="blob", array_like=True):
    """A blob whose content follows in ``BlobChunk`` frames adding up to ``size`` bytes."""

    file_id: str
    size: int
    content_type: str


class BlobChunk(msgspec.Struct, frozen=True, tag="chunk", array_like=True):
    """Part of the content of the blob started last."""

    data: bytes


class ModelEnd(msgspec.Struct, frozen=True, tag="end", array_like=True):
    """The end of one model's records, with their counts."""

    name: str
    resources: int
    revisions: int
    blobs: int


class Trailer(msgspec.Struct, frozen=True, tag="trailer", array_like=True):
    """The last frame: how many frames (and models) came before it."""

    frames: int
    models: int


Frame = Header | ModelStart | Resource | BlobStart | BlobChunk | ModelEnd | Trailer

_encoder = msgspec.msgpack.Encoder()


def encode_frame(frame: Frame, previous_crc: int) -> tuple[bytes, int]:
    """The bytes of one frame and its (chained) CRC."""
    payload = _encoder.encode(frame)
    if len(payload) > MAX_FRAME:
        raise ValueError(f"a frame of {len(payload)} bytes exceeds the {MAX_FRAME} byte limit")
    crc = zlib.crc32(payload, previous_crc)
    return PREFIX.pack(len(payload), crc) + payload, crc

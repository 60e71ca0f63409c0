"""Reading an archive: frames checked one by one, in constant memory.

:class:`ArchiveReader` yields the frames of an archive in order and raises
:class:`~specstar.core.errors.ArchiveError` (naming the byte offset) as soon as something is
wrong: bad magic, an unknown format version, a truncated or oversized frame, a checksum that
breaks the chain, a payload that is no known frame, frames out of order, counts that disagree
with ``ModelEnd``/``Trailer``, or bytes after the trailer. Since a truncated archive is only
known at its end, a loader checks the whole archive first (:func:`verify`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from ..errors import ArchiveError
from .format import (
    FORMAT_VERSION,
    MAGIC,
    MAX_FRAME,
    PREFIX,
    BlobChunk,
    BlobStart,
    Frame,
    Header,
    ModelEnd,
    ModelStart,
    Resource,
    Trailer,
)

__all__ = ["ArchiveReader", "verify"]

_decoder: msgspec.msgpack.Decoder[Frame] = msgspec.msgpack.Decoder(Frame)


class ArchiveReader:
    """The frames of one archive, checked; iterate once.

    Attributes:
        position: bytes read so far.
        models: the names of the models seen so far, in order.
    """

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.position = 0
        self.models: list[str] = []

    def _read(self, size: int, what: str) -> bytes:
        chunks: list[bytes] = []
        missing = size
        while missing:
            chunk = self.source.read(missing)
            if not chunk:
                raise ArchiveError(
                    f"the archive is truncated: {what} is cut short",
                    position=self.position + size - missing,
                )
            chunks.append(chunk)
            missing -= len(chunk)
        self.position += size
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _frames(self) -> Iterator[tuple[int, Frame]]:
        """Each frame with its offset, checksums checked, until the trailer."""
        if self._read(len(MAGIC), "the magic string") != MAGIC:
            raise ArchiveError("not a SpecStar backup archive (bad magic string)", position=0)
        crc = 0
        while True:
            at = self.position
            prefix = self.source.read(PREFIX.size)
            if not prefix:
                raise ArchiveError("the archive is truncated: the trailer is missing", position=at)
            self.position += len(prefix)
            if len(prefix) < PREFIX.size:
                prefix += self._read(PREFIX.size - len(prefix), "a frame header")
            length, expected = PREFIX.unpack(prefix)
            if length > MAX_FRAME:
                raise ArchiveError(f"frame length {length} exceeds {MAX_FRAME}", position=at)
            payload = self._read(length, "a frame")
            crc = zlib.crc32(payload, crc)
            if crc != expected:
                raise ArchiveError("checksum mismatch: the archive is corrupted", position=at)
            try:
                frame = _decoder.decode(payload)
            except msgspec.DecodeError as exc:
                raise ArchiveError(f"undecodable frame: {exc}", position=at) from None
            yield at, frame
            if isinstance(frame, Trailer):
                if self.source.read(1):
                    raise ArchiveError("unexpected bytes after the trailer", position=self.position)
                return

    def __iter__(self) -> Iterator[Frame]:
        """The frames in order, with the order and counts checked."""
        model: ModelStart | None = None
        blob_left = 0
        counts = [0, 0, 0]  # resources, revisions, blobs of the current model
        for count, (at, frame) in enumerate(self._frames()):

            def bad(message: str, at: int = at) -> ArchiveError:
                return ArchiveError(message, position=at)

            if count == 0:
                if not isinstance(frame, Header):
                    raise bad("the archive does not start with a header")
                if frame.version != FORMAT_VERSION:
                    raise bad(f"unsupported archive format version {frame.version}")
            elif isinstance(frame, BlobChunk):
                if len(frame.data) > blob_left:
                    raise bad("blob content longer than its declared size")
                blob_left -= len(frame.data)
            elif blob_left:
                raise bad(f"blob content ends {blob_left} bytes short of its declared size")
            elif isinstance(frame, Header):
                raise bad("a second header")
            elif isinstance(frame, ModelStart):
                if model is not None:
                    raise bad(f"model {frame.name!r} starts before {model.name!r} ended")
                if frame.name in self.models:
                    raise bad(f"model {frame.name!r} appears twice")
                model, counts = frame, [0, 0, 0]
                self.models.append(frame.name)
            elif isinstance(frame, Trailer):
                if model is not None:
                    raise bad(f"the trailer comes before model {model.name!r} ended")
                if frame.frames != count or frame.models != len(self.models):
                    raise bad(
                        f"the trailer counts {frame.frames} frames and {frame.models} models, "
                        f"the archive holds {count} and {len(self.models)}"
                    )
            elif model is None:
                raise bad(f"a {type(frame).__name__} frame outside any model")
            elif isinstance(frame, ModelEnd):
                if (
                    frame.name != model.name
                    or [
                        frame.resources,
                        frame.revisions,
                        frame.blobs,
                    ]
                    != counts
                ):
                    raise bad(
                        f"the end of model {model.name!r} counts {frame.resources} resources, "
                        f"{frame.revisions} revisions and {frame.blobs} blobs; the archive "
                        f"holds {counts[0]}, {counts[1]} and {counts[2]}"
                    )
                model = None
            elif isinstance(frame, BlobStart):
                if frame.size < 0:
                    raise bad(f"blob {frame.file_id!r} has a negative size")
                blob_left = frame.size
                counts[2] += 1
            elif isinstance(frame, Resource):
                counts[0] += 1
                counts[1] += len(frame.revisions)
            yield frame


def verify(source: BinaryIO) -> list[str]:
    """Read a whole archive and check it; returns the names of its models in order.

    Memory stays constant: one frame at a time.

    Raises:
        ArchiveError: the archive is malformed, truncated or corrupted.
    """
    reader = ArchiveReader(source)
    for _ in reader:
        pass
    return reader.models

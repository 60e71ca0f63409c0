"""Content-addressed blobs as files (the blob store of the SQLite factory).

The ``file_id`` is the SHA-256 hex digest of the bytes, so storing the same bytes twice keeps
one copy, and ids that are not 64 lowercase hex digits are never looked up (a hostile id cannot
name a path).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from specstar.core import (
    BlobInfo,
    BlobStore,
    FieldError,
    NotFoundError,
    ValidationError,
)
from specstar.core.spi import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    BlobPart,
    BlobSource,
    BlobUpload,
    Hashing,
    check_digest,
    check_part_number,
    check_parts,
    check_range,
    check_upload_id,
    is_file_id,
    iter_chunks,
)

from ._layout import text_problem

__all__ = ["FileBlobStore", "atomic_write", "check_content_type"]

_valid_id = is_file_id


def check_content_type(content_type: str) -> None:
    """Refuse a content type that is not printable text on one line.

    Raises:
        ValidationError: naming ``content_type``.
    """
    problem = text_problem(content_type) if isinstance(content_type, str) else "not a string"
    if problem or any(c in content_type for c in "\r\n"):
        message = problem or "line breaks are not allowed"
        raise ValidationError(
            f"invalid content type: {message}", [FieldError("content_type", message)]
        )


_check_content_type = check_content_type


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers and crashes see the old file or the whole
    new one: a temporary file in the same folder, ``fsync``, ``os.replace``, then an ``fsync``
    of the folder so the rename itself is durable."""
    _atomic_stream(path, [data])


def _atomic_stream(path: Path, chunks: Iterable[bytes]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _read_range(path: Path, file_id: str, start: int, end: int) -> Iterator[bytes]:
    """The bytes ``[start, end)`` of a blob file in chunks, opened when the first is asked
    for (an iterator never consumed holds no file)."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise NotFoundError(f"blob {file_id!r} was deleted while it was read") from None
    with f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(CHUNK_SIZE, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


class FileBlobStore(BlobStore):
    """Blobs as files ``<root>/<id[:2]>/<id>`` holding exactly the bytes (check them with
    ``sha256sum``), with the content type in ``<id>.type`` beside each.

    Writes are atomic and durable (see :func:`atomic_write`); several processes may share the
    folder.

    Args:
        root: the folder (created when missing).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _paths(self, file_id: str) -> tuple[Path, Path]:
        folder = self.root / file_id[:2]
        return folder / file_id, folder / f"{file_id}.type"

    @staticmethod
    def _read_type(path: Path) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def put(self, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        _check_content_type(content_type)
        file_id = hashlib.sha256(data).hexdigest()
        data_path, type_path = self._paths(file_id)
        with self._lock:
            if data_path.exists():
                stored = self._read_type(type_path)
                if stored is None:  # a crash between the two writes: complete it
                    atomic_write(type_path, content_type.encode())
                    stored = content_type
                return BlobInfo(file_id=file_id, size=data_path.stat().st_size, content_type=stored)
            if not data_path.parent.exists():
                data_path.parent.mkdir(exist_ok=True)
                _fsync_dir(self.root)
            atomic_write(type_path, content_type.encode())
            atomic_write(data_path, bytes(data))  # the blob exists from this rename on
        return BlobInfo(file_id=file_id, size=len(data), content_type=content_type)

    def get(self, file_id: str) -> tuple[BlobInfo, bytes]:
        if _valid_id(file_id):
            data_path, type_path = self._paths(file_id)
            try:
                data = data_path.read_bytes()
            except FileNotFoundError:
                pass
            else:
                content_type = self._read_type(type_path) or DEFAULT_CONTENT_TYPE
                info = BlobInfo(file_id=file_id, size=len(data), content_type=content_type)
                return info, data
        raise NotFoundError(f"blob {file_id!r} does not exist")

    def info(self, file_id: str) -> BlobInfo | None:
        if not _valid_id(file_id):
            return None
        data_path, type_path = self._paths(file_id)
        try:
            size = data_path.stat().st_size
        except FileNotFoundError:
            return None
        content_type = self._read_type(type_path) or DEFAULT_CONTENT_TYPE
        return BlobInfo(file_id=file_id, size=size, content_type=content_type)

    def delete(self, file_id: str) -> bool:
        if not _valid_id(file_id):
            return False
        data_path, type_path = self._paths(file_id)
        with self._lock:
            try:
                data_path.unlink()
            except FileNotFoundError:
                return False
            with contextlib.suppress(FileNotFoundError):
                type_path.unlink()
            _fsync_dir(data_path.parent)
        return True

    # -- streams --------------------------------------------------------------------------------

    def _staging(self) -> Path:
        path = self.root / ".staging"
        path.mkdir(exist_ok=True)
        return path

    def _adopt(self, tmp: Path, hashing: Hashing, content_type: str) -> BlobInfo:
        """Make the staged file ``tmp`` (already synced) the blob of its digest."""
        file_id = hashing.file_id
        data_path, type_path = self._paths(file_id)
        with self._lock:
            if data_path.exists():
                tmp.unlink()
                stored = self._read_type(type_path)
                if stored is None:
                    atomic_write(type_path, content_type.encode())
                    stored = content_type
                return BlobInfo(file_id=file_id, size=data_path.stat().st_size, content_type=stored)
            if not data_path.parent.exists():
                data_path.parent.mkdir(exist_ok=True)
                _fsync_dir(self.root)
            atomic_write(type_path, content_type.encode())
            os.replace(tmp, data_path)
            _fsync_dir(data_path.parent)
        return BlobInfo(file_id=file_id, size=hashing.size, content_type=content_type)

    def _stage(self, chunks: Iterable[bytes]) -> tuple[Path, Hashing]:
        """Write ``chunks`` to a synced file in the staging folder, hashing them."""
        hashing = Hashing()
        fd, name = tempfile.mkstemp(dir=self._staging(), prefix="put-")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in hashing.feed(chunks):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, hashing

    def put_stream(self, source: BlobSource, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        check_content_type(content_type)
        tmp, hashing = self._stage(iter_chunks(source))
        try:
            return self._adopt(tmp, hashing, content_type)
        finally:
            tmp.unlink(missing_ok=True)

    def open(self, file_id: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        if not _valid_id(file_id):
            raise NotFoundError(f"blob {file_id!r} does not exist")
        path = self._paths(file_id)[0]
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"blob {file_id!r} does not exist") from None
        begin, end = check_range(size, start, stop)
        return _read_range(path, file_id, begin, end)

    # -- staged uploads -------------------------------------------------------------------------

    def _upload_dir(self, upload_id: str) -> Path:
        folder = self.root / ".uploads" / check_upload_id(upload_id)
        if not (folder / "type").exists():
            raise NotFoundError(f"upload {upload_id!r} does not exist")
        return folder

    def create_upload(self, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        check_content_type(content_type)
        upload_id = secrets.token_hex(16)
        folder = self.root / ".uploads" / upload_id
        folder.mkdir(parents=True)
        atomic_write(folder / "type", content_type.encode())
        return upload_id

    def put_part(self, upload_id: str, number: int, source: BlobSource) -> BlobPart:
        check_part_number(number)
        folder = self._upload_dir(upload_id)
        hashing = Hashing()
        try:
            _atomic_stream(folder / f"{number:05d}", hashing.feed(iter_chunks(source)))
        except FileNotFoundError:  # aborted meanwhile
            raise NotFoundError(f"upload {upload_id!r} does not exist") from None
        return BlobPart(number=number, size=hashing.size, sha256=hashing.file_id)

    def _part_files(self, folder: Path) -> list[tuple[BlobPart, Path]]:
        found = []
        for path in folder.iterdir():
            if path.name.isdigit():
                part = BlobPart(number=int(path.name), size=path.stat().st_size)
                found.append((part, path))
        return sorted(found, key=lambda e: e[0].number)

    def list_parts(self, upload_id: str) -> list[BlobPart]:
        return [p for p, _ in self._part_files(self._upload_dir(upload_id))]

    def complete_upload(
        self, upload_id: str, *, parts: int, size: int | None = None, sha256: str | None = None
    ) -> BlobInfo:
        folder = self._upload_dir(upload_id)
        files = self._part_files(folder)
        check_parts(upload_id, [p for p, _ in files], count=parts, size=size)
        content_type = self._read_type(folder / "type") or DEFAULT_CONTENT_TYPE

        def joined() -> Iterator[bytes]:
            for _, path in files:
                with path.open("rb") as f:
                    yield from iter_chunks(f)

        tmp, hashing = self._stage(joined())
        try:
            check_digest(upload_id, hashing.file_id, sha256)
            info = self._adopt(tmp, hashing, content_type)
        finally:
            tmp.unlink(missing_ok=True)
        self.abort_upload(upload_id)
        return info

    def abort_upload(self, upload_id: str) -> bool:
        try:
            folder = self._upload_dir(upload_id)
        except NotFoundError:
            return False
        (folder / "type").unlink(missing_ok=True)  # closed from here on
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def list_uploads(self) -> list[BlobUpload]:
        found = []
        with contextlib.suppress(FileNotFoundError):
            for folder in (self.root / ".uploads").iterdir():
                try:
                    stat = (folder / "type").stat()
                except FileNotFoundError:
                    continue
                created = datetime.fromtimestamp(stat.st_mtime, UTC)
                content_type = self._read_type(folder / "type") or DEFAULT_CONTENT_TYPE
                found.append(
                    BlobUpload(upload_id=folder.name, content_type=content_type, created=created)
                )
        return found

    def list_ids(self) -> Iterator[str]:
        for folder in sorted(self.root.iterdir()):
            if len(folder.name) == 2 and folder.is_dir():
                for path in folder.iterdir():
                    if _valid_id(path.name):
                        yield path.name

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"

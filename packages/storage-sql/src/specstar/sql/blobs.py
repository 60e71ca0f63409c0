"""Blob stores: content-addressed files (SQLite factory) and a PostgreSQL table.

Both are content-addressed: the ``file_id`` is the SHA-256 hex digest of the bytes, so storing
the same bytes twice keeps one copy, and ids that are not 64 lowercase hex digits are never
looked up (a hostile id cannot name a path or a row).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from specstar.core import (
    BlobInfo,
    BlobStore,
    FieldError,
    NotFoundError,
    ValidationError,
)

from ._layout import text_problem

if TYPE_CHECKING:
    from ._backend import Backend

__all__ = ["FileBlobStore", "PostgresBlobStore"]

_FILE_ID = re.compile(r"[0-9a-f]{64}")
_DEFAULT_TYPE = "application/octet-stream"


def _valid_id(file_id: object) -> bool:
    return isinstance(file_id, str) and _FILE_ID.fullmatch(file_id) is not None


def _check_content_type(content_type: str) -> None:
    problem = text_problem(content_type) if isinstance(content_type, str) else "not a string"
    if problem or any(c in content_type for c in "\r\n"):
        message = problem or "line breaks are not allowed"
        raise ValidationError(
            f"invalid content type: {message}", [FieldError("content_type", message)]
        )


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


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

    def put(self, data: bytes, content_type: str = _DEFAULT_TYPE) -> BlobInfo:
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
                content_type = self._read_type(type_path) or _DEFAULT_TYPE
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
        content_type = self._read_type(type_path) or _DEFAULT_TYPE
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

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"


class PostgresBlobStore(BlobStore):
    """Blobs in a ``bytea`` table ``<schema>.specstar_blobs`` (for deployments without S3).

    Built by :meth:`PostgresStorageFactory.blob_store
    <specstar.sql.postgres.PostgresStorageFactory.blob_store>`, which creates the table.
    """

    def __init__(self, backend: Backend, table: str) -> None:
        self._backend = backend
        self._table = table

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """One idempotent statement (run again on a fresh connection when its connection is
        lost, like every standalone read of the storage)."""
        with self._backend.read() as tx:
            return tx.one(sql, params)

    def put(self, data: bytes, content_type: str = _DEFAULT_TYPE) -> BlobInfo:
        _check_content_type(content_type)
        file_id = hashlib.sha256(data).hexdigest()
        self._one(
            f"INSERT INTO {self._table} (file_id, size, content_type, data) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (file_id) DO NOTHING RETURNING 1",
            (file_id, len(data), content_type, bytes(data)),
        )
        found = self.info(file_id)
        return found or BlobInfo(file_id=file_id, size=len(data), content_type=content_type)

    def get(self, file_id: str) -> tuple[BlobInfo, bytes]:
        if _valid_id(file_id):
            row = self._one(
                f"SELECT size, content_type, data FROM {self._table} WHERE file_id = ?",
                (file_id,),
            )
            if row is not None:
                info = BlobInfo(file_id=file_id, size=int(row[0]), content_type=row[1])
                return info, bytes(row[2])
        raise NotFoundError(f"blob {file_id!r} does not exist")

    def info(self, file_id: str) -> BlobInfo | None:
        if not _valid_id(file_id):
            return None
        row = self._one(
            f"SELECT size, content_type FROM {self._table} WHERE file_id = ?", (file_id,)
        )
        return (
            None
            if row is None
            else BlobInfo(file_id=file_id, size=int(row[0]), content_type=row[1])
        )

    def delete(self, file_id: str) -> bool:
        if not _valid_id(file_id):
            return False
        with self._backend.write() as tx:  # not run twice: its answer would be wrong
            row = tx.one(f"DELETE FROM {self._table} WHERE file_id = ? RETURNING 1", (file_id,))
        return row is not None

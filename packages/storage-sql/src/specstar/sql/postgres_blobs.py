"""Blobs in PostgreSQL ``bytea`` rows, for deployments without S3.

Tables (in the factory's schema): ``specstar_blobs`` (one row per blob, ``data`` stored
uncompressed out of line so ranged reads fetch only the slices asked for),
``specstar_blob_uploads`` and ``specstar_blob_parts`` (staged uploads and their parts).

A streaming write sends the bytes as parts of a staged upload, hashing them on the way, and
joins them into the blob row inside the same transaction: the application never holds more
than one chunk, and a failure leaves nothing. Joining happens in the database, whose ``bytea``
limit (1 GB) bounds the size of one blob here; larger files belong in S3.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from specstar.core import BlobInfo, BlobStore, NotFoundError
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

from ._layout import to_utc
from .blobs import check_content_type

if TYPE_CHECKING:
    from ._backend import Backend, Tx

__all__ = ["PostgresBlobStore", "blob_tables_ddl"]


def blob_tables_ddl(prefix: str) -> list[str]:
    """The statements creating the blob tables under ``prefix`` (idempotent)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}specstar_blobs ("
        "file_id text NOT NULL, size bigint NOT NULL, content_type text NOT NULL, "
        "data bytea NOT NULL, CONSTRAINT specstar_blobs_pkey PRIMARY KEY (file_id))",
        f"ALTER TABLE {prefix}specstar_blobs ALTER COLUMN data SET STORAGE EXTERNAL",
        f"CREATE TABLE IF NOT EXISTS {prefix}specstar_blob_uploads ("
        "upload_id text NOT NULL, content_type text NOT NULL, "
        "created timestamptz NOT NULL DEFAULT now(), "
        "CONSTRAINT specstar_blob_uploads_pkey PRIMARY KEY (upload_id))",
        f"CREATE TABLE IF NOT EXISTS {prefix}specstar_blob_parts ("
        "upload_id text NOT NULL, number integer NOT NULL, seq integer NOT NULL, "
        "size bigint NOT NULL, sha256 text, data bytea NOT NULL, "
        "CONSTRAINT specstar_blob_parts_pkey PRIMARY KEY (upload_id, number, seq), "
        f"CONSTRAINT specstar_blob_parts_upload_fkey FOREIGN KEY (upload_id) "
        f"REFERENCES {prefix}specstar_blob_uploads (upload_id) ON DELETE CASCADE)",
        f"ALTER TABLE {prefix}specstar_blob_parts ALTER COLUMN data SET STORAGE EXTERNAL",
    ]


class PostgresBlobStore(BlobStore):
    """Blobs in the ``bytea`` table ``<schema>.specstar_blobs``.

    Built by :meth:`PostgresStorageFactory.blob_store
    <specstar.sql.postgres.PostgresStorageFactory.blob_store>`, which creates the tables.
    A part is kept as rows of at most :data:`~specstar.core.blobs.CHUNK_SIZE` bytes.
    """

    def __init__(self, backend: Backend, prefix: str) -> None:
        self._backend = backend
        self._table = f"{prefix}specstar_blobs"
        self._uploads = f"{prefix}specstar_blob_uploads"
        self._parts = f"{prefix}specstar_blob_parts"

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """One idempotent statement (run again on a fresh connection when its connection is
        lost, like every standalone read of the storage)."""
        with self._backend.read() as tx:
            return tx.one(sql, params)

    # -- whole objects --------------------------------------------------------------------------

    def put(self, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        return self.put_stream(data, content_type)

    def get(self, file_id: str) -> tuple[BlobInfo, bytes]:
        if is_file_id(file_id):
            row = self._one(
                f"SELECT size, content_type, data FROM {self._table} WHERE file_id = ?",
                (file_id,),
            )
            if row is not None:
                info = BlobInfo(file_id=file_id, size=int(row[0]), content_type=row[1])
                return info, bytes(row[2])
        raise NotFoundError(f"blob {file_id!r} does not exist")

    def info(self, file_id: str) -> BlobInfo | None:
        if not is_file_id(file_id):
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
        if not is_file_id(file_id):
            return False
        with self._backend.write() as tx:  # not run twice: its answer would be wrong
            row = tx.one(f"DELETE FROM {self._table} WHERE file_id = ? RETURNING 1", (file_id,))
        return row is not None

    # -- streams --------------------------------------------------------------------------------

    def _send(self, tx: Tx, upload_id: str, number: int, source: BlobSource) -> BlobPart:
        """Store a part as rows of at most one chunk, hashing it."""
        tx.run(f"DELETE FROM {self._parts} WHERE upload_id = ? AND number = ?", (upload_id, number))
        hashing = Hashing()
        for seq, chunk in enumerate(hashing.feed(iter_chunks(source))):
            tx.run(
                f"INSERT INTO {self._parts} (upload_id, number, seq, size, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (upload_id, number, seq, len(chunk), chunk),
            )
        if hashing.size == 0:  # an empty part still counts as received
            tx.run(
                f"INSERT INTO {self._parts} (upload_id, number, seq, size, data) "
                "VALUES (?, ?, 0, 0, ?)",
                (upload_id, number, b""),
            )
        tx.run(
            f"UPDATE {self._parts} SET sha256 = ? WHERE upload_id = ? AND number = ?",
            (hashing.file_id, upload_id, number),
        )
        return BlobPart(number=number, size=hashing.size, sha256=hashing.file_id)

    def _join(self, tx: Tx, upload_id: str, file_id: str, content_type: str) -> BlobInfo:
        """Insert the blob made of an upload's rows (unless it exists) and drop the upload."""
        tx.run(
            f"INSERT INTO {self._table} (file_id, size, content_type, data) "
            "SELECT ?, coalesce(sum(size), 0), ?, "
            "coalesce(string_agg(data, ''::bytea ORDER BY number, seq), ''::bytea) "
            f"FROM {self._parts} WHERE upload_id = ? ON CONFLICT (file_id) DO NOTHING",
            (file_id, content_type, upload_id),
        )
        tx.run(f"DELETE FROM {self._uploads} WHERE upload_id = ?", (upload_id,))
        row = tx.one(f"SELECT size, content_type FROM {self._table} WHERE file_id = ?", (file_id,))
        assert row is not None
        return BlobInfo(file_id=file_id, size=int(row[0]), content_type=row[1])

    def put_stream(self, source: BlobSource, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        check_content_type(content_type)
        upload_id = secrets.token_hex(16)
        with self._backend.write() as tx:
            tx.run(
                f"INSERT INTO {self._uploads} (upload_id, content_type) VALUES (?, ?)",
                (upload_id, content_type),
            )
            part = self._send(tx, upload_id, 1, source)
            assert part.sha256 is not None
            return self._join(tx, upload_id, part.sha256, content_type)

    def open(self, file_id: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        found = self.info(file_id)
        if found is None:
            raise NotFoundError(f"blob {file_id!r} does not exist")
        begin, end = check_range(found.size, start, stop)
        return self._slices(file_id, begin, end)

    def _slices(self, file_id: str, begin: int, end: int) -> Iterator[bytes]:
        for offset in range(begin, end, CHUNK_SIZE):
            length = min(CHUNK_SIZE, end - offset)
            row = self._one(
                f"SELECT substring(data FROM ? FOR ?) FROM {self._table} WHERE file_id = ?",
                (offset + 1, length, file_id),
            )
            if row is None:
                raise NotFoundError(f"blob {file_id!r} was deleted while it was read")
            yield bytes(row[0])

    # -- staged uploads -------------------------------------------------------------------------

    def create_upload(self, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        check_content_type(content_type)
        upload_id = secrets.token_hex(16)
        with self._backend.write() as tx:
            tx.run(
                f"INSERT INTO {self._uploads} (upload_id, content_type) VALUES (?, ?)",
                (upload_id, content_type),
            )
        return upload_id

    def _locked_upload(self, tx: Tx, upload_id: str) -> str:
        """The content type of an open upload, its row locked against completion."""
        row = tx.one(
            f"SELECT content_type FROM {self._uploads} WHERE upload_id = ? FOR SHARE",
            (check_upload_id(upload_id),),
        )
        if row is None:
            raise NotFoundError(f"upload {upload_id!r} does not exist")
        return str(row[0])

    def put_part(self, upload_id: str, number: int, source: BlobSource) -> BlobPart:
        check_part_number(number)
        with self._backend.write() as tx:
            self._locked_upload(tx, upload_id)
            return self._send(tx, upload_id, number, source)

    def _list_parts(self, tx: Tx, upload_id: str) -> list[BlobPart]:
        rows = tx.all(
            f"SELECT number, sum(size), max(sha256) FROM {self._parts} WHERE upload_id = ? "
            "GROUP BY number ORDER BY number",
            (upload_id,),
        )
        return [BlobPart(number=int(r[0]), size=int(r[1]), sha256=r[2]) for r in rows]

    def list_parts(self, upload_id: str) -> list[BlobPart]:
        with self._backend.read(snapshot=True) as tx:
            row = tx.one(
                f"SELECT 1 FROM {self._uploads} WHERE upload_id = ?",
                (check_upload_id(upload_id),),
            )
            if row is None:
                raise NotFoundError(f"upload {upload_id!r} does not exist")
            return self._list_parts(tx, upload_id)

    def complete_upload(
        self, upload_id: str, *, parts: int, size: int | None = None, sha256: str | None = None
    ) -> BlobInfo:
        with self._backend.write() as tx:
            row = tx.one(
                f"SELECT content_type FROM {self._uploads} WHERE upload_id = ? FOR UPDATE",
                (check_upload_id(upload_id),),
            )
            if row is None:
                raise NotFoundError(f"upload {upload_id!r} does not exist")
            content_type = str(row[0])
            check_parts(upload_id, self._list_parts(tx, upload_id), count=parts, size=size)
            digest = tx.one(
                "SELECT encode(sha256(coalesce(string_agg(data, ''::bytea ORDER BY number, "
                f"seq), ''::bytea)), 'hex') FROM {self._parts} WHERE upload_id = ?",
                (upload_id,),
            )
            assert digest is not None
            file_id = str(digest[0])
            check_digest(upload_id, file_id, sha256)
            return self._join(tx, upload_id, file_id, content_type)

    def abort_upload(self, upload_id: str) -> bool:
        try:
            check_upload_id(upload_id)
        except NotFoundError:
            return False
        with self._backend.write() as tx:
            return tx.run(f"DELETE FROM {self._uploads} WHERE upload_id = ?", (upload_id,)) > 0

    def list_uploads(self) -> list[BlobUpload]:
        with self._backend.read() as tx:
            rows = tx.all(f"SELECT upload_id, content_type, created FROM {self._uploads}")
        return [BlobUpload(upload_id=r[0], content_type=r[1], created=to_utc(r[2])) for r in rows]

    def list_ids(self) -> Iterator[str]:
        with self._backend.read() as tx:
            rows = tx.all(f"SELECT file_id FROM {self._table}")
        return iter([str(r[0]) for r in rows])

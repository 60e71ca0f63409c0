"""Content-addressed blobs in an S3 bucket.

Keys under the store's ``prefix``:

* ``blobs/<file_id>``: one object per blob, holding exactly its bytes, with its content type;
* ``staging/<token>``: a streaming write in progress (a multipart upload while the digest is
  computed; copied to its ``blobs/`` key by S3 itself, then deleted);
* ``uploads/<upload_id>/meta`` and ``uploads/<upload_id>/<number>``: a staged upload and its
  parts (plain objects, so a part may be of any size and be ``PUT`` through a presigned URL).

Completing an upload streams its parts, in order, into a staging object while hashing them
(one read of the parts, one write), checks the digest, and copies the staging object to its
``blobs/`` key. Memory stays bounded by the part buffer (:data:`PART_SIZE`) whatever the size.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from specstar.core import BlobInfo, BlobStore, NotFoundError, StorageUnavailableError
from specstar.core.spi import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    BlobCapabilities,
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

from ._client import (
    S3_ERRORS,
    confirm_bucket,
    is_conflicting_write,
    is_missing,
    is_precondition_failed,
    translated,
    translating,
    unavailable,
)

__all__ = ["PART_SIZE", "S3BlobStore"]

#: Bytes buffered per part of a multipart write (S3 parts are at least 5 MiB but the last).
PART_SIZE = 5 * 1024 * 1024
#: Tries of a blob's put-if-absent while another upload of the same bytes is in flight.
_PUT_ATTEMPTS = 4


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    # one part in flight: an upload holds about one PART_SIZE in memory
    return TransferConfig(
        multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=1
    )


_TRANSFER = _transfer_config()


class S3BlobStore(BlobStore):
    """Blobs in ``bucket`` under ``prefix``.

    Args:
        bucket: an existing bucket.
        prefix: key prefix (e.g. ``"myapp/"``); empty for the bucket root.
        client: a boto3 S3 client; by default one is made from ``client_options``
            (``endpoint_url``, ``region_name``, credentials...) and the usual boto3
            configuration sources.
        client_options: keyword arguments of ``boto3.client("s3", ...)``.
    """

    capabilities = BlobCapabilities(presigned=True)

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        client: Any = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(bucket, str) or len(bucket) < 3:
            raise ValueError(f"an S3 bucket name has at least 3 characters: {bucket!r}")
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"the prefix must end with '/': {prefix!r}")
        if client is None:
            import boto3

            client = boto3.client("s3", **(client_options or {}))
        elif client_options:
            raise ValueError("pass client= or client_options=, not both")
        self.bucket = bucket
        self.prefix = prefix
        self.client = client
        client.meta.events.register_first(
            "choose-signer.s3.PutObject", self._sign_part_urls_v4, unique_id=f"specstar-{id(self)}"
        )

    def _sign_part_urls_v4(
        self, signature_version: Any = None, context: Any = None, **_: Any
    ) -> str | None:
        """Presigned part URLs of this store are signed with SigV4, which covers the
        ``Content-Length`` of a sized URL (boto3 presigns S3 URLs with SigV2 by default, which
        does not). A client configured for another signature keeps it."""
        if not isinstance(context, dict) or not context.get("is_presign_request"):
            return None
        version = str(signature_version)  # "v4-query" unless configured otherwise
        if version.split("-", maxsplit=1)[0] not in ("v4", "s3v4") or "s3express" in version:
            return None
        params = context.get("input_params") or {}
        key = str(params.get("Key", ""))
        if params.get("Bucket") == self.bucket and key.startswith(f"{self.prefix}uploads/"):
            return "s3v4"
        return None

    def _blob_key(self, file_id: str) -> str:
        return f"{self.prefix}blobs/{file_id}"

    def _upload_key(self, upload_id: str, name: str) -> str:
        return f"{self.prefix}uploads/{upload_id}/{name}"

    # -- whole objects --------------------------------------------------------------------------

    def put(self, data: bytes, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        return self.put_stream(data, content_type)

    @translated("blob")
    def get(self, file_id: str) -> tuple[BlobInfo, bytes]:
        if is_file_id(file_id):
            try:
                obj = self.client.get_object(Bucket=self.bucket, Key=self._blob_key(file_id))
            except self.client.exceptions.ClientError as exc:
                if not is_missing(exc):
                    raise
            else:
                data = obj["Body"].read()
                content_type = obj.get("ContentType") or DEFAULT_CONTENT_TYPE
                return BlobInfo(file_id=file_id, size=len(data), content_type=content_type), data
        raise NotFoundError(f"blob {file_id!r} does not exist")

    @translated("blob")
    def info(self, file_id: str) -> BlobInfo | None:
        return self._info(file_id, confirm=True)

    def _info(self, file_id: str, *, confirm: bool) -> BlobInfo | None:
        """The blob's info from a ``HEAD``; on its 404, with ``confirm``, first make sure the
        bucket exists (a ``HEAD``'s 404 does not say which is missing). Without: where a write
        of the blob follows, which fails on a missing bucket anyway."""
        if not is_file_id(file_id):
            return None
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._blob_key(file_id))
        except self.client.exceptions.ClientError as exc:
            if is_missing(exc):
                if confirm:
                    confirm_bucket(self.client, self.bucket, f"blob info of {file_id!r}")
                return None
            raise
        return BlobInfo(
            file_id=file_id,
            size=int(head["ContentLength"]),
            content_type=head.get("ContentType") or DEFAULT_CONTENT_TYPE,
        )

    @translated("blob")
    def delete(self, file_id: str) -> bool:
        if self.info(file_id) is None:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=self._blob_key(file_id))
        return True

    # -- streams --------------------------------------------------------------------------------

    def _stage(self, chunks: Iterable[bytes], content_type: str) -> tuple[str, Hashing]:
        """Write ``chunks`` to a new staging object, hashing them; returns its key."""
        key = f"{self.prefix}staging/{secrets.token_hex(16)}"
        hashing = Hashing()
        buffer = bytearray()
        stream = hashing.feed(chunks)
        for chunk in stream:
            buffer += chunk
            if len(buffer) >= PART_SIZE:
                break
        else:  # small: one request
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=bytes(buffer), ContentType=content_type
            )
            return key, hashing
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type
        )["UploadId"]
        try:
            parts: list[dict[str, Any]] = []

            def send(body: bytes) -> None:
                number = len(parts) + 1
                etag = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
                )["ETag"]
                parts.append({"PartNumber": number, "ETag": etag})

            for chunk in stream:
                if len(buffer) >= PART_SIZE:
                    send(_head(buffer))
                buffer += chunk
            while len(buffer) > PART_SIZE:
                send(_head(buffer))
            send(bytes(buffer))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(*S3_ERRORS):  # the first error is the one to report
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise
        return key, hashing

    def _adopt(self, staging: str, hashing: Hashing, content_type: str) -> BlobInfo:
        """Make the staging object the blob of its digest (S3 copies it), then delete it."""
        try:
            found = self._info(hashing.file_id, confirm=False)
            if found is not None:
                return found
            self.client.copy(
                {"Bucket": self.bucket, "Key": staging},
                self.bucket,
                self._blob_key(hashing.file_id),
                ExtraArgs={"ContentType": content_type, "MetadataDirective": "REPLACE"},
                Config=_TRANSFER,
            )
        finally:
            self.client.delete_object(Bucket=self.bucket, Key=staging)
        return BlobInfo(file_id=hashing.file_id, size=hashing.size, content_type=content_type)

    @translated("blob")
    def put_stream(self, source: BlobSource, content_type: str = DEFAULT_CONTENT_TYPE) -> BlobInfo:
        chunks = iter_chunks(source)
        first = bytearray()
        for chunk in chunks:  # small content: hash first, then one request (no copy)
            first += chunk
            if len(first) > PART_SIZE:
                break
        else:
            data = bytes(first)
            hashing = Hashing()
            for _ in hashing.feed([data]):
                pass
            return self._put_small(hashing.file_id, data, content_type)

        def joined() -> Iterator[bytes]:
            yield bytes(first)
            yield from chunks

        staging, hashing = self._stage(joined(), content_type)
        return self._adopt(staging, hashing, content_type)

    def _put_small(self, file_id: str, data: bytes, content_type: str) -> BlobInfo:
        """One ``PUT`` if-absent of the blob: a new blob costs one request (no ``HEAD``
        first); when it exists already (412), or another upload of the same bytes is in flight
        (409), the stored blob's info is the answer (the first content type stays)."""
        for attempt in range(_PUT_ATTEMPTS):
            if attempt:
                time.sleep(0.05 * 2**attempt)  # 0.1, 0.2, 0.4 s: the other upload finishes
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._blob_key(file_id),
                    Body=data,
                    ContentType=content_type,
                    IfNoneMatch="*",
                )
                return BlobInfo(file_id=file_id, size=len(data), content_type=content_type)
            except ClientError as exc:
                if not (is_precondition_failed(exc) or is_conflicting_write(exc)):
                    raise
            found = self._info(file_id, confirm=False)
            if found is not None:
                return found
        raise StorageUnavailableError(
            f"S3 blob put in bucket {self.bucket!r}: other uploads of the same bytes kept "
            "conflicting; try again"
        )

    @translated("blob")
    def open(self, file_id: str, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        found = self.info(file_id)
        if found is None:
            raise NotFoundError(f"blob {file_id!r} does not exist")
        begin, end = check_range(found.size, start, stop)
        if begin == end:
            return iter(())
        return translating(
            self._ranged(file_id, begin, end), f"blob read in bucket {self.bucket!r}"
        )

    def _ranged(self, file_id: str, begin: int, end: int) -> Iterator[bytes]:
        """The bytes ``[begin, end)``, requested when the first chunk is asked for (an
        iterator never consumed holds no connection)."""
        try:
            obj = self.client.get_object(
                Bucket=self.bucket, Key=self._blob_key(file_id), Range=f"bytes={begin}-{end - 1}"
            )
        except self.client.exceptions.ClientError as exc:
            if is_missing(exc):
                raise NotFoundError(f"blob {file_id!r} was deleted while it was read") from None
            raise
        yield from _body_chunks(obj["Body"])

    # -- staged uploads -------------------------------------------------------------------------

    @translated("blob")
    def create_upload(self, content_type: str = DEFAULT_CONTENT_TYPE) -> str:
        upload_id = secrets.token_hex(16)
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._upload_key(upload_id, "meta"),
            Body=b"",
            ContentType=content_type,
        )
        return upload_id

    def _upload_type(self, upload_id: str) -> str:
        key = self._upload_key(check_upload_id(upload_id), "meta")
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError as exc:
            if not is_missing(exc):
                raise
        else:
            return str(head.get("ContentType") or DEFAULT_CONTENT_TYPE)
        confirm_bucket(self.client, self.bucket, f"upload {upload_id!r}")
        raise NotFoundError(f"upload {upload_id!r} does not exist")

    @translated("blob")
    def put_part(self, upload_id: str, number: int, source: BlobSource) -> BlobPart:
        check_part_number(number)
        self._upload_type(upload_id)
        hashing = Hashing()
        with tempfile.SpooledTemporaryFile(max_size=PART_SIZE) as spool:
            for chunk in hashing.feed(iter_chunks(source)):
                spool.write(chunk)
            spool.seek(0)
            self.client.upload_fileobj(
                spool, self.bucket, self._upload_key(upload_id, f"{number:05d}"), Config=_TRANSFER
            )
        return BlobPart(number=number, size=hashing.size, sha256=hashing.file_id)

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", ())

    def _part_objects(self, upload_id: str) -> list[tuple[BlobPart, str]]:
        found = []
        for obj in self._objects(self._upload_key(upload_id, "")):
            name = obj["Key"].rsplit("/", 1)[1]
            if name.isdigit():
                found.append((BlobPart(number=int(name), size=int(obj["Size"])), obj["Key"]))
        return sorted(found, key=lambda e: e[0].number)

    @translated("blob")
    def list_parts(self, upload_id: str) -> list[BlobPart]:
        self._upload_type(upload_id)
        return [p for p, _ in self._part_objects(upload_id)]

    @translated("blob")
    def complete_upload(
        self, upload_id: str, *, parts: int, size: int | None = None, sha256: str | None = None
    ) -> BlobInfo:
        content_type = self._upload_type(upload_id)
        objects = self._part_objects(upload_id)
        check_parts(upload_id, [p for p, _ in objects], count=parts, size=size)

        def joined() -> Iterator[bytes]:
            for _, key in objects:
                yield from _body_chunks(self.client.get_object(Bucket=self.bucket, Key=key)["Body"])

        staging, hashing = self._stage(joined(), content_type)
        try:
            check_digest(upload_id, hashing.file_id, sha256)
        except BaseException:
            self.client.delete_object(Bucket=self.bucket, Key=staging)
            raise
        info = self._adopt(staging, hashing, content_type)
        self.abort_upload(upload_id)
        return info

    @translated("blob")
    def abort_upload(self, upload_id: str) -> bool:
        try:
            self._upload_type(upload_id)
        except NotFoundError:
            return False
        keys = [{"Key": o["Key"]} for o in self._objects(self._upload_key(upload_id, ""))]
        meta = self._upload_key(upload_id, "meta")
        self.client.delete_object(Bucket=self.bucket, Key=meta)  # closed from here on
        for i in range(0, len(keys), 1000):
            batch = [k for k in keys[i : i + 1000] if k["Key"] != meta]
            if batch:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})
        return True

    @translated("blob")
    def list_uploads(self) -> list[BlobUpload]:
        found = []
        for obj in self._objects(f"{self.prefix}uploads/"):
            rest = obj["Key"][len(self.prefix) + len("uploads/") :]
            upload_id, _, name = rest.partition("/")
            if name == "meta":
                try:
                    content_type = self._upload_type(upload_id)
                except NotFoundError:
                    continue
                found.append(
                    BlobUpload(
                        upload_id=upload_id, content_type=content_type, created=obj["LastModified"]
                    )
                )
        return found

    def list_ids(self) -> Iterator[str]:
        start = len(self.prefix) + len("blobs/")
        try:
            for obj in self._objects(f"{self.prefix}blobs/"):
                file_id = obj["Key"][start:]
                if is_file_id(file_id):
                    yield file_id
        except S3_ERRORS as exc:
            raise unavailable(exc, f"blob listing in bucket {self.bucket!r}") from exc

    # -- presigned URLs -------------------------------------------------------------------------

    @translated("blob")
    def presign_get(
        self, file_id: str, expires_in: int = 3600, filename: str | None = None
    ) -> str | None:
        if not is_file_id(file_id):
            return None
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self._blob_key(file_id)}
        if filename is not None:
            safe = "".join(c for c in filename if c.isprintable() and c not in '"\\')
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )
        return url

    @translated("blob")
    def presign_part(
        self, upload_id: str, number: int, expires_in: int = 3600, *, size: int | None = None
    ) -> str | None:
        check_part_number(number)
        self._upload_type(upload_id)
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self._upload_key(upload_id, f"{number:05d}"),
        }
        if size is not None:  # Content-Length is signed: S3 refuses a body of another size
            params["ContentLength"] = size
        url: str = self.client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=expires_in
        )
        return url

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, prefix={self.prefix!r})"


def _head(buffer: bytearray) -> bytes:
    """The first :data:`PART_SIZE` bytes of ``buffer``, removed from it (one copy)."""
    with memoryview(buffer) as view:
        part = bytes(view[:PART_SIZE])
    del buffer[:PART_SIZE]
    return part


def _body_chunks(body: Any) -> Iterator[bytes]:
    """The chunks of a boto3 streaming body; closes it when done."""
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()

"""S3BlobStore against a moto server on a loopback port (the real S3 HTTP protocol; the
``s3_endpoint`` fixture of the specstar.testing plugin starts it)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from specstar.core import BlobStore
from specstar.testing import BlobStoreSuite
from specstar.testing.services import drop_bucket

boto3 = pytest.importorskip("boto3")

_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint, **_CREDENTIALS)


class TestS3BlobStore(BlobStoreSuite):
    @pytest.fixture
    def blob_store(self, s3_client: Any) -> BlobStore:
        from specstar.s3 import S3BlobStore

        bucket = f"blobs-{uuid.uuid4().hex[:12]}"
        s3_client.create_bucket(Bucket=bucket)
        return S3BlobStore(bucket, prefix="app/", client=s3_client)


def test_objects_are_keyed_by_digest(s3_client: Any) -> None:
    from specstar.s3 import S3BlobStore

    s3_client.create_bucket(Bucket="keyed-by-digest")
    store = S3BlobStore("keyed-by-digest", client=s3_client)
    info = store.put(b"plain bytes", "text/plain")
    obj = s3_client.get_object(Bucket="keyed-by-digest", Key=f"blobs/{info.file_id}")
    assert obj["Body"].read() == b"plain bytes"
    assert obj["ContentType"] == "text/plain"
    big = store.put_stream(iter([b"x" * (3 << 20)] * 5))  # 15 MiB: a multipart write
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket="keyed-by-digest")["Contents"]}
    assert keys == {f"blobs/{info.file_id}", f"blobs/{big.file_id}"}  # no staging left


def test_invalid_configuration() -> None:
    from specstar.s3 import S3BlobStore

    with pytest.raises(ValueError, match="3 characters"):
        S3BlobStore("ab", client=object())
    with pytest.raises(ValueError, match="end with '/'"):
        S3BlobStore("bucket", prefix="app", client=object())
    with pytest.raises(ValueError, match="not both"):
        S3BlobStore("bucket", client=object(), client_options={"region_name": "x"})


def test_s3_failures_are_storage_errors_naming_the_bucket(s3_client: Any) -> None:
    """What S3 refuses (here: the bucket is gone) is the storage contract's
    ``StorageUnavailableError`` on every call — one request, a multipart write, a listing, an
    upload session, a streamed read — never boto3's own exception (a 500 over HTTP), and never
    "no such blob/upload" (a HEAD's 404 alone would say so)."""
    from specstar.core import StorageUnavailableError
    from specstar.s3 import S3BlobStore

    bucket = f"gone-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    store = S3BlobStore(bucket, prefix="app/", client=s3_client)
    kept = store.put(b"kept")
    upload = store.create_upload()
    reading = store.open(kept.file_id)  # its bytes are asked for when first read
    drop_bucket(s3_client, bucket)
    absent = "0" * 64
    calls: dict[str, Any] = {
        "put": lambda: store.put(b"small"),
        "multipart put": lambda: store.put_stream(iter([b"x" * (3 << 20)] * 2)),
        "get": lambda: store.get(kept.file_id),
        "list": lambda: list(store.list_ids()),
        "create upload": store.create_upload,
        "list uploads": store.list_uploads,
        # a HEAD first: its 404 does not say whether the object or the bucket is missing
        "info": lambda: store.info(kept.file_id),
        "info of another": lambda: store.info(absent),
        "open": lambda: store.open(kept.file_id),
        "delete": lambda: store.delete(kept.file_id),
        "put part": lambda: store.put_part(upload, 1, b"part"),
        "list parts": lambda: store.list_parts(upload),
        "complete upload": lambda: store.complete_upload(upload, parts=1),
        "abort upload": lambda: store.abort_upload(upload),
        "presign part": lambda: store.presign_part(upload, 1),
        "read of an opened blob": lambda: b"".join(reading),
    }
    for label, call in calls.items():
        with pytest.raises(StorageUnavailableError) as failed:
            call()
        message = str(failed.value)
        assert "NoSuchBucket" in message, (label, message)
        assert f"bucket {bucket!r}" in message, (label, message)


def test_a_new_small_blob_is_one_request_and_a_duplicate_keeps_the_first(
    s3_client: Any,
) -> None:
    from specstar.s3 import S3BlobStore
    from specstar.testing.services import count_s3_requests

    bucket = f"one-put-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    store = S3BlobStore(bucket, prefix="app/", client=s3_client)
    counted = count_s3_requests(s3_client)
    first = store.put(b"%PDF-1.7 one", "application/pdf")
    assert dict(counted) == {"PutObject": 1}  # put-if-absent: no HEAD before it
    counted.clear()
    again = store.put(b"%PDF-1.7 one", "text/plain")
    assert dict(counted) == {"PutObject": 1, "HeadObject": 1}  # refused (412), then its info
    assert again == first  # same file id, size and the first content type
    assert store.get(first.file_id)[1] == b"%PDF-1.7 one"


def test_concurrent_uploads_of_the_same_bytes_all_succeed(s3_client: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from specstar.s3 import S3BlobStore

    bucket = f"same-bytes-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    store = S3BlobStore(bucket, prefix="app/", client=s3_client)
    data = b"y" * (256 << 10)
    with ThreadPoolExecutor(8) as pool:
        infos = list(pool.map(lambda _: store.put(data, "application/octet-stream"), range(16)))
    assert {i.file_id for i in infos} == {infos[0].file_id}
    assert all(i.size == len(data) for i in infos)
    assert store.get(infos[0].file_id)[1] == data


def test_a_put_refused_while_another_of_the_same_bytes_is_in_flight_tries_again(
    s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    from specstar.core import StorageUnavailableError
    from specstar.s3 import S3BlobStore

    bucket = f"in-flight-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    store = S3BlobStore(bucket, prefix="app/", client=s3_client)
    real_put = s3_client.put_object
    refusals = {"left": 2}

    def put_object(**kwargs: Any) -> Any:
        if refusals["left"]:  # S3's 409: a conditional write on the key is in flight
            refusals["left"] -= 1
            error = {
                "Error": {"Code": "ConditionalRequestConflict"},
                "ResponseMetadata": {"HTTPStatusCode": 409},
            }
            raise ClientError(error, "PutObject")  # type: ignore[arg-type]
        return real_put(**kwargs)

    monkeypatch.setattr(s3_client, "put_object", put_object)
    info = store.put(b"contended")
    assert refusals["left"] == 0
    assert store.get(info.file_id)[1] == b"contended"
    refusals["left"] = 10  # never lets go: an error, not a blob that was not stored
    with pytest.raises(StorageUnavailableError, match="kept conflicting"):
        store.put(b"never stored")

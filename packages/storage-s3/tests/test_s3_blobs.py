"""S3BlobStore against a moto server on a loopback port (the real S3 HTTP protocol; the
``s3_endpoint`` fixture of the specstar.testing plugin starts it)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from specstar.core import BlobStore
from specstar.testing import BlobStoreSuite

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

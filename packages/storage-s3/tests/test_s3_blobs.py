"""S3BlobStore against a moto server on a loopback port (the real S3 HTTP protocol; the
``s3_endpoint`` fixture of the specstar.testing plugin starts it)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import Header

from specstar.core import Binary, BlobStore
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


def _drop_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


def test_s3_failures_are_storage_errors_naming_the_bucket(s3_client: Any) -> None:
    """What S3 refuses (here: the bucket is gone) is the storage contract's
    ``StorageUnavailableError`` on every kind of call — one request, a multipart write, a
    listing, an upload session — never boto3's own exception (a 500 over HTTP)."""
    from specstar.core import StorageUnavailableError
    from specstar.s3 import S3BlobStore

    bucket = f"gone-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    store = S3BlobStore(bucket, prefix="app/", client=s3_client)
    kept = store.put(b"kept")
    _drop_bucket(s3_client, bucket)
    calls: dict[str, Any] = {
        "put": lambda: store.put(b"small"),
        "multipart put": lambda: store.put_stream(iter([b"x" * (3 << 20)] * 2)),
        "get": lambda: store.get(kept.file_id),
        "list": lambda: list(store.list_ids()),
        "create upload": store.create_upload,
        "list uploads": store.list_uploads,
    }
    for label, call in calls.items():
        with pytest.raises(StorageUnavailableError) as failed:
            call()
        message = str(failed.value)
        assert "NoSuchBucket" in message, (label, message)
        assert f"bucket {bucket!r}" in message, (label, message)


class Video(msgspec.Struct, kw_only=True):
    title: str
    file: Binary


def _user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def test_an_upload_to_a_failing_bucket_is_a_503_naming_it(s3_endpoint: str) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from specstar.fastapi import DependencyProvider, SpecStar
    from specstar.s3 import S3StorageFactory
    from specstar.testing.services import fresh_bucket, s3_options

    bucket = fresh_bucket(s3_endpoint)
    factory = S3StorageFactory(bucket, "app/", **s3_options(s3_endpoint))
    try:
        crud = SpecStar(
            storage_factory=factory, dependency_provider=DependencyProvider(get_user=_user)
        )
        crud.add_model(Video)
        app = FastAPI()
        crud.apply(app)
        with TestClient(app, raise_server_exceptions=False) as client:
            ok = client.post("/blobs/upload", content=b"one", headers={"X-User": "ann"})
            assert ok.status_code == 201, ok.text
            _drop_bucket(boto3.client("s3", **s3_options(s3_endpoint)), bucket)
            r = client.post("/blobs/upload", content=b"two", headers={"X-User": "ann"})
            assert r.status_code == 503, r.text
            assert f"bucket {bucket!r}" in r.json()["detail"]
    finally:
        factory.close()

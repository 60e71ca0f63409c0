"""The blob routes over an S3 blob store that fails: a 503 naming the bucket, never a 500."""

from __future__ import annotations

from typing import Annotated

import pytest

pytest.importorskip("fastapi")
boto3 = pytest.importorskip("boto3")

import msgspec  # noqa: E402
from fastapi import Header  # noqa: E402

from specstar.core import Binary  # noqa: E402


class Video(msgspec.Struct, kw_only=True):
    title: str
    file: Binary


def _user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def test_blob_routes_on_a_failing_bucket_are_503s_naming_it(s3_endpoint: str) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from specstar.fastapi import DependencyProvider, SpecStar
    from specstar.s3 import S3StorageFactory
    from specstar.testing.services import drop_bucket, fresh_bucket, s3_options

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
            drop_bucket(boto3.client("s3", **s3_options(s3_endpoint)), bucket)
            r = client.post("/blobs/upload", content=b"two", headers={"X-User": "ann"})
            assert r.status_code == 503, r.text
            assert f"bucket {bucket!r}" in r.json()["detail"]
            # a download asks S3 with a HEAD first: its 404 is not taken for "no such blob"
            file_id = ok.json()["file_id"]
            r = client.get(f"/blobs/{file_id}", headers={"X-User": "ann"})
            assert r.status_code == 503, r.text
            assert f"bucket {bucket!r}" in r.json()["detail"]
    finally:
        factory.close()

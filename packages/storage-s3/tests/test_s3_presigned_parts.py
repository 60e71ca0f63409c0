"""Direct-to-S3 parallel uploads: a ``presigned_parts`` session hands out one presigned URL
per part; the client PUTs the parts straight to S3 (real HTTP PUTs to the moto server, in
parallel); finalize joins them and checks the part count, size and SHA-256."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from specstar.core import BlobUploads, MemoryStorage, ValidationError
from specstar.s3 import S3BlobStore

PART = 256 * 1024


@pytest.fixture
def uploads(bucket: str, s3: dict[str, Any]) -> BlobUploads:
    return BlobUploads(
        S3BlobStore(bucket, prefix="app/", client_options=s3), storage=MemoryStorage()
    )


def _put_all(urls: list[str], parts: list[bytes]) -> list[int]:
    with httpx.Client(timeout=60) as client, ThreadPoolExecutor(4) as pool:
        return list(
            pool.map(
                lambda pair: client.put(pair[0], content=pair[1]).status_code,
                zip(urls, parts, strict=True),
            )
        )


def test_parts_go_straight_to_s3_in_parallel_and_finalize_checks_them(
    uploads: BlobUploads,
) -> None:
    content = os.urandom(5 * PART + 1234)
    parts = [content[i : i + PART] for i in range(0, len(content), PART)]
    sha = hashlib.sha256(content).hexdigest()
    session = uploads.create_session(
        content_type="video/mp4",
        size=len(content),
        total_parts=len(parts),
        sha256=sha,
        upload_method="presigned_parts",
        user="ann",
    )
    assert len(session.part_urls) == len(parts) == 6
    assert all(url.startswith("http://127.0.0.1:") for url in session.part_urls)
    assert _put_all(session.part_urls[::-1], parts[::-1]) == [200] * 6  # any order
    progress = uploads.get_session(session.upload_id, user="ann")
    assert progress.status == "uploaded"
    assert progress.parts_received == [1, 2, 3, 4, 5, 6]
    assert progress.uploaded_size == len(content)
    done = uploads.finalize(session.upload_id, user="ann")
    assert done.status == "finalized"
    assert done.file_id == sha
    assert done.part_urls == []
    assert uploads.blob_store.get(sha)[1] == content
    assert uploads.is_uploader(sha, "ann")


def test_finalize_refuses_a_wrong_digest_a_wrong_size_and_missing_parts(
    uploads: BlobUploads,
) -> None:
    content = os.urandom(3 * PART)
    parts = [content[i : i + PART] for i in range(0, len(content), PART)]
    session = uploads.create_session(
        size=len(content),
        total_parts=3,
        sha256=hashlib.sha256(b"something else").hexdigest(),
        upload_method="presigned_parts",
        user="ann",
    )
    assert _put_all(session.part_urls[:2], parts[:2]) == [200, 200]
    with pytest.raises(ValidationError, match=r"total_parts|part"):  # part 3 is missing
        uploads.finalize(session.upload_id, user="ann")
    assert _put_all(session.part_urls[2:], [parts[2] + b"x"]) == [200]  # one byte too many
    with pytest.raises(ValidationError, match="786433 bytes, not the declared 786432"):
        uploads.finalize(session.upload_id, user="ann")
    assert _put_all(session.part_urls[2:], [parts[2]]) == [200]  # sent again, right size
    with pytest.raises(ValidationError, match=r"(?i)sha-?256|digest"):  # not the declared one
        uploads.finalize(session.upload_id, user="ann")
    assert uploads.get_session(session.upload_id, user="ann").status == "uploaded"  # still open
    assert uploads.blob_store.info(hashlib.sha256(content).hexdigest()) is None


def test_presigned_parts_needs_a_part_count(uploads: BlobUploads) -> None:
    with pytest.raises(ValidationError, match="total_parts"):
        uploads.create_session(upload_method="presigned_parts", user="ann")
    with pytest.raises(ValidationError, match="total_parts"):
        uploads.create_session(upload_method="presigned_parts", total_parts=1001, user="ann")
    with pytest.raises(ValidationError, match="upload_method"):
        uploads.create_session(upload_method="parallel", user="ann")  # type: ignore[arg-type]

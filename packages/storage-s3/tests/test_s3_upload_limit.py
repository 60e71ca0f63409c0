"""The file size limit on S3: a ``single_put`` URL is signed (SigV4) for the declared size,
so S3 refuses a body of another length; content that reaches the bucket anyway (the test
server does not check signatures) is refused at finalize, and over the limit dropped."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest

from specstar.core import BlobUploads, ContentTooLargeError, MemoryStorage, ValidationError
from specstar.s3 import S3BlobStore

LIMIT = 1000
SECRET = "testing"  # the test server's throw-away credentials (specstar.testing.services)


@pytest.fixture
def store(bucket: str, s3: dict[str, Any]) -> S3BlobStore:
    return S3BlobStore(bucket, prefix="app/", client_options=s3)


@pytest.fixture
def uploads(store: S3BlobStore) -> BlobUploads:
    return BlobUploads(store, storage=MemoryStorage(), max_file_bytes=LIMIT)


def _signature_holds(url: str, content_length: int) -> bool:
    """Whether S3 would accept a ``PUT`` of ``content_length`` bytes to this presigned
    SigV4 URL (its signature, computed again the way S3 checks it)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = query.pop("X-Amz-Signature")
    signed = query["X-Amz-SignedHeaders"].split(";")
    values = {"host": parts.netloc, "content-length": str(content_length)}
    canonical = "\n".join(
        [
            "PUT",
            parts.path,
            "&".join(
                f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
            ),
            "".join(f"{name}:{values[name]}\n" for name in signed),
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = query["X-Amz-Credential"].split("/", 1)[1]
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            query["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = ("AWS4" + SECRET).encode()
    for piece in scope.split("/"):
        key = hmac.new(key, piece.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def test_a_single_put_url_is_signed_for_the_declared_size(uploads: BlobUploads) -> None:
    session = uploads.create_session(size=10, upload_method="single_put", user="ann")
    url = session.upload_url
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert "content-length" in dict(parse_qsl(urlsplit(url).query))["X-Amz-SignedHeaders"]
    assert _signature_holds(url, 10)
    assert not _signature_holds(url, 11)  # S3 answers 403 SignatureDoesNotMatch
    assert not _signature_holds(url, 9)
    assert httpx.put(url, content=b"x" * 10).status_code == 200
    assert uploads.finalize(session.upload_id, user="ann").size == 10


def test_a_session_without_a_size_gets_a_url_for_any_length(uploads: BlobUploads) -> None:
    session = uploads.create_session(upload_method="single_put", user="ann")
    signed = dict(parse_qsl(urlsplit(session.upload_url).query)).get("X-Amz-SignedHeaders", "")
    assert "content-length" not in signed


def test_content_of_the_wrong_size_is_refused_at_finalize(
    uploads: BlobUploads, store: S3BlobStore
) -> None:
    session = uploads.create_session(size=10, upload_method="single_put", user="ann")
    assert httpx.put(session.upload_url, content=b"x" * 11).status_code == 200  # unchecked here
    with pytest.raises(ValidationError, match="not the declared 10") as caught:
        uploads.finalize(session.upload_id, user="ann")
    assert not isinstance(caught.value, ContentTooLargeError)
    assert uploads.get_session(session.upload_id, user="ann").status == "uploaded"  # may resend
    assert httpx.put(session.upload_url, content=b"x" * 10).status_code == 200
    assert uploads.finalize(session.upload_id, user="ann").size == 10


def test_content_over_the_limit_is_dropped_at_finalize(
    uploads: BlobUploads, store: S3BlobStore
) -> None:
    session = uploads.create_session(size=LIMIT, upload_method="single_put", user="ann")
    assert httpx.put(session.upload_url, content=b"y" * (LIMIT + 1)).status_code == 200
    with pytest.raises(ContentTooLargeError) as caught:
        uploads.finalize(session.upload_id, user="ann")
    assert caught.value.limit == LIMIT
    assert uploads.get_session(session.upload_id, user="ann").status == "aborted"
    assert store.list_uploads() == []
    keys = store.client.list_objects_v2(Bucket=store.bucket, Prefix="app/").get("Contents", [])
    assert keys == []  # neither the part nor a blob is left in the bucket
    with pytest.raises(ContentTooLargeError):
        uploads.create_session(size=LIMIT + 1, upload_method="single_put", user="ann")

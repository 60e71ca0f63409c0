"""Conformance suite for :class:`~specstar.core.ports.BlobStore` adapters."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from specstar.core import BlobStore, NotFoundError, ValidationError
from specstar.core.spi import CHUNK_SIZE, MAX_PARTS, BlobPart


class BlobStoreSuite:
    """Subclass and define a ``blob_store`` fixture returning the adapter under test."""

    @pytest.fixture
    def blob_store(self) -> BlobStore:
        raise NotImplementedError("the adapter's test class must define blob_store")

    def test_put_get_roundtrip(self, blob_store: BlobStore) -> None:
        data = b"hello \x00 world"
        info = blob_store.put(data, "text/plain")
        assert info.file_id == hashlib.sha256(data).hexdigest()
        assert info.size == len(data)
        assert info.content_type == "text/plain"
        got_info, got = blob_store.get(info.file_id)
        assert got == data
        assert got_info == info
        assert blob_store.info(info.file_id) == info

    def test_content_addressed_and_idempotent(self, blob_store: BlobStore) -> None:
        a = blob_store.put(b"same")
        b = blob_store.put(b"same")
        assert a == b
        assert blob_store.put(b"other").file_id != a.file_id

    def test_empty_and_large(self, blob_store: BlobStore) -> None:
        assert blob_store.get(blob_store.put(b"").file_id)[1] == b""
        big = bytes(range(256)) * 8192  # 2 MiB
        assert blob_store.get(blob_store.put(big).file_id)[1] == big

    def test_missing(self, blob_store: BlobStore) -> None:
        missing = hashlib.sha256(b"never stored").hexdigest()
        assert blob_store.info(missing) is None
        with pytest.raises(NotFoundError):
            blob_store.get(missing)
        assert blob_store.delete(missing) is False

    def test_delete(self, blob_store: BlobStore) -> None:
        info = blob_store.put(b"to delete")
        assert blob_store.delete(info.file_id) is True
        assert blob_store.info(info.file_id) is None
        assert blob_store.delete(info.file_id) is False

    def test_concurrent_puts_of_same_content(self, blob_store: BlobStore) -> None:
        data = b"race" * 1000
        barrier = threading.Barrier(8)

        def put(_: int) -> str:
            barrier.wait()
            return blob_store.put(data).file_id

        with ThreadPoolExecutor(8) as pool:
            ids = set(pool.map(put, range(8)))
        assert len(ids) == 1
        assert blob_store.get(ids.pop())[1] == data

    # -- streams --------------------------------------------------------------------------------

    def test_put_stream_matches_put(self, blob_store: BlobStore) -> None:
        data = bytes(range(256)) * 20_000  # 5 MB in uneven chunks
        chunks = [data[i : i + 777_777] for i in range(0, len(data), 777_777)]
        info = blob_store.put_stream(iter(chunks), "application/x-test")
        assert info.file_id == hashlib.sha256(data).hexdigest()
        assert info.size == len(data)
        assert info.content_type == "application/x-test"
        assert blob_store.get(info.file_id)[1] == data
        again = blob_store.put_stream(io.BytesIO(data), "text/other")
        assert again == info  # content-addressed: the first content type stays
        assert blob_store.put_stream(b"").file_id == hashlib.sha256(b"").hexdigest()

    def test_put_stream_failure_leaves_no_blob(self, blob_store: BlobStore) -> None:
        def broken() -> Iterator[bytes]:
            yield b"half of it"
            raise OSError("connection lost")

        before = {u.upload_id for u in blob_store.list_uploads()}
        with pytest.raises(OSError, match="connection lost"):
            blob_store.put_stream(broken())
        assert blob_store.info(hashlib.sha256(b"half of it").hexdigest()) is None
        assert {u.upload_id for u in blob_store.list_uploads()} == before  # no staging left

    def test_put_stream_refuses_text(self, blob_store: BlobStore) -> None:
        with pytest.raises(TypeError):
            blob_store.put_stream(["text, not bytes"])  # type: ignore[list-item]

    def test_open_ranges(self, blob_store: BlobStore) -> None:
        data = bytes(range(256)) * 10_000
        file_id = blob_store.put(data).file_id
        assert b"".join(blob_store.open(file_id)) == data
        assert b"".join(blob_store.open(file_id, 1000, 1_500_123)) == data[1000:1_500_123]
        assert b"".join(blob_store.open(file_id, len(data) - 3)) == data[-3:]
        assert b"".join(blob_store.open(file_id, 5, 10**12)) == data[5:]
        assert b"".join(blob_store.open(file_id, len(data))) == b""
        assert all(len(c) <= CHUNK_SIZE for c in blob_store.open(file_id))
        for start, stop in [(-1, None), (len(data) + 1, None), (10, 5)]:
            with pytest.raises(ValueError, match="range"):
                b"".join(blob_store.open(file_id, start, stop))

    def test_open_missing(self, blob_store: BlobStore) -> None:
        for bad in [hashlib.sha256(b"never").hexdigest(), "../../etc/passwd", "ABC"]:
            with pytest.raises(NotFoundError):
                blob_store.open(bad)

    # -- staged uploads -------------------------------------------------------------------------

    def test_multipart_out_of_order_and_parallel(self, blob_store: BlobStore) -> None:
        parts = [bytes([n]) * (5 * 1024 * 1024 + n) for n in range(1, 4)]
        parts.append(b"tail")
        upload = blob_store.create_upload("video/x-test")

        def send(number: int) -> BlobPart:
            return blob_store.put_part(upload, number, io.BytesIO(parts[number - 1]))

        with ThreadPoolExecutor(4) as pool:
            received = list(pool.map(send, [4, 2, 3, 1]))
        assert {p.number for p in received} == {1, 2, 3, 4}
        listed = blob_store.list_parts(upload)
        assert [p.number for p in listed] == [1, 2, 3, 4]
        assert [p.size for p in listed] == [len(p) for p in parts]
        assert upload in {u.upload_id for u in blob_store.list_uploads()}
        whole = b"".join(parts)
        info = blob_store.complete_upload(
            upload, parts=4, size=len(whole), sha256=hashlib.sha256(whole).hexdigest()
        )
        assert info.file_id == hashlib.sha256(whole).hexdigest()
        assert info.size == len(whole)
        assert info.content_type == "video/x-test"
        assert blob_store.get(info.file_id)[1] == whole
        assert upload not in {u.upload_id for u in blob_store.list_uploads()}
        with pytest.raises(NotFoundError):
            blob_store.put_part(upload, 1, b"late")

    def test_multipart_checks(self, blob_store: BlobStore) -> None:
        upload = blob_store.create_upload()
        blob_store.put_part(upload, 1, b"first ")
        blob_store.put_part(upload, 3, b"third")
        with pytest.raises(ValidationError, match="missing \\[2\\]"):
            blob_store.complete_upload(upload, parts=3)
        blob_store.put_part(upload, 2, b"second ")
        with pytest.raises(ValidationError, match="not the declared 99"):
            blob_store.complete_upload(upload, parts=3, size=99)
        with pytest.raises(ValidationError, match="SHA-256"):
            blob_store.complete_upload(upload, parts=3, sha256="0" * 64)
        blob_store.put_part(upload, 2, b"2nd ")  # a part sent again replaces the first one
        info = blob_store.complete_upload(upload, parts=3, size=len(b"first 2nd third"))
        assert blob_store.get(info.file_id)[1] == b"first 2nd third"
        for bad in [0, MAX_PARTS + 1, True]:
            other = blob_store.create_upload()
            with pytest.raises(ValidationError, match="part"):
                blob_store.put_part(other, bad, b"x")
            assert blob_store.abort_upload(other) is True

    def test_multipart_abort_and_unknown(self, blob_store: BlobStore) -> None:
        upload = blob_store.create_upload()
        blob_store.put_part(upload, 1, b"dropped")
        assert blob_store.abort_upload(upload) is True
        assert blob_store.abort_upload(upload) is False
        assert blob_store.info(hashlib.sha256(b"dropped").hexdigest()) is None
        for bad in [upload, "0" * 32, "../x", ""]:
            with pytest.raises(NotFoundError):
                blob_store.put_part(bad, 1, b"x")
            with pytest.raises(NotFoundError):
                blob_store.complete_upload(bad, parts=1)
            with pytest.raises(NotFoundError):
                blob_store.list_parts(bad)

    # -- listing and presigned URLs -------------------------------------------------------------

    def test_list_ids(self, blob_store: BlobStore) -> None:
        ids = {blob_store.put(f"listed {n}".encode()).file_id for n in range(5)}
        assert ids <= set(blob_store.list_ids())
        gone = ids.pop()
        blob_store.delete(gone)
        assert gone not in set(blob_store.list_ids())

    def test_presigned_urls(self, blob_store: BlobStore) -> None:
        if not blob_store.capabilities.presigned:
            file_id = blob_store.put(b"no urls").file_id
            assert blob_store.presign_get(file_id) is None
            assert blob_store.presign_part(blob_store.create_upload(), 1) is None
            return
        import urllib.request

        data = b"fetched through a presigned URL"
        url = blob_store.presign_get(blob_store.put(data, "text/plain").file_id, expires_in=60)
        assert url is not None
        with urllib.request.urlopen(url) as response:
            assert response.read() == data
        upload = blob_store.create_upload("text/plain")
        part_url = blob_store.presign_part(upload, 1, expires_in=60)
        assert part_url is not None
        request = urllib.request.Request(
            part_url,
            data=b"sent directly",
            method="PUT",
            headers={"Content-Type": "application/octet-stream"},  # not a form
        )
        with urllib.request.urlopen(request) as response:
            assert response.status == 200
        assert [p.size for p in blob_store.list_parts(upload)] == [len(b"sent directly")]
        info = blob_store.complete_upload(upload, parts=1)
        assert blob_store.get(info.file_id)[1] == b"sent directly"

"""Conformance suite for :class:`~specstar.core.ports.BlobStore` adapters."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from specstar.core import BlobStore, NotFoundError


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

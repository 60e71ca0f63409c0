"""Conformance suite for :class:`~specstar.core.payloads.PayloadStore` adapters."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from specstar.core import ConflictError, PayloadStore, PayloadStoreFactory
from specstar.core.spi import is_payload_key, new_payload_key


class PayloadStoreSuite:
    """Subclass and define a ``payload_store_factory`` fixture returning the adapter under test.

    Every test works on a fresh resource-type name, so the factory may be shared.
    """

    @pytest.fixture
    def payload_store_factory(self) -> PayloadStoreFactory:
        raise NotImplementedError("the adapter's test class must define payload_store_factory")

    @pytest.fixture
    def payloads(self, payload_store_factory: PayloadStoreFactory) -> PayloadStore:
        return payload_store_factory.build(f"p-{uuid.uuid4().hex[:10]}")

    def test_keys_are_fresh_per_write(self) -> None:
        a, b = new_payload_key(b"same"), new_payload_key(b"same")
        assert a != b
        assert is_payload_key(a)
        assert is_payload_key(b)
        assert a.split("-")[0] == b.split("-")[0]  # the content hash part
        assert not is_payload_key("../../etc/passwd")

    def test_put_get_roundtrip(self, payloads: PayloadStore) -> None:
        data = b"\x00revision \xff bytes"
        key = new_payload_key(data)
        payloads.put("r1", key, data)
        assert payloads.get("r1", key) == data
        assert payloads.get("r2", key) is None  # addressed by resource and key
        empty = new_payload_key(b"")
        payloads.put("r1", empty, b"")
        assert payloads.get("r1", empty) == b""

    def test_large(self, payloads: PayloadStore) -> None:
        big = bytes(range(256)) * 8192  # 2 MiB
        key = new_payload_key(big)
        payloads.put("r", key, big)
        assert payloads.get("r", key) == big

    def test_put_if_absent_objects_are_immutable(self, payloads: PayloadStore) -> None:
        key = new_payload_key(b"first")
        payloads.put("r", key, b"first")
        payloads.put("r", key, b"first")  # a retried put of the same bytes is fine
        with pytest.raises(ConflictError):
            payloads.put("r", key, b"second")
        assert payloads.get("r", key) == b"first"

    def test_refuses_malformed_keys(self, payloads: PayloadStore) -> None:
        for bad in ["", "x", "../x", "A" * 64 + "-" + "0" * 16]:
            with pytest.raises(ValueError, match="payload key"):
                payloads.put("r", bad, b"data")

    def test_get_many_in_order(self, payloads: PayloadStore) -> None:
        keys = [new_payload_key(f"v{i}".encode()) for i in range(5)]
        for i, key in enumerate(keys):
            payloads.put(f"r{i % 2}", key, f"v{i}".encode())
        refs = [(f"r{i % 2}", k) for i, k in enumerate(keys)]
        refs = [refs[3], ("r9", keys[0]), refs[0], refs[3]]
        assert payloads.get_many(refs) == [b"v3", None, b"v0", b"v3"]
        assert payloads.get_many([]) == []

    def test_delete(self, payloads: PayloadStore) -> None:
        key = new_payload_key(b"gone")
        payloads.put("r", key, b"gone")
        assert payloads.delete("r", key) is True
        assert payloads.get("r", key) is None
        assert payloads.delete("r", key) is False

    def test_list_for_orphan_collection(self, payloads: PayloadStore) -> None:
        before = datetime.now(UTC) - timedelta(seconds=1)
        stored = {}
        for rid, data in [("a", b"1"), ("a", b"22"), ("b", b"333")]:
            key = new_payload_key(data)
            payloads.put(rid, key, data)
            stored[(rid, key)] = len(data)
        entries = list(payloads.list())
        assert {(e.resource_id, e.key): e.size for e in entries} == stored
        assert all(
            before <= e.stored_time <= datetime.now(UTC) + timedelta(seconds=1) for e in entries
        )
        assert all(e.stored_time.tzinfo is not None for e in entries)
        assert {e.key for e in payloads.list("a")} == {k for r, k in stored if r == "a"}
        assert list(payloads.list("nobody")) == []

    def test_resource_types_do_not_share_objects(
        self, payload_store_factory: PayloadStoreFactory
    ) -> None:
        one = payload_store_factory.build(f"p-{uuid.uuid4().hex[:10]}")
        two = payload_store_factory.build(f"p-{uuid.uuid4().hex[:10]}")
        key = new_payload_key(b"x")
        one.put("r", key, b"x")
        assert two.get("r", key) is None
        assert list(two.list()) == []

    def test_concurrent_puts_of_one_key(self, payloads: PayloadStore) -> None:
        key = new_payload_key(b"race")
        barrier = threading.Barrier(8)

        def put(i: int) -> str:
            barrier.wait()
            try:
                payloads.put("r", key, b"race" if i % 2 else f"other-{i}".encode())
                return "ok"
            except ConflictError:
                return "conflict"

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(put, range(8)))
        value = payloads.get("r", key)
        assert value is not None
        if value == b"race":  # one of the identical puts won; all differing ones were refused
            assert outcomes.count("conflict") == 4
        else:  # a differing put won; every other put was refused
            assert outcomes.count("ok") == 1
            assert outcomes.count("conflict") == 7

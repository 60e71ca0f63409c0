"""What only the database-free S3 storage can get wrong: replicas in several processes (here:
several factories on one bucket), checkpoints, orphan payloads, and the S3 requests each
operation costs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from specstar.core import (
    QB,
    NotFoundError,
    PreconditionFailedError,
    Query,
    ResourceManager,
    RevisionStatus,
    StorageUnavailableError,
    UniqueConstraintError,
)
from specstar.core.spi import new_payload_key
from specstar.s3 import S3PayloadStoreFactory, S3Storage, S3StorageFactory
from specstar.s3._client import SMALL_BODY_BYTES
from specstar.testing import ITEM_INDEXES, Item
from specstar.testing.services import count_s3_requests, drop_bucket


def _manager(factory: S3StorageFactory, name: str = "items") -> ResourceManager[Item]:
    return ResourceManager(
        Item, storage_factory=factory, name=name, indexed_fields=ITEM_INDEXES, default_user="u"
    )


@pytest.fixture
def factories(bucket: str, s3: dict[str, Any]) -> Iterator[list[S3StorageFactory]]:
    """Two factories on one bucket and prefix: two processes' worth of replicas."""
    made = [S3StorageFactory(bucket, "app/", checkpoint_every=4, **s3) for _ in range(2)]
    yield made
    for factory in made:
        factory.close()


def _storage(items: ResourceManager[Item]) -> S3Storage:
    storage = items.storage
    assert isinstance(storage, S3Storage)
    return storage


def test_replicas_see_each_others_writes_and_race_safely(
    factories: list[S3StorageFactory],
) -> None:
    a, b = _manager(factories[0]), _manager(factories[1])
    first = a.create(Item(name="v1", email="x@example.com"))
    assert b.get(first.resource_id).data.name == "v1"  # b's replica catches up on read
    a.update(first.resource_id, Item(name="v2", email="x@example.com"))
    with pytest.raises(PreconditionFailedError):  # b writes from the revision it read
        b.update(first.resource_id, Item(name="late"), expected_revision_id=first.revision_id)
    b.patch(first.resource_id, [{"op": "add", "path": "/tags/-", "value": "b"}])
    assert a.get(first.resource_id).data.tags == ["b"]
    assert a.get(first.resource_id).data.name == "v2"
    with pytest.raises(UniqueConstraintError) as refused:
        b.create(Item(name="dup", email="x@example.com"))
    assert refused.value.conflicting_resource_id == first.resource_id
    assert [m.resource_id for m in b.search(QB["name"] == "v2")] == [first.resource_id]


def test_a_new_replica_starts_from_the_latest_checkpoint(
    factories: list[S3StorageFactory], bucket: str, s3: dict[str, Any]
) -> None:
    a = _manager(factories[0])
    ids = [a.create(Item(name=f"n{i}")).resource_id for i in range(9)]
    storage = _storage(a)
    client = boto3.client("s3", **s3)
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{storage.base}checkpoint/")
    assert [o["Key"].rsplit("/", 1)[1] for o in listed["Contents"]] == [
        f"{4:020d}",
        f"{8:020d}",
    ]
    fresh = S3StorageFactory(bucket, "app/", **s3)
    try:
        counted = count_s3_requests(fresh.client)
        late = _manager(fresh)
        assert sorted(m.resource_id for m in late.search(Query(limit=100))) == sorted(ids)
        # one listing, the checkpoint after entry 8, entries 9 and 10 and the 404 of entry 11;
        # then one 404 probe each for the manager's setup and for the search
        assert counted == Counter({"ListObjectsV2": 1, "GetObject": 6})
    finally:
        fresh.close()


def test_orphan_payloads_are_collected_after_the_grace_period(
    factories: list[S3StorageFactory],
) -> None:
    items = _manager(factories[0])
    storage = _storage(items)
    rid = items.create(Item(name="draft"), status=RevisionStatus.draft).resource_id
    (old,) = [e.key for e in storage.payloads.list(rid)]
    items.modify(rid, Item(name="draft 2"))  # a new object; the old one stays readable
    assert storage.payloads.get(rid, old) is not None
    crashed = new_payload_key(b"{}")  # a writer that died between its put and its log entry
    storage.payloads.put("gone", crashed, b"{}")
    assert storage.orphan_payloads() == []  # younger than the grace period: maybe in flight
    orphans = {(o.resource_id, o.key) for o in storage.orphan_payloads(timedelta(0))}
    assert orphans == {(rid, old), ("gone", crashed)}
    assert storage.collect_orphan_payloads(timedelta(0)) == 2
    assert storage.payloads.get(rid, old) is None
    assert items.get(rid).data.name == "draft 2"
    assert storage.orphan_payloads(timedelta(0)) == []


def test_refused_writes_upload_nothing_and_purge_deletes_payloads(
    factories: list[S3StorageFactory],
) -> None:
    items = _manager(factories[0])
    storage = _storage(items)
    first = items.create(Item(name="a", email="a@x"))
    with pytest.raises(UniqueConstraintError):
        items.create(Item(name="b", email="a@x"))
    items.update(first.resource_id, Item(name="a2", email="a@x"))
    assert len(list(storage.payloads.list())) == 2
    assert items.prune_revisions(first.resource_id, keep_last_n=1) == 1
    assert len(list(storage.payloads.list())) == 1
    items.permanently_delete(first.resource_id)
    assert list(storage.payloads.list()) == []


def test_requests_per_operation(bucket: str, s3: dict[str, Any]) -> None:
    """S3 requests of each manager call on a process whose replica is current (the figures of
    docs/storage.md)."""
    factory = S3StorageFactory(bucket, "app/", **s3)
    try:
        items = _manager(factory)
        rid = items.create(Item(name="warm-up")).resource_id
        counted = count_s3_requests(factory.client)
        figures: dict[str, dict[str, int]] = {}

        def measure(label: str, call: Any) -> None:
            counted.clear()
            call()
            figures[label] = dict(counted)

        measure("create", lambda: items.create(Item(name="c")))
        measure("update", lambda: items.update(rid, Item(name="u")))
        measure("get", lambda: items.get(rid))
        measure("search", lambda: items.search(QB["name"] == "u"))
        # the benchmark's search: a range, an equality, a sort on another field, one page
        ranged = (QB["age"] >= 20) & (QB["age"] < 40) & (QB["active"] == True)  # noqa: E712
        measure(
            "range search",
            lambda: items.search(Query(where=ranged, sorts=(QB["score"].desc(),), limit=20)),
        )
        measure("count", lambda: items.count(ranged))
        print("S3 requests per call:", figures)
        assert figures == {
            "create": {"PutObject": 2},  # payload, log entry
            "update": {"GetObject": 1, "PutObject": 2},  # log probe; payload, log entry
            "get": {"GetObject": 1},  # log probe (the payload is cached: immutable)
            "search": {"GetObject": 1},  # log probe
            "range search": {"GetObject": 1},
            "count": {"GetObject": 1},
        }
        other = S3StorageFactory(bucket, "app/", **s3)  # another process wrote meanwhile
        try:
            _manager(other).create(Item(name="elsewhere"))
        finally:
            other.close()
        counted.clear()
        items.create(Item(name="after"))
        # lost the race for the entry: read the winner's entry and the 404 after it, retry
        assert counted == Counter({"PutObject": 3, "GetObject": 2})
    finally:
        factory.close()


def test_max_staleness_skips_the_freshness_probe_within_its_window(
    bucket: str, s3: dict[str, Any]
) -> None:
    lazy = S3StorageFactory(bucket, "app/", max_staleness=3600, **s3)
    other = S3StorageFactory(bucket, "app/", **s3)
    try:
        mine = _manager(lazy)
        rid = mine.create(Item(name="mine")).resource_id
        counted = count_s3_requests(lazy.client)
        assert mine.get(rid).data.name == "mine"  # its own write, from the replica
        assert [m.resource_id for m in mine.search(QB["name"] == "mine")] == [rid]
        assert mine.count(QB["name"] == "mine") == 1
        assert counted == Counter()  # caught up at the create: no request within the window
        theirs = _manager(other)
        elsewhere = theirs.create(Item(name="theirs")).resource_id
        with pytest.raises(NotFoundError):  # within the window: not seen yet
            mine.get_meta(elsewhere)
        theirs.update(rid, Item(name="changed"))
        with pytest.raises(PreconditionFailedError):  # writes are checked against the log
            mine.update(rid, Item(name="late"), expected_revision_id=f"{rid}:1")
        # losing that race caught the replica up: both writes are seen now
        assert mine.get(rid).data.name == "changed"
        assert mine.get(elsewhere).data.name == "theirs"
        mine.patch(rid, [{"op": "add", "path": "/tags/-", "value": "x"}])  # no lost update
        assert theirs.get(rid).data.tags == ["x"]
        assert theirs.get(rid).data.name == "changed"
    finally:
        lazy.close()
        other.close()


def test_small_puts_send_their_body_without_waiting_for_100_continue(
    bucket: str, s3: dict[str, Any]
) -> None:
    """botocore sends ``Expect: 100-continue`` with every put, which makes each one wait a round
    trip for the server's ``100`` before the body leaves; the clients the stores build drop it
    for bodies up to 1 MiB (payloads, log entries), and keep it for larger ones."""
    factory = S3StorageFactory(bucket, "app/", **s3)
    payload_factory = S3PayloadStoreFactory(bucket, "revs/", **s3)
    sent: list[tuple[int, bytes | None]] = []

    def record(request: Any, **_: Any) -> None:
        if request.method == "PUT":
            sent.append((int(request.headers["Content-Length"]), request.headers.get("Expect")))

    try:
        for client in (factory.client, payload_factory.client):
            client.meta.events.register("before-send.s3", record)
        items = _manager(factory)
        rid = items.create(Item(name="small")).resource_id
        items.update(rid, Item(name="small 2"))
        payloads = payload_factory.build("items")
        small, big = b"x" * 100, b"y" * (SMALL_BODY_BYTES + 1)
        small_key, big_key = new_payload_key(small), new_payload_key(big)
        payloads.put("r", small_key, small)
        payloads.put("r", big_key, big)
        # the index paths' entry, 2 x (payload, log entry), then the two payloads
        assert len(sent) == 7
        assert [expect for _, expect in sent[:-1]] == [None] * 6
        assert sent[-1] == (len(big), b"100-continue")
        fresh = S3PayloadStoreFactory(bucket, "revs/", **s3)  # no cache: read back from S3
        try:
            assert fresh.build("items").get("r", small_key) == small
            assert fresh.build("items").get("r", big_key) == big
        finally:
            fresh.close()
        reader = S3StorageFactory(bucket, "app/", **s3)
        try:
            assert _manager(reader).get(rid).data.name == "small 2"
        finally:
            reader.close()
    finally:
        factory.close()
        payload_factory.close()


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (float("nan"), ValueError), (True, TypeError), ("1", TypeError)],
)
def test_max_staleness_must_be_seconds(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_staleness"):
        S3StorageFactory("bucket", max_staleness=value)


def test_a_bucket_deleted_under_a_running_store_is_an_error_not_an_empty_answer(
    bucket: str, s3: dict[str, Any]
) -> None:
    """S3 answers 404 both for a missing object and a missing bucket: only the first may read
    as "nothing there". With the bucket gone, the freshness probe, reads and writes fail with
    an error naming the bucket; no read answers from the replica as if nothing had changed."""
    factory = S3StorageFactory(bucket, "app/", **s3)
    try:
        items = _manager(factory)
        rid = items.create(Item(name="kept")).resource_id
        key = new_payload_key(b"x")
        S3PayloadStoreFactory(bucket, "blobs/", **s3).build("items").put(rid, key, b"x")
        payloads = S3PayloadStoreFactory(bucket, "blobs/", **s3).build("items")  # cold cache
        drop_bucket(boto3.client("s3", **s3), bucket)
        calls: dict[str, Any] = {
            "get": lambda: items.get(rid),
            "search": lambda: items.search(QB["name"] == "kept"),
            "count": items.count,
            "create": lambda: items.create(Item(name="new")),
            "payload get": lambda: payloads.get(rid, key),
            # a HEAD first: its 404 alone would read as "no such payload"
            "payload delete": lambda: payloads.delete(rid, key),
        }
        for label, call in calls.items():
            with pytest.raises(StorageUnavailableError) as failed:
                call()
            message = str(failed.value)
            assert "NoSuchBucket" in message, (label, message)
            assert repr(bucket) in message, (label, message)
    finally:
        factory.close()

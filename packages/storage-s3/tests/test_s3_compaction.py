"""Compaction of the database-free S3 storage: purged data leaves the bucket, the log stays
bounded, and a replica left behind by a compaction reloads instead of serving a stale state
(several factories on one bucket stand for several processes)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from specstar.core import QB, Query, ResourceManager, StorageUnavailableError
from specstar.s3 import Compaction, S3Storage, S3StorageFactory
from specstar.s3.compaction import elapsed_clock
from specstar.testing import ITEM_INDEXES, Item
from specstar.testing.services import count_s3_requests

SECRET = "Zanzibar-7c1f"


def _manager(factory: S3StorageFactory) -> ResourceManager[Item]:
    return ResourceManager(
        Item, storage_factory=factory, name="items", indexed_fields=ITEM_INDEXES, default_user="u"
    )


def _storage(items: ResourceManager[Item]) -> S3Storage:
    storage = items.storage
    assert isinstance(storage, S3Storage)
    return storage


def _objects(bucket: str, s3: dict[str, Any]) -> dict[str, bytes]:
    """Every object of the bucket with its bytes."""
    client = boto3.client("s3", **s3)
    keys = [
        str(obj["Key"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for obj in page.get("Contents", ())
    ]
    return {key: client.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def _holding(objects: dict[str, bytes], text: str) -> list[str]:
    return sorted(key for key, data in objects.items() if text.encode() in data)


@pytest.fixture
def compacting(bucket: str, s3: dict[str, Any]) -> Iterator[S3StorageFactory]:
    """A process whose retention is 0: it compacts everything up to the present at once."""
    factory = S3StorageFactory(bucket, "app/", checkpoint_every=4, log_retention=0, **s3)
    yield factory
    factory.close()


def test_purged_and_pruned_data_leave_the_bucket(
    compacting: S3StorageFactory, bucket: str, s3: dict[str, Any]
) -> None:
    items = _manager(compacting)
    gone = items.create(Item(name=f"{SECRET}-name", email=f"{SECRET}@mail", note=SECRET))
    items.update(gone.resource_id, Item(name=f"{SECRET}-v2", note=f"{SECRET} again"))
    kept = items.create(Item(name="kept", note=f"old {SECRET}-pruned"))
    items.update(kept.resource_id, Item(name="kept", note="clean"))
    for i in range(4):  # past a checkpoint, so old checkpoints hold the secret too
        items.create(Item(name=f"filler {i}"))
    before = _objects(bucket, s3)
    assert any("/checkpoint/" in key for key in _holding(before, SECRET))
    assert any("/log/" in key for key in _holding(before, SECRET))
    assert any("/payloads/" in key for key in _holding(before, SECRET))

    items.permanently_delete(gone.resource_id)
    assert items.prune_revisions(kept.resource_id, keep_last_n=1) == 1
    done = compacting.compact()

    assert _holding(_objects(bucket, s3), SECRET) == []
    (report,) = done.values()
    assert set(done) == {"items"}
    # the manager's mark of its indexes, 8 writes, a purge, a prune
    assert report.written == report.checkpoint == 11
    assert (report.entries, report.checkpoints) == (11, 2)  # checkpoints 4 and 8
    assert sorted(_objects(bucket, s3)) == sorted(
        [f"app/items/checkpoint/{11:020d}"]
        + [key for key in before if "/payloads/" in key and SECRET.encode() not in before[key]]
    )
    # the process that compacted and a new one both see the same state
    fresh = S3StorageFactory(bucket, "app/", **s3)
    try:
        late = _manager(fresh)
        assert late.get(kept.resource_id).data.note == "clean"
        assert late.count(Query()) == items.count(Query()) == 5
        assert late.search(QB["name"] == f"{SECRET}-v2") == []
        after = late.create(Item(name="after", email=f"{SECRET}@mail"))  # the value is free
        assert items.get(after.resource_id).data.name == "after"
    finally:
        fresh.close()


def test_payloads_a_purge_failed_to_delete_are_deleted_by_compaction(
    compacting: S3StorageFactory, bucket: str, s3: dict[str, Any], monkeypatch: Any
) -> None:
    items = _manager(compacting)
    storage = _storage(items)
    rid = items.create(Item(name="a", note=SECRET)).resource_id
    items.create(Item(name="other"))

    def unreachable(resource_id: str, key: str) -> None:
        raise StorageUnavailableError("S3 is unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(storage.payloads, "discard", unreachable)
        items.permanently_delete(rid)  # its payload stays behind
    assert [key for key in _holding(_objects(bucket, s3), SECRET) if "/payloads/" in key]
    assert compacting.compact()["items"].payloads == 1
    assert _holding(_objects(bucket, s3), SECRET) == []
    assert [e.resource_id for e in storage.payloads.list()] != []  # "other" keeps its own


def test_payloads_of_a_restored_then_purged_resource_are_deleted_by_compaction(
    compacting: S3StorageFactory, bucket: str, s3: dict[str, Any], monkeypatch: Any
) -> None:
    source = ResourceManager(Item, name="items", indexed_fields=ITEM_INDEXES, default_user="u")
    source.create(Item(name="a", note=SECRET), resource_id="r")
    source.update("r", Item(name="b", note=f"{SECRET} 2"))
    history = source.storage.get_history("r")
    assert history is not None
    meta, ids = history
    revisions = [r for r in source.storage.get_revisions([("r", i) for i in ids]) if r]
    items = _manager(compacting)
    storage = _storage(items)
    storage.adopt_resource(meta, revisions, meta.indexed_data)  # one entry names both
    items.create(Item(name="other"))

    def unreachable(resource_id: str, key: str) -> None:
        raise StorageUnavailableError("S3 is unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(storage.payloads, "discard", unreachable)
        items.permanently_delete("r")  # both payloads stay behind
    assert len([k for k in _holding(_objects(bucket, s3), SECRET) if "/payloads/" in k]) == 2
    assert compacting.compact()["items"].payloads == 2
    assert _holding(_objects(bucket, s3), SECRET) == []


def test_a_replica_left_behind_by_a_compaction_reloads_before_reading_or_writing(
    compacting: S3StorageFactory, bucket: str, s3: dict[str, Any], monkeypatch: Any
) -> None:
    writer = _manager(compacting)
    behind_factory = S3StorageFactory(bucket, "app/", checkpoint_every=4, **s3)  # 1 h
    try:
        behind = _manager(behind_factory)
        first = writer.create(Item(name="first"))
        assert behind.get(first.resource_id).data.name == "first"  # caught up: entry 2
        later = [writer.create(Item(name=f"later {i}")).resource_id for i in range(6)]
        writer.update(first.resource_id, Item(name="first v2"))
        assert compacting.compact()["items"].checkpoint == 9
        # an hour on, as far as the replica that stopped at entry 2 can tell
        storage = _storage(behind)
        monkeypatch.setattr(storage.replica, "clock", lambda: elapsed_clock() + 3600)
        counted = count_s3_requests(behind_factory.client)
        assert behind.get(first.resource_id).data.name == "first v2"
        # 404 for entry 3, one LIST (checkpoint 9 exists), checkpoint 9, 404 for entry 10, and
        # the payload (the entry that repeated it is gone)
        assert counted == Counter({"GetObject": 4, "ListObjectsV2": 1})
        assert behind.count(Query()) == 7
        assert [m.resource_id for m in behind.search(QB["name"] == "later 3")] == [later[3]]
        # and a write from that replica lands after entry 9, where every replica finds it
        monkeypatch.setattr(storage.replica, "clock", lambda: elapsed_clock() + 7200)
        behind.update(first.resource_id, Item(name="first v3"))
        assert writer.get(first.resource_id).data.name == "first v3"
        log = boto3.client("s3", **s3).list_objects_v2(Bucket=bucket, Prefix="app/items/log/")
        assert [o["Key"].rsplit("/", 1)[1] for o in log.get("Contents", ())] == [f"{10:020d}"]
    finally:
        behind_factory.close()


def test_a_stale_writer_never_creates_an_entry_over_a_compacted_one(
    compacting: S3StorageFactory, bucket: str, s3: dict[str, Any], monkeypatch: Any
) -> None:
    writer = _manager(compacting)
    other_factory = S3StorageFactory(bucket, "app/", **s3)
    try:
        other = _manager(other_factory)
        rid = writer.create(Item(name="a")).resource_id
        other.get(rid)  # replica at entry 2
        for i in range(3):
            writer.create(Item(name=f"b{i}"))
        compacting.compact()  # entries 1..5 gone
        storage = _storage(other)
        monkeypatch.setattr(storage.replica, "clock", lambda: elapsed_clock() + 3600)
        # max_staleness-free append path: the write's first attempt starts from the replica
        created = other.create(Item(name="c"))
        assert writer.get(created.resource_id).data.name == "c"
        log = boto3.client("s3", **s3).list_objects_v2(Bucket=bucket, Prefix="app/items/log/")
        assert [o["Key"].rsplit("/", 1)[1] for o in log.get("Contents", ())] == [f"{6:020d}"]
    finally:
        other_factory.close()


def test_compaction_waits_for_the_retention(bucket: str, s3: dict[str, Any]) -> None:
    factory = S3StorageFactory(bucket, "app/", checkpoint_every=4, **s3)  # one hour
    try:
        items = _manager(factory)
        for i in range(6):
            items.create(Item(name=f"n{i}"))
        report = factory.compact()["items"]
        # checkpoint 4 is too young: nothing deleted, but the present is checkpointed
        assert report == Compaction(checkpoint=None, written=7)
        assert factory.compact()["items"] == Compaction(checkpoint=None, written=None)
        keys = [k for k in _objects(bucket, s3) if "/payloads/" not in k]
        assert len([k for k in keys if "/log/" in k]) == 7
        assert len([k for k in keys if "/checkpoint/" in k]) == 2
        with pytest.raises(ValueError, match="below log_retention"):
            factory.compact(keep_seconds=60)
    finally:
        factory.close()


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (float("inf"), ValueError), (True, TypeError), ("1", TypeError)],
)
def test_retention_must_be_seconds(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="log_retention"):
        S3StorageFactory("bucket", log_retention=value)
    factory = S3StorageFactory("bucket", log_retention=0)
    storage = factory.build("items")
    with pytest.raises(error, match="keep_seconds"):
        storage.compact(keep_seconds=value)


def test_reads_never_miss_an_acknowledged_write_while_compactions_run(
    compacting: S3StorageFactory, bucket: str, s3: dict[str, Any]
) -> None:
    """One process writes and compacts over and over; another, whose retention 0 makes it
    check every 404 against the checkpoints, counts: each count includes every create
    acknowledged before it began."""
    writer = _manager(compacting)
    reader_factory = S3StorageFactory(bucket, "app/", log_retention=0, **s3)
    acknowledged = 0
    done = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        nonlocal acknowledged
        try:
            for i in range(40):
                writer.create(Item(name=f"w{i}"))
                acknowledged += 1
        except BaseException as exc:
            failures.append(exc)
        finally:
            done.set()

    def compact() -> None:
        try:
            while not done.is_set():
                compacting.compact()
        except BaseException as exc:
            failures.append(exc)

    try:
        reader = _manager(reader_factory)
        threads = [threading.Thread(target=write), threading.Thread(target=compact)]
        for thread in threads:
            thread.start()
        seen: list[tuple[int, int]] = []
        while not done.is_set():
            before = acknowledged
            seen.append((before, reader.count(Query())))
            time.sleep(0.1)  # let a few writes and compactions pass the reader's replica
        for thread in threads:
            thread.join()
        assert failures == []
        assert reader.count(Query()) == 40
        assert all(count >= before for before, count in seen), seen
        assert [count for _, count in seen] == sorted(count for _, count in seen)
        assert len(seen) > 5
    finally:
        reader_factory.close()
    log = boto3.client("s3", **s3).list_objects_v2(Bucket=bucket, Prefix="app/items/log/")
    assert len(log.get("Contents", ())) < 40  # compacted as it went

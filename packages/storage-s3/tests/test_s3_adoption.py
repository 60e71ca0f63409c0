"""Restoring whole resources on the S3-only storage (``adopt_resource``): one log entry per
resource, so a process killed in the middle of a load leaves every resource whole or absent,
and refused or lost adoptions leave no payload behind once orphans are collected."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from specstar.core import (
    AlreadyExistsError,
    Query,
    ResourceManager,
    StorageUnavailableError,
    UniqueConstraintError,
)
from specstar.core.spi import Adoption
from specstar.s3 import S3Storage, S3StorageFactory
from specstar.testing import ITEM_INDEXES, Item
from specstar.testing.services import count_s3_requests

#: Builds resources of many revisions in a memory store and adopts them into S3 one after the
#: other until killed; prints ``begin <id>`` before each adoption and ``adopted <id>`` after.
_LOADER = """
import json, sys
from specstar.core import ResourceManager
from specstar.s3 import S3StorageFactory
from specstar.testing import ITEM_INDEXES, Item

bucket, prefix = sys.argv[1], sys.argv[2]
options, revisions = json.loads(sys.argv[3]), int(sys.argv[4])
source = ResourceManager(Item, name="items", indexed_fields=ITEM_INDEXES, default_user="u")
target = ResourceManager(
    Item, storage_factory=S3StorageFactory(bucket, prefix, **options), name="items",
    indexed_fields=ITEM_INDEXES, default_user="u",
)
n = 0
while True:
    rid = f"r{n:05d}"
    for k in range(revisions):
        source.create_or_update(rid, Item(name=f"{rid}-{k}", tags=["x" * 2000, str(k)]))
    history = source.storage.get_history(rid)
    meta, ids = history
    found = source.storage.get_revisions([(rid, i) for i in ids])
    print("begin", rid, flush=True)
    target.storage.adopt_resource(meta, found, meta.indexed_data)
    print("adopted", rid, flush=True)
    n += 1
"""


def _manager(factory: S3StorageFactory) -> ResourceManager[Item]:
    return ResourceManager(
        Item, storage_factory=factory, name="items", indexed_fields=ITEM_INDEXES, default_user="u"
    )


@pytest.fixture
def factories(bucket: str, s3: dict[str, Any]) -> Iterator[list[S3StorageFactory]]:
    made = [S3StorageFactory(bucket, "app/", **s3) for _ in range(2)]
    yield made
    for factory in made:
        factory.close()


def _source(rid: str, emails: list[str]) -> Adoption:
    """A resource with one revision per email, made in a memory store."""
    m = ResourceManager(Item, name="items", indexed_fields=ITEM_INDEXES, default_user="u")
    for n, email in enumerate(emails):
        m.create_or_update(rid, Item(name=f"{rid}-{n}", email=email))
    history = m.storage.get_history(rid)
    assert history is not None
    meta, ids = history
    found = [r for r in m.storage.get_revisions([(rid, i) for i in ids]) if r is not None]
    return Adoption(meta=meta, revisions=found, indexed_data=meta.indexed_data)


def _storage(m: ResourceManager[Item]) -> S3Storage:
    storage = m.storage
    assert isinstance(storage, S3Storage)
    return storage


def _log_keys(client: Any, bucket: str, storage: S3Storage) -> list[str]:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{storage.base}log/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_a_resource_is_adopted_with_one_log_entry(
    factories: list[S3StorageFactory], bucket: str, s3: dict[str, Any]
) -> None:
    a, b = _manager(factories[0]), _manager(factories[1])
    storage = _storage(a)
    a.search()  # the replica is current: what follows is the adoption's own requests
    entries = len(_log_keys(boto3.client("s3", **s3), bucket, storage))
    counted = count_s3_requests(factories[0].client)
    src = _source("r", ["r1@x", "r2@x", "r3@x"])
    storage.adopt_resource(src.meta, src.revisions, src.indexed_data)
    # three payloads and one conditional create of the log entry naming them all
    assert counted == Counter({"PutObject": 4})
    assert len(_log_keys(boto3.client("s3", **s3), bucket, storage)) == entries + 1
    # another process sees the whole history at once
    other = _storage(b)
    history = other.get_history("r")
    assert history is not None
    assert history[1] == ["r:1", "r:2", "r:3"]
    found = other.get_revisions([("r", i) for i in history[1]])
    assert [r.data for r in found if r is not None] == [r.data for r in src.revisions]
    with pytest.raises(UniqueConstraintError):
        b.create(Item(name="dup", email="r3@x"))
    with pytest.raises(AlreadyExistsError):
        other.adopt_resource(src.meta, src.revisions, src.indexed_data)


def test_an_overwrite_replaces_the_history_and_deletes_the_old_payloads(
    factories: list[S3StorageFactory],
) -> None:
    a = _manager(factories[0])
    storage = _storage(a)
    old = _source("r", ["o1@x", "o2@x", "o3@x"])
    first = storage.adopt_resource(old.meta, old.revisions, old.indexed_data)
    new = _source("r", ["n1@x"])
    storage.adopt_resource(new.meta, new.revisions, new.indexed_data, replaces=first)
    assert storage.list_revision_ids("r") == ["r:1"]
    assert len(list(storage.payloads.list("r"))) == 1
    a.create(Item(name="freed", email="o3@x"))  # the old claim went with the old resource
    with pytest.raises(UniqueConstraintError):
        a.create(Item(name="held", email="n1@x"))


def test_a_refused_adoption_leaves_no_payload(factories: list[S3StorageFactory]) -> None:
    a = _manager(factories[0])
    storage = _storage(a)
    a.create(Item(name="holder", email="taken@x"), resource_id="holder")
    src = _source("r", ["r1@x", "taken@x"])
    with pytest.raises(UniqueConstraintError):
        storage.adopt_resource(src.meta, src.revisions, src.indexed_data)
    assert storage.get_meta("r") is None
    assert list(storage.payloads.list("r")) == []


def test_a_lost_log_create_leaves_the_resource_absent_and_its_payloads_orphans(
    factories: list[S3StorageFactory],
) -> None:
    a, b = _manager(factories[0]), _manager(factories[1])
    storage = _storage(a)
    a.search()

    def fail_log_puts(params: dict[str, Any], **_: Any) -> None:
        if "/log/" in params["Key"]:
            raise EndpointConnectionError(endpoint_url="http://s3.test")

    factories[0].client.meta.events.register("before-parameter-build.s3.PutObject", fail_log_puts)
    src = _source("r", ["r1@x", "r2@x"])
    with pytest.raises(StorageUnavailableError):
        storage.adopt_resource(src.meta, src.revisions, src.indexed_data)
    factories[0].client.meta.events.unregister("before-parameter-build.s3.PutObject", fail_log_puts)
    assert _storage(b).get_meta("r") is None
    assert len(list(storage.payloads.list("r"))) == 2  # the outcome was unknown: kept
    assert storage.collect_orphan_payloads(timedelta(0)) == 2
    storage.adopt_resource(src.meta, src.revisions, src.indexed_data)  # and it can be retried
    assert _storage(b).list_revision_ids("r") == ["r:1", "r:2"]


def test_kill_9_mid_load_leaves_each_resource_whole_or_absent(
    bucket: str, s3: dict[str, Any]
) -> None:
    revisions, rounds = 12, 4
    rnd = random.Random(7)
    mid_resource = 0
    for round_ in range(rounds):
        prefix = f"round{round_}/"
        proc = subprocess.Popen(
            [sys.executable, "-c", _LOADER, bucket, prefix, json.dumps(s3), str(revisions)],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        reported: set[str] = set()
        # let it adopt a few resources, then kill it just after it began the next one
        while True:
            line = proc.stdout.readline().decode()
            assert line, f"the loader of round {round_} ended on its own"
            verb, rid = line.split()
            if verb == "adopted":
                reported.add(rid)
            elif len(reported) >= 2 + round_:
                break
        time.sleep(rnd.uniform(0.0, 0.02))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reported |= {
            ln.split()[1] for ln in proc.stdout.read().decode().splitlines() if "adopted" in ln
        }
        proc.stdout.close()
        factory = S3StorageFactory(bucket, prefix, **s3)
        try:
            storage = _storage(_manager(factory))
            found = {m.resource_id for m in storage.search(Query(limit=1000)).items}
            assert reported <= found  # every acknowledged adoption survived the kill
            assert len(found - reported) <= 1  # at most the one in flight, if its entry landed
            for rid in found:
                ids = storage.list_revision_ids(rid)
                assert ids == [f"{rid}:{k}" for k in range(1, revisions + 1)]
                stored = storage.get_revisions([(rid, i) for i in ids])
                assert all(r is not None for r in stored)
            orphans = {e.resource_id for e in storage.payloads.list()} - found
            mid_resource += bool(orphans)
        finally:
            factory.close()
    # figures for the record: how many kills landed between a resource's payloads and its entry
    print(f"{rounds} kills, {mid_resource} in the middle of a resource, 0 partial resources")

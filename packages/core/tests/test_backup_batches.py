"""Loading in batches: every record keeps its own outcome, references to resources of the
same batch resolve, and a batch the store fails as a whole is retried resource by resource."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
import pytest

from specstar.core import Query, ResourceManager, StorageUnavailableError, Unique, dump, load
from specstar.core.backup import loader
from specstar.core.memory import MemoryStorageFactory
from specstar.core.refs import OnDelete, Ref, Registry
from specstar.core.spi import Adoption

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Account(msgspec.Struct, kw_only=True):
    email: Annotated[str, Unique()]
    name: str


class Node(msgspec.Struct, kw_only=True):
    name: str
    parent_id: Annotated[str | None, Ref("node", on_delete=OnDelete.restrict)] = None


def accounts() -> ResourceManager[Account]:
    return ResourceManager(Account, storage_factory=MemoryStorageFactory())


def archive(m: ResourceManager[Any]) -> bytes:
    out = io.BytesIO()
    dump([m], out)
    return out.getvalue()


def test_records_of_many_batches_keep_their_own_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loader, "_BATCH", 7)
    source = accounts()
    for i in range(30):
        now = T0 + timedelta(seconds=i)
        source.create({"email": f"{i}@x", "name": "n"}, resource_id=f"a{i:02d}", now=now)
        source.update(f"a{i:02d}", {"email": f"{i}@x", "name": "m"}, now=now)
    target = accounts()
    target.create({"email": "12@x", "name": "holder"}, resource_id="holder", now=T0)
    target.create({"email": "old@x", "name": "old"}, resource_id="a20", now=T0)
    stats = load([target], io.BytesIO(archive(source)))["account"]
    assert (stats.total, stats.loaded, stats.failed) == (30, 29, 1)
    assert [f.resource_id for f in stats.failures] == ["a12"]
    assert target.storage.get_meta("a12") is None
    for i in (0, 6, 7, 20, 29):  # batch edges, and an overwrite
        assert target.get(f"a{i:02d}").data.email == f"{i}@x"
        assert target.storage.list_revision_ids(f"a{i:02d}") == [f"a{i:02d}:1", f"a{i:02d}:2"]


def test_references_to_resources_of_the_same_batch_resolve() -> None:
    registry = Registry()
    source = ResourceManager(Node, storage_factory=MemoryStorageFactory(), registry=registry)
    source.create({"name": "root"}, resource_id="n0", now=T0)
    for i in range(1, 5):
        source.create({"name": f"c{i}", "parent_id": f"n{i - 1}"}, resource_id=f"n{i}", now=T0)
    target = ResourceManager(
        Node, storage_factory=MemoryStorageFactory(), registry=Registry(), validate_refs=True
    )
    stats = load([target], io.BytesIO(archive(source)))["node"]
    assert stats.failures == []
    assert stats.loaded == 5
    assert target.get("n4").data.parent_id == "n3"


def test_a_batch_failed_as_a_whole_is_retried_resource_by_resource() -> None:
    source = accounts()
    for i in range(4):
        source.create({"email": f"{i}@x", "name": "n"}, resource_id=f"a{i}", now=T0)
    target = accounts()
    store = target.storage
    real = store.adopt_resource
    calls: list[int] = []

    def flaky(adoptions: Sequence[Adoption]) -> list[Any]:
        calls.append(len(adoptions))
        a = adoptions[0]  # stored, then the connection is lost
        real(a.meta, a.revisions, a.indexed_data, replaces=a.replaces)
        raise StorageUnavailableError()

    store.adopt_resources = flaky  # type: ignore[method-assign]
    stats = load([target], io.BytesIO(archive(source)))["account"]
    assert calls == [4]
    assert stats.failures == []
    assert stats.loaded == 4
    assert archive(target) == archive(source)


def test_memory_readers_never_see_a_resource_halfway_through_its_adoption() -> None:
    source = accounts()
    source.create(Account(email="a@x", name="a1"), resource_id="a")
    source.update("a", Account(email="a@x", name="a2"))
    source.update("a", Account(email="a@x", name="a3"))
    history = source.storage.get_history("a")
    assert history is not None
    meta, ids = history
    revisions = [r for r in source.storage.get_revisions([("a", i) for i in ids]) if r]
    target = accounts()
    storage = target.storage
    commit = storage.commit
    started, read = threading.Event(), threading.Event()
    seen: list[Any] = []

    def slow_commit(write: Any) -> Any:
        result = commit(write)
        started.set()
        read.wait(0.3)  # a reader that is not kept out answers within this
        return result

    def reader() -> None:
        started.wait(5)
        seen.append(storage.get_meta("a"))
        seen.append(len(storage.search(Query(limit=10)).items))
        read.set()

    thread = threading.Thread(target=reader)
    thread.start()
    storage.commit = slow_commit  # type: ignore[method-assign]
    storage.adopt_resource(meta, revisions, meta.indexed_data)
    thread.join(5)
    (got, listed) = seen
    assert got is not None
    assert got.total_revision_count == 3
    assert got.current_revision_id == "a:3"
    assert listed == 1

"""The batch and combined reads of the storage port: get_current, get_revisions,
list_revision_ids, get_history, get_histories — each must agree with the single reads it
replaces."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest

from specstar.core import GoneError, NotFoundError, ResourceManager, ResourceMeta

from ..models import Item
from .base import SuiteBase

X = TypeVar("X")


class ReadTests(SuiteBase):
    def test_get_current_pairs_meta_and_current_revision(
        self, items: ResourceManager[Item]
    ) -> None:
        store = items.storage
        rid = items.create(Item(name="a")).resource_id
        first = items.get_meta(rid).current_revision_id
        items.update(rid, Item(name="b"))
        found = store.get_current(rid)
        assert found is not None
        meta, rev = found
        assert meta == store.get_meta(rid)
        assert rev == store.get_revision(rid, meta.current_revision_id)
        assert rev.info.revision_id == f"{rid}:2"
        items.switch(rid, first)
        items.delete(rid)
        found = store.get_current(rid)
        assert found is not None
        assert found[0].is_deleted
        assert found[1].info.revision_id == first
        assert found[1] == store.get_revision(rid, first)
        assert store.get_current("missing") is None
        assert store.get_current("") is None

    def test_get_revisions_batch(self, items: ResourceManager[Item]) -> None:
        store = items.storage
        a = items.create(Item(name="a")).resource_id
        b = items.create(Item(name="b")).resource_id
        items.update(a, Item(name="a2"))
        refs = [
            (a, f"{a}:2"),
            (b, f"{b}:1"),
            (a, f"{a}:1"),
            (a, f"{a}:9"),  # no such revision
            ("missing", "missing:1"),
            (b, f"{a}:1"),  # a revision of another resource
            (a, "not-a-revision-id"),
            (b, f"{b}:1"),  # duplicates are answered again
        ]
        got = store.get_revisions(refs)
        assert got == [store.get_revision(rid, rev) for rid, rev in refs]
        assert [None if r is None else r.info.revision_id for r in got] == [
            f"{a}:2",
            f"{b}:1",
            f"{a}:1",
            None,
            None,
            None,
            None,
            f"{b}:1",
        ]
        assert store.get_revisions([]) == []

    def test_get_revisions_many(self, items: ResourceManager[Item]) -> None:
        ids = [items.create(Item(name=f"n{i}")).resource_id for i in range(450)]
        refs = [(rid, f"{rid}:1") for rid in reversed(ids)]
        got = items.storage.get_revisions(refs)
        assert [r.info.resource_id if r else None for r in got] == list(reversed(ids))

    def test_list_revision_ids(self, items: ResourceManager[Item]) -> None:
        store = items.storage
        rid = items.create(Item(name="v1")).resource_id
        for i in range(2, 6):
            items.update(rid, Item(name=f"v{i}"))
        items.prune_revisions(rid, keep_last_n=3)
        infos = [i.revision_id for i in store.list_revisions(rid)]
        assert store.list_revision_ids(rid) == infos == [f"{rid}:{k}" for k in (3, 4, 5)]
        for offset, limit in [(0, 2), (1, None), (2, 5), (5, 1), (-1, None), (0, 0)]:
            want = [i.revision_id for i in store.list_revisions(rid, offset=offset, limit=limit)]
            assert store.list_revision_ids(rid, offset=offset, limit=limit) == want
        assert store.list_revision_ids("missing") == []

    def test_get_history_pairs_meta_and_revision_ids(self, items: ResourceManager[Item]) -> None:
        store = items.storage
        rid = items.create(Item(name="v1")).resource_id
        for i in range(2, 6):
            items.update(rid, Item(name=f"v{i}"))
        items.prune_revisions(rid, keep_last_n=3)
        assert store.get_history(rid) == (store.get_meta(rid), [f"{rid}:{k}" for k in (3, 4, 5)])
        items.switch(rid, f"{rid}:3")
        items.delete(rid)
        found = store.get_history(rid)
        assert found is not None
        meta, ids = found
        assert meta == store.get_meta(rid)
        assert meta.is_deleted
        assert ids == store.list_revision_ids(rid)
        assert ids[:3] == [f"{rid}:{k}" for k in (3, 4, 5)]
        assert meta.current_revision_id in ids
        other = items.create(Item(name="other")).resource_id
        assert store.get_history(other) == (store.get_meta(other), [f"{other}:1"])
        assert store.get_history("missing") is None
        assert store.get_history("") is None

    def test_get_histories_batch(self, items: ResourceManager[Item]) -> None:
        store = items.storage
        pruned = items.create(Item(name="v1")).resource_id
        for i in range(2, 6):
            items.update(pruned, Item(name=f"v{i}"))
        items.prune_revisions(pruned, keep_last_n=2)
        deleted = items.create(Item(name="d")).resource_id
        items.update(deleted, Item(name="d2"))
        items.switch(deleted, f"{deleted}:1")
        items.delete(deleted)
        plain = items.create(Item(name="p")).resource_id
        purged = items.create(Item(name="x")).resource_id
        items.storage.purge(purged, items.delete(purged).current_revision_id)
        ids = [plain, pruned, "missing", deleted, purged, plain, "", "x\0y", pruned]
        got = store.get_histories(ids)
        assert got == [store.get_history(rid) for rid in ids]
        assert got[:4] == [
            (store.get_meta(plain), [f"{plain}:1"]),
            (store.get_meta(pruned), [f"{pruned}:4", f"{pruned}:5"]),
            None,
            (store.get_meta(deleted), store.list_revision_ids(deleted)),
        ]
        assert got[3] is not None
        assert got[3][0].is_deleted
        assert got[3][1][:2] == [f"{deleted}:1", f"{deleted}:2"]
        assert got[4:] == [None, got[0], None, None, got[1]]
        assert store.get_histories([]) == []

    def test_get_histories_many(self, items: ResourceManager[Item]) -> None:
        """450 ids (past a batching adapter's chunks, e.g. SQL's 400): stored ones at the
        edges of the chunks, in reverse creation order, among missing ones."""
        ids = [items.create(Item(name=f"n{i}")).resource_id for i in range(10)]
        items.update(ids[0], Item(name="again"))
        asked = [f"missing-{i}" for i in range(450)]
        for rid, at in zip(
            reversed(ids), (0, 1, 199, 200, 398, 399, 400, 401, 448, 449), strict=True
        ):
            asked[at] = rid
        got = items.storage.get_histories(asked)
        assert [h[1] if h else None for h in got] == [
            None
            if rid.startswith("missing-")
            else [f"{rid}:1", f"{rid}:2"]
            if rid == ids[0]
            else [f"{rid}:1"]
            for rid in asked
        ]
        assert [h[0] if h else None for h in got] == items.storage.get_metas(asked)

    def test_list_revisions_reads_through_get_history(self, items: ResourceManager[Item]) -> None:
        rid = items.create(Item(name="v1")).resource_id
        items.update(rid, Item(name="v2"))
        assert items.list_revisions(rid) == [f"{rid}:1", f"{rid}:2"]
        deleted = items.delete(rid)
        assert items.list_revisions(rid) == items.storage.list_revision_ids(rid)
        with pytest.raises(GoneError):
            items.list_revisions(rid, include_deleted=False)
        with pytest.raises(NotFoundError):
            items.list_revisions("missing")
        items.storage.purge(rid, deleted.current_revision_id)
        with pytest.raises(NotFoundError):
            items.list_revisions(rid)

    def test_get_history_is_consistent_under_writes(self, items: ResourceManager[Item]) -> None:
        """While one thread appends and prunes, every history holds its meta's revision."""
        store = items.storage
        rid = items.create(Item(name="v0")).resource_id
        seen = _while_rewritten(items, rid, lambda: [store.get_history(rid)])
        assert all(pointer in ids for pointer, ids in seen)
        assert store.get_history(rid) == (store.get_meta(rid), [f"{rid}:30"])

    def test_get_histories_are_consistent_under_writes(self, items: ResourceManager[Item]) -> None:
        """While one thread appends and prunes, every history of a batch holds its meta's
        revision."""
        store = items.storage
        rid = items.create(Item(name="v0")).resource_id
        others = [items.create(Item(name="o")).resource_id for _ in range(3)]
        seen = _while_rewritten(
            items, rid, lambda: store.get_histories([others[0], rid, *others[1:], rid])
        )
        assert all(pointer in ids for pointer, ids in seen)
        assert store.get_histories([rid]) == [(store.get_meta(rid), [f"{rid}:30"])]

    def test_get_current_is_consistent_under_writes(self, items: ResourceManager[Item]) -> None:
        """While one thread appends and prunes, every pair read names its own revision."""
        store = items.storage
        rid = items.create(Item(name="v0")).resource_id
        seen = _while_rewritten(items, rid, lambda: [store.get_current(rid)], rounds=39)
        assert all(pointer == rev.info.revision_id for pointer, rev in seen)
        last = store.get_current(rid)
        assert last is not None
        meta, rev = last
        assert rev.info.revision_id == f"{rid}:40" == meta.current_revision_id
        items.storage.purge(rid, meta.current_revision_id)
        assert items.storage.get_current(rid) is None


def _while_rewritten(
    items: ResourceManager[Item],
    rid: str,
    read: Callable[[], Sequence[tuple[ResourceMeta, X] | None]],
    rounds: int = 29,
) -> list[tuple[str, X]]:
    """Call ``read`` over and over while another thread updates ``rid`` ``rounds`` times,
    pruning it to its last revision after each; every pair read (a meta and what was read
    with it: revision ids, a revision), as (the meta's current revision, the rest)."""
    done, reading = threading.Event(), threading.Event()
    seen: list[tuple[str, X]] = []

    def write() -> None:
        reading.wait(10)
        try:
            for i in range(1, rounds + 1):
                items.update(rid, Item(name=f"v{i}"))
                items.prune_revisions(rid, keep_last_n=1)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        for found in read():
            assert found is not None
            seen.append((found[0].current_revision_id, found[1]))
        reading.set()
    writer.join()
    return seen

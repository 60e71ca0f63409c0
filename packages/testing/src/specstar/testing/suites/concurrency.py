"""Compare-and-swap, lost updates and unique constraints under concurrency (threads)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from specstar.core import (
    PreconditionFailedError,
    ResourceManager,
    RevisionStatus,
    StorageFactory,
    UniqueConstraintError,
)
from specstar.core.spi import IndexSpec, NewRevision, Write

from ..models import Item
from .base import SuiteBase

THREADS = 16
PATCHES_PER_THREAD = 50


def _run_together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(0..n-1)`` on ``n`` threads released at the same moment; collect results or
    exceptions."""
    barrier = threading.Barrier(n)

    def call(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


class ConcurrencyTests(SuiteBase):
    #: writers and patches each in ``test_no_lost_patches`` (all on one resource); adapters whose
    #: every write is a remote round trip (object stores) may lower these, keeping real contention.
    patch_threads = THREADS
    patches_per_thread = PATCHES_PER_THREAD

    def test_port_cas_one_winner(self, storage_factory: StorageFactory) -> None:
        store = storage_factory.build(f"cas-{uuid.uuid4().hex[:10]}")
        store.setup(IndexSpec())
        now = datetime(2024, 1, 1, tzinfo=UTC)

        def rev(tag: str) -> NewRevision:
            return NewRevision(
                data=b'{"name":"' + tag.encode() + b'"}',
                data_hash=f"sha256:{tag}",
                schema_version=None,
                status=RevisionStatus.stable,
            )

        first = store.commit(
            Write(resource_id="r", expected_revision_id=None, time=now, user="u", append=rev("0"))
        )
        assert first.revision is not None
        base = first.revision.revision_id

        results = _run_together(
            THREADS,
            lambda i: store.commit(
                Write(
                    resource_id="r",
                    expected_revision_id=base,
                    time=now,
                    user="u",
                    append=rev(str(i)),
                )
            ),
        )
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 1
        assert all(isinstance(e, PreconditionFailedError) for e in losers), losers
        meta = store.get_meta("r")
        assert meta is not None
        assert meta.current_revision_id == "r:2"
        assert meta.total_revision_count == 2
        assert [i.revision_id for i in store.list_revisions("r")] == ["r:1", "r:2"]

    def test_concurrent_creates_same_id(self, items: ResourceManager[Item]) -> None:
        results = _run_together(THREADS, lambda i: items.create(Item(name=str(i)), resource_id="x"))
        assert sum(not isinstance(r, Exception) for r in results) == 1
        assert items.list_revisions("x") == ["x:1"]

    def test_no_lost_patches(self, items: ResourceManager[Item]) -> None:
        rid = items.create(Item(name="counter")).resource_id

        def worker(t: int) -> list[str]:
            ids = []
            for j in range(self.patches_per_thread):
                info = items.patch(rid, [{"op": "add", "path": "/tags/-", "value": f"{t}-{j}"}])
                ids.append(info.revision_id)
            return ids

        results = _run_together(self.patch_threads, worker)
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, errors[:3]
        revision_ids = [rev for ids in results for rev in ids]
        total = self.patch_threads * self.patches_per_thread
        assert len(set(revision_ids)) == total, "two patches reported the same revision"
        tags = items.get(rid).data.tags
        assert len(tags) == total
        assert set(tags) == {
            f"{t}-{j}" for t in range(self.patch_threads) for j in range(self.patches_per_thread)
        }
        history = items.list_revisions(rid)
        assert len(history) == total + 1
        assert len(set(history)) == total + 1
        assert items.get_meta(rid).total_revision_count == total + 1
        for t in range(self.patch_threads):  # each thread's appends kept their order
            mine = [tag for tag in tags if tag.startswith(f"{t}-")]
            assert mine == [f"{t}-{j}" for j in range(self.patches_per_thread)]

    def test_unique_under_concurrent_creates(self, items: ResourceManager[Item]) -> None:
        results = _run_together(
            THREADS, lambda i: items.create(Item(name=str(i), email="same@example.com"))
        )
        ok = [r for r in results if not isinstance(r, Exception)]
        failed = [r for r in results if isinstance(r, UniqueConstraintError)]
        assert len(ok) == 1
        assert len(failed) == THREADS - 1, results
        assert all(e.conflicting_resource_id == ok[0].resource_id for e in failed)
        assert all(e.field == "email" for e in failed)
        assert items.count() == 1

    def test_unique_under_concurrent_updates(self, items: ResourceManager[Item]) -> None:
        ids = [items.create(Item(name=str(i), email=f"{i}@x")).resource_id for i in range(8)]
        results = _run_together(8, lambda i: items.update(ids[i], Item(name="n", email="taken@x")))
        assert sum(not isinstance(r, Exception) for r in results) == 1
        metas = [items.get_meta(i) for i in ids]
        assert sum(m.indexed_data.get("email") == "taken@x" for m in metas) == 1

    def test_unique_none_may_repeat_and_values_free_on_change(
        self, items: ResourceManager[Item]
    ) -> None:
        items.create(Item(name="a"))
        items.create(Item(name="b"))
        r = items.create(Item(name="c", email="c@x"))
        with pytest.raises(UniqueConstraintError) as err:
            items.create(Item(name="d", email="c@x"))
        assert err.value.conflicting_resource_id == r.resource_id
        items.update(r.resource_id, Item(name="c", email="c2@x"))
        items.create(Item(name="d", email="c@x"))
        with pytest.raises(UniqueConstraintError):
            items.switch(r.resource_id, r.revision_id)  # would take c@x back
        assert items.count() == 4

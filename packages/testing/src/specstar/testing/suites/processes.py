"""Invariants across OS processes: lost updates, unique values, start-up and ``kill -9``.

Threads share one client library instance; these tests use separate processes, each with its
own factory rebuilt from a picklable recipe, as two uvicorn workers or two hosts would.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from specstar.core import (
    QB,
    Capabilities,
    JobManager,
    MemoryMessageQueue,
    Query,
    ResourceManager,
    RevisionStatus,
    StorageFactory,
    UniqueConstraintError,
)

from .. import _workers
from .._budget import budget
from .._workers import FactoryRecipe
from ..models import Errand, ErrandJob, Item
from .base import SuiteBase

__all__ = ["ProcessSuite"]

_TIMEOUT = 120.0


def _context() -> Any:
    """Fork-server children start in milliseconds and inherit no threads or connections."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["specstar.testing._workers"])
    return ctx


def _gather(ctx: Any, target: Callable[..., None], jobs: list[dict[str, Any]]) -> list[Any]:
    """Run one process per job (keyword arguments, plus ``index``, ``barrier`` and
    ``results``), released together by a barrier; return their results in index order."""
    barrier = ctx.Barrier(len(jobs))
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=target,
            kwargs={**job, "index": i, "barrier": barrier, "results": results},
            daemon=True,
        )
        for i, job in enumerate(jobs)
    ]
    for proc in procs:
        proc.start()
    out: dict[int, Any] = {}
    deadline = time.monotonic() + _TIMEOUT
    try:
        while len(out) < len(procs):
            exited = {i for i, p in enumerate(procs) if p.exitcode is not None}
            try:  # an exited worker's result is already in the pipe
                index, status, value = results.get(timeout=0.5)
            except queue.Empty:
                silent = sorted(exited - set(out))
                if silent:
                    pytest.fail(f"workers {silent} exited without a result")
                if time.monotonic() > deadline:
                    pytest.fail(f"workers gave no result within {_TIMEOUT}s")
                continue
            if status != "ok":
                pytest.fail(f"worker {index} crashed:\n{value}")
            out[index] = value
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    return [out[i] for i in range(len(procs))]


def _acknowledged(log: str, round_: int) -> bool:
    """Whether the ack log holds a complete line written in this round."""
    return any(line[3].startswith(f"{round_}-") for line in _complete_lines(log))


def _complete_lines(log: str) -> list[list[str]]:
    """The ack lines that were written whole: ``[kind, resource_id, revision_id, tag]``."""
    lines = log.split("\n")[:-1]  # text after the last newline is not a complete line
    return [line.split(" ") for line in lines if line.count(" ") == 3]


class ProcessSuite(SuiteBase):
    """Multi-process and crash tests for adapters declaring ``multi_process``/``durable``.

    Besides ``storage_factory``, define ``factory_recipe``: a picklable
    ``("module:callable", kwargs)`` that rebuilds a factory reaching the same data in another
    process, e.g. ``("specstar.sql.sqlite:SQLiteStorageFactory", {"path": str(folder)})``.
    """

    #: processes appending to one resource, and appends per process
    append_processes = 4
    appends_per_process = 50
    #: processes and total creates racing for one unique value
    unique_processes = 4
    unique_creates = 100
    #: processes, and threads in each, enqueueing a job with the same idempotency key
    enqueue_processes = 4
    enqueue_threads = 4
    #: times a writer process is killed with SIGKILL in the middle of its work
    kill_rounds = 20
    # Adapters whose every write is a remote round trip (object stores) may lower the per-process
    # counts and the kill rounds, keeping the processes (the contention); the ``deep`` hypothesis
    # profile (``make test-deep``) runs them with the full counts above again.

    def _count(self, name: str) -> int:
        """The adapter's value of a count above; under a deeper profile, at least the suite's."""
        lowered: int = getattr(self, name)
        if budget(100) > 100:  # a profile with more examples than the default one
            return max(lowered, int(getattr(ProcessSuite, name)))
        return lowered

    @pytest.fixture
    def factory_recipe(self, capabilities: Capabilities) -> FactoryRecipe:
        if not capabilities.multi_process:
            pytest.skip("adapter does not declare capability 'multi_process'")
        raise NotImplementedError("a multi-process adapter's suite must define factory_recipe")

    def _shared(
        self, make_manager: Callable[..., ResourceManager[Any]]
    ) -> tuple[str, ResourceManager[Item]]:
        name = f"mp-{uuid.uuid4().hex[:10]}"
        return name, make_manager(Item, name=name)

    def test_no_lost_appends_across_processes(
        self,
        capabilities: Capabilities,
        factory_recipe: FactoryRecipe,
        make_manager: Callable[..., ResourceManager[Any]],
    ) -> None:
        self.require(capabilities, "multi_process")
        name, items = self._shared(make_manager)
        rid = items.create(Item(name="counter")).resource_id
        n, per = self.append_processes, self._count("appends_per_process")
        results = _gather(
            _context(),
            _workers.append_worker,
            [{"recipe": factory_recipe, "name": name, "resource_id": rid, "count": per}] * n,
        )
        revision_ids = [r for ids in results for r in ids]
        assert len(set(revision_ids)) == n * per, "two appends reported the same revision"
        tags = items.get(rid).data.tags
        assert len(tags) == n * per, f"{n * per - len(tags)} appends were lost"
        assert set(tags) == {f"{i}-{j}" for i in range(n) for j in range(per)}
        for i in range(n):  # each process's appends kept their order
            assert [t for t in tags if t.startswith(f"{i}-")] == [f"{i}-{j}" for j in range(per)]
        history = items.list_revisions(rid)
        assert history == [f"{rid}:{k}" for k in range(1, n * per + 2)], "ids not gap-free"
        assert sorted(revision_ids, key=lambda r: int(r.rsplit(":", 1)[1])) == history[1:]

    def test_no_lost_draft_edits_across_processes(
        self,
        capabilities: Capabilities,
        factory_recipe: FactoryRecipe,
        make_manager: Callable[..., ResourceManager[Any]],
    ) -> None:
        self.require(capabilities, "multi_process")
        name, items = self._shared(make_manager)
        rid = items.create(Item(name="draft"), status=RevisionStatus.draft).resource_id
        n, per = self.append_processes, self._count("appends_per_process") // 2
        job = {
            "recipe": factory_recipe,
            "name": name,
            "resource_id": rid,
            "count": per,
            "in_place": True,
        }
        results = _gather(_context(), _workers.append_worker, [job] * n)
        assert {r for ids in results for r in ids} == {f"{rid}:1"}
        tags = items.get(rid).data.tags
        assert len(tags) == n * per, f"{n * per - len(tags)} draft edits were lost"
        assert set(tags) == {f"{i}-{j}" for i in range(n) for j in range(per)}
        assert items.list_revisions(rid) == [f"{rid}:1"]

    def test_one_unique_winner_across_processes(
        self,
        capabilities: Capabilities,
        factory_recipe: FactoryRecipe,
        make_manager: Callable[..., ResourceManager[Any]],
    ) -> None:
        self.require(capabilities, "multi_process")
        name, items = self._shared(make_manager)
        n = self.unique_processes
        per = self._count("unique_creates") // n
        job = {"recipe": factory_recipe, "name": name, "creates": per, "threads": 4}
        results = _gather(_context(), _workers.unique_worker, [job] * n)
        outcomes = [o for batch in results for o in batch]
        assert len(outcomes) == n * per
        winners = [o[1] for o in outcomes if o[0] == "ok"]
        assert len(winners) == 1, outcomes
        losers = [o for o in outcomes if o[0] != "ok"]
        assert all(o == ("unique", "email", winners[0]) for o in losers), losers[:5]
        assert items.count() == 1
        with pytest.raises(UniqueConstraintError):
            items.create(Item(name="late", email="same@example.com"))

    def test_one_job_per_idempotency_key_across_processes(
        self,
        capabilities: Capabilities,
        factory_recipe: FactoryRecipe,
        storage_factory: StorageFactory,
    ) -> None:
        self.require(capabilities, "multi_process")
        name = f"mp-job-{uuid.uuid4().hex[:10]}"
        jobs = JobManager(
            ErrandJob,
            storage_factory=storage_factory,
            name=name,
            message_queue=MemoryMessageQueue(),
        )
        job = {
            "recipe": factory_recipe,
            "name": name,
            "key": "order-42",
            "threads": self.enqueue_threads,
        }
        results = _gather(_context(), _workers.enqueue_worker, [job] * self.enqueue_processes)
        outcomes = [o for batch in results for o in batch]
        assert len(outcomes) == self.enqueue_processes * self.enqueue_threads
        assert not [o for o in outcomes if o[0] == "error"], outcomes
        ids = {resource_id for resource_id, _created in outcomes}
        assert len(ids) == 1, f"one key gave several jobs: {sorted(ids)}"
        assert [created for _id, created in outcomes].count(True) == 1, outcomes
        assert jobs.count() == 1
        (job_id,) = ids
        assert jobs.search(QB["idempotency_key"] == "order-42")[0].resource_id == job_id
        assert jobs.enqueue(ErrandJob(payload=Errand(what="once"), idempotency_key="order-42")) == (
            jobs.get(job_id).info,
            False,
        )

    def test_concurrent_startup_of_a_new_type(
        self,
        capabilities: Capabilities,
        factory_recipe: FactoryRecipe,
        make_manager: Callable[..., ResourceManager[Any]],
    ) -> None:
        self.require(capabilities, "multi_process")
        name = f"boot-{uuid.uuid4().hex[:10]}"
        n = self.unique_processes
        job = {"recipe": factory_recipe, "name": name}
        ids = _gather(_context(), _workers.startup_worker, [job] * n)
        items = make_manager(Item, name=name)
        assert sorted(m.resource_id for m in items.search(Query(limit=100))) == sorted(ids)
        with pytest.raises(UniqueConstraintError):  # the unique index exists exactly once
            items.create(Item(name="dup", email="0@x"))
        assert items.count() == n

    def test_acknowledged_writes_survive_sigkill(
        self,
        capabilities: Capabilities,
        factory_recipe: FactoryRecipe,
        make_manager: Callable[..., ResourceManager[Any]],
        tmp_path: Path,
    ) -> None:
        self.require(capabilities, "multi_process")
        self.require(capabilities, "durable")
        name, items = self._shared(make_manager)
        counter = items.create(Item(name="counter")).resource_id
        acks = tmp_path / f"acks-{uuid.uuid4().hex[:6]}.log"
        acks.touch()
        ctx = _context()
        rng = random.Random(os.getpid())
        rounds = self._count("kill_rounds")
        for round_ in range(rounds):
            proc = ctx.Process(
                target=_workers.writer_worker,
                args=(factory_recipe, name, counter, str(acks), round_),
                daemon=True,
            )
            proc.start()
            deadline = time.monotonic() + 30
            while not _acknowledged(acks.read_text(), round_):  # wait for one acknowledged write
                assert proc.is_alive(), f"writer died: {acks.read_text()[-2000:]}"
                assert time.monotonic() < deadline, "writer acknowledged nothing"
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join()
            assert proc.exitcode == -signal.SIGKILL
        self._verify_after_kills(items, counter, acks.read_text(), rounds)

    @staticmethod
    def _verify_after_kills(
        items: ResourceManager[Item], counter: str, log: str, rounds: int
    ) -> None:
        assert "crash" not in log, log[-2000:]
        acked = _complete_lines(log)
        assert len(acked) >= rounds  # every round waited for one acknowledged write
        storage = items.storage
        metas = list(items.iter_all(Query(is_deleted=None)))
        for listed in metas:  # every pointer names an existing revision
            # meta and history from one read: the database may still commit the last write of
            # a writer killed a moment ago, after the listing above was taken
            found = storage.get_history(listed.resource_id)
            assert found is not None
            meta, history = found
            assert storage.get_revision(meta.resource_id, meta.current_revision_id) is not None
            seq = meta.revision_seq
            assert history == [f"{meta.resource_id}:{k}" for k in range(1, seq + 1)]
            assert meta.total_revision_count == seq
        tags = set(items.get(counter).data.tags)
        emails = [m.indexed_data.get("email") for m in metas if not m.is_deleted]
        assert len(emails) == len(set(emails)), "a unique value is held twice"
        for kind, rid, revision_id, tag in acked:  # every acknowledged write is there
            stored = storage.get_revision(rid, revision_id)
            assert stored is not None, f"acknowledged {kind} {revision_id} is lost"
            data = items.get(rid, revision_id=revision_id).data
            if kind == "patch":
                assert tag in data.tags
                assert tag in tags, f"acknowledged append {tag} is missing from the counter"
            else:
                assert data.name == tag
                assert items.get_meta(rid).current_revision_id == revision_id

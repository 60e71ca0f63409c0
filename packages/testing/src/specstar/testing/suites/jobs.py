"""Jobs end to end on a queue adapter and a storage: each job handled once, retries,
recovery after a crashed consumer, partitions, idempotency, periodic runs, cancel, stop."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest

from specstar.core import (
    DelayRetry,
    IdempotencyConflictError,
    Job,
    JobContext,
    JobManager,
    JobStateError,
    JobStatus,
    MessageQueueFactory,
    NoRetry,
    Resource,
    StorageFactory,
    ValidationError,
)

__all__ = ["Echo", "EchoJob", "JobTests"]

WAIT = 10.0


class Echo(msgspec.Struct, kw_only=True):
    n: int = 0
    text: str = ""


class EchoJob(Job[Echo, str]):
    """The job model of the suite: a payload to echo, a string artifact."""


def drain(mgr: JobManager[Any], ids: list[str], *, rounds: int = 400) -> None:
    """Process deliveries in this thread until every job in ``ids`` is terminal."""
    for _ in range(rounds):
        if all(mgr.get(i).data.status in _TERMINAL for i in ids):
            return
        mgr.process_next(wait=0.5)
    raise AssertionError(f"jobs not terminal: {[mgr.get(i).data.status for i in ids]}")


_TERMINAL = {JobStatus.completed, JobStatus.failed, JobStatus.cancelled}


class JobTests:
    """Job lifecycle tests; needs ``message_queue_factory`` and ``storage_factory``."""

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        raise NotImplementedError("the adapter's test class must define storage_factory")

    @pytest.fixture
    def make_jobs(
        self, message_queue_factory: MessageQueueFactory, storage_factory: StorageFactory
    ) -> Iterator[Callable[..., JobManager[EchoJob]]]:
        consumers: list[Any] = []

        def make(handler: Any = None, **kwargs: Any) -> JobManager[EchoJob]:
            kwargs.setdefault("name", f"j-{uuid.uuid4().hex[:10]}")
            kwargs.setdefault("retry_backoff_seconds", 0.01)
            kwargs.setdefault("default_user", "tester")
            mgr = JobManager(
                EchoJob,
                job_handler=handler,
                storage_factory=storage_factory,
                message_queue_factory=message_queue_factory,
                **kwargs,
            )
            start = mgr.start_consume

            def tracked(**kw: Any) -> Any:
                consumer = start(**kw)
                consumers.append(consumer)
                return consumer

            mgr.start_consume = tracked  # type: ignore[method-assign]
            return mgr

        yield make
        for consumer in consumers:
            consumer.stop(grace=5)

    # -- each job once -------------------------------------------------------------------

    def test_each_job_runs_once_under_many_consumers(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        runs: Counter[str] = Counter()
        lock = threading.Lock()

        def handler(job: Resource[EchoJob], ctx: JobContext[Echo, str]) -> None:
            with lock:
                runs[job.info.resource_id] += 1
            ctx.set_artifact(f"echo {ctx.payload.n}")

        mgr = make_jobs(handler)
        ids = [mgr.create(EchoJob(payload=Echo(n=i))).resource_id for i in range(60)]
        consumers = [mgr.start_consume(block=False, concurrency=4, poll_seconds=0.1) for _ in "ab"]
        _wait_terminal(mgr, ids)
        # a lease that ran out under load leaves a second delivery of a finished job: the
        # consumers must still take it and acknowledge it without running the job again
        _wait_drained(mgr)
        for c in consumers:
            c.stop(grace=5)
        assert runs == Counter(dict.fromkeys(ids, 1))
        for i, job_id in enumerate(ids):
            job = mgr.get(job_id).data
            assert job.status is JobStatus.completed
            assert job.artifact == f"echo {i}"
            statuses = [
                mgr.get(job_id, revision_id=revision_id).data.status
                for revision_id in mgr.list_revisions(job_id)
            ]
            assert statuses[0] is JobStatus.pending
            assert statuses[-1] is JobStatus.completed
            assert statuses.count(JobStatus.completed) == 1
        assert mgr.message_queue.size() == 0

    def test_a_second_delivery_never_runs_a_completed_job(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        runs: list[str] = []
        mgr = make_jobs(lambda job: runs.append(job.info.resource_id))
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        drain(mgr, [job_id])
        assert mgr.message_queue.enqueue(job_id) is True  # a broker delivers it again
        assert mgr.process_next(wait=WAIT) is True
        assert runs == [job_id]
        assert mgr.message_queue.size() == 0
        assert len(mgr.list_revisions(job_id)) == 3  # pending, processing, completed

    # -- failures --------------------------------------------------------------------------

    def test_exceptions_retry_then_fail_with_traceback(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        attempts: list[int] = []

        def handler(job: Resource[EchoJob], ctx: JobContext[Echo, str]) -> None:
            attempts.append(ctx.attempt)
            raise RuntimeError(f"broken {ctx.attempt}")

        mgr = make_jobs(handler, default_max_retries=2)
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        drain(mgr, [job_id])
        job = mgr.get(job_id).data
        assert attempts == [1, 2, 3]
        assert job.status is JobStatus.failed
        assert job.retries == 2
        assert job.errmsg == "RuntimeError: broken 3"
        logs = mgr.get_logs(job_id)
        assert logs.count("Traceback (most recent call last)") == 3
        assert "RuntimeError: broken 3" in logs
        assert job_id in mgr.message_queue.dead_letters()

    def test_a_flaky_job_completes_within_its_retries(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        def handler(job: Resource[EchoJob], ctx: JobContext[Echo, str]) -> None:
            if ctx.attempt < 3:
                raise ValueError("not yet")

        mgr = make_jobs(handler)
        job_id = mgr.create(EchoJob(payload=Echo(), max_retries=5)).resource_id
        drain(mgr, [job_id])
        job = mgr.get(job_id).data
        assert job.status is JobStatus.completed
        assert job.retries == 2

    def test_no_retry_fails_at_once(self, make_jobs: Callable[..., JobManager[EchoJob]]) -> None:
        calls: list[int] = []

        def handler(job: Resource[EchoJob]) -> None:
            calls.append(1)
            raise NoRetry("bad input")

        mgr = make_jobs(handler)
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        drain(mgr, [job_id])
        job = mgr.get(job_id).data
        assert (job.status, job.retries, job.errmsg) == (
            JobStatus.failed,
            0,
            "NoRetry: bad input",
        )
        assert calls == [1]

    def test_delay_retry_runs_again_without_counting(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        def handler(job: Resource[EchoJob], ctx: JobContext[Echo, str]) -> None:
            if len(mgr.list_revisions(job.info.resource_id)) < 4:
                raise DelayRetry(0.05)
            ctx.set_artifact("done")

        mgr = make_jobs(handler, default_max_retries=0)
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        drain(mgr, [job_id])
        job = mgr.get(job_id).data
        assert (job.status, job.retries, job.artifact) == (JobStatus.completed, 0, "done")

    def test_a_crashed_consumer_loses_its_lease_and_the_job_is_retried(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        runs: list[int] = []
        mgr = make_jobs(lambda job: runs.append(job.data.retries), lease_seconds=0.3)
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        _claim_and_die(mgr, job_id)
        drain(mgr, [job_id])
        job = mgr.get(job_id).data
        assert job.status is JobStatus.completed
        assert job.retries == 1  # the lost attempt counts
        assert runs == [1]
        assert "attempt lost" in mgr.get_logs(job_id)

    def test_a_crash_without_retries_left_fails_the_job(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        mgr = make_jobs(lambda job: None, lease_seconds=0.3, default_max_retries=0)
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        _claim_and_die(mgr, job_id)
        drain(mgr, [job_id])
        job = mgr.get(job_id).data
        assert job.status is JobStatus.failed
        assert job.errmsg == "the worker running it stopped"

    # -- scheduling ------------------------------------------------------------------------

    def test_partition_runs_in_order_one_at_a_time(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        order: list[int] = []
        running: list[int] = []
        overlap: list[int] = []
        lock = threading.Lock()

        def handler(job: Resource[EchoJob]) -> None:
            with lock:
                running.append(1)
                overlap.append(len(running))
                order.append(job.data.payload.n)
            time.sleep(0.005)
            with lock:
                running.pop()

        mgr = make_jobs(handler)
        ids = [
            mgr.create(EchoJob(payload=Echo(n=i), partition_key="account-1")).resource_id
            for i in range(12)
        ]
        consumer = mgr.start_consume(block=False, concurrency=4, poll_seconds=0.1)
        _wait_terminal(mgr, ids)
        consumer.stop(grace=5)
        assert order == list(range(12))
        assert max(overlap) == 1

    def test_run_at_and_initial_delay_wait(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        mgr = make_jobs(lambda job: None)
        later = mgr.create(
            EchoJob(
                payload=Echo(), periodic_interval_seconds=1, periodic_initial_delay_seconds=3600
            )
        ).resource_id
        assert mgr.process_next(wait=0.2) is False
        assert mgr.get(later).data.status is JobStatus.pending

    def test_periodic_runs_until_max_runs(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        runs: list[int] = []
        mgr = make_jobs(lambda job: runs.append(job.data.periodic_runs))
        job_id = mgr.create(
            EchoJob(payload=Echo(), periodic_interval_seconds=0.01, periodic_max_runs=3)
        ).resource_id
        drain(mgr, [job_id])
        job = mgr.get(job_id).data
        assert runs == [0, 1, 2]
        assert (job.status, job.periodic_runs) == (JobStatus.completed, 3)

    def test_periodic_stops_when_the_handler_returns_false(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        mgr = make_jobs(lambda job: job.data.periodic_runs < 1)
        job_id = mgr.create(EchoJob(payload=Echo(), periodic_interval_seconds=0.01)).resource_id
        drain(mgr, [job_id])
        job = mgr.get(job_id).data
        assert (job.status, job.periodic_runs) == (JobStatus.completed, 2)

    # -- idempotency -----------------------------------------------------------------------

    def test_idempotency_key(self, make_jobs: Callable[..., JobManager[EchoJob]]) -> None:
        mgr = make_jobs(lambda job: None)
        first = mgr.create(EchoJob(payload=Echo(n=1), idempotency_key="k")).resource_id
        again = mgr.create(EchoJob(payload=Echo(n=1), idempotency_key="k")).resource_id
        assert again == first
        assert mgr.message_queue.size() == 1
        with pytest.raises(IdempotencyConflictError) as caught:
            mgr.create(EchoJob(payload=Echo(n=2), idempotency_key="k"))
        assert caught.value.existing_resource_id == first
        drain(mgr, [first])
        assert mgr.create(EchoJob(payload=Echo(n=1), idempotency_key="k")).resource_id == first
        assert mgr.message_queue.size() == 0  # a completed job is not queued again

    def test_idempotency_key_under_racing_creates(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        mgr = make_jobs(lambda job: None)
        barrier = threading.Barrier(8)
        got: list[str] = []

        def create() -> None:
            barrier.wait()
            got.append(mgr.create(EchoJob(payload=Echo(n=7), idempotency_key="race")).resource_id)

        threads = [threading.Thread(target=create) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 8
        assert len(set(got)) == 1
        assert mgr.count() == 1

    # -- cancel, rerun, create checks ---------------------------------------------------------

    def test_a_cancelled_pending_job_never_runs(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        runs: list[str] = []
        mgr = make_jobs(lambda job: runs.append("ran"))
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        mgr.cancel(job_id)
        mgr.cancel(job_id)  # cancelling again changes nothing
        assert mgr.process_next(wait=WAIT) is True
        assert runs == []
        assert mgr.get(job_id).data.status is JobStatus.cancelled
        assert mgr.message_queue.size() == 0

    def test_a_running_job_sees_the_cancel(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        started = threading.Event()
        saw: list[bool] = []

        def handler(job: Resource[EchoJob], ctx: JobContext[Echo, str]) -> None:
            started.set()
            for _ in range(1000):
                if not ctx.heartbeat():
                    break
                time.sleep(0.01)
            saw.append(ctx.cancelled)

        mgr = make_jobs(handler)
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        consumer = mgr.start_consume(block=False, poll_seconds=0.1)
        assert started.wait(WAIT)
        mgr.cancel(job_id)
        _wait_terminal(mgr, [job_id])
        consumer.stop(grace=5)
        assert saw == [True]
        assert mgr.get(job_id).data.status is JobStatus.cancelled
        assert mgr.message_queue.size() == 0

    def test_completed_jobs_cannot_be_cancelled_and_only_finished_ones_rerun(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        runs: list[int] = []
        mgr = make_jobs(lambda job: runs.append(1))
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        with pytest.raises(JobStateError):
            mgr.rerun(job_id)
        drain(mgr, [job_id])
        with pytest.raises(JobStateError):
            mgr.cancel(job_id)
        mgr.rerun(job_id)
        assert mgr.get(job_id).data.status is JobStatus.pending
        drain(mgr, [job_id])
        assert runs == [1, 1]

    def test_a_new_job_must_be_fresh(self, make_jobs: Callable[..., JobManager[EchoJob]]) -> None:
        mgr = make_jobs(lambda job: None)
        with pytest.raises(ValidationError) as caught:
            mgr.create({"payload": {"n": 1}, "status": "completed", "retries": 2})
        assert [e.loc for e in caught.value.errors] == ["status", "retries"]
        assert mgr.count() == 0

    # -- workers ---------------------------------------------------------------------------

    def test_async_handler_and_logs(self, make_jobs: Callable[..., JobManager[EchoJob]]) -> None:
        async def handler(job: Resource[EchoJob], ctx: JobContext[Echo, str]) -> None:
            ctx.logger.info("working on %d", ctx.payload.n)
            ctx.logger.warning("careful")
            ctx.set_artifact("async")

        mgr = make_jobs(handler)
        job_id = mgr.create(EchoJob(payload=Echo(n=5))).resource_id
        silent = mgr.create(EchoJob(payload=Echo(n=6))).resource_id
        assert mgr.get_logs(job_id) == ""
        drain(mgr, [job_id, silent])
        assert mgr.get(job_id).data.artifact == "async"
        lines = mgr.get_logs(job_id).splitlines()
        assert [line.split(" ", 1)[1] for line in lines] == ["INFO working on 5", "WARNING careful"]

    def test_graceful_stop_releases_running_jobs(
        self, make_jobs: Callable[..., JobManager[EchoJob]]
    ) -> None:
        started = threading.Event()
        calls: list[int] = []

        def handler(job: Resource[EchoJob], ctx: JobContext[Echo, str]) -> None:
            calls.append(1)
            if len(calls) == 1:
                started.set()
                while not ctx.cancelled:
                    time.sleep(0.01)
                raise RuntimeError("interrupted")

        mgr = make_jobs(handler)
        job_id = mgr.create(EchoJob(payload=Echo())).resource_id
        consumer = mgr.start_consume(block=False, poll_seconds=0.1)
        assert started.wait(WAIT)
        assert consumer.stop(grace=0.1) == 1
        assert consumer.wait(WAIT)
        job = mgr.get(job_id).data
        assert (job.status, job.retries) == (JobStatus.pending, 0)
        drain(mgr, [job_id])
        assert mgr.get(job_id).data.status is JobStatus.completed
        assert calls == [1, 1]

    def test_workers_requeue_unfinished_jobs_at_start(
        self, make_jobs: Callable[..., JobManager[EchoJob]], storage_factory: StorageFactory
    ) -> None:
        from specstar.core import MemoryMessageQueue

        runs: list[int] = []
        lost_queue = MemoryMessageQueue()
        first = make_jobs(lambda job: None, message_queue=lost_queue)
        ids = [first.create(EchoJob(payload=Echo(n=i))).resource_id for i in range(3)]
        lost_queue.close()  # the process died: its in-memory queue is gone
        restarted = make_jobs(lambda job: runs.append(1), name=first.name)
        consumer = restarted.start_consume(block=False, poll_seconds=0.1)
        _wait_terminal(restarted, ids)
        consumer.stop(grace=5)
        assert runs == [1, 1, 1]


def _claim_and_die(mgr: JobManager[EchoJob], job_id: str) -> None:
    """Claim the job like a worker would, then stop without a word (a crashed consumer)."""
    lease = mgr.message_queue.claim(lease_seconds=mgr.lease_seconds, wait=WAIT)
    assert lease is not None
    assert lease.job_id == job_id
    current = mgr.get(job_id)
    claimed = msgspec.structs.replace(
        current.data, status=JobStatus.processing, last_heartbeat_at=_utcnow()
    )
    mgr.system.update(job_id, claimed, expected_revision_id=current.info.revision_id)


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _wait_terminal(mgr: JobManager[Any], ids: list[str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(mgr.get(i).data.status in _TERMINAL for i in ids):
            return
        time.sleep(0.02)
    raise AssertionError("jobs did not finish")


def _wait_drained(mgr: JobManager[Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mgr.message_queue.size() == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"{mgr.message_queue.size()} messages were never acknowledged")

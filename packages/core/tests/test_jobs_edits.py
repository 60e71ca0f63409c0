"""What a job's ordinary writes may change, following its log, and enqueueing once."""

from __future__ import annotations

import threading
import time
from typing import Any

import msgspec
import pytest

from specstar.core import (
    IdempotencyConflictError,
    Job,
    JobContext,
    JobManager,
    JobStateError,
    JobStatus,
    Resource,
    ValidationError,
)


class Note(msgspec.Struct):
    text: str


class NoteJob(Job[Note, str]):
    pass


def echo(job: Resource[NoteJob], ctx: JobContext[Note, str]) -> None:
    ctx.logger.info("got %s", ctx.payload.text)
    ctx.set_artifact(ctx.payload.text.upper())


def _fields(exc: ValidationError) -> set[str]:
    return {e.loc for e in exc.errors}


def test_queue_and_placement_fields_are_refused_on_every_write_verb() -> None:
    jobs = JobManager(NoteJob, job_handler=echo)
    job_id = jobs.create(NoteJob(payload=Note("a"), partition_key="p")).resource_id
    current = jobs.get(job_id).data
    done = msgspec.structs.replace(current, status=JobStatus.completed, artifact="A")
    with pytest.raises(ValidationError) as caught:
        jobs.update(job_id, done)
    assert _fields(caught.value) == {"status", "artifact"}
    with pytest.raises(ValidationError) as caught:
        jobs.patch(job_id, [{"op": "replace", "path": "/retries", "value": 5}])
    assert _fields(caught.value) == {"retries"}
    with pytest.raises(ValidationError) as caught:
        jobs.merge_patch(job_id, {"partition_key": "q", "idempotency_key": "k"})
    assert _fields(caught.value) == {"partition_key", "idempotency_key"}
    with jobs.using(user="ann") as ops, pytest.raises(ValidationError):
        ops.patch(job_id, {"errmsg": "nope"})
    assert len(jobs.list_revisions(job_id)) == 1  # nothing was written
    # the payload and the run settings may change while the job waits
    jobs.patch(job_id, {"payload": {"text": "b"}, "max_retries": 7})
    jobs.process_next()
    job = jobs.get(job_id).data
    assert (job.status, job.artifact, job.max_retries) == (JobStatus.completed, "B", 7)


def test_switching_back_to_an_earlier_state_is_refused() -> None:
    jobs = JobManager(NoteJob, job_handler=echo)
    info = jobs.create(NoteJob(payload=Note("a")))
    jobs.process_next()
    with pytest.raises(ValidationError) as caught:
        jobs.switch(info.resource_id, info.revision_id)
    assert "status" in _fields(caught.value)
    assert jobs.get(info.resource_id).data.status is JobStatus.completed


def test_a_running_job_is_not_edited_and_the_verbs_still_work() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(job: Resource[NoteJob], ctx: JobContext[Note, str]) -> None:
        started.set()
        release.wait(30)

    jobs = JobManager(NoteJob, job_handler=slow, log_flush_seconds=0.05)
    job_id = jobs.create(NoteJob(payload=Note("a"))).resource_id
    consumer = jobs.start_consume(block=False)
    try:
        assert started.wait(30)
        with pytest.raises(JobStateError) as caught:
            jobs.patch(job_id, {"payload": {"text": "b"}})
        assert (caught.value.status, caught.value.verb) == ("processing", "edit")
        jobs.cancel(job_id)  # a verb moves the queue fields itself
        assert jobs.get(job_id).data.status is JobStatus.cancelled
    finally:
        release.set()
        consumer.stop(grace=5)
    jobs.rerun(job_id)
    assert jobs.get(job_id).data.status is JobStatus.pending


def test_follow_logs_yields_lines_as_they_are_written_and_ends_with_the_job() -> None:
    gate = threading.Semaphore(0)

    def stepper(job: Resource[NoteJob], ctx: JobContext[Note, str]) -> None:
        for i in range(4):
            assert gate.acquire(timeout=30)
            ctx.logger.info("step %d", i)

    jobs = JobManager(
        NoteJob, job_handler=stepper, log_flush_seconds=0.05, follow_poll_seconds=0.02
    )
    job_id = jobs.create(NoteJob(payload=Note("a"))).resource_id
    consumer = jobs.start_consume(block=False)
    try:
        follower = jobs.follow_logs(job_id)
        seen = []
        for _ in range(4):
            gate.release()  # the handler waits for each step: each line is read while it runs
            seen.append(next(follower).split(" ", 2)[2])
        assert seen == [f"step {i}" for i in range(4)]
        assert list(follower) == []  # ends: the job completed
    finally:
        consumer.stop(grace=5)
    assert jobs.get(job_id).data.status is JobStatus.completed
    assert [line.split(" ", 2)[2] for line in jobs.follow_logs(job_id)] == seen
    assert jobs.log_lines(job_id, start=3)[0][0].endswith("step 3")
    with pytest.raises(ValueError, match="start"):
        jobs.log_lines(job_id, start=-1)
    with pytest.raises(ValueError, match="poll_seconds"):
        jobs.follow_logs(job_id, poll_seconds=0)


def test_a_closed_follower_stops_reading() -> None:
    jobs = JobManager(NoteJob, job_handler=echo, follow_poll_seconds=0.01)
    job_id = jobs.create(NoteJob(payload=Note("a"))).resource_id  # never runs here
    reads: list[int] = []
    original = jobs.log_lines

    def counted(*args: Any, **kwargs: Any) -> tuple[list[str], bool]:
        reads.append(1)
        return original(*args, **kwargs)

    jobs.log_lines = counted  # type: ignore[method-assign]
    follower = jobs.follow_logs(job_id)
    assert len(reads) == 1  # authorized and read before the first line is asked for
    follower.close()
    time.sleep(0.05)
    assert len(reads) == 1


def test_enqueue_tells_whether_it_created() -> None:
    jobs = JobManager(NoteJob, job_handler=echo)
    job = NoteJob(payload=Note("a"), idempotency_key="k-1")
    info, created = jobs.enqueue(job)
    assert created
    again, created = jobs.enqueue(job)
    assert (again, created) == (info, False)
    assert jobs.message_queue.size() == 1
    with pytest.raises(IdempotencyConflictError) as caught:
        jobs.enqueue(NoteJob(payload=Note("b"), idempotency_key="k-1"))
    assert caught.value.idempotency_key == "k-1"

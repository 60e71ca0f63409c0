"""Workers: claim a job id, move the job through its states with compare-and-swap, run it.

One attempt, step by step (each state change is a revision written with the revision read
as the expected one, so a lost race changes nothing):

1. claim an id from the queue (a lease);
2. read the job: terminal -> ack; ``processing`` with a fresh heartbeat -> another worker runs
   it (deliver again after a lease); ``processing`` with a stale heartbeat -> its worker died:
   count a failed attempt (retry or fail);
3. ``pending`` -> ``processing`` (the claim: only one worker wins it);
4. run the handler; every ``log_flush_seconds`` (at least every third of the lease) the
   worker flushes the log and notices a cancel or a takeover, every third of the lease it
   extends the queue lease, and every half lease it records ``last_heartbeat_at`` (a
   revision: a heartbeat older than a whole lease means the worker is gone);
5. write the outcome (``completed``, ``pending`` for a retry or the next periodic run,
   ``failed``) and tell the queue (ack, retry with a delay, dead letter).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from ..errors import GoneError, NotFoundError, PreconditionFailedError
from ..manager import ResourceManager
from ..types import Resource, RevisionInfo
from .handler import DelayRetry, JobContext, JobLogger, NoRetry, backoff_seconds, call_handler
from .model import TERMINAL, Job, JobLog, JobStatus
from .queue import Lease, MessageQueue

__all__ = ["Consumer", "JobSource", "Worker"]

J = TypeVar("J", bound=Job[Any, Any])
log = logging.getLogger("specstar.jobs")
_RACES = 8  # re-reads of one delivery after lost compare-and-swap races


class JobSource(Protocol[J]):
    """What a worker needs of a job manager (:class:`~specstar.core.jobs.JobManager`)."""

    name: str
    system: ResourceManager[J]
    message_queue: MessageQueue
    lease_seconds: float
    log_flush_seconds: float
    retry_backoff_seconds: float
    max_backoff_seconds: float
    worker_user: str
    logs: ResourceManager[JobLog]

    @property
    def job_handler(self) -> Any: ...

    def effective_max_retries(self, job: J) -> int: ...


def _now() -> datetime:
    return datetime.now(UTC)


class _Attempt(Generic[J]):
    """One run of a job's handler by this worker, from the claim to the outcome."""

    def __init__(self, worker: Worker[J], lease: Lease, job: J, claim: RevisionInfo) -> None:
        self.worker = worker
        self.lease = lease
        self.job = job
        self.claim = claim  # the revision that moved the job to processing
        self.revision_id = claim.revision_id
        self.lock = threading.Lock()
        self.lines: list[str] = []
        self.done = False
        self.beaten_at = _now()
        self.extended_at = time.monotonic()
        self.flushed_at = 0.0
        self.ctx: JobContext[Any, Any] = JobContext(
            job_id=lease.job_id,
            payload=job.payload,
            attempt=job.retries + 1,
            logger=JobLogger(lease.job_id, self.log),
            beat=self.beat,
        )

    def log(self, line: str) -> None:
        """Buffer a line of the handler; write the buffer at once when the log was not
        written for ``log_flush_seconds`` (a quiet job's line is seen without waiting for
        the next beat; a chatty job's lines go out in batches, once per interval)."""
        self.lines.append(line)
        if time.monotonic() - self.flushed_at < self.worker.manager.log_flush_seconds:
            return
        if not self.lock.acquire(blocking=False):
            return  # a beat is running: it flushes
        try:
            if not self.done:
                self._flush()
        except Exception:  # a storage hiccup: the next beat writes the lines
            log.exception("%s: writing the log failed", self.lease.job_id)
        finally:
            self.lock.release()

    def _flush(self) -> None:
        self.flushed_at = time.monotonic()
        self.worker.flush(self.lease.job_id, self.lines)

    def beat(self) -> bool:
        """Flush the log, keep the lease and notice a cancel or a takeover.

        Cheap enough to call often: the queue lease is extended once a third of the lease
        has passed since the last extension, and ``last_heartbeat_at`` is written (a new
        revision) once half a lease has passed since the last one. ``False``: stop the
        handler.
        """
        mgr = self.worker.manager
        with self.lock:
            if self.done:
                return False
            self._flush()
            if time.monotonic() - self.extended_at >= mgr.lease_seconds / 3:
                if not mgr.message_queue.extend(self.lease, lease_seconds=mgr.lease_seconds):
                    return False
                self.extended_at = time.monotonic()
            meta = mgr.system.get_meta(self.lease.job_id)
            if meta.current_revision_id != self.revision_id:
                return False  # cancelled, or taken over after this lease ran out
            if (_now() - self.beaten_at).total_seconds() >= mgr.lease_seconds / 2:
                beaten = msgspec.structs.replace(self.job, last_heartbeat_at=_now())
                try:
                    self.revision_id = self.worker.write(
                        self.lease.job_id, self.revision_id, beaten
                    )
                except PreconditionFailedError:
                    return False
                self.job, self.beaten_at = beaten, _now()
            return True


class Worker(Generic[J]):
    """Runs attempts of the jobs of one :class:`~specstar.core.jobs.JobManager`."""

    def __init__(self, manager: JobSource[J]) -> None:
        self.manager = manager
        self.active: dict[str, _Attempt[J]] = {}
        self._lock = threading.Lock()

    # -- storage helpers -------------------------------------------------------------------

    def write(self, job_id: str, expected: str, job: J) -> str:
        """Write ``job`` if ``expected`` is still current; the new current revision id."""
        return self.write_info(job_id, expected, job).revision_id

    def write_info(self, job_id: str, expected: str, job: J) -> RevisionInfo:
        """Write ``job`` if ``expected`` is still current; the new current revision."""
        return self.manager.system.update(job_id, job, expected_revision_id=expected)

    def flush(self, job_id: str, lines: list[str]) -> None:
        """Append the buffered log lines to the job's log (and empty the buffer)."""
        if not lines:
            return
        batch = list(lines)
        del lines[: len(batch)]
        logs = self.manager.logs
        ops = [{"op": "add", "path": "/lines/-", "value": line} for line in batch]
        try:
            logs.patch(job_id, ops)
        except NotFoundError:
            logs.create(JobLog(lines=[]), resource_id=job_id, if_not_exists=True)
            logs.patch(job_id, ops)

    def _stale(self, job: J) -> bool:
        beat = job.last_heartbeat_at
        return beat is None or (_now() - beat).total_seconds() > self.manager.lease_seconds

    def _failure(self, job: J, errmsg: str, *, retry: bool) -> tuple[J, float | None]:
        """The job after a failed attempt and the retry delay (``None``: failed for good)."""
        mgr = self.manager
        if retry and job.retries < mgr.effective_max_retries(job):
            delay = backoff_seconds(
                job.retries, base=mgr.retry_backoff_seconds, cap=mgr.max_backoff_seconds
            )
            pending = msgspec.structs.replace(
                job, status=JobStatus.pending, retries=job.retries + 1, errmsg=errmsg
            )
            return pending, delay
        return msgspec.structs.replace(job, status=JobStatus.failed, errmsg=errmsg), None

    # -- one delivery ----------------------------------------------------------------------

    def process_next(self, *, wait: float = 0.0) -> bool:
        """Claim one message and handle it in this thread; ``False`` when none came."""
        mgr = self.manager
        lease = mgr.message_queue.claim(lease_seconds=mgr.lease_seconds, wait=wait)
        if lease is None:
            return False
        self.handle(lease)
        return True

    def handle(self, lease: Lease) -> None:
        """Handle one delivery of a job id (see the module docstring)."""
        mgr, queue, job_id = self.manager, self.manager.message_queue, lease.job_id
        for _ in range(_RACES):
            try:
                current = mgr.system.get(job_id)
            except (NotFoundError, GoneError):
                queue.ack(lease)  # deleted: nothing to run
                return
            job, revision_id = current.data, current.info.revision_id
            if job.status in TERMINAL:
                queue.ack(lease)
                return
            try:
                if job.status is JobStatus.processing:
                    if not self._stale(job):  # a duplicate delivery: its attempt is alive
                        queue.retry(lease, delay=mgr.lease_seconds)
                        return
                    failed, delay = self._failure(job, "the worker running it stopped", retry=True)
                    self.flush(job_id, [f"{_now().isoformat()} ERROR attempt lost: no heartbeat"])
                    self.write(job_id, revision_id, failed)
                    log.warning("%s: attempt lost (no heartbeat), now %s", job_id, failed.status)
                    if delay is None:
                        queue.dead_letter(lease, reason="the worker running it stopped")
                        return
                    continue
                if job.run_at is not None and job.run_at > _now() and job.retries == 0:
                    queue.retry(lease, delay=(job.run_at - _now()).total_seconds())
                    return
                claimed = msgspec.structs.replace(
                    job, status=JobStatus.processing, last_heartbeat_at=_now()
                )
                claim = self.write_info(job_id, revision_id, claimed)
            except PreconditionFailedError:
                continue  # another writer moved the job: read it again
            self._run(_Attempt(self, lease, claimed, claim))
            return
        queue.retry(lease, delay=0.1)

    def _run(self, attempt: _Attempt[J]) -> None:
        mgr, job_id = self.manager, attempt.lease.job_id
        handler = mgr.job_handler
        assert handler is not None
        with self._lock:
            self.active[job_id] = attempt
        log.info("%s: attempt %d started", job_id, attempt.ctx.attempt)
        resource = Resource(info=attempt.claim, data=attempt.job)
        result: Any = None
        error: BaseException | None = None
        try:
            result = call_handler(handler, resource, attempt.ctx)
        except Exception as exc:
            error = exc
        finally:
            with self._lock:
                self.active.pop(job_id, None)
        self._finish(attempt, result, error)

    def _finish(self, attempt: _Attempt[J], result: Any, error: BaseException | None) -> None:
        queue, lease = self.manager.message_queue, attempt.lease
        job_id = lease.job_id
        with attempt.lock:
            if attempt.done:
                return  # released by a graceful stop
            attempt.done = True
            job, ctx = attempt.job, attempt.ctx
            delay: float | None = None
            if error is None:
                if ctx._has_artifact:
                    job = msgspec.structs.replace(job, artifact=ctx._artifact)
                periodic = job.periodic_interval_seconds is not None
                runs = job.periodic_runs + (1 if periodic else 0)
                again = (
                    periodic
                    and result is not False
                    and (job.periodic_max_runs is None or runs < job.periodic_max_runs)
                )
                status = JobStatus.pending if again else JobStatus.completed
                job = msgspec.structs.replace(
                    job, status=status, periodic_runs=runs, retries=0 if again else job.retries
                )
                if again:
                    delay = job.periodic_interval_seconds
                outcome = f"ok, {status}"
            elif isinstance(error, DelayRetry):
                job, delay = msgspec.structs.replace(job, status=JobStatus.pending), error.seconds
                outcome = f"delayed {error.seconds}s"
            else:
                errmsg = f"{type(error).__name__}: {error}"
                trace = "".join(traceback.format_exception(error))
                ctx.logger.error("attempt %d failed: %s\n%s", ctx.attempt, errmsg, trace.rstrip())
                job, delay = self._failure(job, errmsg, retry=not isinstance(error, NoRetry))
                outcome = f"failed ({errmsg}), {job.status}"
            self.flush(job_id, attempt.lines)
            try:
                self.write(job_id, attempt.revision_id, job)
            except PreconditionFailedError:
                self._lost(attempt)
                return
        log.info("%s: attempt %d %s", job_id, ctx.attempt, outcome)
        if job.status is JobStatus.failed:
            queue.dead_letter(lease, reason=job.errmsg or "failed")
        elif job.status is JobStatus.pending:
            queue.retry(lease, delay=delay or 0.0)
        else:
            queue.ack(lease)

    def _lost(self, attempt: _Attempt[J]) -> None:
        """The job moved while the handler ran: cancelled, or taken over by another worker."""
        mgr, lease = self.manager, attempt.lease
        try:
            job = mgr.system.get(lease.job_id).data
        except (NotFoundError, GoneError):
            mgr.message_queue.ack(lease)
            return
        if job.status in TERMINAL:
            log.info(
                "%s: attempt %d ended, job is %s", lease.job_id, attempt.ctx.attempt, job.status
            )
            mgr.message_queue.ack(lease)
        else:  # another worker took it over: the queue decides (a stale lease changes nothing)
            log.warning(
                "%s: attempt %d outcome dropped: job taken over", lease.job_id, attempt.ctx.attempt
            )
            mgr.message_queue.retry(lease, delay=mgr.lease_seconds)

    def release(self, attempt: _Attempt[J]) -> None:
        """Give a running attempt back (graceful stop): ``pending`` again, not a retry."""
        mgr = self.manager
        attempt.ctx._request_stop()
        with attempt.lock:
            if attempt.done:
                return
            attempt.done = True
            self.flush(attempt.lease.job_id, attempt.lines)
            pending = msgspec.structs.replace(attempt.job, status=JobStatus.pending)
            try:
                self.write(attempt.lease.job_id, attempt.revision_id, pending)
            except PreconditionFailedError:
                return
        log.info("%s: released at shutdown, will run again", attempt.lease.job_id)
        mgr.message_queue.retry(attempt.lease, delay=0.0)

    def beat_all(self) -> None:
        """Beat every running attempt; ask the handlers that must stop to stop."""
        with self._lock:
            attempts = list(self.active.values())
        for attempt in attempts:
            try:
                alive = attempt.beat()
            except Exception:  # a storage hiccup: the next beat tries again
                log.exception("%s: heartbeat failed", attempt.lease.job_id)
                continue
            if not alive:
                attempt.ctx._request_stop()


class Consumer(Generic[J]):
    """Worker threads of one job manager, plus a heartbeat thread.

    Args:
        worker: the :class:`Worker` whose attempts the threads run.
        concurrency: how many jobs run at once.
        poll_seconds: how long an idle thread waits in ``claim`` before checking for a stop.
    """

    def __init__(
        self, worker: Worker[J], *, concurrency: int = 1, poll_seconds: float = 0.5
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
        self.worker = worker
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self._stopping = threading.Event()
        self._beats_done = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the threads."""
        name = self.worker.manager.name
        for i in range(self.concurrency):
            t = threading.Thread(target=self._loop, name=f"{name}-worker-{i}", daemon=True)
            self._threads.append(t)
            t.start()
        beat = threading.Thread(target=self._beat, name=f"{name}-heartbeat", daemon=True)
        self._threads.append(beat)
        beat.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.worker.process_next(wait=self.poll_seconds)
            except Exception:  # storage or queue trouble: log it, keep serving
                log.exception("%s: worker error", self.worker.manager.name)
                self._stopping.wait(self.poll_seconds)

    def _beat(self) -> None:
        # beats go on through the grace period of a stop, until the worker threads ended
        mgr = self.worker.manager
        interval = min(mgr.lease_seconds / 3, mgr.log_flush_seconds)
        while not self._beats_done.wait(interval):
            self.worker.beat_all()

    @property
    def running(self) -> bool:
        """Whether any thread is still running."""
        return any(t.is_alive() for t in self._threads)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the threads ended (``True``) or ``timeout`` passed (``False``)."""
        for t in self._threads:
            t.join(timeout)
        return not self.running

    def stop(self, *, grace: float = 30.0) -> int:
        """Stop claiming; give in-flight jobs ``grace`` seconds, then release the rest.

        Returns how many running attempts were released (they run again later, not counted
        as retries); their handlers are asked to stop (``ctx.cancelled``).
        """
        self._stopping.set()
        deadline = time.monotonic() + grace
        for t in self._threads[: self.concurrency]:
            t.join(max(deadline - time.monotonic(), 0.0))
        self._beats_done.set()
        with self.worker._lock:
            left = list(self.worker.active.values())
        for attempt in left:
            self.worker.release(attempt)
        return len(left)

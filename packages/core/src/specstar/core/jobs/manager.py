"""The job manager: a resource manager whose resources are jobs run by workers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from ..actions import Action
from ..context import ContextDefaults
from ..errors import (
    FieldError,
    GoneError,
    IdempotencyConflictError,
    JobStateError,
    NotFoundError,
    UniqueConstraintError,
    ValidationError,
)
from ..indexes import IndexedField
from ..manager import ResourceManager
from ..manager._defaults import default_storage
from ..manager._guard import Guard
from ..pipeline import Pipeline
from ..ports import Storage, StorageFactory
from ..query import QB
from ..schema import Schema
from ..types import RevisionInfo, RevisionStatus
from .fields import JobFieldGuard, job_verb
from .handler import JobHandler
from .memory import MemoryMessageQueue
from .model import JOB_INDEXES, TERMINAL, Job, JobLog, JobStatus, is_job_model
from .queue import MessageQueue, MessageQueueFactory
from .worker import Consumer, Worker

__all__ = ["JobManager"]

J = TypeVar("J", bound=Job[Any, Any])
log = logging.getLogger("specstar.jobs")


class JobManager(ResourceManager[J]):
    """A :class:`~specstar.core.ResourceManager` of a :class:`~specstar.core.jobs.Job` model.

    Creating a job stores it (``pending``) and queues its id; :meth:`start_consume` runs
    workers that claim ids from the queue and run the handler. Every state change of a job is
    a revision written with compare-and-swap: the history of a job shows each attempt.

    Args:
        model: a subclass of ``Job[Payload, Artifact]`` (or a ``Schema`` of one).
        message_queue: the queue of this model; by default one from ``message_queue_factory``,
            else an in-process :class:`~specstar.core.jobs.MemoryMessageQueue`.
        message_queue_factory: builds the queue from the resource name.
        job_handler: ``handler(resource)`` or ``handler(resource, ctx)``, sync or async.
        job_handler_factory: called once, when the first worker starts, to build the handler.
        default_max_retries: retries of a job whose ``max_retries`` is ``None``.
        lease_seconds: how long a worker holds a job without a heartbeat. While the handler
            runs, the worker extends the queue lease every third of it and records
            ``last_heartbeat_at`` (a revision) every half of it.
        log_flush_seconds: how often a running job's log lines are written to its log (and
            a cancel is noticed); at least every third of ``lease_seconds``.
        follow_poll_seconds: how often :meth:`follow_logs` (and the HTTP follow mode) looks
            for new lines.
        retry_backoff_seconds / max_backoff_seconds: the exponential backoff of retries.
        worker_user: the user the workers write job states as. Workers act for the
            application, not for a user: their reads and writes (:attr:`system`) skip the
            permission checker; validators and event handlers still run.
        log_storage: where the job logs live (default: from ``storage_factory`` under
            ``"{name}-log"``, else the package default).
        **kwargs: as :class:`~specstar.core.ResourceManager`.
    """

    def __init__(
        self,
        model: type[J] | Schema[J],
        *,
        message_queue: MessageQueue | None = None,
        message_queue_factory: MessageQueueFactory | None = None,
        job_handler: JobHandler | None = None,
        job_handler_factory: Callable[[], JobHandler] | None = None,
        default_max_retries: int = 3,
        lease_seconds: float = 30.0,
        log_flush_seconds: float = 1.0,
        follow_poll_seconds: float = 0.2,
        retry_backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        worker_user: str = "system:worker",
        log_storage: Storage | None = None,
        storage_factory: StorageFactory | None = None,
        indexed_fields: Iterable[str | tuple[str, Any] | IndexedField] = (),
        **kwargs: Any,
    ) -> None:
        resource_type = model.resource_type if isinstance(model, Schema) else model
        if not is_job_model(resource_type):
            raise TypeError(f"{resource_type!r} is not a subclass of specstar.core.jobs.Job")
        if job_handler is not None and job_handler_factory is not None:
            raise ValueError("pass job_handler or job_handler_factory, not both")
        if default_max_retries < 0 or lease_seconds <= 0 or retry_backoff_seconds < 0:
            raise ValueError(
                "need default_max_retries >= 0, lease_seconds > 0, retry_backoff_seconds >= 0"
            )
        if not (log_flush_seconds > 0 and follow_poll_seconds > 0):
            raise ValueError(
                f"need log_flush_seconds > 0 and follow_poll_seconds > 0, got "
                f"{log_flush_seconds!r} and {follow_poll_seconds!r}"
            )
        declared = list(indexed_fields)
        named = {d if isinstance(d, str) else getattr(d, "path", None) for d in declared}
        named |= {d[0] for d in declared if isinstance(d, tuple)}
        declared += [path for path in JOB_INDEXES if path not in named]
        super().__init__(model, storage_factory=storage_factory, indexed_fields=declared, **kwargs)
        if message_queue is None:
            message_queue = (
                message_queue_factory.build(self.name)
                if message_queue_factory is not None
                else MemoryMessageQueue()
            )
        self.message_queue: MessageQueue = message_queue
        self._handler = job_handler
        self._handler_factory = job_handler_factory
        self.default_max_retries = default_max_retries
        self.lease_seconds = lease_seconds
        self.log_flush_seconds = log_flush_seconds
        self.follow_poll_seconds = follow_poll_seconds
        self.retry_backoff_seconds = retry_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.worker_user = worker_user
        log_name = f"{self.name}-log"
        if log_storage is None:
            log_storage = (
                storage_factory.build(log_name) if storage_factory else default_storage(log_name)
            )
        self.logs: ResourceManager[JobLog] = ResourceManager(
            JobLog, storage=log_storage, name=log_name, default_user=worker_user
        )
        self.system: ResourceManager[J] = self._system_view()
        # after the system view copied the pipeline: the workers are not guarded
        self.pipeline.event_handlers.append(JobFieldGuard())
        self.worker: Worker[J] = Worker(self)

    def _system_view(self) -> ResourceManager[J]:
        """This manager without the permission checker, acting as :attr:`worker_user`."""
        view: ResourceManager[J] = ResourceManager.__new__(ResourceManager)
        view.__dict__.update(self.__dict__)
        view.pipeline = Pipeline(
            validators=self.pipeline.validators,
            constraint_checkers=self.pipeline.constraint_checkers,
            event_handlers=self.pipeline.event_handlers,
        )
        defaults = ContextDefaults(user=self.worker_user, now=UNSET, strict=False)
        view._assemble(Guard(self.name, view.pipeline, defaults, self.index_spec))
        return view

    # == the handler ============================================================================

    @property
    def job_handler(self) -> JobHandler | None:
        """The handler (built by ``job_handler_factory`` on first use)."""
        if self._handler is None and self._handler_factory is not None:
            self._handler = self._handler_factory()
        return self._handler

    def effective_max_retries(self, job: J) -> int:
        """The job's ``max_retries``, or the manager's default when it has none."""
        return self.default_max_retries if job.max_retries is None else job.max_retries

    # == creating and queueing =================================================================

    def create(
        self,
        data: J | Mapping[str, Any],
        *,
        resource_id: str | None = None,
        status: RevisionStatus | None = None,
        if_not_exists: bool = False,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Create a job (``pending``) and queue it.

        With an ``idempotency_key`` already used by a job, the existing job's current revision
        info is returned (nothing is created or queued) when the payloads are equal;
        :meth:`enqueue` also tells which of the two happened.

        Raises:
            ValidationError: the job is not a fresh ``pending`` one (status, retries, runs or
                heartbeat given), or as :meth:`ResourceManager.create`.
            IdempotencyConflictError: the key belongs to a job with another payload.
        """
        info, _created = self.enqueue(
            data,
            resource_id=resource_id,
            status=status,
            if_not_exists=if_not_exists,
            user=user,
            now=now,
        )
        return info

    def enqueue(
        self,
        data: J | Mapping[str, Any],
        *,
        resource_id: str | None = None,
        status: RevisionStatus | None = None,
        if_not_exists: bool = False,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> tuple[RevisionInfo, bool]:
        """:meth:`create`, returning the revision info and whether a job was created
        (``False``: its ``idempotency_key`` named an existing job with the same payload,
        whose current revision info is returned; HTTP answers 200 instead of 201).

        The store enforces the key atomically (a unique index), so processes enqueueing the
        same key at once all get the one job that was created.
        """
        job = self._binding.coerce(data)
        _check_fresh(job)
        try:
            info = super().create(
                job,
                resource_id=resource_id,
                status=status,
                if_not_exists=if_not_exists,
                user=user,
                now=now,
            )
        except UniqueConstraintError as exc:
            if exc.field != "idempotency_key" or job.idempotency_key is None:
                raise
            return self._existing(job, exc.conflicting_resource_id, user), False
        self._queue(info.resource_id, job)
        return info, True

    def _existing(self, job: J, resource_id: str | None, user: str | UnsetType) -> RevisionInfo:
        key = job.idempotency_key
        assert key is not None
        if resource_id is None:
            found = self.search(QB["idempotency_key"] == key, user=user)
            if not found:  # deleted meanwhile: let the caller try again
                raise NotFoundError(f"job with idempotency key {key!r} vanished")
            resource_id = found[0].resource_id
        existing = self.get(resource_id, user=user)
        if msgspec.to_builtins(existing.data.payload) != msgspec.to_builtins(job.payload):
            raise IdempotencyConflictError(key, resource_id)
        return existing.info

    def _queue(self, job_id: str, job: J) -> bool:
        delay = 0.0
        if job.run_at is not None:
            delay = (job.run_at - datetime.now(UTC)).total_seconds()
        if job.periodic_interval_seconds is not None and job.periodic_runs == 0:
            delay = max(delay, job.periodic_initial_delay_seconds or 0.0)
        return self.message_queue.enqueue(
            job_id, delay=max(delay, 0.0), partition_key=job.partition_key
        )

    def requeue_unfinished(self) -> int:
        """Queue every ``pending`` or ``processing`` job again (queueing is idempotent).

        Workers call it when they start, so jobs survive a queue that lost its messages (an
        in-process queue after a restart, or a crash between storing a job and queueing it).
        Returns how many ids were not queued before.
        """
        where = QB["status"].in_([JobStatus.pending.value, JobStatus.processing.value])
        added = 0
        for meta in self.system.iter_all(where):
            job = self.system.get(meta.resource_id).data
            added += self._queue(meta.resource_id, job)
        return added

    # == verbs on a job ========================================================================

    def cancel(self, job_id: str, *, user: str | UnsetType = UNSET) -> RevisionInfo:
        """Cancel a job: a pending job never runs; a running one sees ``ctx.cancelled``.

        Cancelling a cancelled job changes nothing.

        Raises:
            JobStateError: the job is completed or failed.
        """

        def change(job: J) -> J:
            if job.status in (JobStatus.completed, JobStatus.failed):
                raise JobStateError(job_id, job.status.value, "cancel")
            return msgspec.structs.replace(job, status=JobStatus.cancelled)

        return self._rewrite(job_id, change, user=user)

    def rerun(self, job_id: str, *, user: str | UnsetType = UNSET) -> RevisionInfo:
        """Run a finished job again: ``pending`` with retries, error and artifact reset.

        Raises:
            JobStateError: the job is pending or processing.
        """

        def change(job: J) -> J:
            if job.status not in TERMINAL:
                raise JobStateError(job_id, job.status.value, "rerun")
            return msgspec.structs.replace(
                job,
                status=JobStatus.pending,
                retries=0,
                errmsg=None,
                artifact=None,
                periodic_runs=0,
                last_heartbeat_at=None,
            )

        info = self._rewrite(job_id, change, user=user)
        self._queue(job_id, self.system.get(job_id).data)
        return info

    def _rewrite(
        self, job_id: str, change: Callable[[J], J], *, user: str | UnsetType
    ) -> RevisionInfo:
        """Apply ``change`` to the current job with compare-and-swap (re-read on a race)."""
        ctx = self._guard.context(Action.UPDATE, user, UNSET, resource_id=job_id)
        with job_verb():
            return self._changes.append(ctx, change, expected=None, status=None)

    def get_logs(self, job_id: str, *, user: str | UnsetType = UNSET) -> str:
        """What the job's handler logged, one line per entry (``""`` when nothing).

        Reading the logs is reading the job: the permission checker sees a ``get``.
        """
        lines, _finished = self.log_lines(job_id, user=user)
        return "\n".join(lines) + "\n" if lines else ""

    def log_lines(
        self, job_id: str, *, start: int = 0, user: str | UnsetType = UNSET
    ) -> tuple[list[str], bool]:
        """The job's log lines from index ``start``, and whether the job is finished
        (``completed``, ``failed`` or ``cancelled``: no line will follow unless it is rerun).

        The status is read before the lines, and a worker writes the last lines of an
        attempt before its outcome: when ``finished`` is true, the lines are complete.
        Authorized as a ``get`` of the job.

        Raises:
            ValueError: ``start`` is negative.
        """
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start!r}")
        meta = self.get_meta(job_id, user=user)
        finished = meta.indexed_data.get("status") in TERMINAL
        try:
            lines = self.logs.get(job_id).data.lines
        except NotFoundError:
            lines = []
        return lines[start:], finished

    def follow_logs(
        self, job_id: str, *, user: str | UnsetType = UNSET, poll_seconds: float | None = None
    ) -> Iterator[str]:
        """The job's log lines, the existing ones first, then each as a worker flushes it
        (every ``log_flush_seconds`` while the handler runs); the iterator ends when the job
        is finished. Close it (or stop iterating) to stop following.

        The job is read (and the user authorized) before this returns; each poll, every
        ``poll_seconds`` (default: the manager's ``follow_poll_seconds``), reads it again.

        Raises:
            NotFoundError, GoneError, PermissionDeniedError: as :meth:`get_meta`, at once.
        """
        interval = self.follow_poll_seconds if poll_seconds is None else poll_seconds
        if not interval > 0:
            raise ValueError(f"poll_seconds must be > 0, got {poll_seconds!r}")
        first = self.log_lines(job_id, user=user)
        return self._follow(job_id, first, user, interval)

    def _follow(
        self,
        job_id: str,
        first: tuple[list[str], bool],
        user: str | UnsetType,
        interval: float,
    ) -> Iterator[str]:
        lines, finished = first
        sent = 0
        while True:
            yield from lines
            sent += len(lines)
            if finished:
                return
            time.sleep(interval)
            try:
                lines, finished = self.log_lines(job_id, start=sent, user=user)
            except (NotFoundError, GoneError):
                return  # deleted while followed: nothing more will come

    # == workers ===============================================================================

    def process_next(self, *, wait: float = 0.0) -> bool:
        """Claim one message and run its attempt in this thread; ``False`` when none came."""
        return self.worker.process_next(wait=wait)

    def start_consume(
        self, *, block: bool = True, concurrency: int = 1, poll_seconds: float = 0.5
    ) -> Consumer[J]:
        """Run ``concurrency`` worker threads that claim and run jobs.

        With ``block=True`` this returns when :meth:`Consumer.stop` is called from another
        thread (or a signal handler); otherwise the started consumer is returned at once.

        Raises:
            RuntimeError: the manager has no handler.
        """
        if self.job_handler is None:
            raise RuntimeError(f"{self.name}: no job_handler to run jobs with")
        added = self.requeue_unfinished()
        if added:
            log.info("%s: re-queued %d unfinished job(s)", self.name, added)
        consumer: Consumer[J] = Consumer(
            self.worker, concurrency=concurrency, poll_seconds=poll_seconds
        )
        consumer.start()
        if block:
            consumer.wait()
        return consumer


def _check_fresh(job: Job[Any, Any]) -> None:
    errors = [
        FieldError(name, f"a new job must have {name}={fresh!r}")
        for name, fresh in (
            ("status", JobStatus.pending),
            ("retries", 0),
            ("periodic_runs", 0),
            ("last_heartbeat_at", None),
            ("errmsg", None),
        )
        if getattr(job, name) != fresh
    ]
    if errors:
        raise ValidationError("a new job must be a fresh pending one", errors)

"""The job model: a resource whose revisions record every state change of a background job."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import msgspec

from ..annotations import Unique

__all__ = [
    "JOB_INDEXES",
    "TERMINAL",
    "BackgroundTaskAccepted",
    "Job",
    "JobLog",
    "JobRedirectInfo",
    "JobStatus",
    "is_job_model",
]

P = TypeVar("P")
A = TypeVar("A")


class JobStatus(enum.StrEnum):
    """Where a job is in its life.

    ``pending`` waits for a worker (first run, a retry, the next run of a periodic job);
    ``processing`` is being run by a worker that holds its lease; ``completed``, ``failed``
    and ``cancelled`` are terminal (a rerun makes the job ``pending`` again).
    """

    pending = "pending"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL = frozenset({JobStatus.completed, JobStatus.failed, JobStatus.cancelled})

#: Data paths of a job that a job manager indexes automatically.
JOB_INDEXES = ("status", "retries", "partition_key")


class Job(msgspec.Struct, Generic[P, A], kw_only=True):
    """Base of a job model: subclass it with the payload and artifact types::

        class Resize(msgspec.Struct):
            url: str
            width: int

        class ResizeJob(Job[Resize, str]):
            pass

    Attributes:
        payload: what the handler works on, given when the job is created.
        status: see :class:`JobStatus`; a new job must be ``pending``.
        errmsg: the error of the last failed attempt.
        artifact: what the handler produced (``ctx.set_artifact``).
        retries: how many times the job was retried after a failed attempt.
        max_retries: retries allowed; ``None`` takes the job manager's default.
        run_at: the first run waits until this time.
        periodic_interval_seconds: run again this many seconds after each successful run.
        periodic_max_runs: stop after this many runs (``None``: until the handler returns
            ``False`` or the job is cancelled).
        periodic_runs: runs done so far.
        periodic_initial_delay_seconds: the first run of a periodic job waits this long.
        last_heartbeat_at: when the worker running the job last showed it is alive.
        partition_key: jobs with the same key run one at a time, in the order created.
        idempotency_key: creating a job with the key of an existing one returns that job
            (a different payload is an error); the store enforces it atomically.
    """

    payload: P
    status: JobStatus = JobStatus.pending
    errmsg: str | None = None
    artifact: A | None = None
    retries: int = 0
    max_retries: int | None = None
    run_at: datetime | None = None
    periodic_interval_seconds: float | None = None
    periodic_max_runs: int | None = None
    periodic_runs: int = 0
    periodic_initial_delay_seconds: float | None = None
    last_heartbeat_at: datetime | None = None
    partition_key: str | None = None
    idempotency_key: Annotated[str | None, Unique()] = None


class JobLog(msgspec.Struct, kw_only=True):
    """What the handler of one job logged, in order (one resource per job, same id)."""

    lines: list[str] = msgspec.field(default_factory=list)


class JobRedirectInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Where to follow a job that a request created (HTTP 202 bodies).

    Attributes:
        job_resource_name: the registered name of the job model.
        job_resource_id: the id of the job created.
        redirect_url: the path of the job resource.
    """

    job_resource_name: str
    job_resource_id: str
    redirect_url: str


class BackgroundTaskAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a request whose work goes on after the response (HTTP 202 bodies), with
    no job to follow.

    Attributes:
        message: what was accepted, for people.
    """

    message: str


def is_job_model(model: Any) -> bool:
    """Whether ``model`` is a subclass of :class:`Job` (parametrised or not)."""
    return isinstance(model, type) and issubclass(model, Job)

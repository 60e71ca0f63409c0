"""Who may change which field of a job: the queue owns its state, users own the payload.

A job's state fields are written by the workers and the job verbs (``cancel``, ``rerun``);
its placement fields were handed to the queue when the job was created. A write through the
job manager's ordinary verbs (``update``/``put``, ``patch``, ``merge_patch``, ``modify``,
``switch``; HTTP ``PUT``/``PATCH``/switch) that changes one of them is refused, naming the
fields; and no such write may touch a job while a worker runs it. The workers write through
the manager's :attr:`~specstar.core.jobs.JobManager.system` view, which this rule does not
guard.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import msgspec

from ..errors import FieldError, JobStateError, ValidationError
from ..pipeline import Event, EventPhase
from .model import Job, JobStatus

__all__ = ["PLACEMENT_FIELDS", "QUEUE_FIELDS", "JobFieldGuard", "job_verb"]

#: Fields only the workers and the job verbs write.
QUEUE_FIELDS = (
    "status",
    "errmsg",
    "artifact",
    "retries",
    "periodic_runs",
    "last_heartbeat_at",
)

#: Fields the queue was given when the job was created (its delay, order and identity).
PLACEMENT_FIELDS = (
    "run_at",
    "partition_key",
    "idempotency_key",
    "periodic_initial_delay_seconds",
)

_VERB: ContextVar[bool] = ContextVar("specstar_job_verb", default=False)


@contextmanager
def job_verb() -> Iterator[None]:
    """Mark the writes inside the block as a job verb's (``cancel``, ``rerun``), which
    move the queue fields themselves."""
    token = _VERB.set(True)
    try:
        yield
    finally:
        _VERB.reset(token)


def _changed(previous: Job[Any, Any], new: Job[Any, Any], names: tuple[str, ...]) -> list[str]:
    return [
        name
        for name in names
        if msgspec.to_builtins(getattr(previous, name)) != msgspec.to_builtins(getattr(new, name))
    ]


class JobFieldGuard:
    """A ``before`` event handler enforcing the rule of this module on one job manager.

    Raises (aborting the write):
        ValidationError: the write changes a queue field or a placement field; every
            such field is named.
        JobStateError: the job is ``processing`` (verb ``edit``).
    """

    def __call__(self, event: Event) -> None:
        ctx = event.context
        if event.phase is not EventPhase.before or _VERB.get():
            return
        previous, new = ctx.previous, ctx.data
        if not isinstance(previous, Job) or not isinstance(new, Job):
            return  # a create (checked as a fresh job) or a write without data
        owned = _changed(previous, new, QUEUE_FIELDS)
        placed = _changed(previous, new, PLACEMENT_FIELDS)
        if owned or placed:
            errors = [
                FieldError(name, "set by the workers and the job verbs (cancel, rerun)")
                for name in owned
            ] + [FieldError(name, "fixed when the job was created") for name in placed]
            raise ValidationError(
                "a write may change a job's payload and run settings, not "
                + ", ".join(owned + placed),
                errors,
            )
        if previous.status is JobStatus.processing:
            raise JobStateError(ctx.resource_id or "", JobStatus.processing.value, "edit")

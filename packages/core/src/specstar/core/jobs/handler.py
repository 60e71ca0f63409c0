"""The handler contract: what a job handler receives, and how it asks for a retry."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from ..types import Resource

__all__ = [
    "DelayRetry",
    "JobContext",
    "JobHandler",
    "JobLogger",
    "NoRetry",
    "backoff_seconds",
    "call_handler",
]

P = TypeVar("P")
A = TypeVar("A")

#: ``handler(resource)`` or ``handler(resource, ctx)``, sync or ``async def``.
JobHandler = Callable[..., Any]

log = logging.getLogger("specstar.jobs")


class NoRetry(Exception):
    """Raise from a handler to fail the job at once, whatever retries are left."""


class DelayRetry(Exception):
    """Raise from a handler to run the job again after ``seconds`` (not counted as a retry).

    Args:
        seconds: how long to wait before the next attempt (>= 0).
    """

    def __init__(self, seconds: float, message: str = "") -> None:
        if not seconds >= 0:
            raise ValueError(f"DelayRetry needs seconds >= 0, got {seconds!r}")
        super().__init__(message or f"retry in {seconds}s")
        self.seconds = float(seconds)


class JobLogger:
    """The logger a handler writes to: each line goes to the job's log and to ``logging``."""

    def __init__(self, job_id: str, sink: Callable[[str], None]) -> None:
        self._job_id = job_id
        self._sink = sink

    def _emit(self, level: int, msg: str, args: tuple[Any, ...]) -> None:
        text = msg % args if args else msg
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._sink(f"{stamp} {logging.getLevelName(level)} {text}")
        log.log(level, "%s: %s", self._job_id, text)

    def debug(self, msg: str, *args: Any) -> None:
        """Log at DEBUG level (``%`` formatting with ``args``)."""
        self._emit(logging.DEBUG, msg, args)

    def info(self, msg: str, *args: Any) -> None:
        """Log at INFO level."""
        self._emit(logging.INFO, msg, args)

    def warning(self, msg: str, *args: Any) -> None:
        """Log at WARNING level."""
        self._emit(logging.WARNING, msg, args)

    def error(self, msg: str, *args: Any) -> None:
        """Log at ERROR level."""
        self._emit(logging.ERROR, msg, args)

    def critical(self, msg: str, *args: Any) -> None:
        """Log at CRITICAL level."""
        self._emit(logging.CRITICAL, msg, args)


class JobContext(Generic[P, A]):
    """What a handler taking two arguments gets besides the job resource.

    Attributes:
        job_id: the job's resource id.
        payload: the job's payload.
        attempt: 1 for the first attempt, then one more per retry.
        logger: a :class:`JobLogger`; its lines are kept in the job's log.
    """

    def __init__(
        self,
        *,
        job_id: str,
        payload: P,
        attempt: int,
        logger: JobLogger,
        beat: Callable[[], bool],
    ) -> None:
        self.job_id = job_id
        self.payload = payload
        self.attempt = attempt
        self.logger = logger
        self._beat = beat
        self._artifact: A | None = None
        self._has_artifact = False
        self._stop = threading.Event()

    def set_artifact(self, artifact: A) -> None:
        """Record what the job produced; it is stored when the attempt succeeds."""
        self._artifact = artifact
        self._has_artifact = True

    def heartbeat(self) -> bool:
        """Show the worker is alive (keeps the lease; flushes the log).

        Returns ``False`` when the job should stop: it was cancelled, the worker is shutting
        down, or another worker took it over after this one's lease ran out.
        """
        if not self._stop.is_set() and not self._beat():
            self._stop.set()
        return not self._stop.is_set()

    @property
    def cancelled(self) -> bool:
        """Whether the handler should stop (checked again with every :meth:`heartbeat`)."""
        return self._stop.is_set()

    def _request_stop(self) -> None:
        self._stop.set()


def _arity(handler: JobHandler) -> int:
    try:
        params = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return 1
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in params) or len(positional) >= 2:
        return 2
    return 1


def call_handler(handler: JobHandler, resource: Resource[Any], ctx: JobContext[Any, Any]) -> Any:
    """Run ``handler`` with one or two arguments as it declares; await it when async."""
    args: tuple[Any, ...] = (resource, ctx) if _arity(handler) == 2 else (resource,)
    result = handler(*args)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def backoff_seconds(retries: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: ``base * 2**retries`` capped, times 0.5-1.0."""
    grown = base * float(2 ** min(retries, 30))
    return min(cap, grown) * random.uniform(0.5, 1.0)

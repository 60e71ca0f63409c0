"""Run the workers of several job models in one process, and stop them gracefully."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable, Mapping
from types import FrameType
from typing import Any

from .manager import JobManager
from .worker import Consumer

__all__ = ["WorkerPool", "job_managers"]

log = logging.getLogger("specstar.jobs")


def job_managers(source: Any) -> list[JobManager[Any]]:
    """The job managers of ``source``: a :class:`JobManager`, an iterable of managers, or an
    application object with a ``resource_managers`` mapping (such as the FastAPI adapter's
    ``SpecStar``); managers that are not job managers are left out."""
    if isinstance(source, JobManager):
        return [source]
    managers = getattr(source, "resource_managers", source)
    if isinstance(managers, Mapping):
        managers = managers.values()
    if not isinstance(managers, Iterable):
        raise TypeError(f"{source!r} holds no resource managers")
    return [m for m in managers if isinstance(m, JobManager)]


class WorkerPool:
    """Workers for several job models: ``concurrency`` threads each, one shared stop.

    Args:
        managers: the job managers to serve (see :func:`job_managers` for what else works).
        concurrency: jobs of each model run at once.
        grace: on stop, seconds in-flight jobs get to finish before they are released (they
            run again later; a release is not counted as a retry).
        poll_seconds: how long an idle worker waits for a message before checking for a stop.
    """

    def __init__(
        self,
        managers: Any,
        *,
        concurrency: int = 1,
        grace: float = 30.0,
        poll_seconds: float = 0.5,
    ) -> None:
        self.managers = job_managers(managers)
        if not self.managers:
            raise ValueError("no job models to serve")
        missing = [m.name for m in self.managers if m.job_handler is None]
        if missing:
            raise ValueError(f"job models without a job_handler: {', '.join(missing)}")
        self.concurrency = concurrency
        self.grace = grace
        self.poll_seconds = poll_seconds
        self.consumers: list[Consumer[Any]] = []
        self._stop = threading.Event()

    def start(self) -> None:
        """Start every model's workers (unfinished jobs are queued again first)."""
        for mgr in self.managers:
            self.consumers.append(
                mgr.start_consume(
                    block=False, concurrency=self.concurrency, poll_seconds=self.poll_seconds
                )
            )
            log.info("serving %s with %d worker(s)", mgr.name, self.concurrency)

    def stop(self) -> int:
        """Stop claiming, wait up to ``grace`` for in-flight jobs, release the rest.

        Returns how many running jobs were released.
        """
        self._stop.set()
        released = 0
        for consumer in self.consumers:
            released += consumer.stop(grace=self.grace)
        log.info("stopped; %d in-flight job(s) released for a later run", released)
        return released

    def request_stop(self) -> None:
        """Make :meth:`run` return (safe from a signal handler)."""
        self._stop.set()

    def run(self, *, handle_signals: bool = True) -> int:
        """Start, serve until SIGTERM/SIGINT (or :meth:`request_stop`), then :meth:`stop`."""
        previous: dict[signal.Signals, Any] = {}
        if handle_signals:

            def on_signal(signum: int, _frame: FrameType | None) -> None:
                log.info("received %s, stopping", signal.Signals(signum).name)
                self._stop.set()

            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, on_signal)
        try:
            self.start()
            while not self._stop.wait(0.5):
                pass
            return self.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

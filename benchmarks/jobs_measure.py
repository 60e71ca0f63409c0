"""How the jobs section measures a queue: the same steps for every implementation (stdlib only).

Every driver (ours in ``jobs_ours.py``, the peers in ``jobs_peers.py`` and
``peer_jobs_driver.py``) runs its workers as threads of the measuring process, with the same
worker count, a no-op handler that calls :meth:`Probe.started` with the job's number and
:meth:`Probe.finished` when it returns, and gives three calls:

* ``enqueue(i)``: queue job number ``i`` (returns once the library's enqueue returned);
* ``completed()``: how many jobs reached the library's "done" state (ours: the ``completed``
  revision is written and the message acked; peers: what their docs call done);
* ``stop()``;
* optionally ``settle(n)``: wait until the library's store shows ``n`` jobs done (for peers
  whose handler-returned count is counted during the runs), part of the throughput time;
  returns how many it saw and when that count last moved (:func:`wait_settled`): jobs the
  peer never finishes are reported as ``unfinished`` and left out of its throughput.

Two measurements, in this order, after a warm-up of a few jobs:

* **latency**: one job at a time on idle workers (after each job completes, a random pause
  of ``gap_s`` on average, so polling workers are caught at any point of their cycle): the
  time from ``enqueue`` returning to the handler starting (``time.perf_counter_ns`` in one
  process, so one clock); p50 and p99 of ``latency_jobs`` jobs;
* **throughput**: ``enqueue`` ``jobs`` jobs back to back while the workers run, then wait until
  all are done; jobs per second over the whole span (first enqueue to last completion).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class JobDriver(Protocol):
    def enqueue(self, i: int) -> None: ...

    def completed(self) -> int: ...

    def stop(self) -> None: ...


class Probe:
    """What the no-op handlers report: when each job started, how many returned."""

    def __init__(self) -> None:
        self.starts: dict[int, int] = {}
        self.returned = 0
        self._cond = threading.Condition()

    def started(self, i: int) -> None:
        now = time.perf_counter_ns()
        with self._cond:
            self.starts.setdefault(i, now)
            self._cond.notify_all()

    def finished(self) -> None:
        with self._cond:
            self.returned += 1
            self._cond.notify_all()

    def wait_started(self, i: int, timeout: float) -> int:
        """When job ``i`` started (perf_counter ns); raises after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while i not in self.starts:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"job {i} did not start within {timeout:.0f}s")
                self._cond.wait(left)
            return self.starts[i]

    def wait_returned(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.returned < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.returned} of {n} handlers returned in {timeout:.0f}s"
                    )
                self._cond.wait(left)


def wait_completed(driver: JobDriver, n: int, timeout: float, pause: float = 0.0005) -> None:
    """Wait until ``driver.completed()`` reaches ``n`` (it may be a count the handler keeps or
    a query: the pause stays short so the wait adds little)."""
    deadline = time.monotonic() + timeout
    while driver.completed() < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{driver.completed()} of {n} jobs completed in {timeout:.0f}s")
        time.sleep(pause)


def wait_settled(
    count: Callable[[], int], n: int, *, stall_s: float = 30.0, pause: float = 0.02
) -> tuple[int, float]:
    """Wait until ``count()`` reaches ``n``, or until it has not moved for ``stall_s`` seconds
    (jobs a peer never finishes). Returns the last count and when it last moved
    (``time.perf_counter``): the throughput is taken up to that moment."""
    last, moved = count(), time.perf_counter()
    while last < n:
        time.sleep(pause)
        now_count = count()
        if now_count != last:
            last, moved = now_count, time.perf_counter()
        elif time.perf_counter() - moved > stall_s:
            break
    return last, moved


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def measure(
    driver: JobDriver,
    probe: Probe,
    *,
    jobs: int,
    latency_jobs: int,
    warmup: int = 20,
    gap_s: float = 0.02,
    timeout: float = 600.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Warm up, then the latency and the throughput runs (see the module docstring)."""
    say = progress or (lambda _line: None)
    done = 0
    for i in range(warmup):
        driver.enqueue(i)
    done += warmup
    wait_completed(driver, done, timeout)
    lat_ms: list[float] = []
    gap = random.Random(7)
    base = warmup
    for k in range(latency_jobs):
        i = base + k
        driver.enqueue(i)
        enqueued = time.perf_counter_ns()
        started = probe.wait_started(i, timeout)
        lat_ms.append(max(started - enqueued, 0) / 1e6)
        done += 1
        wait_completed(driver, done, timeout)
        time.sleep(gap.uniform(gap_s / 2, gap_s * 1.5))  # idle workers, out of phase with polls
    say(f"latency: p50 {percentile(lat_ms, 0.5):.2f} ms over {latency_jobs} jobs")
    base += latency_jobs
    t0 = time.perf_counter()
    for k in range(jobs):
        driver.enqueue(base + k)
    enqueued_s = time.perf_counter() - t0
    done += jobs
    wait_completed(driver, done, timeout)
    finished, ended = done, time.perf_counter()
    settle = getattr(driver, "settle", None)
    if settle is not None:  # a peer whose "done" is a state in its store, checked at the end
        finished, ended = settle(done)
    unfinished = done - finished
    total_s = ended - t0
    rate = (jobs - unfinished) / total_s
    say(f"throughput: {rate:,.0f} jobs/s ({jobs - unfinished} jobs in {total_s:.2f}s)")
    return {
        "jobs": jobs,
        "unfinished": unfinished,
        "latency_jobs": latency_jobs,
        "throughput_jobs_s": rate,
        "enqueue_jobs_s": jobs / enqueued_s if enqueued_s > 0 else None,
        "seconds": total_s,
        "start_p50_ms": percentile(lat_ms, 0.5),
        "start_p99_ms": percentile(lat_ms, 0.99),
        "start_max_ms": max(lat_ms),
    }


def write_result(path: str, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

"""Running workers: the pool of every job model, the console command and its shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from specstar.core import (
    Job,
    JobContext,
    JobManager,
    JobStatus,
    Resource,
    ResourceManager,
    WorkerPool,
    job_managers,
)
from specstar.core.cli import load_object, main


class Note(msgspec.Struct):
    text: str


class NoteJob(Job[Note, str]):
    pass


class Other(msgspec.Struct):
    x: int = 0


def _until(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def test_job_managers_picks_the_job_models() -> None:
    jobs = JobManager(NoteJob, job_handler=lambda r: None)
    plain = ResourceManager(Other)

    class App:
        resource_managers = {"note-job": jobs, "other": plain}

    assert job_managers(App()) == [jobs]
    assert job_managers([plain, jobs]) == [jobs]
    assert job_managers(jobs) == [jobs]
    with pytest.raises(TypeError, match="holds no resource managers"):
        job_managers(42)


def test_the_pool_refuses_models_without_handler() -> None:
    with pytest.raises(ValueError, match="without a job_handler: note-job"):
        WorkerPool([JobManager(NoteJob)])
    with pytest.raises(ValueError, match="no job models"):
        WorkerPool([ResourceManager(Other)])


def test_job_manager_needs_a_job_model() -> None:
    with pytest.raises(TypeError, match="not a subclass"):
        JobManager(Other)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="not both"):
        JobManager(NoteJob, job_handler=print, job_handler_factory=lambda: print)


def test_the_handler_factory_is_called_once_when_workers_need_it() -> None:
    built: list[int] = []

    def factory() -> Any:
        built.append(1)
        return lambda r, ctx: ctx.set_artifact(r.data.payload.text.upper())

    mgr = JobManager(NoteJob, job_handler_factory=factory)
    job_id = mgr.create(NoteJob(payload=Note("hi"))).resource_id
    assert built == []
    pool = WorkerPool(mgr)
    pool.start()
    _until(lambda: mgr.get(job_id).data.status is JobStatus.completed)
    assert pool.stop() == 0
    assert mgr.get(job_id).data.artifact == "HI"
    assert built == [1]


def test_pool_run_stops_on_request_and_releases_in_flight_jobs() -> None:
    started = threading.Event()

    def handler(r: Resource[NoteJob], ctx: JobContext[Note, str]) -> None:
        started.set()
        while not ctx.cancelled:
            time.sleep(0.01)

    mgr = JobManager(NoteJob, job_handler=handler)
    job_id = mgr.create(NoteJob(payload=Note("long"))).resource_id
    pool = WorkerPool(mgr, grace=0.05)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(pool.run(handle_signals=False)))
    runner.start()
    assert started.wait(30)
    pool.request_stop()
    runner.join(30)
    assert result == [1]
    assert mgr.get(job_id).data.status is JobStatus.pending


def test_load_object() -> None:
    assert load_object("os.path:join") is os.path.join
    with pytest.raises(ValueError, match="module:attribute"):
        load_object("os.path")


def test_the_command_refuses_unknown_models_and_bad_concurrency(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["worker", f"{__name__}:JOBS", "--model", "nope"]) == 2
    assert "unknown job model(s) nope; known: note-job" in capsys.readouterr().err
    assert main(["worker", f"{__name__}:JOBS", "--concurrency", "0"]) == 2


JOBS = [JobManager(NoteJob, job_handler=lambda r: None)]

APP = """
import sys, time
from pathlib import Path
import msgspec
from specstar.core import Job, JobManager

OUT = Path(sys.argv[-1] if False else {out!r})

class Note(msgspec.Struct):
    text: str

class NoteJob(Job[Note, str]):
    pass

def handle(job, ctx):
    with OUT.open("a") as f:
        f.write(job.data.payload.text + "\\n")
    if job.data.payload.text == "slow":
        while not ctx.cancelled:
            time.sleep(0.01)

jobs = JobManager(NoteJob, job_handler=handle)
for i in range(5):
    jobs.create(NoteJob(payload=Note(f"job{{i}}")))
jobs.create(NoteJob(payload=Note("slow")))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_worker_command_runs_jobs_and_stops_gracefully_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "out.txt"
    (tmp_path / "jobsapp.py").write_text(textwrap.dedent(APP.format(out=str(out))))
    proc = subprocess.Popen(
        [sys.executable, "-m", "specstar.core.cli", "worker", "jobsapp:jobs", "--grace", "0.2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _until(lambda: out.exists() and len(out.read_text().split()) == 6)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    assert sorted(out.read_text().split()) == sorted([f"job{i}" for i in range(5)] + ["slow"])
    assert f"received {sig.name}, stopping" in output
    assert "serving note-job with 1 worker(s)" in output
    assert "released at shutdown" in output
    assert "1 in-flight job(s) released" in output

"""Following a job's log over real HTTP: a uvicorn server process whose worker threads run a
handler that logs one line each time the test lets it go on, read with httpx as it arrives.

The delay between a handler's log call and the line reaching the follower is printed (it is
what ``log_flush_seconds`` + ``follow_poll_seconds`` buy), never asserted.
"""

from __future__ import annotations

import statistics
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from specstar.testing.services import uvicorn_server

APP = textwrap.dedent(
    """
    import threading
    from collections import defaultdict

    import msgspec
    from fastapi import FastAPI

    from specstar.core import Job
    from specstar.fastapi import SpecStar, install_problem_handlers


    class Steps(msgspec.Struct, kw_only=True):
        steps: int


    class Stepper(Job[Steps, int]):
        pass


    GATES = defaultdict(lambda: threading.Semaphore(0))
    POLLS = [0]


    def handle(job, ctx):
        gate = GATES[job.info.resource_id]
        for i in range(ctx.payload.steps):
            while not gate.acquire(timeout=0.05):  # the test lets each step go
                if ctx.cancelled:
                    return
            ctx.logger.info("step %d", i)
        ctx.set_artifact(ctx.payload.steps)


    crud = SpecStar()
    jobs = crud.add_model(Stepper, job_handler=handle, job_options={"lease_seconds": 6.0})
    reads = jobs.log_lines


    def counted_reads(*args, **kwargs):
        POLLS[0] += 1
        return reads(*args, **kwargs)


    jobs.log_lines = counted_reads  # the follow route reads through the manager
    consumer = jobs.start_consume(block=False, concurrency=2, poll_seconds=0.1)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)


    @app.post("/_step/{job_id}")
    def step(job_id: str) -> dict:
        GATES[job_id].release()
        return {}


    @app.get("/_polls")
    def polls() -> dict:
        return {"polls": POLLS[0]}
    """
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("live-jobs")
    (folder / "live_jobs_app.py").write_text(APP)
    with uvicorn_server(folder, "live_jobs_app:app") as server:
        yield server.url


def _stamp(line: str) -> datetime:
    return datetime.fromisoformat(line.split(" ", 1)[0])


def test_follow_reads_each_line_while_the_job_runs(base_url: str) -> None:
    steps = 8
    with httpx.Client(base_url=base_url, timeout=30) as c:
        job_id = c.post("/stepper", json={"payload": {"steps": steps}}).json()["resource_id"]
        delays: list[float] = []
        received: list[str] = []
        with c.stream("GET", f"/stepper/{job_id}/logs", params={"follow": "true"}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/plain")
            assert r.headers.get("transfer-encoding") == "chunked"
            lines = r.iter_lines()
            for i in range(steps):
                # the handler waits for this step: a line that arrives was streamed while the
                # job was still running
                assert c.post(f"/_step/{job_id}").status_code == 200
                line = next(lines)
                delays.append((datetime.now(UTC) - _stamp(line)).total_seconds())
                received.append(line.split(" ", 2)[2])
                if i < steps - 1:
                    status = c.get(f"/stepper/{job_id}").json()["data"]["status"]
                    assert status == "processing"
            assert list(lines) == []  # the stream ends: the job finished
        assert received == [f"step {i}" for i in range(steps)]
        assert c.get(f"/stepper/{job_id}").json()["data"]["status"] == "completed"
    print(
        f"\nlog call -> line at the follower, {steps} lines (log_flush_seconds=1.0, "
        f"follow_poll_seconds=0.2): first line (written at once) {delays[0] * 1000:.0f} ms; "
        f"the next ones (each logged within a flush interval of the last write) p50 "
        f"{statistics.median(delays[1:]) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms"
    )


def test_a_client_that_goes_away_stops_the_follower(base_url: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        job_id = c.post("/stepper", json={"payload": {"steps": 1000}}).json()["resource_id"]
        with c.stream("GET", f"/stepper/{job_id}/logs", params={"follow": "true"}) as r:
            c.post(f"/_step/{job_id}")
            assert next(r.iter_lines()).endswith("INFO step 0")
        # the connection is closed; the server notices and its follower stops polling
        deadline = time.monotonic() + 30
        last = c.get("/_polls").json()["polls"]
        while True:
            time.sleep(1.0)  # five poll intervals
            now = c.get("/_polls").json()["polls"]
            if now == last:
                break
            assert time.monotonic() < deadline, "the follower kept polling after the client left"
            last = now
        assert c.post(f"/stepper/{job_id}/cancel").status_code == 200
        deadline = time.monotonic() + 30
        while c.get(f"/stepper/{job_id}").json()["data"]["status"] != "cancelled":
            assert time.monotonic() < deadline
            time.sleep(0.1)

"""The jobs section: no-op job throughput and enqueue→start latency, side by side in one run.

Rows (one process each, the same worker count and the same steps, ``jobs_measure.py``):

* in-process, SQLite, PostgreSQL: SpecStar's queues (``jobs_ours.py``) and the PyPI
  ``specstar`` package's default queue on its matching storage (``peer_jobs_driver.py``);
  on PostgreSQL also Procrastinate, in a database of its own (``jobs_peers.py``);
* RabbitMQ, Redis: SpecStar's broker queues (``specstar.rabbit``, ``specstar.redis``; "not
  installed" when the package is absent), the PyPI package's RabbitMQ queue, Celery and
  Dramatiq on the same broker, each on queues and keys named after the run.

``python -m benchmarks.jobs_bench [--quick] [--merge results/latest.json]`` runs the section
alone; ``run.py`` runs it as part of ``make bench`` / ``make bench-quick``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import peer_env, services

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent

#: (backend, implementation): what runs, in the order of the report.
ROWS: list[tuple[str, str]] = [
    ("memory", "ours"),
    ("memory", "peer"),
    ("sqlite", "ours"),
    ("sqlite", "peer"),
    ("postgres", "ours"),
    ("postgres", "peer"),
    ("postgres", "procrastinate"),
    ("rabbit", "ours"),
    ("rabbit", "peer"),
    ("rabbit", "celery"),
    ("rabbit", "dramatiq"),
    ("redis", "ours"),
    ("redis", "celery"),
    ("redis", "dramatiq"),
]

FULL = {"workers": 4, "jobs": 1000, "latency_jobs": 100, "warmup": 20}
QUICK = {"workers": 2, "jobs": 40, "latency_jobs": 5, "warmup": 3}


def redis_url() -> str:
    import os

    return os.environ.get("SPECSTAR_BENCH_REDIS_URL") or os.environ.get(
        "SPECSTAR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"
    )


def amqp_url() -> str:
    import os

    return os.environ.get("SPECSTAR_BENCH_AMQP_URL") or os.environ.get(
        "SPECSTAR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
    )


def broker_problem(url: str) -> str | None:
    """Why the broker at ``url`` cannot be used (``None`` when its port answers)."""
    parts = urlsplit(url)
    port = parts.port or {"redis": 6379, "amqp": 5672}.get(parts.scheme, 0)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2):
            return None
    except OSError as exc:
        return f"{parts.scheme} at {parts.hostname}:{port} does not answer: {exc}"


class JobsSection:
    def __init__(
        self,
        *,
        quick: bool,
        run_id: str,
        workdir: Path,
        log: Callable[[str], None],
        run_process: Callable[..., tuple[int | None, str]],
    ) -> None:
        self.quick = quick
        self.opts = dict(QUICK if quick else FULL)
        self.run_id = run_id
        self.workdir = workdir
        self.log = log
        self.run_process = run_process
        self.dsn = services.pg_dsn()
        self.urls = {"rabbit": amqp_url(), "redis": redis_url()}
        self.problems: dict[str, str] = {}
        self.pythons: dict[str, Path] = {}
        self.fatal: list[str] = []
        self.timeout = 300.0 if quick else 900.0

    def prepare(self) -> None:
        problem = services.pg_problem(self.dsn)
        if problem:
            self.problems["postgres"] = problem
        for broker, url in self.urls.items():
            problem = broker_problem(url)
            if problem:
                self.problems[broker] = problem
        self.pythons["ours"] = Path(sys.executable)
        for key, make in (
            ("peer", peer_env.ensure),
            ("jobpeers", peer_env.ensure_job_peers),
        ):
            try:
                self.pythons[key] = make(self.log)
            except Exception as exc:
                self.problems[key] = f"its venv could not be set up: {exc}"

    def command(self, impl: str) -> tuple[list[str], str]:
        if impl == "ours":
            return [sys.executable, "-m", "benchmarks.jobs_ours"], "ours"
        if impl == "peer":
            return [str(self.pythons.get("peer")), str(BENCH_DIR / "peer_jobs_driver.py")], "peer"
        return [str(self.pythons.get("jobpeers")), str(BENCH_DIR / "jobs_peers.py")], "jobpeers"

    def row(self, backend: str, impl: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"backend": backend, "impl": impl}
        cmd, env_key = self.command(impl)
        needs_pg = backend == "postgres" or (backend in self.urls and impl in ("ours", "peer"))
        needs = [backend, "postgres" if needs_pg else "", env_key]
        for need in needs:
            if need in self.problems:
                return {**entry, "status": "n/a", "reason": self.problems[need]}
        label = f"jobs/{backend}/{impl}"
        tag = f"{self.run_id}_{backend}_{impl}"
        config: dict[str, Any] = {
            **self.opts,
            "impl": impl,
            "queue": backend,
            "broker": backend,
            "label": label,
            "workdir": str(self.workdir / f"jobs-{backend}-{impl}"),
            "pg_dsn": self.dsn,
            "pg_schema": f"specstar_bench_{tag}",
            "prefix": f"specstar-bench-{tag}-".replace("_", "-"),
        }
        if backend in self.urls:
            config["broker_url"] = self.urls[backend]
        cleanup: list[Callable[[], None]] = []
        database = f"specstar_bench_{tag}"
        if impl in ("peer", "procrastinate") and needs_pg:
            services.create_database(self.dsn, database)
            cleanup.append(lambda: services.drop_database(self.dsn, database))
            config["pg_dsn"] = services.with_database(self.dsn, database)
        elif impl == "ours" and needs_pg:
            schema = config["pg_schema"]
            cleanup.append(lambda: services.drop_schema(self.dsn, schema))
        config_path = self.workdir / f"{label.replace('/', '-')}.json"
        out_path = config_path.with_suffix(".out.json")
        config_path.write_text(json.dumps(config))
        try:
            code, tail = self.run_process(
                [*cmd, str(config_path), str(out_path)], timeout=self.timeout, label=label
            )
        finally:
            for step in cleanup:
                try:
                    step()
                except Exception as exc:
                    self.log(f"  cleanup after {label} failed: {exc}")
        if code is None:
            return {**entry, "status": "error", "reason": f"did not finish in {self.timeout:.0f}s"}
        if code != 0 or not out_path.exists():
            lines = [line for line in tail.splitlines() if line.strip()]
            return {**entry, "status": "error", "reason": lines[-1] if lines else "no output"}
        result: dict[str, Any] = json.loads(out_path.read_text())
        return {**entry, **result}

    def run(self) -> dict[str, Any]:
        self.prepare()
        o = self.opts
        self.log(
            f"jobs: {len(ROWS)} rows, {o['workers']} workers each, {o['jobs']} jobs for "
            f"throughput, {o['latency_jobs']} one at a time for latency"
        )
        rows = []
        for i, (backend, impl) in enumerate(ROWS, start=1):
            self.log(f"[jobs {i}/{len(ROWS)}] {impl} on {backend}")
            t0 = time.perf_counter()
            entry = self.row(backend, impl)
            entry["elapsed_s"] = time.perf_counter() - t0
            if entry.get("status") != "ok":
                self.log(f"  {impl}/{backend}: {entry.get('status')}: {entry.get('reason')}")
                if impl == "ours" and entry.get("status") == "error":
                    self.fatal.append(f"jobs/{backend}/ours: {entry.get('reason')}")
            rows.append(entry)
        return {**self.opts, "quick": self.quick, "problems": self.problems, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    from . import report
    from .harness import log, run_process

    parser = argparse.ArgumentParser(prog="python -m benchmarks.jobs_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few jobs: a crash check")
    parser.add_argument(
        "--merge",
        type=Path,
        help="store the section in this results file (e.g. results/latest.json) and re-render "
        "its Markdown (and docs/benchmarks.md when it is latest.json)",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="specstar-bench-jobs-"))
    run_id = f"{datetime.now(UTC):%m%d%H%M}{uuid.uuid4().hex[:4]}"
    section = JobsSection(
        quick=args.quick, run_id=run_id, workdir=workdir, log=log, run_process=run_process
    )
    try:
        jobs = section.run()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    jobs["started"] = datetime.now(UTC).isoformat(timespec="seconds")
    jobs["command"] = "python -m benchmarks.jobs_bench " + " ".join(argv or sys.argv[1:])
    from .report_tables import jobs_table

    print(jobs_table({"jobs": jobs}))
    if args.merge:
        results = json.loads(args.merge.read_text())
        results["jobs"] = jobs
        args.merge.write_text(json.dumps(results, indent=1) + "\n")
        # the Markdown again, with the charts of the run merged into (they show no jobs)
        md_path = args.merge.with_suffix(".md")
        docs = args.merge.name == "latest.json"
        charts = ROOT / "docs" / "benchmarks" if docs else args.merge.parent / "charts"
        body = report.markdown(results, charts, md_path.parent)
        md_path.write_text("# Benchmark results\n\n" + body)
        if docs:
            docs_path = ROOT / "docs" / "benchmarks.md"
            docs_path.write_text(report.docs_page(results, charts, docs_path))
    if section.fatal:
        log("FAILED: " + "; ".join(section.fatal))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

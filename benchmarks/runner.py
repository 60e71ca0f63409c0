"""The runner of the benchmark's suites: one worker process per implementation, backend and
size, the HTTP benchmark and the statements per operation, with the run's settings, problems
and metadata. ``benchmarks.run`` drives it, and so do the sections' own mains.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import http_bench, peer_env, services
from .harness import BENCH_DIR, ROOT, command_line, error_summary, log, machine, run_process
from .workloads import Settings

FULL = Settings(budget_s=0.4, min_ops=5, max_ops=20000, repeats=3, warmup_s=0.2, warmup_ops=200)
QUICK = Settings(budget_s=0.03, min_ops=2, max_ops=300, repeats=1, warmup_s=0.02, warmup_ops=10)

#: Rough seconds per loaded row, to plan and to print an ETA (refined as the run goes).
LOAD_S_PER_ROW = {
    ("ours", "memory"): 3e-5,
    ("ours", "sqlite"): 8e-4,
    ("ours", "postgres"): 8e-4,
    ("raw", "memory"): 1e-5,
    ("raw", "sqlite"): 2e-5,
    ("raw", "postgres"): 5e-5,
    ("peer", "memory"): 2e-4,
    ("peer", "sqlite"): 2e-3,
    ("peer", "postgres"): 6e-4,
    ("ours", "s3"): 6e-3,
    ("ours", "s3-1s"): 6e-3,
    ("peer", "s3-1s"): 0.0,
    ("ours", "sqlite+s3"): 6e-3,
    ("ours", "postgres+s3"): 6e-3,
    ("peer", "s3"): 2e-2,
    ("peer", "sqlite+s3"): 1e-2,
    ("peer", "postgres+s3"): 1e-2,
}


class Plan:
    """Progress and ETA over the planned suites."""

    def __init__(self, total_estimate: float) -> None:
        self.start = time.monotonic()
        self.remaining = total_estimate
        self.spent_estimate = 0.0

    def done(self, estimate: float) -> None:
        self.remaining = max(0.0, self.remaining - estimate)
        self.spent_estimate += estimate

    def eta(self) -> str:
        elapsed = time.monotonic() - self.start
        scale = elapsed / self.spent_estimate if self.spent_estimate > 5 else 1.0
        left = self.remaining * scale
        return f"elapsed {elapsed / 60:.1f} min, ETA ~{left / 60:.1f} min"


class Runner:
    """One benchmark run: its settings (from :func:`~benchmarks.harness.parse_args`), the
    suites it runs and what went wrong."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.settings = Settings.from_dict((QUICK if self.quick else FULL).to_dict())
        if args.repeats is not None:
            self.settings.repeats = args.repeats
        self.sizes: list[int] = args.sizes
        self.backends: list[str] = args.backends
        self.impls: list[str] = args.impls
        self.workloads: list[str] = args.workloads
        self.seed: int = args.seed
        self.run_id = f"{datetime.now(UTC):%m%d%H%M}{uuid.uuid4().hex[:4]}"
        self.workdir = Path(tempfile.mkdtemp(prefix="specstar-bench-"))
        self.dsn = services.pg_dsn()
        self.fatal: list[str] = []
        self.problems: dict[str, str] = {}
        self.peer_python: Path | None = None
        self.suite_timeout = 300.0 if self.quick else 2400.0
        self.peer_load_box = 900.0
        self.load_rate: dict[tuple[str, str], float] = {}
        self.dumps: dict[int, tuple[Path, Path]] = {}
        #: the S3 endpoint of the S3 section (``s3_bench.py``), set while it runs
        self.s3_endpoint: str | None = None

    # -- setup ------------------------------------------------------------------------------

    def prepare(self) -> None:
        if "postgres" in self.backends:
            problem = services.pg_problem(self.dsn)
            if problem:
                self.problems["postgres"] = problem
                log(f"PostgreSQL is not available, its suites are n/a: {problem}")
        if "peer" in self.impls:
            try:
                self.peer_python = peer_env.ensure(log)
            except Exception as exc:
                self.problems["peer"] = f"the peer's venv could not be set up: {exc}"
                log(f"peer: n/a: {self.problems['peer']}")

    def peer_dump(self, n: int) -> tuple[Path, Path]:
        """The peer's bulk-import archive of the ``n`` rows (made once per size)."""
        if n in self.dumps:
            return self.dumps[n]
        assert self.peer_python is not None
        dump_path = self.workdir / f"peer-dump-{n}.bin"
        ids_path = self.workdir / f"peer-ids-{n}.json"
        config = {"n": n, "seed": self.seed, "dump_path": str(dump_path), "ids_path": str(ids_path)}
        config_path = self.workdir / f"peer-dump-{n}.json"
        config_path.write_text(json.dumps(config))
        log(f"peer: staging {n} rows for its bulk import")
        t0 = time.perf_counter()
        code, tail = run_process(
            [str(self.peer_python), str(BENCH_DIR / "peer_driver.py"), "dump", str(config_path)],
            timeout=self.suite_timeout,
            label="peer dump",
        )
        if code != 0:
            raise RuntimeError(f"making the peer's archive failed: {error_summary(tail)}")
        log(f"peer: archive of {n} rows made in {time.perf_counter() - t0:.1f}s")
        self.dumps[n] = (dump_path, ids_path)
        return self.dumps[n]

    # -- suites -----------------------------------------------------------------------------

    def estimate(self, impl: str, backend: str, n: int) -> float:
        per_row = self.load_rate.get((impl, backend), LOAD_S_PER_ROW[(impl, backend)])
        per_workload = self.settings.warmup_s + self.settings.repeats * self.settings.budget_s
        return 1.5 + per_row * n + len(self.workloads) * (per_workload + 0.1)

    def suite(self, impl: str, backend: str, n: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"impl": impl, "backend": backend, "n": n}
        database = backend.removesuffix("+s3")
        reason = (
            self.problems.get(backend)
            or self.problems.get(database)
            or (self.problems.get("peer") if impl == "peer" else None)
        )
        if reason:
            return {**entry, "status": "n/a", "reason": reason}
        if impl == "peer" and backend == "s3-1s":
            return {
                **entry,
                "status": "n/a",
                "reason": "compared with its S3-only row (it reads with up to 1 s of staleness)",
            }
        if impl == "peer":
            rate = self.load_rate.get((impl, backend))
            if rate is not None and rate * n > self.peer_load_box:
                return {
                    **entry,
                    "status": "n/a",
                    "reason": (
                        f"time-boxed: its bulk import ran at {1 / rate:,.0f} rows/s, so loading "
                        f"{n:,} rows would take ~{rate * n / 60:.0f} min (box: "
                        f"{self.peer_load_box / 60:.0f} min)"
                    ),
                }
        label = f"{impl}/{backend}/{n}"
        workdir = self.workdir / label.replace("/", "-")
        config: dict[str, Any] = {
            "impl": impl,
            "backend": backend,
            "n": n,
            "seed": self.seed,
            "settings": self.settings.to_dict(),
            "workloads": self.workloads,
            "workdir": str(workdir),
            "label": label,
            "pg_dsn": self.dsn,
            "pg_schema": f"specstar_bench_{self.run_id}_{impl}_{n}",
        }
        if "s3" in backend:
            config["pg_schema"] += f"_{database}_s3"
            config["s3"] = self.s3_config()
        peer_db = f"specstar_bench_{self.run_id}_peer_{n}" + (
            "_s3" if backend.endswith("s3") else ""
        )
        cleanup: list[Any] = []
        try:
            if impl == "peer":
                dump_path, ids_path = self.peer_dump(n)
                config.update(dump_path=str(dump_path), ids_path=str(ids_path))
                if database == "postgres":
                    services.create_database(self.dsn, peer_db)
                    cleanup.append(lambda: services.drop_database(self.dsn, peer_db))
                    config["pg_dsn"] = services.with_database(self.dsn, peer_db)
                cmd = [str(self.peer_python), str(BENCH_DIR / "peer_driver.py")]
            else:
                if database == "postgres":
                    schema = config["pg_schema"]
                    cleanup.append(lambda: services.drop_schema(self.dsn, schema))
                cmd = [sys.executable, "-m", "benchmarks.worker"]
            config_path = self.workdir / f"{label.replace('/', '-')}.json"
            out_path = config_path.with_suffix(".out.json")
            config_path.write_text(json.dumps(config))
            t0 = time.perf_counter()
            code, tail = run_process(
                [*cmd, "suite", str(config_path), str(out_path)],
                timeout=self.suite_timeout,
                label=label,
            )
            elapsed = time.perf_counter() - t0
            if code is None:
                return {
                    **entry,
                    "status": "error",
                    "reason": f"did not finish within {self.suite_timeout:.0f}s",
                }
            if code != 0 or not out_path.exists():
                return {**entry, "status": "error", "reason": error_summary(tail)}
            result: dict[str, Any] = json.loads(out_path.read_text())
            load_s = result["load"]["seconds"]
            self.load_rate[(impl, backend)] = load_s / max(n, 1)
            return {**entry, "status": "ok", "elapsed_s": elapsed, **result}
        except Exception as exc:
            return {**entry, "status": "error", "reason": f"{type(exc).__name__}: {exc}"}
        finally:
            for step in cleanup:
                try:
                    step()
                except Exception as exc:
                    log(f"  cleanup after {label} failed: {exc}")
            shutil.rmtree(workdir, ignore_errors=True)

    def s3_config(self) -> dict[str, Any]:
        """A fresh bucket on the section's S3 server, with the client options reaching it."""
        from specstar.testing.services import fresh_bucket, s3_options

        if self.s3_endpoint is None:
            raise RuntimeError("no S3 server: S3 suites run inside the S3 section")
        bucket = fresh_bucket(self.s3_endpoint, f"bench-{self.run_id}-{uuid.uuid4().hex[:8]}")
        return {"bucket": bucket, "prefix": "bench/", **s3_options(self.s3_endpoint)}

    def run_suites(self) -> list[dict[str, Any]]:
        plan_items = [
            (impl, backend, n)
            for n in self.sizes
            for backend in self.backends
            for impl in self.impls
        ]
        plan = Plan(sum(self.estimate(*item) for item in plan_items))
        log(
            f"plan: {len(plan_items)} suites ({', '.join(self.impls)} x "
            f"{', '.join(self.backends)} x N={', '.join(map(str, self.sizes))}), "
            f"{len(self.workloads)} workloads each, {self.settings.repeats} repeat(s); "
            f"{plan.eta()}"
        )
        suites = []
        for i, (impl, backend, n) in enumerate(plan_items, start=1):
            estimate = self.estimate(impl, backend, n)
            log(f"[{i}/{len(plan_items)}] {impl} on {backend}, N={n:,} ({plan.eta()})")
            entry = self.suite(impl, backend, n)
            plan.done(estimate)
            suites.append(entry)
            if entry["status"] != "ok":
                log(f"  {impl}/{backend}/{n}: {entry['status']}: {entry.get('reason')}")
                if impl != "peer" and entry["status"] == "error":
                    self.fatal.append(f"{impl}/{backend}/{n}: {entry.get('reason')}")
            else:
                for name, w in entry["workloads"].items():
                    if "error" in w and impl != "peer":
                        self.fatal.append(f"{impl}/{backend}/{n}/{name}: {w['error']}")
        return suites

    # -- HTTP -------------------------------------------------------------------------------

    def run_http(self) -> dict[str, Any]:
        n: int = self.args.http_n or (1000 if self.quick else 10000)
        quick = self.quick
        opts: dict[str, Any] = {
            "requests": 200 if quick else 3000,
            "warmup": 20 if quick else 300,
            "repeats": 1 if quick else max(3, self.settings.repeats),
            "concurrency": 4 if quick else 8,
            "time_limit": 5.0 if quick else 20.0,
        }
        out: dict[str, Any] = {"n": n, "backend": "sqlite", **opts, "apps": {}}
        log(
            f"http: {', '.join(self.impls)} on SQLite with {n:,} rows, {opts['requests']} requests "
            f"per run (at most {opts['time_limit']:.0f}s), {opts['concurrency']} connections"
        )
        for impl in self.impls:
            if impl == "peer" and self.peer_python is None:
                out["apps"][impl] = {"status": "n/a", "reason": self.problems.get("peer")}
                continue
            config: dict[str, Any] = {
                "impl": impl,
                "backend": "sqlite",
                "n": n,
                "seed": self.seed,
                "workdir": str(self.workdir / f"http-{impl}"),
            }
            if impl == "peer":
                assert self.peer_python is not None
                try:
                    dump_path, ids_path = self.peer_dump(n)
                except Exception as exc:
                    out["apps"][impl] = {"status": "error", "reason": str(exc)}
                    continue
                config.update(dump_path=str(dump_path), ids_path=str(ids_path))
                command = [str(self.peer_python), str(BENCH_DIR / "peer_driver.py")]
                list_path = http_bench.peer_list_path
            else:
                command = [sys.executable, "-m", "benchmarks.worker"]
                list_path = (
                    http_bench.ours_list_path if impl == "ours" else http_bench.raw_list_path
                )
            app = http_bench.App(impl, command, list_path)
            try:
                endpoints = http_bench.bench_app(
                    app,
                    config,
                    workdir=self.workdir,
                    cwd=ROOT,
                    endpoints=http_bench.ENDPOINTS,
                    ready_timeout=900.0,
                    progress=log,
                    **opts,
                )
                out["apps"][impl] = {"status": "ok", "endpoints": endpoints}
                for name, e in endpoints.items():
                    if "error" in e and impl != "peer":
                        self.fatal.append(f"http/{impl}/{name}: {e['error']}")
            except Exception as exc:
                out["apps"][impl] = {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}
                log(f"http/{impl}: error: {exc}")
                if impl != "peer":
                    self.fatal.append(f"http/{impl}: {exc}")
        if "ours" in self.impls:
            out["workers"] = http_bench.bench_workers(
                {
                    "impl": "ours",
                    "backend": "sqlite",
                    "n": n,
                    "seed": self.seed,
                    "workdir": str(self.workdir / "http-ours"),
                },
                [sys.executable, "-m", "benchmarks.worker"],
                workdir=self.workdir,
                cwd=ROOT,
                requests=opts["requests"] * 2,
                warmup=opts["warmup"],
                repeats=opts["repeats"],
                time_limit=opts["time_limit"],
                ready_timeout=900.0,
                progress=log,
            )
            for workers, e in out["workers"].items():
                if isinstance(e, dict) and "error" in e:
                    self.fatal.append(f"http/ours with {workers} worker(s): {e['error']}")
        return out

    # -- statements per operation -------------------------------------------------------------

    def run_statements(self) -> dict[str, Any] | None:
        """SQL statements per operation of SpecStar on SQLite and PostgreSQL (statements.py)."""
        if "ours" not in self.impls:
            return None
        pg = "postgres" in self.backends and "postgres" not in self.problems
        schema = f"specstar_bench_{self.run_id}_statements"
        out_path = self.workdir / "statements.json"
        cmd = [sys.executable, "-m", "benchmarks.statements", str(out_path)]
        if pg:
            cmd += ["--pg-dsn", self.dsn, "--pg-schema", schema]
        log("statements per operation: " + ("SQLite and PostgreSQL" if pg else "SQLite"))
        try:
            code, tail = run_process(cmd, timeout=self.suite_timeout, label="statements")
        finally:
            if pg:
                services.drop_schema(self.dsn, schema)
        if code != 0 or not out_path.exists():
            self.fatal.append(f"statements: {error_summary(tail)}")
            return {"status": "error", "reason": error_summary(tail)}
        result: dict[str, Any] = json.loads(out_path.read_text())
        for backend, entry in result["backends"].items():
            if entry.get("status") != "ok":
                self.fatal.append(f"statements/{backend}: {entry.get('reason')}")
        return result

    # -- metadata ---------------------------------------------------------------------------

    def meta(self, started: datetime, duration: float) -> dict[str, Any]:
        versions: dict[str, Any] = {"python": platform.python_version()}
        for dist in ("specstar-core", "specstar-storage-sql", "specstar-fastapi", "fastapi"):
            try:
                versions[dist] = version(dist)
            except PackageNotFoundError:
                versions[dist] = None
        versions["uvicorn"] = version("uvicorn")
        versions["msgspec"] = version("msgspec")
        versions["psycopg"] = version("psycopg")
        versions["sqlite"] = sqlite3.sqlite_version
        if "postgres" not in self.problems and "postgres" in self.backends:
            versions["postgresql"] = services.pg_version(self.dsn)
        if self.peer_python is not None:
            try:
                versions["peer"] = peer_env.versions(self.peer_python)
            except Exception as exc:
                versions["peer"] = {"error": str(exc)}
        return {
            "command": command_line(self.args.argv),
            "started": started.isoformat(timespec="seconds"),
            "duration_s": duration,
            "quick": self.quick,
            "machine": machine(),
            "versions": versions,
            "settings": self.settings.to_dict(),
            "sizes": self.sizes,
            "backends": self.backends,
            "impls": self.impls,
            "workloads": self.workloads,
            "seed": self.seed,
            "problems": self.problems,
            "fatal": self.fatal,
        }

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

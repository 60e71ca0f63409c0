"""HTTP: each app under uvicorn on 127.0.0.1, driven by a bounded load generator.

Three apps serve the same model on SQLite, each preloaded with the same ``N`` rows: SpecStar's
generated routes, the peer's generated routes, and routes written by hand over ``sqlite3`` (the
limit). The load generator is a few threads with keep-alive ``http.client`` connections; every
run sends at most a fixed number of requests and stops at a time limit, whichever comes first,
and reports requests per second with the 50th and 99th latency percentiles.

:func:`bench_workers` serves SpecStar with one and with two uvicorn workers over the same kind
of SQLite folder and drives ``GET /user/{id}`` through more connections, for the two-worker ÷
one-worker throughput ratio (the app holds no state of its own, so workers should add up).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from .workloads import PAGE, age_range, new_row

ENDPOINTS = ("create", "get", "list")
#: Uvicorn worker counts compared, and the connections that drive them.
WORKER_COUNTS = (1, 2)
WORKER_CONCURRENCY = 16
DESCRIPTIONS = {
    "create": "POST /user (create)",
    "get": "GET /user/{id}",
    "list": "GET /user with the range filter, sorted by score desc, 20 rows with data",
}

Request = tuple[str, str, bytes | None]


@dataclass(frozen=True)
class App:
    """How to start one app and how to spell its requests."""

    name: str
    command: list[str]
    list_path: Callable[[int, int], str]


def ours_list_path(lo: int, hi: int) -> str:
    qb = f"age >= {lo} & age < {hi} & active == true"
    return "/user?" + urlencode({"qb": qb, "sorts": "-score", "limit": PAGE})


def peer_list_path(lo: int, hi: int) -> str:
    qb = (
        f"(QB['age'].gte({lo}) & QB['age'].lt({hi}) & QB['active'].eq(True))"
        f".sort('-score').limit({PAGE})"
    )
    return "/user?" + urlencode({"qb": qb})


def raw_list_path(lo: int, hi: int) -> str:
    return "/user?" + urlencode({"age_gte": lo, "age_lt": hi, "active": "true"})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Server:
    """An app process: started with its config, ready once its ids file and port are there."""

    def __init__(self, app: App, config: dict[str, Any], workdir: Path, cwd: Path) -> None:
        self.app = app
        self.port = free_port()
        self.ids_path = workdir / f"http-{app.name}-ids.json"
        self.log_path = workdir / f"http-{app.name}.log"
        config = {**config, "port": self.port, "http_ids_path": str(self.ids_path)}
        #: Several uvicorn workers: each marks its folder when its app is built.
        self.workers = int(config.get("workers", 0))
        self.ready_dir = Path(config["workdir"])
        config_path = workdir / f"http-{app.name}.json"
        config_path.write_text(json.dumps(config))
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [*app.command, "serve", str(config_path)],
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_ready(self, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.app.name} server exited with {self.proc.returncode}: {self.log_tail()}"
                )
            if self.ids_path.exists() and _port_open(self.port) and self._workers_ready():
                ids: list[str] = json.loads(self.ids_path.read_text())
                return ids
            time.sleep(0.1)
        raise RuntimeError(f"{self.app.name} server not ready within {timeout:.0f}s")

    def _workers_ready(self) -> bool:
        return self.workers <= 1 or len(list(self.ready_dir.glob("*.ready"))) >= self.workers

    def log_tail(self, lines: int = 8) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " / ".join(text[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _send(conn: http.client.HTTPConnection, req: Request) -> tuple[int, bytes]:
    method, path, body = req
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read()


def run_load(
    port: int,
    make: Callable[[int], Request],
    *,
    start: int,
    count: int,
    concurrency: int,
    time_limit: float,
) -> dict[str, Any]:
    """Send requests ``make(start)``, ``make(start + 1)``, ... from ``concurrency`` threads, at
    most ``count`` of them and none after ``time_limit`` seconds."""
    lock = threading.Lock()
    counter = iter(range(start, start + count))
    latencies: list[list[int]] = [[] for _ in range(concurrency)]
    errors: list[str] = []
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    finished = [t0]

    def worker(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = latencies[slot]
        try:
            while time.perf_counter() < deadline:
                with lock:
                    k = next(counter, None)
                if k is None:
                    return
                req = make(k)
                began = time.perf_counter_ns()
                try:
                    status, body = _send(conn, req)
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    with lock:
                        errors.append(f"{req[0]} {req[1]}: {type(exc).__name__}: {exc}")
                    continue
                mine.append(time.perf_counter_ns() - began)
                if status >= 300:
                    with lock:
                        errors.append(f"{req[0]} {req[1]}: HTTP {status} {body[:200]!r}")
        finally:
            conn.close()
            with lock:
                finished[0] = max(finished[0], time.perf_counter())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = finished[0] - t0
    all_ns = sorted(x for part in latencies for x in part)
    done = len(all_ns)
    if not all_ns:
        return {"requests": 0, "errors": len(errors), "first_error": errors[:1]}

    def pct(p: float) -> float:
        return all_ns[min(done - 1, int(p * done))] / 1e6

    return {
        "requests": done,
        "seconds": elapsed,
        "req_s": done / elapsed if elapsed > 0 else 0.0,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "errors": len(errors),
        "first_error": errors[:1],
    }


def wrk_available() -> bool:
    """Whether the C load generator ``wrk`` is installed (used for the worker comparison)."""
    return shutil.which("wrk") is not None


_WRK_SCRIPT = """
paths = {%s}
i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
"""


def _wrk_ms(text: str) -> float:
    value = float(text.rstrip("usm"))
    if text.endswith("us"):
        return value / 1000
    if text.endswith("ms"):
        return value
    return value * 1000  # seconds


def run_wrk(port: int, paths: list[str], *, concurrency: int, seconds: float) -> dict[str, Any]:
    """Drive ``GET paths[i]`` round robin with ``wrk`` (one thread, ``concurrency``
    connections) for ``seconds``. ``wrk`` costs a fraction of a Python client's CPU, which
    matters on a small machine where the load generator shares the cores with the server."""
    lua = _WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
        script = fh.name
    try:
        proc = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        )
    finally:
        Path(script).unlink(missing_ok=True)
    out: dict[str, Any] = {"errors": 0, "first_error": [], "loader": "wrk"}
    for line in proc.stdout.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            out["req_s"] = float(words[1])
        elif len(words) == 2 and words[0] == "50%":
            out["p50_ms"] = _wrk_ms(words[1])
        elif len(words) == 2 and words[0] == "99%":
            out["p99_ms"] = _wrk_ms(words[1])
        elif "requests in" in line:
            out["requests"] = int(words[0])
            out["seconds"] = float(words[3].rstrip("s,"))
        elif line.strip().startswith(("Non-2xx", "Socket errors")):
            out["errors"] += sum(int(w.rstrip(",")) for w in words if w.rstrip(",").isdigit())
            out["first_error"] = [line.strip()]
    if "req_s" not in out:
        raise RuntimeError(f"could not read wrk's output: {proc.stdout[-400:]!r}")
    return out


def check_responses(port: int, app: App, ids: list[str], seed: int) -> None:
    """One request of each kind must answer what the benchmark claims it answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        status, body = _send(conn, ("GET", f"/user/{quote(ids[0], safe=':')}", None))
        if status != 200 or b'"email"' not in body:
            raise RuntimeError(f"{app.name}: GET by id answered {status}: {body[:300]!r}")
        status, body = _send(conn, ("GET", app.list_path(*age_range(0)), None))
        items = json.loads(body) if status == 200 else None
        if not isinstance(items, list) or len(items) != PAGE:
            raise RuntimeError(f"{app.name}: list answered {status}: {body[:300]!r}")
        row = json.dumps(new_row(10**7, seed)).encode()
        status, body = _send(conn, ("POST", "/user", row))
        if status not in (200, 201):
            raise RuntimeError(f"{app.name}: create answered {status}: {body[:300]!r}")
    finally:
        conn.close()


def bench_app(
    app: App,
    config: dict[str, Any],
    *,
    workdir: Path,
    cwd: Path,
    endpoints: tuple[str, ...],
    requests: int,
    warmup: int,
    repeats: int,
    concurrency: int,
    time_limit: float,
    ready_timeout: float,
    progress: Callable[[str], None],
    loader: str = "python",
) -> dict[str, Any]:
    """Start ``app``, check it, and measure each endpoint ``repeats`` times (median run).

    ``loader="wrk"`` drives ``get`` with ``wrk`` instead of Python threads."""
    server = Server(app, config, workdir, cwd)
    seed = int(config["seed"]) + 1000
    try:
        t0 = time.perf_counter()
        ids = server.wait_ready(ready_timeout)
        progress(f"http/{app.name}: ready on port {server.port} ({time.perf_counter() - t0:.1f}s)")
        check_responses(server.port, app, ids, seed)
        makers: dict[str, Callable[[int], Request]] = {
            "create": lambda k: ("POST", "/user", json.dumps(new_row(k, seed)).encode()),
            "get": lambda k: ("GET", f"/user/{quote(ids[(k * 7919) % len(ids)], safe=':')}", None),
            "list": lambda k: ("GET", app.list_path(*age_range(k)), None),
        }
        out: dict[str, Any] = {}
        k = 0
        for name in endpoints:
            if loader == "wrk" and name == "get":
                paths = [f"/user/{quote(i, safe=':')}" for i in ids[:2000]]
                run_wrk(server.port, paths, concurrency=concurrency, seconds=1)
                runs = [
                    run_wrk(server.port, paths, concurrency=concurrency, seconds=time_limit)
                    for _ in range(repeats)
                ]
                out[name] = _summary(runs)
                if "error" in out[name]:
                    progress(f"http/{app.name}: {name}: ERROR {out[name]['error']}")
                    continue
                progress(
                    f"http/{app.name}: {name} (wrk): {out[name]['req_s']:,.0f} req/s, "
                    f"p50 {out[name]['p50_ms']:.2f} ms, p99 {out[name]['p99_ms']:.2f} ms"
                )
                continue
            run_load(
                server.port,
                makers[name],
                start=k,
                count=warmup,
                concurrency=concurrency,
                time_limit=time_limit,
            )
            k += warmup
            runs = []
            for _ in range(repeats):
                r = run_load(
                    server.port,
                    makers[name],
                    start=k,
                    count=requests,
                    concurrency=concurrency,
                    time_limit=time_limit,
                )
                k += requests
                runs.append(r)
            out[name] = _summary(runs)
            if "error" in out[name]:
                progress(f"http/{app.name}: {name}: ERROR {out[name]['error']}")
                continue
            progress(
                f"http/{app.name}: {name}: {out[name]['req_s']:,.0f} req/s, "
                f"p50 {out[name]['p50_ms']:.2f} ms, p99 {out[name]['p99_ms']:.2f} ms"
            )
        return out
    finally:
        server.stop()


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of repeated runs of one endpoint, or ``{"error": ...}``."""
    good = [r for r in runs if r.get("requests")]
    errors = sum(r["errors"] for r in runs)
    if not good or errors:
        first: list[str] = next((r["first_error"] for r in runs if r["first_error"]), [])
        return {"error": f"{errors} failed requests; first: {first}"}
    mid = sorted(good, key=lambda r: r["req_s"])[len(good) // 2]
    return {
        "req_s": statistics.median(r["req_s"] for r in good),
        "p50_ms": statistics.median(r["p50_ms"] for r in good),
        "p99_ms": statistics.median(r["p99_ms"] for r in good),
        "requests": mid["requests"],
        "runs": good,
    }


def bench_workers(
    config: dict[str, Any],
    command: list[str],
    *,
    workdir: Path,
    cwd: Path,
    requests: int,
    warmup: int,
    repeats: int,
    time_limit: float,
    ready_timeout: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """``GET /user/{id}`` on SpecStar's app under each of :data:`WORKER_COUNTS` uvicorn
    workers, :data:`WORKER_CONCURRENCY` connections: ``{"1": endpoint, "2": endpoint}``.

    The load comes from ``wrk`` when it is installed (``apt-get install wrk``): on a 2-core
    machine a Python load generator takes a large share of the CPU the second worker needs,
    so the ratio would measure the client, not the server."""
    loader = "wrk" if wrk_available() else "python"
    out: dict[str, Any] = {"concurrency": WORKER_CONCURRENCY, "loader": loader}
    for workers in WORKER_COUNTS:
        app = App(f"ours-{workers}w", command, ours_list_path)
        try:
            result = bench_app(
                app,
                {**config, "workers": workers, "workdir": f"{config['workdir']}-{workers}w"},
                workdir=workdir,
                cwd=cwd,
                endpoints=("get",),
                requests=requests,
                warmup=warmup,
                repeats=repeats,
                concurrency=WORKER_CONCURRENCY,
                time_limit=time_limit,
                ready_timeout=ready_timeout,
                progress=progress,
                loader=loader,
            )
            out[str(workers)] = result["get"]
        except Exception as exc:
            out[str(workers)] = {"error": f"{type(exc).__name__}: {exc}"}
            progress(f"http/{app.name}: error: {exc}")
    return out

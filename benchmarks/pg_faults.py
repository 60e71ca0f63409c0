"""Requests to a live uvicorn app while PostgreSQL sessions are terminated (a probe).

Starts uvicorn (``--workers``) serving a model on PostgreSQL, then sends a loop of requests
(creates, full updates, lists) from ``--clients`` threads while another connection runs
``pg_terminate_backend`` on every session of the app, ``--rounds`` times ``--gap`` seconds
apart. Prints the count of responses by status and problem code, the sessions terminated,
and whether every acknowledged write is readable afterwards::

    .tools/bin/hatch run python -m benchmarks.pg_faults
    .tools/bin/hatch run python -m benchmarks.pg_faults --workers 2 --rounds 3 --clients 4

PostgreSQL comes from ``SPECSTAR_TEST_PG_DSN`` (default ``postgresql://postgres@127.0.0.1/postgres``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg

APP = textwrap.dedent(
    """
    import os

    import msgspec
    from fastapi import FastAPI

    from specstar.fastapi import SpecStar, install_problem_handlers
    from specstar.sql import PostgresStorageFactory


    class Entry(msgspec.Struct, kw_only=True):
        title: str
        n: int = 0


    factory = PostgresStorageFactory(os.environ["PROBE_DSN"], schema=os.environ["PROBE_SCHEMA"])
    crud = SpecStar(storage_factory=factory, default_user="p")
    crud.add_model(Entry, indexed_fields=["title", "n"])
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gap", type=float, default=2.0)
    args = parser.parse_args()
    dsn = os.environ.get("SPECSTAR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"specstar-probe-{uuid.uuid4().hex[:8]}"
    schema = f"specstar_probe_{uuid.uuid4().hex[:8]}"
    port = _free_port()
    separator = "&" if "?" in dsn else "?"
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "probe_app.py").write_text(APP)
        env = {
            **os.environ,
            "PROBE_DSN": f"{dsn}{separator}application_name={name}",
            "PROBE_SCHEMA": schema,
            "PYTHONWARNINGS": "ignore",
        }
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--app-dir", folder, "probe_app:app"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "critical"),
                *("--workers", str(args.workers)),
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        statuses: collections.Counter[str] = collections.Counter()
        acknowledged: dict[str, int] = {}
        lock = threading.Lock()
        stop = threading.Event()
        try:
            for _ in range(300):
                try:
                    httpx.get(base + "/openapi.json", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)

            def client(number: int) -> None:
                with httpx.Client(base_url=base, timeout=60) as http:
                    i = 0
                    mine: list[str] = []
                    while not stop.is_set():
                        i += 1
                        value = number * 1_000_000 + i
                        if i % 3 == 0 or not mine:
                            r = http.post("/entry", json={"title": f"c{number}", "n": value})
                            if r.status_code == 201:
                                mine.append(r.json()["resource_id"])
                                with lock:
                                    acknowledged[mine[-1]] = value
                        elif i % 3 == 1:
                            r = http.put(f"/entry/{mine[-1]}", json={"title": "u", "n": value})
                            if r.status_code == 200:
                                with lock:
                                    acknowledged[mine[-1]] = value
                        else:
                            r = http.get("/entry", params={"limit": 20})
                        code = r.json().get("code", "") if r.status_code >= 400 else ""
                        with lock:
                            statuses[f"{r.status_code} {code}".strip()] += 1

            threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
            for t in threads:
                t.start()
            terminated = []
            with psycopg.connect(dsn, autocommit=True) as conn:
                for _ in range(args.rounds):
                    time.sleep(args.gap)
                    rows = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = %s",
                        (name,),
                    ).fetchall()
                    terminated.append(len(rows))
                time.sleep(args.gap)
            stop.set()
            for t in threads:
                t.join()
            lost = []
            with httpx.Client(base_url=base, timeout=60) as http:
                for rid, value in acknowledged.items():
                    stored = http.get(f"/entry/{rid}").json()
                    if stored["data"]["n"] < value if "data" in stored else stored["n"] < value:
                        lost.append(rid)
            print(
                json.dumps(
                    {
                        "requests": sum(statuses.values()),
                        "statuses": dict(statuses),
                        "sessions_terminated_per_round": terminated,
                        "acknowledged_writes": len(acknowledged),
                        "lost_acknowledged_writes": len(lost),
                    }
                )
            )
        finally:
            stop.set()
            server.terminate()
            server.wait(20)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()

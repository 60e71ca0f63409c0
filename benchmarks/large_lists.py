"""Worker memory while many slow clients read a large list (a probe, not a test).

Starts one uvicorn worker serving a model on SQLite, stores ``--rows`` documents of
``--size`` bytes, then opens ``--readers`` raw connections that each ask for the whole page
(``limit=--rows``) and read its response slowly (``--read-bytes`` every ``--pause``
seconds). Prints the worker's resident memory (``VmRSS`` from ``/proc``) before, at the peak
while the readers hold their responses open, and after they closed, in MiB::

    .tools/bin/hatch run python -m benchmarks.large_lists
    .tools/bin/hatch run python -m benchmarks.large_lists --readers 40 --rows 1000 --size 3000

Linux only (it reads ``/proc/<pid>/status``). Standard library and the workspace only.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

APP = textwrap.dedent(
    """
    import os

    import msgspec
    from fastapi import FastAPI

    from specstar.fastapi import SpecStar, install_problem_handlers
    from specstar.sql import SQLiteStorageFactory


    class Doc(msgspec.Struct, kw_only=True):
        title: str
        body: str


    crud = SpecStar(storage_factory=SQLiteStorageFactory(os.environ["PROBE_DIR"]), default_user="p")
    crud.add_model(Doc, indexed_fields=["title"])
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    """
)


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _slow_reader(port: int, path: str, chunk: int, pause: float, done: threading.Event) -> int:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode())
        total = 0
        while not done.is_set():
            data = s.recv(chunk)
            if not data:
                break
            total += len(data)
            time.sleep(pause)
        return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=40)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--size", type=int, default=3000, help="bytes of each document's body")
    parser.add_argument("--read-bytes", type=int, default=4096)
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--hold", type=float, default=5.0, help="seconds the readers read")
    args = parser.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "probe_app.py").write_text(APP)
        env = {**os.environ, "PROBE_DIR": str(Path(folder, "data")), "PYTHONWARNINGS": "ignore"}
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--app-dir", folder, "probe_app:app"),
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(base + "/openapi.json", timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            body = "x" * args.size
            for i in range(args.rows):
                request = urllib.request.Request(
                    base + "/doc",
                    data=json.dumps({"title": f"t{i:05}", "body": body}).encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                )
                urllib.request.urlopen(request).read()
            path = f"/doc?limit={args.rows}"
            page = urllib.request.urlopen(base + path).read()  # warm up (caches, imports)
            before = _rss_mib(server.pid)
            done = threading.Event()
            readers = [
                threading.Thread(
                    target=_slow_reader, args=(port, path, args.read_bytes, args.pause, done)
                )
                for _ in range(args.readers)
            ]
            for t in readers:
                t.start()
            peak = before
            deadline = time.monotonic() + args.hold
            while time.monotonic() < deadline:
                peak = max(peak, _rss_mib(server.pid))
                time.sleep(0.1)
            done.set()
            for t in readers:
                t.join()
            time.sleep(2.0)
            after = _rss_mib(server.pid)
            print(
                json.dumps(
                    {
                        "readers": args.readers,
                        "page_bytes": len(page),
                        "rss_before_mib": round(before, 1),
                        "rss_peak_mib": round(peak, 1),
                        "rss_after_mib": round(after, 1),
                        "peak_increase_mib": round(peak - before, 1),
                        "kept_after_close_mib": round(after - before, 1),
                    }
                )
            )
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()

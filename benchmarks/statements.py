"""SQL statements SpecStar sends per operation, counted at the database driver.

``python -m benchmarks.statements OUT.json [--pg-dsn DSN --pg-schema SCHEMA]`` loads a few
hundred rows through the public API and counts, for each operation, the statements that reach
the database, transaction control included:

* SQLite: every connection the storage opens gets a ``set_trace_callback`` (``sqlite3.connect``
  is wrapped while the storage is built), which sees each statement as it runs.
* PostgreSQL: every connection gets a libpq protocol trace (``PGconn.trace``); a statement is a
  frontend ``Query`` (simple protocol: ``BEGIN``, ``COMMIT``) or ``Execute`` (extended
  protocol) message.

The counts do not depend on the machine: they are part of the benchmark's output (one table in
the report), not a timing.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .ours import OursDriver
from .workloads import PAGE, age_range, make_rows, patch_ops

ROWS = 300
#: Operations of each kind counted (their average is reported).
SAMPLES = 10
OPERATIONS = ("get", "patch", "list", "search")
DESCRIPTIONS = {
    "get": "GET by id (current revision with its data)",
    "patch": "PATCH (JSON Patch, a new revision)",
    "list": f"list page of {PAGE} (the range search, each row with data)",
    "search": f"search page of {PAGE} (the range search, metadata only)",
}


class Counter:
    """Statements seen since :meth:`reset`."""

    def __init__(self) -> None:
        self.sqlite = 0
        self._traces: list[Path] = []
        self._offsets: dict[Path, int] = {}

    def reset(self) -> None:
        self.sqlite = 0
        self._offsets = {p: p.stat().st_size for p in self._traces}

    def count(self) -> int:
        total = self.sqlite
        for path in self._traces:
            with path.open("rb") as f:
                f.seek(self._offsets.get(path, 0))
                for line in f.read().decode(errors="replace").splitlines():
                    parts = line.split("\t")
                    if len(parts) > 2 and parts[0] == "F" and parts[2] in ("Query", "Execute"):
                        total += 1
        return total

    def trace_sqlite(self, sql: str) -> None:
        self.sqlite += 1

    def add_trace(self, path: Path) -> None:
        self._traces.append(path)


@contextmanager
def counting(counter: Counter, workdir: Path) -> Iterator[None]:
    """While active, new SQLite and psycopg connections report their statements."""
    real_connect = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(counter.trace_sqlite)
        return conn

    sqlite3.connect = connect  # type: ignore[assignment]
    undo: list[Callable[[], None]] = [lambda: setattr(sqlite3, "connect", real_connect)]
    try:
        import psycopg
        from psycopg import pq
    except ImportError:
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None:
        real_pg = psycopg.Connection.connect

        def pg_connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
            conn = real_pg.__func__(cls, *args, **kwargs)  # type: ignore[attr-defined]
            path = workdir / f"pg-trace-{len(counter._traces)}.txt"
            handle = path.open("w")
            conn.pgconn.trace(handle.fileno())
            conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            conn._specstar_trace = handle  # keeps the file open as long as the connection
            counter.add_trace(path)
            return conn

        psycopg.Connection.connect = classmethod(pg_connect)  # type: ignore[assignment,method-assign]
        undo.append(lambda: setattr(psycopg.Connection, "connect", real_pg))
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


def measure(backend: str, workdir: Path, pg_dsn: str, pg_schema: str) -> dict[str, float]:
    """Statements per operation on one backend (the average over ``SAMPLES`` operations)."""
    counter = Counter()
    with counting(counter, workdir):
        driver = OursDriver(backend, workdir / backend, pg_dsn, pg_schema)
    try:
        ids, _ = driver.load(make_rows(ROWS, 7))
        ops: dict[str, Callable[[int], Any]] = {
            "get": lambda k: driver.get(ids[(k * 37) % len(ids)]),
            "patch": lambda k: driver.patch(ids[(k * 41) % len(ids)], patch_ops(10**6 + k)),
            "list": lambda k: driver.list_page(*age_range(k)),
            "search": lambda k: driver.search_range(*age_range(k)),
        }
        out: dict[str, float] = {}
        for name in OPERATIONS:
            ops[name](0)  # first call: caches warm
            counter.reset()
            for k in range(1, SAMPLES + 1):
                ops[name](k)
            out[name] = counter.count() / SAMPLES
        return out
    finally:
        driver.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.statements")
    parser.add_argument("out", type=Path)
    parser.add_argument("--pg-dsn")
    parser.add_argument("--pg-schema")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"rows": ROWS, "samples": SAMPLES, "backends": {}}
    with tempfile.TemporaryDirectory(prefix="specstar-statements-") as tmp:
        backends = ["sqlite"] + (["postgres"] if args.pg_dsn else [])
        for backend in backends:
            try:
                counts = measure(backend, Path(tmp), args.pg_dsn or "", args.pg_schema or "")
                results["backends"][backend] = {"status": "ok", "per_op": counts}
            except Exception as exc:
                results["backends"][backend] = {
                    "status": "error",
                    "reason": f"{type(exc).__name__}: {exc}",
                }
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    for backend, entry in results["backends"].items():
        print(backend, json.dumps(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

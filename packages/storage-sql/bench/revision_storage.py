"""Where should the SQLite store keep revisions: in the database or as files?

Both variants do what a commit needs: take SQLite's write lock (``BEGIN IMMEDIATE``), store the
revision durably, move the meta pointer, commit. "files" writes each revision to its own file
(temporary file, ``fsync``, ``os.replace``, ``fsync`` of the folder) inside the transaction;
"sqlite" inserts it as a BLOB in the same transaction. Reads fetch a revision by id.

Run: ``python packages/storage-sql/bench/revision_storage.py [writes]``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _open(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("CREATE TABLE meta (rid TEXT PRIMARY KEY, seq INTEGER)")
    conn.execute("CREATE TABLE rev (rid TEXT, seq INTEGER, data BLOB, PRIMARY KEY (rid, seq))")
    return conn


def _pointer(conn: sqlite3.Connection, rid: str, seq: int) -> None:
    conn.execute(
        "INSERT INTO meta VALUES (?, ?) ON CONFLICT (rid) DO UPDATE SET seq = excluded.seq",
        (rid, seq),
    )


def in_sqlite(folder: Path, synchronous: str, payload: bytes, n: int) -> tuple[float, float]:
    conn = _open(folder / "db", synchronous)
    start = time.perf_counter()
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO rev VALUES (?, ?, ?)", (f"r{i % 50}", i, payload))
        _pointer(conn, f"r{i % 50}", i)
        conn.execute("COMMIT")
    write = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(n):
        conn.execute("SELECT data FROM rev WHERE rid = ? AND seq = ?", (f"r{i % 50}", i)).fetchone()
    read = time.perf_counter() - start
    conn.close()
    return write, read


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def as_files(folder: Path, synchronous: str, payload: bytes, n: int) -> tuple[float, float]:
    conn = _open(folder / "db", synchronous)
    root = folder / "revisions"
    start = time.perf_counter()
    for i in range(n):
        rid = f"r{i % 50}"
        conn.execute("BEGIN IMMEDIATE")
        target = root / rid
        target.mkdir(parents=True, exist_ok=True)
        tmp = target / f".{i}.tmp"
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target / str(i))
        _fsync_dir(target)
        _pointer(conn, rid, i)
        conn.execute("COMMIT")
    write = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(n):
        (root / f"r{i % 50}" / str(i)).read_bytes()
    read = time.perf_counter() - start
    conn.close()
    return write, read


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    variants: list[tuple[str, Callable[[Path, str, bytes, int], tuple[float, float]]]] = [
        ("sqlite", in_sqlite),
        ("files", as_files),
    ]
    print(f"{'revision':>8} {'size':>6} {'sync':>6} {'commits/s':>10} {'reads/s':>10}")
    for size in (1024, 65536):
        payload = os.urandom(size)
        for synchronous in ("FULL", "NORMAL"):
            for label, variant in variants:
                with tempfile.TemporaryDirectory() as folder:
                    write, read = variant(Path(folder), synchronous, payload, n)
                print(f"{label:>8} {size:>6} {synchronous:>6} {n / write:>10.0f} {n / read:>10.0f}")


if __name__ == "__main__":
    main()

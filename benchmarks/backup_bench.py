"""Backup figures: ``load`` then ``dump`` of N resources x 3 revisions on SQLite and
PostgreSQL — wall time, resources per second, peak resident-memory growth — next to
``pg_dump``/``pg_restore`` of the same PostgreSQL tables.

The archive loaded is generated (valid frames, real content hashes; no store involved), so the
load itself fills the store the dump then reads. Peak memory is the growth of ``VmHWM`` over the
resident set at the start of each phase (the kernel's high-water mark is reset before it).

    python -m benchmarks.backup_bench --resources 100000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import msgspec

from specstar.core import ResourceManager, StorageFactory, Unique, dump, load
from specstar.core.backup.format import (
    FORMAT_VERSION,
    MAGIC,
    ArchivedMeta,
    ArchivedRevision,
    Header,
    ModelEnd,
    ModelStart,
    Resource,
    Trailer,
    encode_frame,
)
from specstar.sql import PostgresStorageFactory, SQLiteStorageFactory

from .services import drop_schema, pg_dsn, pg_problem

REVISIONS = 3
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Book(msgspec.Struct, kw_only=True):
    title: str
    isbn: Annotated[str, Unique()]
    year: int
    tags: list[str] = []


def manager(factory: StorageFactory | None = None) -> ResourceManager[Book]:
    return ResourceManager(
        Book, name="book", storage_factory=factory, indexed_fields=["year", "tags"]
    )


def generate(path: Path, n: int) -> None:
    """An archive of ``n`` books with :data:`REVISIONS` revisions each, as ``dump`` writes it."""
    binding = manager()._binding
    crc = 0
    frames = 0
    with path.open("wb") as out:
        out.write(MAGIC)

        def put(frame: Any) -> None:
            nonlocal crc, frames
            data, crc = encode_frame(frame, crc)
            out.write(data)
            frames += 1

        put(Header(FORMAT_VERSION))
        put(ModelStart("book", None, "json"))
        for i in range(n):
            rid = f"book-{i:07d}"
            created = T0 + timedelta(seconds=i)
            revisions = []
            for r in range(1, REVISIONS + 1):
                book = Book(
                    title=f"Book {i} edition {r}",
                    isbn=f"isbn-{i}",
                    year=1900 + (i + r) % 120,
                    tags=["bench", f"t{i % 7}"],
                )
                encoded = binding.encode(book)
                when = created + timedelta(minutes=r)
                revisions.append(
                    ArchivedRevision(
                        f"{rid}:{r}",
                        None if r == 1 else f"{rid}:{r - 1}",
                        None,
                        encoded.data_hash,
                        "stable",
                        when,
                        f"user{i % 13}",
                        when,
                        f"user{i % 13}",
                        encoded.data,
                    )
                )
            last = revisions[-1]
            put(
                Resource(
                    ArchivedMeta(
                        rid,
                        last.revision_id,
                        None,
                        REVISIONS,
                        revisions[0].created_time,
                        revisions[0].created_by,
                        last.updated_time,
                        last.updated_by,
                        False,
                    ),
                    revisions,
                )
            )
        put(ModelEnd("book", n, n * REVISIONS, 0))
        put(Trailer(frames, 1))


def _status() -> dict[str, int]:
    out: dict[str, int] = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


@dataclass
class Figure:
    backend: str
    phase: str
    resources: int
    seconds: float
    per_second: float
    peak_growth_mib: float | None
    archive_mib: float | None = None


def measure(backend: str, phase: str, n: int, run: Callable[[], Any]) -> Figure:
    """Time ``run`` and the growth of the peak resident set over the start of the phase."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        base: int | None = _status()["VmRSS"]
    except OSError:
        base = None
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    growth = None if base is None else (_status()["VmHWM"] - base) / 1024
    return Figure(backend, phase, n, round(seconds, 2), round(n / seconds), growth)


def stores(
    tmp: Path, backends: set[str]
) -> Iterator[tuple[str, StorageFactory, Callable[[], None]]]:
    if "sqlite" in backends:
        sqlite = SQLiteStorageFactory(tmp / "sqlite")
        yield "sqlite", sqlite, sqlite.close
    if "postgres" not in backends:
        return
    dsn = pg_dsn()
    problem = pg_problem(dsn)
    if problem:
        print(f"postgres skipped: {problem}")
        return
    schema = f"specstar_bench_backup_{uuid.uuid4().hex[:8]}"
    pg = PostgresStorageFactory(dsn, schema=schema, pool_size=4)

    def close() -> None:
        pg.close()
        drop_schema(dsn, schema)

    yield f"postgres:{schema}", pg, close


def pg_tools(dsn: str, schema: str, n: int, tmp: Path) -> list[Figure]:
    """``pg_dump -Fc`` of the schema the load filled, then ``pg_restore`` of it into an empty
    schema of that name."""
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        return []
    file = tmp / "pg.dump"
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    figures = []
    dumped = measure(
        "postgres",
        "pg_dump -Fc",
        n,
        lambda: subprocess.run(
            ["pg_dump", "-Fc", "-n", schema, "-f", str(file), dsn], check=True, env=env
        ),
    )
    dumped.peak_growth_mib = None  # another process
    dumped.archive_mib = round(file.stat().st_size / 2**20, 1)
    figures.append(dumped)
    drop_schema(dsn, schema)
    restored = measure(
        "postgres",
        "pg_restore",
        n,
        lambda: subprocess.run(["pg_restore", "-d", dsn, str(file)], check=True, env=env),
    )
    restored.peak_growth_mib = None
    figures.append(restored)
    return figures


def run_backend(
    backend: str, factory: StorageFactory, archive: Path, tmp: Path, n: int
) -> list[Figure]:
    """Load the generated archive into an empty store, then dump the store."""
    target = manager(factory)
    stats: dict[str, Any] = {}
    with archive.open("rb") as src:
        loaded = measure(backend, "load", n, lambda: stats.update(load([target], src)))
    assert stats["book"].loaded == n, stats["book"]
    out = tmp / f"{backend}.bak"
    with out.open("wb") as sink:
        dumped = measure(backend, "dump", n, lambda: dump([target], sink))
    dumped.archive_mib = round(out.stat().st_size / 2**20, 1)
    print(f"{backend}: dump == generated archive: {out.read_bytes() == archive.read_bytes()}")
    return [loaded, dumped]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument(
        "--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    args = parser.parse_args()
    n = args.resources
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        archive = tmp / "generated.bak"
        start = time.perf_counter()
        generate(archive, n)
        print(
            f"generated {n} x {REVISIONS} in {time.perf_counter() - start:.1f}s, "
            f"{archive.stat().st_size / 2**20:.1f} MiB"
        )
        for name, factory, close in stores(tmp, set(args.backends.split(","))):
            backend = name.split(":")[0]
            try:
                mine = run_backend(backend, factory, archive, tmp, n)
                if backend == "postgres":
                    mine += pg_tools(pg_dsn(), name.split(":")[1], n, tmp)
            finally:
                close()
            for f in mine:
                print(json.dumps(asdict(f)))
            figures += mine
    if args.json:
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2))


if __name__ == "__main__":
    main()

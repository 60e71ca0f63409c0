"""SpecStar's rows of the backup section (``backup_bench.py``): ``load`` then ``dump`` of N
books x 3 revisions on SQLite and PostgreSQL — wall time, resources per second, peak
resident-memory growth — next to ``pg_dump``/``pg_restore`` of the same PostgreSQL tables.

The archive loaded is generated (valid frames, real content hashes; no store involved) from
the rows of ``backup_rows.py``, the ones the peer's side stores too, so the load itself fills
the store the dump then reads. Peak memory is the growth of ``VmHWM`` over the resident set at
the start of each phase (the kernel's high-water mark is reset before it, ``rss.reset_peak``).

The section runs this module in a process of its own per size (as the peer's side runs in
its own), which writes its rows as JSON:

    python -m benchmarks.backup_ours N OUT.json [--backends sqlite,postgres]
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

from . import backup_rows, rss
from .backup_rows import MODEL, REVISIONS
from .services import drop_schema, pg_dsn, pg_problem

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Book(msgspec.Struct, kw_only=True):
    title: str
    isbn: Annotated[str, Unique()]
    year: int
    tags: list[str] = []


def manager(factory: StorageFactory | None = None) -> ResourceManager[Book]:
    return ResourceManager(
        Book, name=MODEL, storage_factory=factory, indexed_fields=list(backup_rows.INDEXED)
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
        put(ModelStart(MODEL, None, "json"))
        for i in range(n):
            rid = f"book-{i:07d}"
            created = T0 + timedelta(seconds=i)
            revisions = []
            for r in range(1, REVISIONS + 1):
                encoded = binding.encode(Book(**backup_rows.book(i, r)))
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
        put(ModelEnd(MODEL, n, n * REVISIONS, 0))
        put(Trailer(frames, 1))


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
        raise RuntimeError(f"PostgreSQL is not available: {problem}")
    schema = f"specstar_bench_backup_{uuid.uuid4().hex[:8]}"
    pg = PostgresStorageFactory(dsn, schema=schema, pool_size=4)

    def close() -> None:
        pg.close()
        drop_schema(dsn, schema)

    yield f"postgres:{schema}", pg, close


def pg_tools(dsn: str, schema: str, n: int, tmp: Path) -> list[dict[str, Any]]:
    """``pg_dump -Fc`` of the schema the load filled, then ``pg_restore`` of it into an empty
    schema of that name (other processes: no memory figure)."""
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        return []
    file = tmp / "pg.dump"
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    dumped = rss.measure_phase(
        "postgres",
        "dump",
        n,
        lambda: subprocess.run(
            ["pg_dump", "-Fc", "-n", schema, "-f", str(file), dsn], check=True, env=env
        ),
    )
    dumped.update(peak_growth_mib=None, archive_mib=round(file.stat().st_size / 2**20, 1))
    drop_schema(dsn, schema)
    restored = rss.measure_phase(
        "postgres",
        "load",
        n,
        lambda: subprocess.run(["pg_restore", "-d", dsn, str(file)], check=True, env=env),
    )
    restored["peak_growth_mib"] = None
    return [{**restored, "impl": "pg_restore"}, {**dumped, "impl": "pg_dump -Fc"}]


def run_backend(
    backend: str, factory: StorageFactory, archive: Path, tmp: Path, n: int
) -> list[dict[str, Any]]:
    """Load the generated archive into an empty store, then dump the store."""
    target = manager(factory)
    stats: dict[str, Any] = {}
    with archive.open("rb") as src:
        loaded = rss.measure_phase(backend, "load", n, lambda: stats.update(load([target], src)))
    if stats[MODEL].loaded != n:
        raise RuntimeError(f"loaded {stats[MODEL]}, expected {n} books")
    out = tmp / f"{backend}.bak"
    with out.open("wb") as sink:
        dumped = rss.measure_phase(backend, "dump", n, lambda: dump([target], sink))
    dumped["archive_mib"] = round(out.stat().st_size / 2**20, 1)
    # the store gives back what it was loaded with, byte for byte
    dumped["same_bytes"] = out.read_bytes() == archive.read_bytes()
    return [{**loaded, "impl": "ours"}, {**dumped, "impl": "ours"}]


def run(n: int, backends: set[str]) -> dict[str, Any]:
    """SpecStar's rows for ``n`` books (then ``pg_dump``/``pg_restore`` on PostgreSQL)."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        archive = tmp / "generated.bak"
        start = time.perf_counter()
        generate(archive, n)
        generated = round(time.perf_counter() - start, 2)
        for name, factory, close in stores(tmp, backends):
            backend = name.split(":")[0]
            try:
                rows += run_backend(backend, factory, archive, tmp, n)
                if backend == "postgres":
                    rows += pg_tools(pg_dsn(), name.split(":")[1], n, tmp)
            finally:
                close()
        size = round(archive.stat().st_size / 2**20, 1)
    return {"generate_s": generated, "archive_mib": size, "rows": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backup_ours", description=__doc__)
    parser.add_argument("n", type=int, help="books")
    parser.add_argument("out", type=Path, help="the JSON rows go here")
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite, postgres or both")
    args = parser.parse_args(argv)
    result = run(args.n, {b.strip() for b in args.backends.split(",") if b.strip()})
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Time of a search with each query operator on SQLite and PostgreSQL (a probe, not a test).

``python -m benchmarks.operator_probe [--rows N] [--pg-dsn DSN]`` loads ``N`` items (default
5,000) and prints, per operator, the median wall time of a ``count`` (the whole table is
filtered, no page cut-off) over a few runs, next to an indexed equality and a plain
``contains`` as references. The operators without an index (case-insensitive matching,
emptiness, truthiness, ``length()``, ``any()``/``all()``) scan the live rows once in the
database; the figures show what one such scan costs. Timings vary with the machine: they are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from specstar.core import QB, ResourceManager, StorageFactory
from specstar.sql import PostgresStorageFactory, SQLiteStorageFactory
from specstar.testing import ITEM_INDEXES, Address, Item

RUNS = 5

OPERATORS: list[tuple[str, Any]] = [
    ("name == (indexed)", QB.name == "n42"),
    ("name.contains", QB.name.contains("4")),
    ("name.icontains", QB.name.icontains("N4")),
    ("name.istarts_with", QB.name.istarts_with("N4")),
    ("name.is_blank", QB.name.is_blank()),
    ("age.is_truthy", QB.age.is_truthy()),
    ("name.length() > 3", QB.name.length() > 3),
    ("tags.length() >= 2", QB.tags.length() >= 2),
    ("tags.contains (indexed)", QB.tags.contains("t3")),
    ("tags.any() == ", QB.tags.any() == "t3"),
    ("tags.any().icontains", QB.tags.any().icontains("T3")),
    ("tags.all().istarts_with", QB.tags.all().istarts_with("T")),
]


def _load(factory: StorageFactory, rows: int) -> ResourceManager[Item]:
    items = ResourceManager(
        Item,
        storage_factory=factory,
        name=f"probe-{uuid.uuid4().hex[:8]}",
        indexed_fields=ITEM_INDEXES,
        default_user="probe",
    )
    for i in range(rows):
        tags = [f"t{(i + k) % 10}" for k in range(i % 4)]
        city = Address(city="Oslo" if i % 3 else "oslo")
        items.create(Item(name=f"n{i}", age=i % 7, tags=tags, address=city))
    return items


def _median_ms(items: ResourceManager[Item], where: Any) -> tuple[float, int]:
    found = items.count(where)  # warm-up (and the row count)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        items.count(where)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--pg-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        schema = f"probe_{uuid.uuid4().hex[:8]}"
        sqlite = SQLiteStorageFactory(Path(tmp))
        pg = PostgresStorageFactory(args.pg_dsn, schema=schema)
        stores = {"SQLite": _load(sqlite, args.rows), "PostgreSQL": _load(pg, args.rows)}
        print(f"count over {args.rows} rows, median of {RUNS} runs (ms)")
        print(f"{'operator':<26}{'rows':>7}" + "".join(f"{name:>12}" for name in stores))
        for label, where in OPERATORS:
            cells = [_median_ms(items, where) for items in stores.values()]
            assert len({found for _, found in cells}) == 1, label  # both stores agree
            print(f"{label:<26}{cells[0][1]:>7}" + "".join(f"{ms:>12.2f}" for ms, _ in cells))
        sqlite.close()
        pg.close()
        with psycopg.connect(args.pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()

"""What is measured, on which data, and how it is timed: shared by every driver.

The benchmark model has six fields (``name: str``, ``email: str`` unique, ``age: int``,
``score: float``, ``tags: list[str]``, ``active: bool``), four of them indexed (``email``,
``age``, ``score``, ``active``). Every driver (SpecStar, the ``specstar`` package from PyPI,
the raw drivers) declares that model its own way, loads the same seeded rows and runs the same
operations with the same parameters through :func:`run_suite`.

This module uses only the standard library: the peer driver loads it inside the peer's own
virtual environment, where none of our packages exist.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

Row = dict[str, Any]
Progress = Callable[[str], None]

#: Indexed paths; ``email`` is also unique.
INDEXED: tuple[str, ...] = ("email", "age", "score", "active")
#: Page size of the searches and the listing.
PAGE = 20
#: Width of the age range of the range search: ``lo <= age < lo + RANGE_WIDTH``.
RANGE_WIDTH = 10
AGE_MIN, AGE_MAX = 18, 79

#: Every workload, in the order a suite runs them: reads on the freshly loaded rows first (so
#: ``list_revisions`` lists one revision per resource for every implementation, whatever number
#: of updates each managed later), then writes that add revisions, then ``create`` (which adds
#: resources) last.
WORKLOADS: tuple[str, ...] = (
    "get",
    "search_eq",
    "search_range",
    "count",
    "list",
    "list_revisions",
    "update",
    "patch",
    "create",
)
#: Workloads whose latency is compared across sizes (the "within 3x of 1k" target).
SEARCH_WORKLOADS: tuple[str, ...] = ("search_eq", "search_range")

DESCRIPTIONS: dict[str, str] = {
    "get": "get by id (current revision with its data)",
    "search_eq": "search, equality filter: email == x, limit 20 (metadata only)",
    "search_range": (
        "search: lo <= age < lo+10 and active == true, sort score desc, limit 20 (metadata only)"
    ),
    "count": "count: lo <= age < lo+10 and active == true",
    "list": "list page with data: the range search, each row with data, revision and metadata",
    "update": "update: full replacement making a new revision",
    "patch": "JSON Patch (replace /score and /active) making a new revision",
    "list_revisions": "list the revision ids of a resource (before the writes: one revision)",
    "create": "create a resource (unique email checked)",
}

_FIRST = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Ken", "Margaret", "Linus")
_LAST = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Thompson", "Hamilton")
_TAGS = ("admin", "beta", "staff", "vip", "trial", "eu", "us", "asia", "mobile", "web")


def make_rows(n: int, seed: int) -> list[Row]:
    """``n`` rows, the same for a given seed on every machine and Python version."""
    rnd = random.Random(seed)
    rows: list[Row] = []
    for i in range(n):
        rows.append(
            {
                "name": f"{rnd.choice(_FIRST)} {rnd.choice(_LAST)} {i}",
                "email": f"user{i:07d}.{rnd.randrange(16**6):06x}@example.com",
                "age": rnd.randint(AGE_MIN, AGE_MAX),
                "score": round(rnd.uniform(0.0, 1000.0), 3),
                "tags": rnd.sample(_TAGS, rnd.randint(0, 3)),
                "active": rnd.random() < 0.5,
            }
        )
    return rows


def new_row(k: int, seed: int) -> Row:
    """The ``k``-th row a ``create`` workload adds (emails never collide with loaded rows)."""
    rnd = random.Random(seed * 7919 + k)
    return {
        "name": f"New {k}",
        "email": f"new{k:08d}.{seed}@example.com",
        "age": rnd.randint(AGE_MIN, AGE_MAX),
        "score": round(rnd.uniform(0.0, 1000.0), 3),
        "tags": rnd.sample(_TAGS, rnd.randint(0, 3)),
        "active": rnd.random() < 0.5,
    }


def age_range(k: int) -> tuple[int, int]:
    """The ``k``-th age range ``[lo, hi)`` of the range search, count and listing."""
    lo = AGE_MIN + (k * 7) % (AGE_MAX + 1 - AGE_MIN - RANGE_WIDTH)
    return lo, lo + RANGE_WIDTH


def matches_range(row: Row, lo: int, hi: int) -> bool:
    """Whether ``row`` matches the range search (the reference for the sanity checks)."""
    return bool(row["active"]) and lo <= row["age"] < hi


def apply_patch(doc: Row, ops: Sequence[Row]) -> Row:
    """The two RFC 6902 operations the patch workload sends (``replace``, ``add``), applied to
    a top-level document: what the raw drivers do by hand."""
    out = copy.copy(doc)
    for op in ops:
        key = str(op["path"]).lstrip("/")
        if op["op"] == "replace":
            if key not in out:
                raise KeyError(f"replace of a missing member {op['path']}")
            out[key] = op["value"]
        elif op["op"] == "add":
            out[key] = op["value"]
        else:
            raise ValueError(f"unsupported patch operation {op['op']!r}")
    return out


def patch_ops(k: int) -> list[Row]:
    """The ``k``-th JSON Patch of the patch workload (a score no earlier patch set, so every
    patch really changes the data: an implementation may skip a write that changes nothing)."""
    return [
        {"op": "replace", "path": "/score", "value": float(k) + 0.5},
        {"op": "replace", "path": "/active", "value": k % 2 == 0},
    ]


def updated_row(row: Row, k: int) -> Row:
    """The ``k``-th full replacement of ``row`` (same email, so uniqueness holds; a name no
    earlier update set, so every update really changes the data)."""
    out = dict(row)
    out["name"] = f"{row['name']} v{k}"
    out["score"] = float((k * 37) % 1000) + 0.25
    return out


class Driver(Protocol):
    """One implementation on one backend, as the workloads see it."""

    def load(self, rows: list[Row]) -> tuple[list[str], str]:
        """Store ``rows``; return their resource ids (in row order) and how they were loaded."""
        ...

    def get(self, rid: str) -> Any:
        """The current data of ``rid``."""
        ...

    def search_eq(self, email: str) -> Sequence[Any]:
        """Metadata of the resources with this email (one page of at most ``PAGE``)."""
        ...

    def search_range(self, lo: int, hi: int) -> Sequence[Any]:
        """Metadata of the range search: ``lo <= age < hi`` and ``active``, by score
        descending, at most ``PAGE`` rows. Each item exposes its score via :meth:`score_of`."""
        ...

    def score_of(self, item: Any) -> float:
        """The score of an item returned by :meth:`search_range`."""
        ...

    def count(self, lo: int, hi: int) -> int:
        """How many resources match the range search's filter."""
        ...

    def list_page(self, lo: int, hi: int) -> Sequence[Any]:
        """The range search's page with each row's data, revision and metadata."""
        ...

    def update(self, rid: str, row: Row) -> Any:
        """Replace the data of ``rid`` (a new revision)."""
        ...

    def patch(self, rid: str, ops: list[Row]) -> Any:
        """Apply a JSON Patch to ``rid`` (a new revision)."""
        ...

    def list_revisions(self, rid: str) -> Sequence[Any]:
        """The revision ids of ``rid``."""
        ...

    def create(self, row: Row) -> str:
        """Create a resource; return its id."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


class Settings:
    """How long and how often each workload is measured."""

    def __init__(
        self,
        *,
        budget_s: float,
        min_ops: int,
        max_ops: int,
        repeats: int,
        warmup_s: float,
        warmup_ops: int,
    ) -> None:
        self.budget_s = budget_s
        self.min_ops = min_ops
        self.max_ops = max_ops
        self.repeats = repeats
        self.warmup_s = warmup_s
        self.warmup_ops = warmup_ops

    @classmethod
    def from_dict(cls, d: Row) -> Settings:
        return cls(
            budget_s=float(d["budget_s"]),
            min_ops=int(d["min_ops"]),
            max_ops=int(d["max_ops"]),
            repeats=int(d["repeats"]),
            warmup_s=float(d["warmup_s"]),
            warmup_ops=int(d["warmup_ops"]),
        )

    def to_dict(self) -> Row:
        return dict(vars(self))


def measure(op: Callable[[int], object], settings: Settings, *, max_ops: int | None = None) -> Row:
    """Time ``op(k)`` for k = 0, 1, 2, ... (each call a different operation).

    Warm-up calls first (at most ``warmup_ops`` or ``warmup_s``, at least one), which also
    estimate the cost of one call; each of ``repeats`` timed runs then makes as many calls as fit
    in ``budget_s`` (clamped to ``min_ops``..``max_ops``). Reports the median throughput of the
    runs and the mean latency that implies.
    """
    cap = settings.max_ops if max_ops is None else min(settings.max_ops, max_ops)
    gc.collect()
    k = 0
    start = time.perf_counter_ns()
    deadline = start + int(settings.warmup_s * 1e9)
    while True:
        op(k)
        k += 1
        now = time.perf_counter_ns()
        if k >= settings.warmup_ops or now >= deadline:
            break
    per_op_ns = max((now - start) / k, 1.0)
    n = int(settings.budget_s * 1e9 / per_op_ns)
    n = max(settings.min_ops, min(cap, n))
    runs: list[float] = []
    for _ in range(settings.repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            op(k)
            k += 1
        elapsed = time.perf_counter_ns() - t0
        runs.append(n * 1e9 / max(elapsed, 1))
    ops_s = statistics.median(runs)
    return {"ops_s": ops_s, "lat_us": 1e6 / ops_s, "n_ops": n, "runs": runs}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def sanity_checks(driver: Driver, rows: list[Row], ids: list[str]) -> None:
    """Prove the driver does the work the workloads claim (same rows, same answers)."""
    probe = len(rows) // 2
    data = driver.get(ids[probe])
    _check(data is not None, "get returned nothing")
    found = driver.search_eq(rows[probe]["email"])
    _check(len(found) == 1, f"search_eq found {len(found)} rows, expected 1")
    for k in (0, 3):
        lo, hi = age_range(k)
        expected = sum(1 for r in rows if matches_range(r, lo, hi))
        got = driver.count(lo, hi)
        _check(got == expected, f"count({lo}, {hi}) = {got}, expected {expected}")
        page = driver.search_range(lo, hi)
        _check(len(page) == min(PAGE, expected), f"search_range gave {len(page)} rows")
        best = sorted((r["score"] for r in rows if matches_range(r, lo, hi)), reverse=True)
        scores = [driver.score_of(item) for item in page]
        _check(scores == best[:PAGE], "search_range is not the top scores in order")
        listed = driver.list_page(lo, hi)
        _check(len(listed) == len(page), f"list gave {len(listed)} rows")


def run_suite(
    driver: Driver,
    *,
    n: int,
    seed: int,
    settings: Settings,
    workloads: Sequence[str],
    progress: Progress,
    label: str,
    rss: Callable[[], Row] | None = None,
    after_load: Callable[[], None] | None = None,
) -> Row:
    """Load ``n`` rows into ``driver``, check it, and measure each workload.

    ``after_load`` runs once the rows are in (e.g. ``ANALYZE`` on PostgreSQL, what autovacuum
    would do). A workload that raises is reported with its error instead of a measurement; the
    other workloads still run.
    """
    rows = make_rows(n, seed)
    result: Row = {"n": n, "workloads": {}}
    if rss is not None:
        result["rss_before_load"] = rss()
    progress(f"{label}: loading {n} rows")
    t0 = time.perf_counter()
    ids, method = driver.load(rows)
    result["load"] = {"seconds": time.perf_counter() - t0, "method": method}
    progress(f"{label}: loaded in {result['load']['seconds']:.1f}s ({method})")
    if after_load is not None:
        after_load()
    if rss is not None:
        gc.collect()
        result["rss_after_load"] = rss()
    sanity_checks(driver, rows, ids)

    rnd = random.Random(seed + 1)
    order = list(range(n))
    rnd.shuffle(order)

    def pick(k: int) -> int:
        return order[k % n]

    ops: dict[str, Callable[[int], object]] = {
        "get": lambda k: driver.get(ids[pick(k)]),
        "search_eq": lambda k: driver.search_eq(rows[pick(k)]["email"]),
        "search_range": lambda k: driver.search_range(*age_range(k)),
        "count": lambda k: driver.count(*age_range(k)),
        "list": lambda k: driver.list_page(*age_range(k)),
        "update": lambda k: driver.update(ids[pick(k)], updated_row(rows[pick(k)], k)),
        "patch": lambda k: driver.patch(ids[pick(k + 1)], patch_ops(k)),
        "list_revisions": lambda k: driver.list_revisions(ids[pick(k)]),
        "create": lambda k: driver.create(new_row(k, seed)),
    }
    for name in workloads:
        if name not in ops:
            raise ValueError(f"unknown workload {name!r}")
    for name in [w for w in WORKLOADS if w in workloads]:
        t0 = time.perf_counter()
        try:
            # creates grow the store: cap them so the size stays near n
            m = measure(ops[name], settings, max_ops=max(n, 50) if name == "create" else None)
        except Exception as exc:  # reported, not hidden: the other workloads still run
            result["workloads"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            progress(f"{label}: {name}: ERROR {type(exc).__name__}: {exc}")
            continue
        result["workloads"][name] = m
        progress(
            f"{label}: {name}: {m['ops_s']:,.0f} ops/s ({m['lat_us']:,.1f} us, "
            f"{m['n_ops']} ops x {settings.repeats}, {time.perf_counter() - t0:.1f}s)"
        )
    return result


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write JSON so that a reader never sees a half-written file."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def stderr_progress(line: str) -> None:
    """Progress lines go to stderr, so stdout stays free for results."""
    print(line, file=sys.stderr, flush=True)

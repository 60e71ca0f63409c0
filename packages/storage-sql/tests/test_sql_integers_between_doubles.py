"""A float field compared with an integer no double holds: the rows are those of the exact value.

An integer beyond 2**53 may fall between two adjacent doubles (the nearest one lies above or
below it), and one beyond the double range has no double at all (it lies beyond every finite
double, short of the infinity on its side). A comparison must never round it to a stored value:
``> 2**53 + 3`` keeps ``2**53 + 4`` and drops ``2**53 + 2``. Each query is checked against the
memory reference and against the rows it must select, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sys
import uuid

import msgspec
import pytest

from specstar.core import QB, Query, ResourceManager, StorageFactory
from specstar.core.memory import MemoryStorageFactory
from specstar.core.query.ast import Expr

INF = float("inf")
BIG = sys.float_info.max
#: 2**53 + 3 lies between the doubles 2**53 + 2 and 2**53 + 4 and rounds up to the latter;
#: 2**53 + 1 lies between 2**53 and 2**53 + 2 and rounds down
UP = 2**53 + 3
DOWN = 2**53 + 1


class Reading(msgspec.Struct, kw_only=True):
    ratio: float | None = None


#: the stored ratios, by resource id: the doubles around UP and DOWN, negated too, and the
#: ends of the double range
ROWS: dict[str, float | None] = {
    "down-lo": float(2**53),
    "up-lo": float(2**53 + 2),
    "up-hi": float(2**53 + 4),
    "neg-up-hi": -float(2**53 + 2),
    "neg-up-lo": -float(2**53 + 4),
    "zero": 0.0,
    "max": BIG,
    "min": -BIG,
    "inf": INF,
    "neg-inf": -INF,
    "null": None,
}


def _load(factory: StorageFactory) -> ResourceManager[Reading]:
    mgr = ResourceManager(
        Reading,
        storage_factory=factory,
        name=f"r-{uuid.uuid4().hex[:8]}",
        indexed_fields=["ratio"],
        default_user="tester",
    )
    for rid, ratio in ROWS.items():
        mgr.create(Reading(ratio=ratio), resource_id=rid)
    return mgr


def _found(mgr: ResourceManager[Reading], where: Expr) -> set[str]:
    return {m.resource_id for m in mgr.search(Query(where=where, limit=100))}


CASES: list[tuple[str, Expr, set[str]]] = [
    ("gt rounds up", QB["ratio"] > UP, {"up-hi", "max", "inf"}),
    ("gte rounds up", QB["ratio"] >= UP, {"up-hi", "max", "inf"}),
    ("lt rounds up", QB["ratio"] < UP, set(ROWS) - {"up-hi", "max", "inf", "null"}),
    ("lte rounds up", QB["ratio"] <= UP, set(ROWS) - {"up-hi", "max", "inf", "null"}),
    ("gt rounds down", QB["ratio"] > DOWN, {"up-lo", "up-hi", "max", "inf"}),
    ("lte rounds down", QB["ratio"] <= DOWN, set(ROWS) - {"up-lo", "up-hi", "max", "inf", "null"}),
    ("gt negated rounds", QB["ratio"] > -UP, set(ROWS) - {"neg-up-lo", "min", "neg-inf", "null"}),
    ("lt negated rounds", QB["ratio"] < -UP, {"neg-up-lo", "min", "neg-inf"}),
    ("gt beyond the range", QB["ratio"] > 10**400, {"inf"}),
    ("lt beyond the range", QB["ratio"] < 10**400, set(ROWS) - {"inf", "null"}),
    ("gt below the range", QB["ratio"] > -(10**400), set(ROWS) - {"neg-inf", "null"}),
    ("lte below the range", QB["ratio"] <= -(10**400), {"neg-inf"}),
    ("eq between doubles", QB["ratio"] == UP, set()),
]


@pytest.mark.parametrize(("label", "where", "expected"), CASES, ids=[c[0] for c in CASES])
def test_comparisons_with_integers_no_double_holds(
    sql_factory: StorageFactory, label: str, where: Expr, expected: set[str]
) -> None:
    reference = _load(MemoryStorageFactory())
    store = _load(sql_factory)
    assert _found(reference, where) == expected, "the expectation disagrees with the reference"
    assert _found(store, where) == expected
    assert store.count(where) == len(expected)

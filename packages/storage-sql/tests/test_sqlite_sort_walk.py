"""SQLite walks the sort index for unselective filters and reads the filter's index otherwise.

Every page must equal the memory reference's page (rows, order, cursors), whichever plan the
store takes: the data has ties and nulls in the sort column, soft-deleted rows, and filters
from a handful of rows to almost all of them, read with offsets and whole cursor chains. The
plans are checked with ``EXPLAIN QUERY PLAN``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from specstar.core import QB, Query, ResourceManager, RevisionStatus
from specstar.core.memory import MemoryStorage
from specstar.core.ports import NewRevision, Storage, Write
from specstar.core.query.ast import Expr
from specstar.sql import SQLiteStorageFactory, SQLStorage, _plan
from specstar.sql._plan import SortIndexWalk

ROWS = 600


class Item(msgspec.Struct, kw_only=True):
    a: int
    score: float | None = None
    flag: bool = False


def _writes() -> list[Write]:
    rnd = random.Random(11)
    order = list(range(ROWS))
    rnd.shuffle(order)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for i, a in enumerate(order):
        item = Item(
            a=a,
            score=None if rnd.random() < 0.3 else float(rnd.randrange(12)),  # ties and nulls
            flag=rnd.random() < 0.15,
        )
        out.append(
            Write(
                resource_id=f"item-{rnd.randrange(10**6):06d}-{i:04d}",  # ids not in time order
                expected_revision_id=None,
                time=t0 + timedelta(seconds=i),
                user="loader",
                append=NewRevision(
                    data=msgspec.json.encode(item),
                    data_hash=f"sha256:{i}",
                    schema_version=None,
                    status=RevisionStatus.stable,
                ),
                indexed_data={"a": item.a, "score": item.score, "flag": item.flag},
            )
        )
    return out


def _deletions(writes: list[Write], metas: dict[str, Any]) -> list[Write]:
    return [
        Write(
            resource_id=w.resource_id,
            expected_revision_id=metas[w.resource_id].current_revision_id,
            time=w.time + timedelta(days=1),
            user="loader",
            is_deleted=True,
        )
        for w in writes[::9]
    ]


@pytest.fixture(autouse=True)
def walk_small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tables are small enough to check against the reference, and a table that small
    gets the plain query once a probe saw its size (``SizeHint``): make every table count as
    large, so each search weighs the walk."""
    monkeypatch.setattr(_plan, "PLAIN_UP_TO_ROWS", 0)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[ResourceManager[Item], Storage, SQLStorage]]:
    factory = SQLiteStorageFactory(tmp_path, synchronous="NORMAL")
    fields = ["a", "score", "flag"]
    manager = ResourceManager(Item, storage_factory=factory, name="item", indexed_fields=fields)
    sqlite = manager.storage
    assert isinstance(sqlite, SQLStorage)
    memory = ResourceManager(Item, storage=MemoryStorage(), name="item", indexed_fields=fields)
    writes = _writes()
    results = [sqlite.commit(write) for write in writes]
    for write in writes:
        memory.storage.commit(write)
    metas = {r.meta.resource_id: r.meta for r in results}
    deletions = _deletions(writes, metas)
    for write in deletions:
        sqlite.commit(write)
    for write in deletions:
        memory.storage.commit(write)
    yield manager, memory.storage, sqlite
    factory.close()


def _filters() -> list[Expr]:
    return [
        QB["a"] < 4,  # too few candidates: the filter's index
        QB["a"] < 40,
        (QB["a"] >= 100) & (QB["a"] < 300),
        QB["a"] >= 10,  # almost every row: the walk
        (QB["a"] >= 5) & (QB["flag"] == True),  # noqa: E712 - a residual the walk may run out on
        (QB["a"] < 500) & QB["score"].is_null(),
        QB["a"].in_([1, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67]),
    ]


def _sorts() -> list[tuple[Any, ...]]:
    return [(QB["score"].desc(),), (QB["score"].asc(),), ()]  # () sorts by $created_time


def _chain(storage: Storage, query: Query) -> list[list[str]]:
    pages = []
    while True:
        page = storage.search(query)
        pages.append([m.resource_id for m in page.items])
        if page.next_cursor is None:
            assert not page.has_more
            return pages
        query = query.replace(cursor=page.next_cursor)


def test_pages_equal_the_reference(
    stores: tuple[ResourceManager[Item], Storage, SQLStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, memory, sqlite = stores
    outcomes: list[bool] = []
    run = SortIndexWalk.run

    def recorded(self: SortIndexWalk, tx: Any, size: Any = None) -> Any:
        found = run(self, tx, size)
        outcomes.append(found is not None)
        return found

    monkeypatch.setattr(SortIndexWalk, "run", recorded)
    for where in _filters():
        for sorts in _sorts():
            for deleted in (False, True):
                for limit, offset in ((20, 0), (7, 3), (1, 0), (3, 40)):
                    query = manager.resolve(
                        Query(where=where, sorts=sorts, limit=limit, offset=offset)
                    ).replace(is_deleted=deleted)
                    expected = memory.search(query)
                    assert sqlite.search(query) == expected, query
                    if not offset:  # a cursor does not combine with an offset
                        assert _chain(sqlite, query) == _chain(memory, query), query
                    assert sqlite.count(query) == memory.count(query)
    assert True in outcomes  # the walk answered some pages
    assert False in outcomes  # and the plain query others


def test_unselective_filter_walks_the_sort_index(
    stores: tuple[ResourceManager[Item], Storage, SQLStorage],
) -> None:
    manager, memory, sqlite = stores
    columns = sqlite._ready()
    score, a = columns["score"].value, columns["a"].value
    for sort in (QB["score"].desc(), QB["score"].asc()):
        query = manager.resolve(Query(where=QB["a"] >= 10, sorts=(sort,), limit=20))
        plan = sqlite.explain(query)
        print(plan)
        assert any(f"(is_deleted=? AND {score}" in line for line in plan), plan
        assert not any(f"{a}>" in line for line in plan), plan
        assert sqlite.search(query) == memory.search(query)
        page = sqlite.search(query)
        assert page.next_cursor is not None
        second = query.replace(cursor=page.next_cursor)
        assert any(f"{score}" in line for line in sqlite.explain(second))
        assert sqlite.search(second) == memory.search(second)


def test_selective_filter_reads_its_index(
    stores: tuple[ResourceManager[Item], Storage, SQLStorage],
) -> None:
    manager, memory, sqlite = stores
    a = sqlite._ready()["a"].value
    query = manager.resolve(Query(where=QB["a"] < 4, sorts=(QB["score"].desc(),), limit=20))
    plan = sqlite.explain(query)
    assert any(f"is_deleted=? AND {a}<?" in line for line in plan), plan
    assert any("TEMP B-TREE FOR ORDER BY" in line for line in plan), plan
    assert sqlite.search(query) == memory.search(query)

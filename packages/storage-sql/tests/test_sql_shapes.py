"""The per-shape compile cache of a SQL storage never answers one query with another's plan.

Queries of the same fields but another operator, direction, null test, meta-or-data field or
access scope run one after the other on the same storage (so the cache is warm), and every
one must return the rows of the memory reference.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from specstar.core import QB, IndexedField, MemoryStorage, Query, ResourceManager, StorageFactory
from specstar.core.query.ast import Condition, Field, Op, Sort
from specstar.sql._compile import Compiler
from specstar.sql._layout import IndexColumn
from specstar.sql._shapes import ShapeCache
from specstar.sql.sqlite import SQLiteDialect
from specstar.testing import ITEM_INDEXES, Item

_QUERIES: list[Query] = [
    Query(where=QB.age >= 3, sorts=(QB.age.asc(),)),
    Query(where=QB.age >= 3, sorts=(QB.age.desc(),)),
    Query(where=QB.age > 3, sorts=(QB.age.desc(),)),
    Query(where=QB.age < 3, sorts=(QB.age.desc(),)),
    Query(where=QB.age == 3),
    Query(where=QB.age != 3),
    Query(where=QB.age.is_null()),
    Query(where=QB.age.is_null(False)),
    Query(where=QB.email == "2@x"),
    Query(where=QB.email == "2@x", is_deleted=None),
    Query(where=QB.email.starts_with("1")),
    Query(where=QB.name == "n1", sorts=(QB.score.asc(),)),
    Query(where=QB.name == "n1", sorts=(QB.score.desc(),)),
    Query(sorts=(Sort(Field("created_time", meta=True), descending=True),)),
    Query(sorts=(Sort(Field("created_time", meta=True)),)),
    Query(where=Condition(Field("resource_id", meta=True), Op.gte, "")),
    Query(where=QB.age >= 3, sorts=(QB.age.asc(),)),  # the first shape again
]


def _manager(storage: Any = None, factory: StorageFactory | None = None) -> ResourceManager[Item]:
    return ResourceManager(
        Item,
        storage=storage,
        storage_factory=factory,
        name=f"item-{uuid.uuid4().hex[:12]}",
        indexed_fields=ITEM_INDEXES,
        default_user="u",
    )


def _fill(items: ResourceManager[Item]) -> None:
    for i in range(12):
        age = None if i % 4 == 0 else i % 5
        item = Item(name=f"n{i % 3}", email=f"{i}@x", age=age, score=float(i % 7))
        items.create(item, resource_id=f"r{i:02}")
    items.delete("r02")


def _ids(items: ResourceManager[Item], query: Query) -> list[str]:
    return [m.resource_id for m in items.search(query)]


def test_each_shape_gets_its_own_plan(sql_factory: StorageFactory) -> None:
    sql, reference = _manager(factory=sql_factory), _manager(storage=MemoryStorage())
    _fill(sql)
    _fill(reference)
    for query in _QUERIES:  # one storage, so every query after the first meets a warm cache
        assert _ids(sql, query) == _ids(reference, query), query


def test_scopes_of_one_shape_stay_apart(sql_factory: StorageFactory) -> None:
    sql, reference = _manager(factory=sql_factory), _manager(storage=MemoryStorage())
    _fill(sql)
    _fill(reference)
    for scope in (QB.name == "n0", QB.name == "n1", QB.name != "n1", QB.name.is_null()):
        scoped = Query(where=scope & (QB.age >= 1), sorts=(QB.score.desc(),))
        assert _ids(sql, scoped) == _ids(reference, scoped), scope


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ((QB.age.asc(),), (QB.age.desc(),)),
        ((QB.age.asc(),), (QB.score.asc(),)),
        ((Sort(Field("created_time", meta=True)),), (Sort(Field("updated_time", meta=True)),)),
    ],
)
def test_order_by_is_kept_per_sorts(first: tuple[Sort, ...], second: tuple[Sort, ...]) -> None:
    columns = _columns()
    shapes = ShapeCache()
    warm = Compiler(_dialect(), columns, _no_regex, shapes)
    warm.order_by(Query(sorts=first))
    fresh = Compiler(_dialect(), columns, _no_regex)
    assert warm.order_by(Query(sorts=second)) == fresh.order_by(Query(sorts=second))
    assert warm.order_by(Query(sorts=second)) != warm.order_by(Query(sorts=first))


def test_a_meta_field_and_a_data_path_of_one_name_stay_apart() -> None:
    columns = {"created_time": _column("created_time", 1)}
    compiler = Compiler(_dialect(), columns, _no_regex, ShapeCache())
    data = compiler.target(Field("created_time"))
    meta = compiler.target(Field("created_time", meta=True))
    assert data.column == '"ix_1"'
    assert meta.column == '"created_time"'
    assert compiler.target(Field("created_time")) == data


def test_the_cache_is_bounded() -> None:
    shapes = ShapeCache(size=3)
    for n in range(10):
        assert shapes.get(n, lambda n=n: n * 2) == n * 2  # type: ignore[misc]
        assert len(shapes) <= 3
    with pytest.raises(ZeroDivisionError):
        shapes.get("bad", lambda: 1 // 0)
    assert shapes.get("bad", lambda: 7) == 7


def _dialect() -> Any:
    return SQLiteDialect()


def _column(path: str, number: int) -> IndexColumn:
    return IndexColumn(IndexedField(path=path, kind="datetime"), number)


def _columns() -> dict[str, IndexColumn]:
    return {
        "age": IndexColumn(IndexedField(path="age", kind="int"), 1),
        "score": IndexColumn(IndexedField(path="score", kind="float"), 2),
    }


def _no_regex(target: Any, pattern: str) -> Any:
    raise AssertionError("no regex here")

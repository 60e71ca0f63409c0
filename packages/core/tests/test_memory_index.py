"""The memory store's index plans return exactly what the reference evaluator returns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specstar.core import (
    QB,
    Query,
    ResourceManager,
    ResourceMeta,
    Sort,
    _memory_index,
    _memory_scan,
)
from specstar.core.memory import MemoryStorage
from specstar.core.query import evaluate
from specstar.testing import ITEM_INDEXES, Item
from specstar.testing.strategies import item_data, queries


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(item_data(), max_size=60),
    changes=st.lists(st.tuples(st.integers(0, 59), item_data(), st.booleans()), max_size=15),
    query=queries(),
    deleted=st.sampled_from([False, True, None]),
    pages=st.integers(1, 4),
    offset=st.sampled_from([0, 0, 1, 3]),
)
def test_index_plans_match_reference(
    *,
    rows: list[Item],
    changes: list[tuple[int, Item, bool]],
    query: Query,
    deleted: bool | None,
    pages: int,
    offset: int,
) -> None:
    items = ResourceManager(Item, storage=MemoryStorage(), indexed_fields=ITEM_INDEXES)
    ids = [items.create(row).resource_id for row in rows]
    for position, data, delete in changes:  # updates and deletes move index entries
        if position < len(ids) and items.exists(ids[position]):
            if delete:
                items.delete(ids[position])
            else:
                items.update(ids[position], data)
    first = items.resolve(query.replace(is_deleted=deleted, offset=offset))
    everything = list(items.storage._metas.values())  # type: ignore[attr-defined]
    for share in (0.0, 0.25, 1.0):  # never, sometimes and always take the candidate plan
        _memory_index.CANDIDATE_SHARE = share
        resolved = first
        for _ in range(pages):
            got = items.storage.search(resolved)
            want = evaluate.run(everything, resolved)
            assert [m.resource_id for m in got.items] == [m.resource_id for m in want.items]
            assert got.has_more == want.has_more
            assert got.next_cursor == want.next_cursor
            if not got.has_more:
                break
            resolved = resolved.replace(cursor=got.next_cursor, offset=0)
        assert items.storage.count(resolved) == evaluate.count(everything, resolved)
    _memory_index.CANDIDATE_SHARE = 0.25


def _tie_heavy() -> ResourceManager[Item]:
    items = ResourceManager(Item, storage=MemoryStorage(), indexed_fields=ITEM_INDEXES)
    for i in range(40):
        items.create(
            Item(
                name="abc"[i % 3],
                age=None if i % 7 == 0 else i % 4,
                score=float(i % 5) if i % 6 else None,
                tags=["x", "y", "z"][: i % 4],
                active=bool(i % 2),
            )
        )
    for meta in items.search(Query(limit=40))[::9]:
        items.delete(meta.resource_id)
    return items


CONDITIONS = [
    QB["age"] == 2,
    QB["age"] > 1,
    QB["age"] >= 1,
    QB["age"] < 2,
    QB["age"] <= 2,
    QB["age"].in_([0, 3]),
    QB["score"] >= 2.0,
    QB["tags"].contains("y"),
    QB["tags"].contains_any(["x", "z"]),
    (QB["age"] >= 1) & (QB["name"] == "b"),
    (QB["age"] == 0) | (QB["score"] < 1),
    QB["$created_time"] >= datetime(2000, 1, 1, tzinfo=UTC),
    # bounds on one field from several conditions are merged into one span
    (QB["age"] >= 1) & (QB["age"] < 3),
    (QB["age"] > 0) & (QB["age"] <= 2) & (QB["active"] == True),  # noqa: E712
    (QB["score"] >= 1.0) & (QB["score"] <= 1.0),
    (QB["age"] > 2) & (QB["age"] < 1),
    (QB["age"] == 1) & (QB["age"] >= 1) & (QB["age"] != 3),
    (QB["age"] >= 1) & (QB["age"] > 1) & (QB["age"] <= 3) & (QB["age"] < 3),
]
SORTS = ["age", "-age", "score", "-score", "$created_time", "-$updated_time", "name"]


@pytest.mark.parametrize("walk_first", [0, 10**9])
@pytest.mark.parametrize("share", [0.0, 1.0])
@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("where", CONDITIONS, ids=range(len(CONDITIONS)))
def test_each_plan_on_ties_and_nulls(
    where: Any, sort: str, share: float, walk_first: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _tie_heavy()
    monkeypatch.setattr(_memory_index, "CANDIDATE_SHARE", share)
    monkeypatch.setattr(_memory_index, "WALK_FIRST_MIN", walk_first)
    if walk_first == 0:  # every candidate plan first walks the sort index, whatever it expects
        monkeypatch.setattr(_memory_index, "WALK_EXPECTED_SHARE", float("inf"))
    everything = list(items.storage._metas.values())  # type: ignore[attr-defined]
    query = items.resolve(Query(where=where, sorts=(Sort.parse(sort),), limit=7))
    seen: list[str] = []
    while True:
        got = items.storage.search(query)
        want = evaluate.run(everything, query)
        assert [m.resource_id for m in got.items] == [m.resource_id for m in want.items]
        seen += [m.resource_id for m in got.items]
        if not got.has_more:
            break
        query = query.replace(cursor=got.next_cursor)
    assert len(seen) == items.storage.count(query) == evaluate.count(everything, query)
    for deleted in (True, None):
        other = query.replace(is_deleted=deleted, cursor=None)
        assert items.storage.count(other) == evaluate.count(everything, other)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(item_data(), max_size=40),
    deletes=st.lists(st.integers(0, 39), max_size=6),
    query=queries(),
    deleted=st.sampled_from([False, True, None]),
    offset=st.sampled_from([0, 0, 2]),
)
def test_fast_run_and_compiled_filters_match_reference(
    *, rows: list[Item], deletes: list[int], query: Query, deleted: bool | None, offset: int
) -> None:
    items = ResourceManager(Item, storage=MemoryStorage(), indexed_fields=ITEM_INDEXES)
    ids = [items.create(row).resource_id for row in rows]
    for position in deletes:
        if position < len(ids) and items.exists(ids[position]):
            items.delete(ids[position])
    everything = list(items.storage._metas.values())  # type: ignore[attr-defined]
    resolved = items.resolve(query.replace(is_deleted=deleted, offset=offset))
    if resolved.where is not None:
        pred = _memory_scan.compile_filter(resolved.where)
        if pred is not None:
            for meta in everything:
                assert pred(meta) == (evaluate.evaluate(resolved.where, meta) is True)
    for _ in range(4):
        got = _memory_scan.run(everything, resolved)
        want = evaluate.run(everything, resolved)
        assert [m.resource_id for m in got.items] == [m.resource_id for m in want.items]
        assert (got.has_more, got.next_cursor) == (want.has_more, want.next_cursor)
        if not got.has_more:
            break
        resolved = resolved.replace(cursor=got.next_cursor, offset=0)


def test_compiled_filters_cover_comparisons_and_conjunctions_only() -> None:
    items = ResourceManager(Item, storage=MemoryStorage(), indexed_fields=ITEM_INDEXES)
    compiled = [
        (QB["age"] >= 1) & (QB["age"] < 3),
        QB["name"].in_(["a", "b"]),
        (QB["score"] != 1.0) & (QB["active"] == False),  # noqa: E712
    ]
    interpreted = [
        (QB["age"] == 1) | (QB["age"] == 2),
        ~(QB["age"] == 1),
        QB["tags"].contains("x"),
        QB["age"].is_null(),
        QB["$created_time"] >= datetime(2000, 1, 1, tzinfo=UTC),
    ]
    for where in compiled:
        assert _memory_scan.compile_filter(items.resolve(Query(where=where)).where) is not None
    for where in interpreted:
        assert _memory_scan.compile_filter(items.resolve(Query(where=where)).where) is None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(item_data(), min_size=1, max_size=30),
    changes=st.lists(
        st.tuples(
            st.integers(0, 29), item_data(), st.sampled_from(["update", "delete", "restore"])
        ),
        max_size=25,
    ),
)
def test_index_kept_in_step_equals_index_rebuilt(
    *, rows: list[Item], changes: list[tuple[int, Item, str]]
) -> None:
    """Updates move only the entries whose value changed; the result is the same index."""
    items = ResourceManager(Item, storage=MemoryStorage(), indexed_fields=ITEM_INDEXES)
    ids = [items.create(row).resource_id for row in rows]
    for position, data, action in changes:
        rid = ids[position % len(ids)]
        meta = items.get_meta(rid, include_deleted=True)
        if action == "update" and not meta.is_deleted:
            items.update(rid, data)
        elif action == "delete" and not meta.is_deleted:
            items.delete(rid)
        elif action == "restore" and meta.is_deleted:
            items.restore(rid)
    store = items.storage
    kept = store._index  # type: ignore[attr-defined]
    rebuilt = _memory_index.IndexSet(
        [f.path for f in kept.sorted if not f.meta], [f.path for f in kept.members]
    )
    for meta in store._metas.values():  # type: ignore[attr-defined]
        rebuilt.add(meta)
    assert {f: (ix.keys, ix.nulls) for f, ix in kept.sorted.items()} == {
        f: (ix.keys, ix.nulls) for f, ix in rebuilt.sorted.items()
    }
    assert {f: m.ids for f, m in kept.members.items()} == {
        f: m.ids for f, m in rebuilt.members.items()
    }
    assert (kept.live, kept.deleted) == (rebuilt.live, rebuilt.deleted)


def test_compiled_conjunction_of_values_of_another_type_is_false_as_in_the_reference() -> None:
    """A stored value the comparison cannot order (another type: a field whose type changed
    between schema versions) makes its comparison false, and so the whole conjunction."""
    now = datetime(2024, 1, 1, tzinfo=UTC)
    meta = ResourceMeta(
        resource_id="r",
        current_revision_id="r:1",
        schema_version=None,
        total_revision_count=1,
        revision_seq=1,
        created_time=now,
        created_by="u",
        updated_time=now,
        updated_by="u",
        indexed_data={"age": "old", "name": "x"},
    )
    for where in (
        (QB["age"] >= 5) & (QB["name"] == "x"),
        (QB["name"] == "x") & (QB["age"] < 5),
    ):
        pred = _memory_scan.compile_filter(where)
        assert pred is not None
        assert evaluate.evaluate(where, meta) is not True
        assert pred(meta) is False

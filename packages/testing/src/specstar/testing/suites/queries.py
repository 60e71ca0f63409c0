"""Query semantics, sorting and pagination, checked against the reference evaluator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from specstar.core import QB, Query, QueryError, ResourceManager, ResourceMeta, Sort
from specstar.core.spi import Field, evaluate

from ..models import Address, Item
from .base import SuiteBase
from .operators import OperatorTests

BASE = datetime(2024, 1, 1, tzinfo=UTC)

ROWS: list[Item] = [
    Item(name="alpha", age=30, score=1.5, tags=["a", "b"], born=BASE, address=Address(city="Oslo")),
    Item(name="beta", age=None, score=2.0, tags=[], born=BASE + timedelta(days=1)),
    Item(name="Gamma", age=25, score=None, tags=["b"], active=False, address=Address(city="Rome")),
    Item(name="delta", age=30, score=-3.25, tags=["c"], born=BASE - timedelta(hours=5)),
    Item(name="épsilon", age=41, score=2.0, tags=["a"], address=Address(city="oslo", zip="1")),
    Item(name="zeta", age=18, score=0.0, tags=["b", "c"], active=False),
    Item(name="eta", age=None, score=None),
    Item(
        name="theta",
        age=25,
        score=7.0,
        born=datetime(2024, 1, 1, 3, tzinfo=timezone(timedelta(hours=5))),
    ),
]


def _names(metas: list[ResourceMeta]) -> list[str]:
    return [m.indexed_data["name"] for m in metas]


class QueryTests(OperatorTests, SuiteBase):
    @pytest.fixture
    def loaded(self, items: ResourceManager[Item]) -> ResourceManager[Item]:
        for row in ROWS:
            items.create(row)
        return items

    def _reference(self, mgr: ResourceManager[Item], query: Any) -> list[str]:
        resolved = mgr.resolve(query)
        everything = mgr.iter_all(Query(is_deleted=None))
        return _names(evaluate.run(list(everything), resolved).items)

    CASES: list[tuple[str, Any, list[str] | None]] = [
        ("eq", QB["age"] == 30, ["alpha", "delta"]),
        ("ne skips null", QB["age"] != 30, ["Gamma", "épsilon", "zeta", "theta"]),
        ("gt", QB["age"] > 25, ["alpha", "delta", "épsilon"]),
        ("lte float/int", QB["score"] <= 2, ["alpha", "beta", "delta", "épsilon", "zeta"]),
        ("in", QB["age"].in_([18, 41]), ["épsilon", "zeta"]),
        ("not_in skips null", QB["age"].not_in([30]), ["Gamma", "épsilon", "zeta", "theta"]),
        ("is_null", QB["age"].is_null(), ["beta", "eta"]),
        ("not is_null", QB["age"].is_null(False), None),
        ("missing nested", QB["address.city"].is_null(), None),
        ("nested eq", QB["address.city"] == "Oslo", ["alpha"]),
        ("bool", QB["active"] == False, ["Gamma", "zeta"]),  # noqa: E712
        ("contains list", QB["tags"].contains("b"), ["alpha", "Gamma", "zeta"]),
        (
            "contains_any",
            QB["tags"].contains_any(["a", "c"]),
            ["alpha", "delta", "épsilon", "zeta"],
        ),
        ("contains str", QB["name"].contains("et"), ["beta", "zeta", "eta", "theta"]),
        ("starts_with", QB["name"].starts_with("e"), ["eta"]),
        ("ends_with", QB["name"].ends_with("ta"), ["beta", "delta", "zeta", "eta", "theta"]),
        ("regex", QB["name"].regex("^[a-d]"), ["alpha", "beta", "delta"]),
        ("regex searches", QB["name"].regex("ta$"), ["beta", "delta", "zeta", "eta", "theta"]),
        (
            "regex ascii classes",
            QB["name"].regex("^\\w+$"),
            ["alpha", "beta", "Gamma", "delta", "zeta", "eta", "theta"],
        ),
        ("regex negated class", QB["name"].regex("^[^a-z]"), ["Gamma", "épsilon"]),
        ("regex nested repeats", QB["name"].regex("^(e|t|a|h)+$"), ["eta", "theta"]),
        ("regex groups", QB["name"].regex("^(?:G|z)[a-z]{2,3}a$"), ["Gamma", "zeta"]),
        ("case sensitive", QB["name"] == "gamma", []),
        ("string order by code point", QB["name"] < "a", ["Gamma"]),
        ("datetime tz", QB["born"] == BASE - timedelta(hours=2), ["theta"]),
        ("datetime range", QB["born"] >= BASE, ["alpha", "beta"]),
        ("not unknown stays unknown", ~(QB["age"] > 26), ["Gamma", "zeta", "theta"]),
        ("or with unknown", (QB["age"] > 35) | (QB["score"] > 5), ["épsilon", "theta"]),
        ("and", (QB["age"] >= 25) & QB["tags"].contains("b"), ["alpha", "Gamma"]),
        ("meta field", QB["$created_by"] == "tester", None),
        ("empty result is real", QB["age"] > 1000, []),
    ]

    @pytest.mark.parametrize(("label", "where", "expected"), CASES, ids=[c[0] for c in CASES])
    def test_filter_semantics(
        self, loaded: ResourceManager[Item], label: str, where: Any, expected: list[str] | None
    ) -> None:
        got = _names(loaded.search(Query(where=where, limit=100)))
        assert got == self._reference(loaded, Query(where=where, limit=100))
        if expected is not None:
            assert got == expected
        assert loaded.count(where) == len(got)

    SORTS: list[tuple[str, ...]] = [
        ("age",),
        ("-age",),
        ("score", "-name"),
        ("-score",),
        ("born",),
        ("-born", "age"),
        ("name",),
        ("address.city",),
        ("$created_time",),
        ("-$updated_time",),
    ]

    @pytest.mark.parametrize("sorts", SORTS, ids=[",".join(s) for s in SORTS])
    def test_sort_order(self, loaded: ResourceManager[Item], sorts: tuple[str, ...]) -> None:
        q = Query(sorts=tuple(Sort.parse(s) for s in sorts), limit=100)
        got = _names(loaded.search(q))
        assert got == self._reference(loaded, q)

    def test_nulls_sort_last_ascending_first_descending(
        self, loaded: ResourceManager[Item]
    ) -> None:
        asc = _names(loaded.search(Query(sorts=(Sort(Field("age")),), limit=100)))
        assert set(asc[-2:]) == {"beta", "eta"}
        assert asc[0] == "zeta"
        desc = _names(loaded.search(Query(sorts=(Sort(Field("age"), descending=True),))))
        assert set(desc[:2]) == {"beta", "eta"}
        assert desc[2] == "épsilon"

    def test_unindexed_path_is_an_error(self, loaded: ResourceManager[Item]) -> None:
        with pytest.raises(QueryError) as err:
            loaded.search(QB["note"] == "x")
        assert "note" in str(err.value)
        assert "age" in str(err.value)  # names the indexed fields

    def test_default_page_is_capped(self, items: ResourceManager[Item]) -> None:
        for i in range(items.default_limit + 5):
            items.create(Item(name=f"n{i:03}"))
        page = items.search_page()
        assert len(page.items) == items.default_limit
        assert page.has_more
        with pytest.raises(QueryError):
            items.search(Query(limit=items.max_limit + 1))

    @pytest.mark.parametrize("mode", ["cursor", "offset"])
    def test_pagination_with_concurrent_inserts(
        self, items: ResourceManager[Item], mode: str
    ) -> None:
        for i in range(25):
            items.create(Item(name=f"r{i:03}", age=i % 4))
        seen: list[str] = []
        q = Query(limit=4)
        inserted = 0
        while True:
            if inserted < 10:  # rows arrive while we page
                items.create(Item(name=f"late{inserted}", age=1))
                inserted += 1
            page = items.search_page(q)
            seen.extend(m.resource_id for m in page.items)
            if not page.has_more:
                break
            q = (
                q.replace(cursor=page.next_cursor)
                if mode == "cursor"
                else q.replace(offset=q.offset + 4)
            )
        assert len(seen) == len(set(seen)), "a row was repeated"
        everything = [m.resource_id for m in items.iter_all()]
        assert seen == everything, "a row was skipped"

    def test_cursor_pagination_with_sort_and_filter(self, loaded: ResourceManager[Item]) -> None:
        full = Query(where=QB["score"].is_null(False), sorts=(Sort.parse("-score"),), limit=100)
        expected = [m.resource_id for m in loaded.search(full)]
        got: list[str] = []
        q = full.replace(limit=2)
        first_cursor = loaded.search_page(q).next_cursor
        assert first_cursor is not None
        while True:
            page = loaded.search_page(q)
            got.extend(m.resource_id for m in page.items)
            if not page.has_more:
                assert page.next_cursor is None
                break
            q = q.replace(cursor=page.next_cursor)
        assert got == expected
        with pytest.raises(QueryError):
            loaded.search(Query(sorts=(Sort.parse("age"),), cursor=first_cursor))
        with pytest.raises(QueryError):
            loaded.search(full.replace(cursor="not-a-cursor"))

    def test_deleted_visibility(self, loaded: ResourceManager[Item]) -> None:
        victim = loaded.search(QB["name"] == "alpha")[0].resource_id
        loaded.delete(victim)
        assert "alpha" not in _names(loaded.search(Query(limit=100)))
        assert _names(loaded.search(Query(is_deleted=True))) == ["alpha"]
        assert len(loaded.search(Query(is_deleted=None, limit=100))) == len(ROWS)
        assert loaded.count() == len(ROWS) - 1
        loaded.restore(victim)
        assert loaded.count() == len(ROWS)

    def test_list_returns_data_info_meta(self, loaded: ResourceManager[Item]) -> None:
        rows = loaded.list(Query(where=QB["name"] == "zeta"))
        assert len(rows) == 1
        row = rows[0]
        assert isinstance(row.data, Item)
        assert row.data.name == "zeta"
        assert isinstance(row.meta, ResourceMeta)
        assert row.info.revision_id == row.meta.current_revision_id  # type: ignore[union-attr]
        with pytest.raises(QueryError):
            loaded.list(returns=["nope"])

    def test_index_follows_current_revision(self, items: ResourceManager[Item]) -> None:
        r1 = items.create(Item(name="a", age=1))
        items.update(r1.resource_id, Item(name="a", age=2))
        assert items.count(QB["age"] == 1) == 0
        assert items.count(QB["age"] == 2) == 1
        items.switch(r1.resource_id, r1.revision_id)
        assert items.count(QB["age"] == 1) == 1

"""The reference semantics: three-valued logic, operators, ordering and paging."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specstar.core.errors import QueryError
from specstar.core.indexes import IndexedField, IndexSpec
from specstar.core.query import (
    QB,
    And,
    Condition,
    Expr,
    Field,
    Not,
    Op,
    Or,
    Query,
    Sort,
    encode_cursor,
    parse_condition,
    resolve_query,
)
from specstar.core.query.cursor import effective_sorts, sort_values
from specstar.core.query.evaluate import compare_rows, count, evaluate, matches, run
from specstar.core.types import ResourceMeta

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_meta(rid: str, data: dict[str, Any] | None = None, **meta: Any) -> ResourceMeta:
    fields: dict[str, Any] = {
        "resource_id": rid,
        "current_revision_id": f"{rid}:1",
        "schema_version": None,
        "total_revision_count": 1,
        "revision_seq": 1,
        "created_time": T0,
        "created_by": "alice",
        "updated_time": T0,
        "updated_by": "alice",
        "is_deleted": False,
        "indexed_data": dict(data or {}),
    }
    fields.update(meta)
    return ResourceMeta(**fields)


# -- null and missing values -----------------------------------------------------------------------

NULL = make_meta("null", {"x": None, "s": None, "tags": None})
MISSING = make_meta("missing", {})
VALUED = make_meta("valued", {"x": 5, "s": "hello", "tags": ["a", None, "b"]})

NULLABLE_CONDITIONS = [
    QB.x == 5,
    QB.x != 4,
    QB.x > 1,
    QB.x >= 1,
    QB.x < 10,
    QB.x <= 10,
    QB.x.in_([5]),
    QB.x.not_in([1]),
    QB.s.contains("ell"),
    QB.s.starts_with("he"),
    QB.s.ends_with("lo"),
    QB.s.regex("l+"),
    QB.tags.contains("a"),
    QB.tags.contains_any(["a"]),
]


@pytest.mark.parametrize("cond", NULLABLE_CONDITIONS)
@pytest.mark.parametrize("row", [NULL, MISSING], ids=["null", "missing"])
def test_every_operator_is_unknown_on_null_or_missing(cond: Condition, row: ResourceMeta) -> None:
    assert evaluate(cond, row) is None
    assert evaluate(Not(cond), row) is None
    assert matches(cond, row) is False
    assert matches(Not(cond), row) is False
    assert evaluate(cond, VALUED) is True
    assert evaluate(Not(cond), VALUED) is False


@pytest.mark.parametrize(
    ("row", "is_null", "exists"),
    [(NULL, True, True), (MISSING, True, False), (VALUED, False, True)],
    ids=["null", "missing", "valued"],
)
@pytest.mark.parametrize("path", ["x", "s", "tags"])
def test_is_null_and_exists(row: ResourceMeta, is_null: bool, exists: bool, path: str) -> None:
    assert evaluate(QB[path].is_null(), row) is is_null
    assert evaluate(QB[path].is_null(False), row) is (not is_null)
    assert evaluate(QB[path].exists(), row) is exists
    assert evaluate(QB[path].exists(False), row) is (not exists)
    assert evaluate(Not(QB[path].is_null()), row) is (not is_null)


def test_flags_default_to_true_when_value_missing() -> None:
    assert evaluate(Condition(Field("x"), Op.is_null), MISSING) is True
    assert evaluate(Condition(Field("x"), Op.exists), MISSING) is False


def test_meta_fields() -> None:
    row = make_meta("r1", schema_version=None, created_by="bob")
    assert evaluate(QB["$schema_version"].is_null(), row) is True
    assert evaluate(QB["$schema_version"].exists(), row) is True
    assert evaluate(QB["$schema_version"] == "1", row) is None
    assert evaluate(QB["$created_by"].exists(False), row) is False
    assert evaluate(QB["$created_by"] == "bob", row) is True
    assert evaluate(QB["$created_time"] >= T0, row) is True
    assert evaluate(QB["$created_time"] > T0, row) is False
    assert evaluate(QB["$is_deleted"] == False, row) is True  # noqa: E712
    assert evaluate(QB["$revision_seq"].in_([1, 2]), row) is True


# -- Kleene logic --------------------------------------------------------------------------------

ROW = make_meta("r", {"x": 1})
TRUE = QB.x == 1
FALSE = QB.x == 2
UNKNOWN = QB.y == 1  # y is missing
VALUES = {True: TRUE, False: FALSE, None: UNKNOWN}
RANK = {False: 0, None: 1, True: 2}


def kleene_and(values: tuple[bool | None, ...]) -> bool | None:
    return min(values, key=RANK.__getitem__) if values else True


def kleene_or(values: tuple[bool | None, ...]) -> bool | None:
    return max(values, key=RANK.__getitem__) if values else False


@pytest.mark.parametrize("value", [True, False, None])
def test_not_truth_table(value: bool | None) -> None:
    assert evaluate(VALUES[value], ROW) is value
    assert evaluate(Not(VALUES[value]), ROW) is (None if value is None else not value)
    assert evaluate(Not(Not(VALUES[value])), ROW) is value


@pytest.mark.parametrize(
    "values",
    [combo for n in range(4) for combo in itertools.product([True, False, None], repeat=n)],
)
def test_and_or_truth_tables(values: tuple[bool | None, ...]) -> None:
    items = tuple(VALUES[v] for v in values)
    assert evaluate(And(items), ROW) is kleene_and(values)
    assert evaluate(Or(items), ROW) is kleene_or(values)
    # De Morgan holds in three-valued logic too
    assert evaluate(Not(And(items)), ROW) is evaluate(Or(tuple(Not(i) for i in items)), ROW)


def test_matches() -> None:
    assert matches(None, ROW) is True
    assert matches(TRUE, ROW) is True
    assert matches(FALSE, ROW) is False
    assert matches(UNKNOWN, ROW) is False
    assert matches(Or((UNKNOWN, TRUE)), ROW) is True
    assert matches(And((UNKNOWN, TRUE)), ROW) is False


# -- operators on values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n == 5", True),
        ("n == 5.0", True),
        ("n != 5", False),
        ("n != 6", True),
        ("n > 4.5", True),
        ("f < 2", True),
        ("f >= 1.5", True),
        ("n in [1, 5]", True),
        ("n in [1.0, 5.0]", True),
        ("n not in [1, 5]", False),
        ("n not in [1, 2]", True),
        ('s == "abc"', True),
        ('s < "abd"', True),
        ('s > "ABC"', True),  # code point order: lower case after upper case
        ('s < "abcd"', True),
        ('e > "z"', True),  # 'é' (U+00E9) sorts after 'z'
        ('s.contains("bc")', True),
        ('s.contains("")', True),
        ('s.contains("x")', False),
        ('s.starts_with("ab")', True),
        ('s.starts_with("bc")', False),
        ('s.ends_with("bc")', True),
        ('s.regex("b")', True),
        ('s.regex("^b")', False),
        ('s.regex("^a.c$")', True),
        ('tags.contains("a")', True),
        ('tags.contains("z")', False),
        ('tags.contains_any(["z", "b"])', True),
        ('tags.contains_any(["z"])', False),
        ('empty.contains("a")', False),
        ('empty.contains_any(["a"])', False),
        ("nums.contains(2)", True),
        ("nums.contains(2.0)", True),
        ("flag == true", True),
        ("flag != true", False),
        ("flag in [false]", False),
        ('t > dt"2023-12-31T23:00:00-02:00"', False),
        ('t == dt"2024-01-01T02:00:00+02:00"', True),
    ],
)
def test_operators(text: str, expected: bool) -> None:
    row = make_meta(
        "r",
        {
            "n": 5,
            "f": 1.5,
            "s": "abc",
            "e": "é",
            "tags": ["a", None, "b"],
            "empty": [],
            "nums": [1, 2],
            "flag": True,
            "t": T0,
        },
    )
    assert evaluate(parse_condition(text), row) is expected


def test_null_list_element_never_matches() -> None:
    row = make_meta("r", {"tags": [None]})
    assert evaluate(Condition(Field("tags"), Op.contains, None), row) is False
    assert evaluate(Condition(Field("tags"), Op.contains_any, (None,)), row) is False


def test_mismatched_types_are_unknown() -> None:
    row = make_meta("r", {"n": "five", "s": 5})
    assert evaluate(QB.n > 1, row) is None
    assert evaluate(QB.s.starts_with("5"), row) is None
    assert evaluate(QB.s.contains("5"), row) is None
    assert evaluate(QB.s.contains_any(["5"]), row) is None


def test_too_deep_expression() -> None:
    expr: Expr = TRUE
    for _ in range(10_000):
        expr = Not(expr)
    with pytest.raises(QueryError):
        evaluate(expr, ROW)
    with pytest.raises(QueryError):
        run([ROW], Query(where=expr))


# -- run and count -------------------------------------------------------------------------------

SPEC = IndexSpec((IndexedField("age", "int"), IndexedField("name", "str")))


def resolved(**kwargs: Any) -> Query:
    return resolve_query(Query(**kwargs), SPEC)


ROWS = [
    make_meta("r5", {"age": 30, "name": "b"}, created_time=T0 + timedelta(seconds=5)),
    make_meta("r1", {"age": 20, "name": "a"}, created_time=T0 + timedelta(seconds=1)),
    make_meta("r3", {"age": None}, created_time=T0 + timedelta(seconds=3)),
    make_meta("r2", {"age": 20, "name": "c"}, created_time=T0 + timedelta(seconds=2)),
    make_meta("r4", {}, created_time=T0 + timedelta(seconds=4)),
    make_meta("r0", {"age": 10}, created_time=T0, is_deleted=True),
    make_meta("r6", {"age": 25.5}, created_time=T0 + timedelta(seconds=1)),
]


def ids(page_items: list[ResourceMeta]) -> list[str]:
    return [m.resource_id for m in page_items]


def test_default_order_is_created_time_then_id() -> None:
    assert ids(run(ROWS, resolved()).items) == ["r1", "r6", "r2", "r3", "r4", "r5"]


def test_nulls_last_ascending_first_descending_ties_by_id() -> None:
    asc = run(ROWS, resolved(sorts=(QB.age.asc(),)))
    assert ids(asc.items) == ["r1", "r2", "r6", "r5", "r3", "r4"]
    desc = run(ROWS, resolved(sorts=(QB.age.desc(),)))
    assert ids(desc.items) == ["r3", "r4", "r5", "r6", "r1", "r2"]
    two = run(ROWS, resolved(sorts=(QB.age.asc(), QB.name.desc())))
    assert ids(two.items) == ["r2", "r1", "r6", "r5", "r3", "r4"]
    by_id_desc = run(ROWS, resolved(sorts=(QB["$resource_id"].desc(),)))
    assert ids(by_id_desc.items) == ["r6", "r5", "r4", "r3", "r2", "r1"]


def test_is_deleted_filter() -> None:
    assert ids(run(ROWS, resolved(is_deleted=True)).items) == ["r0"]
    assert len(run(ROWS, resolved(is_deleted=None)).items) == 7
    assert count(ROWS, resolved(is_deleted=None)) == 7
    assert count(ROWS, resolved()) == 6


def test_where_and_count_ignore_paging() -> None:
    q = resolved(where=QB.age >= 20, limit=1, offset=1)
    assert count(ROWS, q) == 4
    page = run(ROWS, q)
    assert ids(page.items) == ["r6"]
    assert page.has_more is True
    assert count(ROWS, resolved(where=Not(QB.age >= 20))) == 0  # r3/r4 unknown, r0 deleted


def test_offset_paging() -> None:
    q = resolved(sorts=(QB.age.asc(),), limit=4)
    first = run(ROWS, q)
    assert ids(first.items) == ["r1", "r2", "r6", "r5"]
    assert first.has_more is True
    assert first.next_cursor is not None
    last = run(ROWS, q.replace(offset=4))
    assert ids(last.items) == ["r3", "r4"]
    assert last.has_more is False
    assert last.next_cursor is None
    assert run(ROWS, q.replace(offset=6)).items == []
    exact = run(ROWS, q.replace(limit=6))
    assert exact.has_more is False
    assert exact.next_cursor is None


def test_cursor_paging_and_foreign_cursor() -> None:
    q = resolved(sorts=(QB.age.desc(),), limit=2)
    seen: list[str] = []
    page = run(ROWS, q)
    while True:
        seen += ids(page.items)
        if not page.has_more:
            break
        assert page.next_cursor is not None
        page = run(ROWS, resolve_query(q.replace(cursor=page.next_cursor), SPEC))
    assert seen == ["r3", "r4", "r5", "r6", "r1", "r2"]
    token = run(ROWS, q).next_cursor
    assert token is not None
    with pytest.raises(QueryError, match="different query"):
        run(ROWS, resolved(sorts=(QB.age.asc(),), cursor=token))
    with pytest.raises(QueryError, match="different query"):
        resolved(where=QB.age > 1, sorts=(QB.age.desc(),), cursor=token)


def test_cursor_survives_inserts_and_deletes() -> None:
    q = resolved(sorts=(QB.age.asc(),), limit=2)
    first = run(ROWS, q)
    assert ids(first.items) == ["r1", "r2"]
    assert first.next_cursor is not None
    changed = [m for m in ROWS if m.resource_id != "r6"] + [make_meta("r7", {"age": 15})]
    second = run(changed, q.replace(cursor=first.next_cursor))
    assert ids(second.items) == ["r5", "r3"]


def test_limit_none_uses_default() -> None:
    rows = [make_meta(f"r{i:03}") for i in range(60)]
    page = run(rows, Query())
    assert len(page.items) == 50
    assert page.has_more is True


def test_compare_rows() -> None:
    asc, desc = (Sort(Field("a")),), (Sort(Field("a"), True),)
    assert compare_rows((1,), "x", (2,), "a", asc) < 0
    assert compare_rows((1,), "x", (2,), "a", desc) > 0
    assert compare_rows((None,), "a", (2,), "b", asc) > 0
    assert compare_rows((None,), "a", (2,), "b", desc) < 0
    assert compare_rows((None,), "a", (None,), "b", desc) < 0
    assert compare_rows((1,), "b", (1.0,), "a", desc) > 0
    assert compare_rows((1,), "a", (1,), "a", asc) == 0


# -- property: paging covers every row exactly once, in the reference order ----------------------

AGES = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from([1.5, -0.5]))
DATA = st.one_of(
    st.fixed_dictionaries({}),
    st.fixed_dictionaries({"age": AGES}),
    st.fixed_dictionaries({"age": AGES, "name": st.sampled_from(["a", "B", "b", "é"])}),
)
DATASETS = st.lists(st.tuples(DATA, st.booleans(), st.integers(0, 3)), max_size=25).map(
    lambda rows: [
        make_meta(
            f"id{i:02}",
            data,
            is_deleted=deleted,
            created_time=T0 + timedelta(seconds=seconds),
        )
        for i, (data, deleted, seconds) in enumerate(rows)
    ]
)
SORT_CHOICES = st.lists(
    st.sampled_from(
        [
            QB.age.asc(),
            QB.age.desc(),
            QB.name.asc(),
            QB.name.desc(),
            QB["$created_time"].asc(),
            QB["$created_time"].desc(),
        ]
    ),
    max_size=2,
    unique_by=lambda s: s.field,
).map(tuple)
WHERES = st.sampled_from(
    [None, QB.age > 0, ~(QB.age > 0), QB.age.is_null(), QB.name.in_(["a", "b"]), QB.age.exists()]
)


def reference_order(rows: list[ResourceMeta], sorts: tuple[Sort, ...]) -> list[str]:
    """An independent implementation: stable sorts from the last key to the first."""
    out = sorted(rows, key=lambda m: m.resource_id)
    for sort in reversed(sorts):

        def key(m: ResourceMeta, sort: Sort = sort) -> tuple[bool, Any]:
            (value,) = sort_values(m, (sort,))
            return (value is None, 0 if value is None else value)

        if sort.descending:
            out.sort(key=key, reverse=True)
        else:
            out.sort(key=key)
    return [m.resource_id for m in out]


@settings(max_examples=150)
@given(DATASETS, SORT_CHOICES, WHERES, st.integers(1, 7), st.sampled_from([False, True, None]))
def test_paging_visits_every_row_once_in_order(
    rows: list[ResourceMeta],
    sorts: tuple[Sort, ...],
    where: Expr | None,
    limit: int,
    is_deleted: bool | None,
) -> None:
    query = resolved(where=where, sorts=sorts, limit=limit, is_deleted=is_deleted)
    selected = [
        m
        for m in rows
        if (is_deleted is None or m.is_deleted == is_deleted) and matches(query.where, m)
    ]
    expected = reference_order(selected, effective_sorts(query))
    assert count(rows, query) == len(expected)

    everything = run(rows, query.replace(limit=1000))
    assert ids(everything.items) == expected

    by_cursor: list[str] = []
    page = run(rows, query)
    while True:
        assert len(page.items) <= limit
        by_cursor += ids(page.items)
        if not page.has_more:
            assert page.next_cursor is None
            break
        assert page.next_cursor == encode_cursor(query, page.items[-1])
        page = run(rows, resolve_query(query.replace(cursor=page.next_cursor), SPEC))
    assert by_cursor == expected

    by_offset: list[str] = []
    for offset in range(0, len(expected) + limit, limit):
        page = run(rows, query.replace(offset=offset))
        by_offset += ids(page.items)
        assert page.has_more is (offset + limit < len(expected))
    assert by_offset == expected

"""``resolve_query``: validation and normalisation against the indexed fields."""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

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
from specstar.core.types import ResourceMeta

SPEC = IndexSpec(
    (
        IndexedField("name", "str"),
        IndexedField("age", "int"),
        IndexedField("score", "float"),
        IndexedField("active", "bool"),
        IndexedField("born", "datetime"),
        IndexedField("address.city", "str"),
        IndexedField("tags", "str", is_list=True),
        IndexedField("lucky", "int", is_list=True),
    )
)


class Color(enum.Enum):
    red = "red"


def resolve(query: Query | Expr | None, **kwargs: Any) -> Query:
    return resolve_query(query, SPEC, **kwargs)


def where(query: Query) -> Any:
    assert query.where is not None
    return query.where


def test_none_and_bare_expressions() -> None:
    assert resolve(None) == Query(limit=50)
    expr = QB.age > 1
    assert resolve(expr) == Query(where=expr, limit=50)
    assert resolve(Query(where=expr, limit=5)).limit == 5
    with pytest.raises(QueryError):
        resolve("age > 1")  # type: ignore[arg-type]


def test_unindexed_path_lists_the_indexed_fields() -> None:
    with pytest.raises(QueryError) as info:
        resolve(QB.height > 1)
    message = info.value.message
    assert "'height' is not indexed" in message
    assert "indexed fields: name, age, score, active, born, address.city, tags, lucky" in message
    assert "meta fields: $resource_id," in message
    assert "$created_time" in message
    assert info.value.path == "height"


def test_meta_name_used_as_data_path_gets_a_hint() -> None:
    with pytest.raises(QueryError, match=r"did you mean '\$created_time'"):
        resolve(Condition(Field("created_time"), Op.gt, 1))


def test_unknown_meta_field_and_bad_path() -> None:
    with pytest.raises(QueryError, match=r"'\$nope' is not a meta field"):
        resolve(Condition(Field("nope", meta=True), Op.eq, 1))
    with pytest.raises(QueryError, match="not a valid path"):
        resolve(Condition(Field("a b"), Op.eq, 1))
    with pytest.raises(QueryError, match="not a valid path"):
        resolve(Condition(Field("name; drop"), Op.eq, 1))


def test_errors_inside_nested_expressions_are_found() -> None:
    with pytest.raises(QueryError, match="'nope' is not indexed"):
        resolve(Or((QB.age == 1, Not(And((QB.name == "x", QB.nope == 1))))))


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        (QB.age.contains(1), "'contains' does not apply to age (int)"),
        (QB.age.starts_with("1"), "'starts_with' does not apply"),
        (QB.score.regex("1"), "'regex' does not apply"),
        (QB.born.contains("2024"), "does not apply"),
        (QB.active > True, "'gt' does not apply to active (bool)"),
        (QB.active.contains(True), "does not apply"),
        (QB.name.contains_any(["a"]), "'contains_any' does not apply to name (str)"),
        (QB.tags == "a", "'eq' does not apply to tags (list of str)"),
        (QB.tags.in_(["a"]), "does not apply"),
        (QB.tags.starts_with("a"), "does not apply"),
        (QB.tags > "a", "does not apply"),
        (QB["$is_deleted"] > False, "does not apply"),
    ],
)
def test_operator_kind_compatibility(expr: Expr, fragment: str) -> None:
    with pytest.raises(QueryError, match="allowed:") as info:
        resolve(expr)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    "expr",
    [
        QB.name == "a",
        QB.name > "a",
        QB.name.in_(["a"]),
        QB.name.not_in(["a"]),
        QB.name.contains("a"),
        QB.name.starts_with("a"),
        QB.name.ends_with("a"),
        QB.name.regex("a"),
        QB.age <= 3,
        QB.score.in_([1, 2.5]),
        QB.born >= datetime(2024, 1, 1, tzinfo=UTC),
        QB.active == True,  # noqa: E712
        QB.active.not_in([False]),
        QB.tags.contains("a"),
        QB.tags.contains_any(["a", "b"]),
        QB.lucky.contains(7),
        QB.tags.is_null(),
        QB.tags.exists(False),
        QB.age.is_null(False),
        QB["$resource_id"].starts_with("r"),
        QB["$total_revision_count"] > 1,
        QB["$is_deleted"] == False,  # noqa: E712
        QB["$schema_version"].is_null(),
        QB["$created_time"].exists(),
    ],
)
def test_allowed_operators(expr: Expr) -> None:
    assert resolve(Query(where=expr, is_deleted=None)).where == expr


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        (QB.age == "3", "age is an int field; '3' is not an int"),
        (QB.age == 3.0, "not an int"),
        (QB.age == True, "not an int"),  # noqa: E712
        (QB.score > "1.5", "not a float"),
        (QB.score == False, "not a float"),  # noqa: E712
        (QB.active == 1, "not a bool"),
        (QB.name == 1, "not a str"),
        (QB.name.starts_with(1), "not a str"),
        (QB.name.regex(1), "not a str"),
        (QB.born > "yesterday", "not a datetime"),
        (QB.born > 5, "not a datetime"),
        (QB.tags.contains(1), "tags is a list of str; 1 is not a str"),
        (QB.lucky.contains("7"), "not an int"),
        (QB.lucky.contains_any([1, "2"]), "not an int"),
        (QB.age.in_([1, "2"]), "not an int"),
        (QB.name == ["a"], "not a str"),
        (QB["$revision_seq"] == "1", "not an int"),
    ],
)
def test_type_mismatches(expr: Expr, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        resolve(expr)
    assert fragment in info.value.message


def test_values_are_normalised() -> None:
    q = resolve(QB.born > "2024-01-01T02:00:00+02:00")
    assert where(q).value == datetime(2024, 1, 1, tzinfo=UTC)
    assert where(q).value.tzinfo is UTC
    q = resolve(QB.born > datetime(2024, 1, 1))  # naive → UTC
    assert where(q).value == datetime(2024, 1, 1, tzinfo=UTC)
    q = resolve(QB.born.in_(["2024-01-01T00:00:00Z", datetime(2024, 1, 2, tzinfo=UTC)]))
    assert where(q).value == (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC))
    q = resolve(QB.score > 1)
    assert where(q).value == 1
    q = resolve(QB.name == Color.red)
    assert where(q).value == "red"
    assert type(where(q).value) is str
    q = resolve(Condition(Field("age"), Op.in_, [1, 2]))
    assert where(q).value == (1, 2)
    q = resolve(Condition(Field("age"), "gt", 1))  # type: ignore[arg-type]
    assert where(q).op is Op.gt


def test_offsets_in_datetime_strings() -> None:
    plus_five = timezone(timedelta(hours=5))
    q = resolve(parse_condition('born == dt"2024-01-01T05:00:00+05:00"'))
    assert where(q).value == datetime(2024, 1, 1, 5, tzinfo=plus_five)
    assert where(q).value.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "expr",
    [
        QB.age == None,  # noqa: E711
        QB.age != None,  # noqa: E711
        QB.age > None,
        QB.age.in_([1, None]),
        QB.tags.contains(None),
        QB.name.starts_with(None),  # type: ignore[arg-type]
    ],
)
def test_none_value_suggests_is_null(expr: Expr) -> None:
    with pytest.raises(QueryError, match=r"use is_null\(\)"):
        resolve(expr)


def test_nan_is_rejected() -> None:
    with pytest.raises(QueryError, match="NaN"):
        resolve(Condition(Field("score"), Op.eq, math.nan))
    assert where(resolve(QB.score < math.inf)).value == math.inf


@pytest.mark.parametrize(
    "expr",
    [
        Condition(Field("age"), Op.in_, ()),
        Condition(Field("age"), Op.not_in, []),
        Condition(Field("age"), Op.in_, 1),
        Condition(Field("age"), Op.in_, "12"),
        Condition(Field("tags"), Op.contains_any, ()),
        Condition(Field("tags"), Op.contains_any, "a"),
    ],
)
def test_list_operators_need_a_non_empty_list(expr: Expr) -> None:
    with pytest.raises(QueryError, match="non-empty list"):
        resolve(expr)


def test_flag_operators() -> None:
    assert where(resolve(Condition(Field("age"), Op.is_null))).value is True
    assert where(resolve(Condition(Field("age"), Op.exists, False))).value is False
    with pytest.raises(QueryError, match="true or false"):
        resolve(Condition(Field("age"), Op.is_null, 1))
    with pytest.raises(QueryError, match="true or false"):
        resolve(Condition(Field("age"), Op.exists, "yes"))


def test_regex_validation() -> None:
    with pytest.raises(QueryError, match="invalid regex"):
        resolve(QB.name.regex("(unclosed"))
    with pytest.raises(QueryError, match="longer than 500"):
        resolve(QB.name.regex("a" * 501))
    assert resolve(QB.name.regex("a" * 500)).where is not None


def test_unknown_operator() -> None:
    with pytest.raises(QueryError, match="unknown operator"):
        resolve(Condition(Field("age"), "like", 1))  # type: ignore[arg-type]


def test_deep_expressions_are_rejected_without_recursion_error() -> None:
    expr: Expr = QB.age == 1
    for _ in range(100_000):
        expr = Not(expr)
    with pytest.raises(QueryError, match="nests deeper"):
        resolve(expr)


def test_sorts() -> None:
    q = resolve(Query(sorts=(QB.age.desc(), QB["$created_time"].asc(), QB["address.city"].asc())))
    assert q.sorts == (
        Sort(Field("age"), True),
        Sort(Field("created_time", meta=True)),
        Sort(Field("address.city")),
    )
    with pytest.raises(QueryError, match="list field tags"):
        resolve(Query(sorts=(QB.tags.asc(),)))
    with pytest.raises(QueryError, match="age appears twice"):
        resolve(Query(sorts=(QB.age.asc(), QB.age.desc())))
    with pytest.raises(QueryError, match="not indexed"):
        resolve(Query(sorts=(Sort(Field("height")),)))
    with pytest.raises(QueryError, match="not a meta field"):
        resolve(Query(sorts=(Sort(Field("nope", meta=True)),)))
    # a data path and a meta field of the same name are different keys
    spec = IndexSpec((IndexedField("created_time", "datetime"),))
    both = (Sort(Field("created_time")), Sort(Field("created_time", meta=True)))
    assert resolve_query(Query(sorts=both), spec).sorts == both


def test_limit_and_offset() -> None:
    assert resolve(Query()).limit == 50
    assert resolve(Query(), default_limit=7).limit == 7
    assert resolve(Query(limit=1)).limit == 1
    assert resolve(Query(limit=1000)).limit == 1000
    assert resolve(Query(limit=20), max_limit=20).limit == 20
    for bad in (0, -1, 1001):
        with pytest.raises(QueryError, match="between 1 and 1000"):
            resolve(Query(limit=bad))
    with pytest.raises(QueryError, match="between 1 and 20"):
        resolve(Query(limit=21), max_limit=20)
    with pytest.raises(QueryError, match="integer"):
        resolve(Query(limit=True))
    with pytest.raises(QueryError, match="integer"):
        resolve(Query(limit=2.0))  # type: ignore[arg-type]
    assert resolve(Query(offset=10)).offset == 10
    with pytest.raises(QueryError, match="negative"):
        resolve(Query(offset=-1))


def _meta(rid: str, **data: Any) -> ResourceMeta:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    return ResourceMeta(
        resource_id=rid,
        current_revision_id=f"{rid}:1",
        schema_version=None,
        total_revision_count=1,
        revision_seq=1,
        created_time=when,
        created_by="u",
        updated_time=when,
        updated_by="u",
        indexed_data=data,
    )


def test_cursor_checks() -> None:
    base = resolve(Query(where=QB.age > 1, sorts=(QB.age.asc(),), limit=2))
    token = encode_cursor(base, _meta("r1", age=5))
    # the same query (in its unresolved form, with any page size) accepts the cursor
    raw = Query(where=QB.age > 1, sorts=(QB.age.asc(),), limit=10, cursor=token)
    assert resolve(raw).cursor == token
    with pytest.raises(QueryError, match="both a cursor and an offset"):
        resolve(raw.replace(offset=3))
    with pytest.raises(QueryError, match="different query"):
        resolve(raw.replace(where=QB.age > 2))
    with pytest.raises(QueryError, match="different query"):
        resolve(raw.replace(sorts=(QB.age.desc(),)))
    with pytest.raises(QueryError, match="different query"):
        resolve(raw.replace(is_deleted=None))
    with pytest.raises(QueryError, match="invalid cursor"):
        resolve(raw.replace(cursor="garbage!"))


def test_is_deleted_is_kept() -> None:
    assert resolve(Query(is_deleted=None)).is_deleted is None
    assert resolve(Query(is_deleted=True)).is_deleted is True
    with pytest.raises(QueryError):
        resolve(Query(is_deleted="yes"))  # type: ignore[arg-type]


def test_resolving_is_idempotent() -> None:
    q = Query(
        where=(QB.born > "2024-01-01") & QB.tags.contains_any(["a"]) | ~QB.age.in_([1]),
        sorts=(QB.age.desc(),),
    )
    once = resolve(q)
    assert resolve(once) == once


def test_is_deleted_filter_needs_is_deleted_none() -> None:
    from specstar.core.query.ast import Field, Query

    where = Condition(Field("is_deleted", meta=True), Op.eq, True)
    with pytest.raises(QueryError, match="is_deleted"):
        resolve_query(Query(where=where), IndexSpec())
    assert resolve_query(Query(where=where, is_deleted=None), IndexSpec()).where == where

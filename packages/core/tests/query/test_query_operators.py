"""The builder's operator surface: the AST each form builds, its string form, the validation of
misuse, and the reference semantics of the operators added to the AST.

Stores are checked against the same expectations by the operator conformance suite
(``specstar.testing.suites.operators``) on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from specstar.core import QB, Query, QueryBuilder, QueryError, ResourceMeta, parse_condition
from specstar.core.indexes import build_spec
from specstar.core.query import evaluate
from specstar.core.query.ast import And, Condition, Expr, Field, Not, Op, Or, Sort
from specstar.core.query.grammar import format_condition, normalize_expr
from specstar.core.query.resolve import resolve_query

T0 = datetime(2024, 3, 10, 12, tzinfo=UTC)


def c(path: str, op: Op, value: Any = None, fn: str | None = None) -> Condition:
    return Condition(Field(path, fn=fn), op, value)


SUGAR: list[tuple[Any, Expr]] = [
    (QB.age.eq(1), c("age", Op.eq, 1)),
    (QB.age.ne(1), c("age", Op.ne, 1)),
    (QB.age.gt(1), c("age", Op.gt, 1)),
    (QB.age.gte(1), c("age", Op.gte, 1)),
    (QB.age.lt(1), c("age", Op.lt, 1)),
    (QB.age.lte(1), c("age", Op.lte, 1)),
    (QB.name % "^a", c("name", Op.regex, "^a")),
    (QB.age << [1, 2], c("age", Op.in_, (1, 2))),
    (QB.tags >> "x", c("tags", Op.contains, "x")),
    (~QB.active, c("active", Op.truthy, False)),
    (QB.name.match("a"), c("name", Op.regex, "a")),
    (QB.name.like("a%_.b"), c("name", Op.regex, "^a(?:.|\\n)*(?:.|\\n)\\.b$")),
    (QB.name.icontains("A"), c("name", Op.icontains, "A")),
    (QB.name.istarts_with("A"), c("name", Op.istarts_with, "A")),
    (QB.name.iends_with("A"), c("name", Op.iends_with, "A")),
    (QB.name.not_contains("a"), Not(c("name", Op.contains, "a"))),
    (QB.name.not_starts_with("a"), Not(c("name", Op.starts_with, "a"))),
    (QB.name.not_ends_with("a"), Not(c("name", Op.ends_with, "a"))),
    (QB.age.one_of([1]), c("age", Op.in_, (1,))),
    (QB.age.not_in([1]), c("age", Op.not_in, (1,))),
    (QB.tags.contains_any(["x"]), c("tags", Op.contains_any, ("x",))),
    (QB.age.between(1, 2), And((c("age", Op.gte, 1), c("age", Op.lte, 2)))),
    (QB.age.in_range(1, 2), And((c("age", Op.gte, 1), c("age", Op.lt, 2)))),
    (QB.age.is_null(), c("age", Op.is_null, True)),
    (QB.age.isna(), c("age", Op.is_null, True)),
    (QB.age.is_not_null(), c("age", Op.is_null, False)),
    (QB.age.has_value(), c("age", Op.is_null, False)),
    (QB.age.exists(), c("age", Op.exists, True)),
    (QB.name.is_empty(), c("name", Op.is_empty, True)),
    (QB.name.is_blank(False), c("name", Op.is_blank, False)),
    (QB.active.is_true(), c("active", Op.eq, True)),
    (QB.active.is_false(), c("active", Op.eq, False)),
    (QB.age.is_truthy(), c("age", Op.truthy, True)),
    (QB.age.is_falsy(), c("age", Op.truthy, False)),
    (QB.name.length() >= 2, c("name", Op.gte, 2, fn="length")),
    (QB.tags.any().starts_with("a"), c("tags", Op.starts_with, "a", fn="any")),
    (QB.tags.all() != "a", c("tags", Op.ne, "a", fn="all")),
    (QB.all(QB.a == 1, QB.b == 2), And((c("a", Op.eq, 1), c("b", Op.eq, 2)))),
    (QB.any(QB.a == 1, QB.b == 2), Or((c("a", Op.eq, 1), c("b", Op.eq, 2)))),
    (QB.created_time() > T0, Condition(Field("created_time", meta=True), Op.gt, T0)),
    (QB.updated_by() == "u", Condition(Field("updated_by", meta=True), Op.eq, "u")),
    (QB.revision_seq() > 1, Condition(Field("revision_seq", meta=True), Op.gt, 1)),
    (QB["all"] == 1, c("all", Op.eq, 1)),
]


@pytest.mark.parametrize(("built", "expected"), SUGAR, ids=[str(i) for i in range(len(SUGAR))])
def test_builder_forms_build_the_documented_tree(built: Any, expected: Expr) -> None:
    assert built == expected
    text = format_condition(built)
    assert parse_condition(text) == normalize_expr(built)  # the string form round-trips
    wire = msgspec.json.encode(built)  # and the JSON form
    decoded = msgspec.json.decode(wire, type=Expr)  # type: ignore[arg-type]
    assert msgspec.json.encode(decoded) == wire  # (values come back as JSON values)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name.length() > 2", c("name", Op.gt, 2, fn="length")),
        ("tags.any() == 'x'".replace("'", '"'), c("tags", Op.eq, "x", fn="any")),
        ('tags.all().icontains("x")', c("tags", Op.icontains, "x", fn="all")),
        ("tags.any() in [1, 2]", c("tags", Op.in_, (1, 2), fn="any")),
        ("name.is_blank()", c("name", Op.is_blank, True)),
        ("name.is_empty(false)", c("name", Op.is_empty, False)),
        ("x.truthy()", c("x", Op.truthy, True)),
        ("length == 1", c("length", Op.eq, 1)),
        ("a.any.b == 1", c("a.any.b", Op.eq, 1)),
    ],
)
def test_grammar_reads_the_new_forms(text: str, expected: Expr) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name.length() .starts_with(1", "')' to close"),
        ("name.upper() == 1", "unknown method 'upper'"),
        ("tags.any().any() == 1", "apply once, right after the path"),
        ("name.length()", "a comparison operator"),
        ("name.length(3) == 1", "take no argument"),
    ],
)
def test_grammar_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        parse_condition(text)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("a%", "a", True),
        ("a%", "ab\nc", True),
        ("%", "", True),
        ("_", "", False),
        ("_", "\n", True),
        ("a_c", "abc", True),
        ("a_c", "abbc", False),
        ("a.c", "abc", False),
        ("(a)+[b]", "(a)+[b]", True),
        ("\\d%", "\\d1", True),
        ("tab\t", "tab\t", True),
        ("A%", "a", False),  # case-sensitive
        ("\u00e9%", "\u00e9t\u00e9", True),
    ],
)
def test_like_patterns(pattern: str, value: str, expected: bool) -> None:
    assert evaluate.evaluate(QB.s.like(pattern), meta(s=value)) is expected


def test_json_form_carries_the_field_function() -> None:
    wire = b'{"type":"cmp","field":{"path":"tags","fn":"any"},"op":"eq","value":"x"}'
    assert msgspec.json.decode(wire, type=Expr) == c("tags", Op.eq, "x", fn="any")  # type: ignore[arg-type]
    assert msgspec.json.encode(Field("a")) == b'{"path":"a"}'


# -- validation ----------------------------------------------------------------------------------


class Row(msgspec.Struct):
    name: str
    age: int
    tags: list[str]
    when: datetime
    on: bool


SPEC = build_spec(Row, ["name", "age", "tags", "when", "on"])


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (c("age", Op.icontains, "1"), "'icontains' does not apply to age"),
        (c("on", Op.is_empty, True), "'is_empty' does not apply to on"),
        (c("tags", Op.is_blank, True), "'is_blank' does not apply to tags"),
        (c("age", Op.eq, 1, fn="length"), "length() applies to str and list fields"),
        (c("name", Op.eq, "a", fn="any"), "any() applies to list fields"),
        (c("tags", Op.regex, "a", fn="all"), "'regex' does not apply to tags.all()"),
        (c("tags", Op.is_null, True, fn="any"), "'is_null' does not apply to tags.any()"),
        (c("name", Op.starts_with, "a", fn="length"), "'starts_with' does not apply"),
        (c("name", Op.eq, "3", fn="length"), "name.length() is an int field"),
        (c("name", Op.eq, 3, fn="upper"), "unknown field function 'upper'"),
        (Condition(Field("created_by", meta=True, fn="length"), Op.eq, 1), "indexed data paths"),
        (c("name", Op.truthy, "yes"), "truthy takes true or false"),
        (c("tags", Op.eq, None, fn="any"), "is never true"),
    ],
)
def test_misuse_is_an_error_naming_the_field(where: Expr, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        resolve_query(where, SPEC)


def test_flag_operators_default_to_true() -> None:
    resolved = resolve_query(c("name", Op.is_blank), SPEC)
    assert resolved.where == c("name", Op.is_blank, True)


def test_sorting_on_a_field_function_is_an_error() -> None:
    with pytest.raises(QueryError, match=re.escape("cannot sort on name.length()")):
        resolve_query(Query(sorts=(Sort(Field("name", fn="length")),)), SPEC)


def test_builder_rejects_a_second_function_and_meta_functions() -> None:
    with pytest.raises(QueryError, match="apply one only"):
        QB.tags.any().length()
    with pytest.raises(QueryError, match="indexed data paths"):
        QB.created_time().length()
    with pytest.raises(QueryError, match="takes conditions"):
        QB.all(QB.age)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="str pattern"):
        QB.name.like(3)  # type: ignore[arg-type]
    with pytest.raises(QueryError, match=re.escape("QB.nickname() is not a function of QB")):
        QB.nickname()  # a data path called like a meta helper: a clear error


# -- reference semantics -------------------------------------------------------------------------


def meta(**data: Any) -> ResourceMeta:
    return ResourceMeta(
        resource_id="r",
        current_revision_id="r:1",
        schema_version=None,
        total_revision_count=1,
        revision_seq=1,
        created_time=T0,
        created_by="u",
        updated_time=T0,
        updated_by="u",
        indexed_data=data,
    )


MISSING: dict[str, Any] = {}


@pytest.mark.parametrize(
    ("where", "data", "expected"),
    [
        # ASCII case folding, not Unicode: É/é, ß/SS and the sigmas stay distinct
        (c("s", Op.icontains, "B"), {"s": "abc"}, True),
        (c("s", Op.icontains, "\u00e9"), {"s": "\u00c9"}, False),
        (c("s", Op.icontains, "SS"), {"s": "stra\u00dfe"}, False),
        (c("s", Op.iends_with, "\u03c3"), {"s": "\u03a3"}, False),
        (c("s", Op.istarts_with, ""), {"s": ""}, True),
        (c("s", Op.icontains, "a"), {"s": None}, None),
        (c("s", Op.icontains, "a"), MISSING, None),
        # emptiness: present values only
        (c("s", Op.is_empty, True), {"s": ""}, True),
        (c("s", Op.is_empty, True), {"s": " "}, False),
        (c("s", Op.is_empty, False), {"s": None}, None),
        (c("l", Op.is_empty, True), {"l": []}, True),
        (c("l", Op.is_empty, True), {"l": [None]}, False),
        (c("s", Op.is_blank, True), {"s": " \t\r\n\f\v"}, True),
        (c("s", Op.is_blank, True), {"s": "\u00a0"}, False),  # NBSP is not ASCII whitespace
        (c("s", Op.is_blank, True), MISSING, None),
        # truthiness: never unknown
        (c("v", Op.truthy, True), {"v": 0}, False),
        (c("v", Op.truthy, True), {"v": -0.0}, False),
        (c("v", Op.truthy, True), {"v": "0"}, True),
        (c("v", Op.truthy, True), {"v": [None]}, True),
        (c("v", Op.truthy, True), {"v": datetime(1, 1, 1)}, True),
        (c("v", Op.truthy, True), {"v": None}, False),
        (c("v", Op.truthy, False), MISSING, True),
        (Not(c("v", Op.truthy, True)), MISSING, True),
        # length
        (c("s", Op.eq, 1, fn="length"), {"s": "\U0001f600"}, True),
        (c("s", Op.eq, 2, fn="length"), {"s": "e\u0301"}, True),  # code points, not graphemes
        (c("l", Op.eq, 0, fn="length"), {"l": []}, True),
        (c("l", Op.gt, 0, fn="length"), {"l": None}, None),
        # quantifiers in Kleene logic
        (c("l", Op.eq, 1, fn="any"), {"l": []}, False),
        (c("l", Op.eq, 1, fn="all"), {"l": []}, True),
        (c("l", Op.eq, 1, fn="any"), {"l": [None, 1]}, True),
        (c("l", Op.eq, 1, fn="any"), {"l": [None, 2]}, None),
        (c("l", Op.eq, 1, fn="all"), {"l": [None, 2]}, False),
        (c("l", Op.eq, 1, fn="all"), {"l": [None, 1]}, None),
        (c("l", Op.eq, 1, fn="all"), {"l": [1, 1]}, True),
        (c("l", Op.eq, 1, fn="all"), MISSING, None),
    ],
)
def test_reference_semantics(where: Expr, data: dict[str, Any], expected: bool | None) -> None:
    assert evaluate.evaluate(where, meta(**data)) is expected


# -- date helpers --------------------------------------------------------------------------------


def window(expr: Any) -> tuple[datetime, datetime, Op]:
    assert isinstance(expr, And)
    low, high = expr.items
    assert isinstance(low, Condition)
    assert isinstance(high, Condition)
    assert low.op is Op.gte
    return low.value, high.value, high.op


def test_calendar_windows_in_utc() -> None:
    now = datetime(2024, 2, 29, 15, 30, tzinfo=UTC)  # a Thursday of a leap year
    day = datetime(2024, 2, 29, tzinfo=UTC)
    assert window(QB.t.today(now=now)) == (day, day + timedelta(days=1), Op.lt)
    assert window(QB.t.yesterday(now=now)) == (day - timedelta(days=1), day, Op.lt)
    monday = datetime(2024, 2, 26, tzinfo=UTC)
    assert window(QB.t.this_week(now=now)) == (monday, monday + timedelta(days=7), Op.lt)
    feb, mar = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    assert window(QB.t.this_month(now=now)) == (feb, mar, Op.lt)
    jan, next_jan = datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
    assert window(QB.t.this_year(now=now)) == (jan, next_jan, Op.lt)
    assert window(QB.t.last_n_days(3, now=now)) == (now - timedelta(days=3), now, Op.lte)
    dec = datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert window(QB.t.this_month(now=dec))[1] == datetime(2024, 1, 1, tzinfo=UTC)


def test_calendar_windows_follow_the_time_zone() -> None:
    now = datetime(2024, 3, 10, 12, tzinfo=UTC)  # the day New York moves its clocks forward
    start, end, _ = window(QB.t.today("America/New_York", now=now))
    assert start == datetime(2024, 3, 10, 5, tzinfo=UTC)  # midnight EST
    assert end == datetime(2024, 3, 11, 4, tzinfo=UTC)  # midnight EDT: a 23-hour day
    tokyo = QB.t.today(timezone(timedelta(hours=9)), now=datetime(2024, 3, 10, 20, tzinfo=UTC))
    assert window(tokyo)[0] == datetime(2024, 3, 11, tzinfo=timezone(timedelta(hours=9)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: QB.t.today("Mars/Olympus"), "unknown time zone"),
        (lambda: QB.t.today(5), "a time zone must be"),
        (lambda: QB.t.today(now=datetime(2024, 1, 1)), "aware datetime"),
        (lambda: QB.t.last_n_days(0), "last_n_days takes"),
        (lambda: QB.t.last_n_days(True), "last_n_days takes"),
    ],
)
def test_date_helper_errors(call: Any, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        call()


# -- query shaping -------------------------------------------------------------------------------


def test_shaping_builds_a_query() -> None:
    q = (QB.age > 1).filter(QB.name == "a").exclude(QB.tags >> "x").sort("-age", QB.name)
    built = q.page(3, 20).build()
    assert built == Query(
        where=And((c("age", Op.gt, 1), c("name", Op.eq, "a"), Not(c("tags", Op.contains, "x")))),
        sorts=(Sort(Field("age"), descending=True), Sort(Field("name"))),
        limit=20,
        offset=40,
    )
    assert (QB.age > 1).first().build().limit == 1
    assert (QB.age > 1).order_by(QB.age.desc()).build().sorts == (Sort(Field("age"), True),)
    assert QB.filter().build() == Query()
    assert (QB.age > 1).build() == Query(where=c("age", Op.gt, 1))
    assert resolve_query(QB.filter(QB.age > 1).limit(5), SPEC).limit == 5
    assert isinstance(QB.filter(QB.age > 1), QueryBuilder)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: QB.filter().limit(0), "limit must be an integer >= 1"),
        (lambda: QB.filter().offset(-1), "offset must be an integer >= 0"),
        (lambda: QB.filter().page(0, 10), "page number"),
        (lambda: QB.filter().page(1, True), "page size"),
        (lambda: QB.filter().sort(""), "empty sort key"),
        (lambda: QB.filter().sort(3), "not a sort key"),
    ],
)
def test_shaping_errors(call: Any, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        call()

"""The string form: round trips, precedence, errors and hostile input."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specstar.core.errors import QueryError
from specstar.core.query import (
    QB,
    And,
    Condition,
    Expr,
    Field,
    Not,
    Op,
    Or,
    Sort,
    format_condition,
    format_sorts,
    parse_condition,
    parse_sorts,
)
from specstar.core.query._limits import MAX_NESTING, MAX_TEXT_LENGTH
from specstar.core.query.grammar import normalize_expr

# -- strategies ------------------------------------------------------------------------------------

FIELDS = st.sampled_from(
    [
        Field("age"),
        Field("name"),
        Field("address.city"),
        Field("tags"),
        Field("a_b.c1._d"),
        Field("contains"),  # a method name is a fine path segment when no '(' follows
        Field("x.regex"),
        Field("created_time", meta=True),
        Field("resource_id", meta=True),
        Field("name", fn="length"),
        Field("tags", fn="any"),
        Field("a.b", fn="all"),
        Field("length"),  # a function name is a fine path segment when no '()' follows
        Field("x.any.all"),
    ]
)

OFFSETS = st.integers(min_value=-(24 * 3600 - 1), max_value=24 * 3600 - 1).map(
    lambda seconds: timezone(timedelta(seconds=seconds))
)
TZS = st.one_of(st.none(), st.just(UTC), OFFSETS)
DATETIMES = st.datetimes(timezones=TZS)
TEXT = st.one_of(
    st.text(),
    st.text(alphabet='"\\/\n\t\r\b\f\x00\x1f\x7f é€😀 ab'),
    st.sampled_from(['"', "\\", '\\"', "dt", "and", "1e5", "[", "]", ")"]),
)
SCALARS = st.one_of(
    TEXT,
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    DATETIMES,
)
LISTS = st.recursive(
    st.lists(SCALARS, max_size=4),
    lambda inner: st.lists(st.one_of(SCALARS, inner), max_size=3),
    max_leaves=8,
).flatmap(lambda items: st.sampled_from([items, tuple(items)]))

CMP_OPS = [Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte]


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    field = draw(FIELDS)
    op = draw(st.sampled_from(list(Op)))
    value: Any
    if op in CMP_OPS:
        value = draw(st.one_of(SCALARS, LISTS))
    elif op in (Op.in_, Op.not_in, Op.contains_any):
        value = draw(LISTS)
    elif op in (Op.is_null, Op.exists, Op.is_empty, Op.is_blank, Op.truthy):
        value = draw(st.one_of(st.booleans(), st.none()))
    else:
        value = draw(SCALARS)
    return Condition(field, op, value)


def _combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    items = st.lists(children, min_size=1, max_size=4).map(tuple)
    return st.one_of(items.map(And), items.map(Or), children.map(Not))


EXPRS = st.recursive(conditions(), _combine, max_leaves=12)


def typed(value: Any) -> Any:
    """A structure that differs whenever types differ (``True`` vs ``1``, ``1`` vs ``1.0``)."""
    if isinstance(value, Condition):
        return ("cmp", str(value.field), value.op, typed(value.value))
    if isinstance(value, And | Or):
        return (type(value).__name__, tuple(typed(i) for i in value.items))
    if isinstance(value, Not):
        return ("not", typed(value.item))
    if isinstance(value, list | tuple):
        return ("seq", tuple(typed(v) for v in value))
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    return (type(value).__name__, value)


# -- round trips -----------------------------------------------------------------------------------


@settings(max_examples=400)
@given(EXPRS)
def test_format_then_parse_gives_the_normalized_tree(expr: Expr) -> None:
    text = format_condition(expr)
    parsed = parse_condition(text)
    expected = normalize_expr(expr)
    assert parsed == expected
    assert typed(parsed) == typed(expected)
    assert format_condition(parsed) == text


@given(st.floats(allow_nan=False))
def test_floats_round_trip_exactly(value: float) -> None:
    parsed = parse_condition(format_condition(Condition(Field("f"), Op.eq, value)))
    assert isinstance(parsed, Condition)
    assert isinstance(parsed.value, float)
    assert parsed.value == value
    assert math.copysign(1.0, parsed.value) == math.copysign(1.0, value)


@given(DATETIMES)
def test_datetimes_keep_their_offset(value: datetime) -> None:
    text = format_condition(QB.meta("created_time") >= value)
    assert 'dt"' in text
    parsed = parse_condition(text)
    assert isinstance(parsed, Condition)
    assert parsed.value == value
    assert parsed.value.utcoffset() == value.utcoffset()


@given(st.text())
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    error: QueryError | None = None
    try:
        parse_condition(text)
    except QueryError as exc:
        error = exc
    assert error is None or "position" in error.extra


#: What an edit splices into formatted text: tokens of the grammar and broken pieces of them.
PIECES = ["", "(", ")", "!", " & ", " | ", '"', "1", "-", "a", ".", "==", "<", "[", "]", ",", " "]


@st.composite
def grammar_like(draw: st.DrawFn) -> str:
    """Formatted expressions with zero to two small edits: many parse, many do not."""
    text = format_condition(draw(EXPRS))
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 3)))
        text = text[:start] + draw(st.sampled_from(PIECES)) + text[end:]
    return text


def test_grammar_like_text_parses_or_raises_query_error() -> None:
    parsed: list[str] = []
    errors: list[QueryError] = []

    @settings(max_examples=100)
    @given(grammar_like())
    def check(text: str) -> None:
        try:
            expr = parse_condition(text)
        except QueryError as exc:
            errors.append(exc)
            return
        assert parse_condition(format_condition(expr)) == normalize_expr(expr)
        parsed.append(text)

    check()
    assert all("position" in e.extra for e in errors)
    # the round trip must run on a good share of the examples, the error path on some too
    total = len(parsed) + len(errors)
    assert len(parsed) >= total // 4, f"{len(parsed)} of {total} parsed"
    assert len(errors) >= total // 10, f"{len(errors)} of {total} rejected"


# -- precedence and shapes -------------------------------------------------------------------------


def c(path: str, op: Op, value: Any) -> Condition:
    return Condition(Field.parse(path), op, value)


A, B, C = c("a", Op.eq, 1), c("b", Op.eq, 2), c("c", Op.eq, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a == 1 & b == 2 | c == 3", Or((And((A, B)), C))),
        ("a == 1 | b == 2 & c == 3", Or((A, And((B, C))))),
        ("(a == 1 | b == 2) & c == 3", And((Or((A, B)), C))),
        ("a == 1 and b == 2 or c == 3", Or((And((A, B)), C))),
        ("!a == 1 & b == 2", And((Not(A), B))),
        ("not a == 1 & b == 2", And((Not(A), B))),
        ("!(a == 1 & b == 2)", Not(And((A, B)))),
        ("!!a == 1", Not(Not(A))),
        ("a == 1 & (b == 2 & c == 3)", And((A, And((B, C))))),
        ("a == 1 & b == 2 & c == 3", And((A, B, C))),
        ("((a == 1))", A),
        ("a==1&b==2", And((A, B))),
        ("a == 1and b == 2", And((A, B))),
    ],
)
def test_precedence(text: str, expected: Expr) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (Or((And((A, B)), C)), "a == 1 & b == 2 | c == 3"),
        (And((Or((A, B)), C)), "(a == 1 | b == 2) & c == 3"),
        (And((A, And((B, C)))), "a == 1 & (b == 2 & c == 3)"),
        (Or((A, Or((B, C)))), "a == 1 | (b == 2 | c == 3)"),
        (Not(Or((A, B))), "!(a == 1 | b == 2)"),
        (Not(A), "!a == 1"),
        (And((A,)), "a == 1"),
        (Or((And((A,)), B)), "a == 1 | b == 2"),
    ],
)
def test_format_uses_minimal_parentheses(expr: Expr, text: str) -> None:
    assert format_condition(expr) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name == "Bob"', c("name", Op.eq, "Bob")),
        ("age != -5", c("age", Op.ne, -5)),
        ("age > +5", c("age", Op.gt, 5)),
        ("age >= 1.5e3", c("age", Op.gte, 1500.0)),
        ("age < 1E-2", c("age", Op.lt, 0.01)),
        ("age <= 0", c("age", Op.lte, 0)),
        ("x == 1e999", c("x", Op.eq, math.inf)),
        ("flag == true", c("flag", Op.eq, True)),
        ("flag != false", c("flag", Op.ne, False)),
        ("x == null", c("x", Op.eq, None)),
        ("x in [1, 2]", c("x", Op.in_, (1, 2))),
        ("x not in []", c("x", Op.not_in, ())),
        ('x == [1, [2, "a"]]', c("x", Op.eq, (1, (2, "a")))),
        ('tags.contains("a")', c("tags", Op.contains, "a")),
        ('tags.contains_any(["a", "b"])', c("tags", Op.contains_any, ("a", "b"))),
        ('name.starts_with("A")', c("name", Op.starts_with, "A")),
        ('name.ends_with("z")', c("name", Op.ends_with, "z")),
        ('name.regex("^a+$")', c("name", Op.regex, "^a+$")),
        ("x.is_null()", c("x", Op.is_null, True)),
        ("x.is_null(false)", c("x", Op.is_null, False)),
        ("x.exists()", c("x", Op.exists, True)),
        ("x.exists(false)", c("x", Op.exists, False)),
        ("address.city.exists()", c("address.city", Op.exists, True)),
        ("x.contains == 1", c("x.contains", Op.eq, 1)),
        ('$created_by == "u"', c("$created_by", Op.eq, "u")),
        ('$ created_by == "u"', c("$created_by", Op.eq, "u")),
        (
            '$created_time < dt"2024-01-01T00:00:00Z"',
            c("$created_time", Op.lt, datetime(2024, 1, 1, tzinfo=UTC)),
        ),
        ('x == dt"2024-05-06"', c("x", Op.eq, datetime(2024, 5, 6))),
        ('s == "\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/"', c("s", Op.eq, 'é😀\n"\\/')),
        ('s == "\\ud800"', c("s", Op.eq, "\ud800")),
        ("dt == 1", c("dt", Op.eq, 1)),
        (" \t\n a\n==\n1 ", c("a", Op.eq, 1)),
    ],
)
def test_parse_examples(text: str, expected: Condition) -> None:
    parsed = parse_condition(text)
    assert parsed == expected
    assert typed(parsed) == typed(expected)


@pytest.mark.parametrize("micros", [1, -1, 5_000_001, -3_600_000_001])
def test_fractional_second_offsets_keep_the_instant(micros: int) -> None:
    value = datetime(2000, 1, 1, tzinfo=timezone(timedelta(microseconds=micros)))
    parsed = parse_condition(format_condition(QB.t == value))
    assert isinstance(parsed, Condition)
    assert parsed.value == value


def test_lone_surrogates_and_control_characters_are_escaped() -> None:
    text = format_condition(c("s", Op.eq, "\ud800\x01\x7f"))
    assert text == 's == "\\ud800\\u0001\\u007f"'
    text.encode("utf-8")  # always encodable, ready for a URL


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("age == )", 7, "expected a value at position 7, found ')'"),
        ("", 0, "expected a condition"),
        ("   ", 3, "found end of input"),
        ("age ==", 6, "expected a value"),
        ("age", 3, "expected a comparison operator"),
        ("age = 1", 4, "unexpected character '='"),
        ("age == 1 &", 10, "expected a condition"),
        ("age == 1 age == 2", 9, "expected '&', '|' or end of input"),
        ("(age == 1", 9, "expected '&', '|' or ')'"),
        ("age == 1)", 8, "expected '&', '|' or end of input"),
        ("a.foo(1)", 2, "unknown method 'foo'"),
        ("a.contains()", 11, "expected a value"),
        ("a.contains(1, 2)", 12, "')' to close contains("),
        ("a.", 2, "expected a field name or method"),
        ("a.1 == 2", 2, "expected a field name or method"),
        ("$ == 1", 2, "expected a field name"),
        ("a in 1", 5, "expected a list"),
        ("a not 1", 6, "expected 'in' after 'not'"),
        ("a in [1, 2", 10, "expected ',' or ']'"),
        ("a in [1,]", 8, "expected a value"),
        ('a == "abc', 5, "unterminated string"),
        ('a == "a\\q"', 7, "invalid escape"),
        ('a == "\\u12"', 6, "invalid \\u escape"),
        ('a == "tab\there"', 9, "control character"),
        ('a == dt"yesterday"', 5, "invalid datetime literal"),
        ("a == 'x'", 5, "unexpected character"),
        ("a == 1.", 6, "expected '&', '|' or end of input"),
        ("in == 1", 0, "expected a condition"),
        ("a.in == 1", 2, "expected a field name or method"),
        ("true == 1", 0, "expected a condition"),
        ("a == True", 5, "expected a value"),
        ("a == 1 && b == 2", 8, "expected a condition"),
        ("a == -", 5, "unexpected character '-'"),
    ],
)
def test_parse_errors_name_the_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_condition(text)
    assert info.value.extra["position"] == position
    assert f"at position {position}" in info.value.message
    assert fragment in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os')",
        '__import__("os").system("ls")',
        "a == 1; drop table users",
        "a == 1 -- comment",
        "a == `x`",
        "a == {1: 2}",
        "lambda: 1",
        "a == 1 # x",
        "a == b",
        "a == 0x10",
        "a == 1_000",
        "a == NaN",
        "a == Infinity",
        "a == .5",
        "a.__class__()",
        "a == \x00",
        "ä == 1",
    ],
)
def test_hostile_input_is_rejected(text: str) -> None:
    with pytest.raises(QueryError):
        parse_condition(text)


def test_nesting_limit_parentheses() -> None:
    ok = "(" * MAX_NESTING + "a == 1" + ")" * MAX_NESTING
    assert parse_condition(ok) == c("a", Op.eq, 1)
    too_deep = "(" * (MAX_NESTING + 1) + "a == 1" + ")" * (MAX_NESTING + 1)
    with pytest.raises(QueryError, match="nesting deeper than 100"):
        parse_condition(too_deep)


@pytest.mark.parametrize("n", [10_000, 200_000])
def test_very_deep_input_never_raises_recursion_error(n: int) -> None:
    for text in ("(" * n, "!" * n + "a == 1", "not " * (n // 4) + "a == 1", "a == " + "[" * n):
        with pytest.raises(QueryError):
            parse_condition(text)


def test_nesting_limit_not_and_lists() -> None:
    assert isinstance(parse_condition("!" * MAX_NESTING + "a == 1"), Not)
    with pytest.raises(QueryError, match="nesting"):
        parse_condition("!" * (MAX_NESTING + 1) + "a == 1")
    nested = "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)
    assert isinstance(parse_condition(f"a in [{nested}]"), Condition)
    with pytest.raises(QueryError, match="nesting"):
        parse_condition(f"a in [[{nested}]]")


def test_formatter_refuses_what_the_parser_would_refuse() -> None:
    deep: Expr = A
    for _ in range(MAX_NESTING):
        deep = Not(deep)
    assert parse_condition(format_condition(deep)) == deep
    with pytest.raises(QueryError):
        format_condition(Not(deep))
    very_deep: Expr = A
    for _ in range(5000):
        very_deep = Not(very_deep)
    with pytest.raises(QueryError):
        format_condition(very_deep)


def test_text_length_limit() -> None:
    with pytest.raises(QueryError, match="longer than"):
        parse_condition("a == 1 | " * (MAX_TEXT_LENGTH // 9) + "a == 1")


def test_huge_integer_literal() -> None:
    with pytest.raises(QueryError, match="too long"):
        parse_condition("a == " + "9" * 5000)
    assert parse_condition("a == " + "9" * 100) == c("a", Op.eq, int("9" * 100))


@pytest.mark.parametrize(
    "expr",
    [
        And(()),
        Or(()),
        And((A, Or(()))),
        c("a", Op.eq, math.nan),
        c("a", Op.eq, {"x": 1}),
        c("a", Op.eq, b"bytes"),
        c("a", Op.in_, 1),
        c("a.in", Op.eq, 1),
        c("not", Op.eq, 1),
        Condition(Field("a b"), Op.eq, 1),
        Condition(Field(""), Op.eq, 1),
    ],
)
def test_format_errors(expr: Expr) -> None:
    with pytest.raises(QueryError):
        format_condition(expr)


def test_non_str_input() -> None:
    with pytest.raises(QueryError):
        parse_condition(123)  # type: ignore[arg-type]
    with pytest.raises(QueryError):
        parse_sorts(None)  # type: ignore[arg-type]


# -- builder and string forms agree ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "text"),
    [
        (QB.age >= 18, "age >= 18"),
        ((QB.age >= 18) & QB["name"].starts_with("A"), 'age >= 18 & name.starts_with("A")'),
        (QB.age > 1.5, "age > 1.5"),
        (QB.age < -2, "age < -2"),
        (QB.age <= 3, "age <= 3"),
        (QB.name != "x", 'name != "x"'),
        (QB["address.city"].in_(["Paris", "Lyon"]), 'address.city in ["Paris", "Lyon"]'),
        (QB.age.not_in([1, 2]), "age not in [1, 2]"),
        (QB.tags.contains("a"), 'tags.contains("a")'),
        (QB.tags.contains_any(["a", "b"]), 'tags.contains_any(["a", "b"])'),
        (QB.name.ends_with('"'), 'name.ends_with("\\"")'),
        (QB.name.regex(r"^\d+$"), 'name.regex("^\\\\d+$")'),
        (QB.x.is_null(), "x.is_null()"),
        (QB.x.is_null(False), "x.is_null(false)"),
        (QB.x.exists(), "x.exists()"),
        (QB.x.exists(flag=False), "x.exists(false)"),
        (~(QB.a == 1), "!a == 1"),
        (~((QB.a == 1) | (QB.b == 2)), "!(a == 1 | b == 2)"),
        ((QB.a == 1) | (QB.b == 2) & (QB.c == 3), "a == 1 | b == 2 & c == 3"),
        (((QB.a == 1) | (QB.b == 2)) & (QB.c == 3), "(a == 1 | b == 2) & c == 3"),
        ((QB.a == 1) & (QB.b == 2) & (QB.c == 3), "a == 1 & b == 2 & c == 3"),
        ((QB.a == 1) | (QB.b == 2) | (QB.c == 3), "a == 1 | b == 2 | c == 3"),
        (QB["$created_by"] == "alice", '$created_by == "alice"'),
        (
            QB.meta("created_time") < datetime(2024, 1, 1, tzinfo=UTC),
            '$created_time < dt"2024-01-01T00:00:00+00:00"',
        ),
        (QB.flag == True, "flag == true"),  # noqa: E712 - builds a condition
        (QB.x == None, "x == null"),  # noqa: E711 - builds a condition
    ],
)
def test_builder_equals_string_form(built: Expr, text: str) -> None:
    assert parse_condition(text) == built
    assert format_condition(built) == text


# -- sorts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("  ", ()),
        ("age", (Sort(Field("age")),)),
        ("-age", (Sort(Field("age"), descending=True),)),
        ("+age", (Sort(Field("age")),)),
        (" age", (Sort(Field("age")),)),  # '+' decoded from a URL as a space
        (
            "-age,+name,$created_time",
            (
                Sort(Field("age"), descending=True),
                Sort(Field("name")),
                Sort(Field("created_time", meta=True)),
            ),
        ),
        (
            " -$updated_time , address.city ",
            (Sort(Field("updated_time", meta=True), True), Sort(Field("address.city"))),
        ),
    ],
)
def test_parse_sorts(text: str, expected: tuple[Sort, ...]) -> None:
    assert parse_sorts(text) == expected


@pytest.mark.parametrize(
    ("text", "position"),
    [("age,,name", 4), ("age,", 4), ("a b", 0), ("-", 1), ("age,-1x", 5), ("a;b", 0)],
)
def test_parse_sorts_errors(text: str, position: int) -> None:
    with pytest.raises(QueryError) as info:
        parse_sorts(text)
    assert info.value.extra["position"] == position


SORTS = st.lists(
    st.builds(
        Sort,
        st.builds(
            Field,
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}(\.[a-z_]{1,3}){0,2}", fullmatch=True),
            st.booleans(),
        ),
        st.booleans(),
    ),
    max_size=5,
).map(tuple)


@given(SORTS)
def test_sorts_round_trip(sorts: tuple[Sort, ...]) -> None:
    assert parse_sorts(format_sorts(sorts)) == sorts


def test_format_sorts() -> None:
    assert format_sorts([QB.age.desc(), QB.name.asc(), QB.meta("created_time").asc()]) == (
        "-age,name,$created_time"
    )
    with pytest.raises(QueryError):
        format_sorts([Sort(Field("bad path"))])


def test_keywords_are_reserved_words_only_in_lower_case() -> None:
    for word in ("And", "OR", "Not", "IN", "True", "NULL"):
        assert parse_condition(f"{word} == 1") == c(word, Op.eq, 1)

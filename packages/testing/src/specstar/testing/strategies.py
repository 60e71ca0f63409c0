"""Hypothesis strategies for the test model, its data and queries over it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import strategies as st

from specstar.core.spi import And, Condition, Expr, Field, Not, Op, Or, Query, Sort

from .boundaries import QueryField, boundary_expressions, per_operator, stored_values
from .models import Address, Item

__all__ = [
    "ITEM_FIELDS",
    "boundary_queries",
    "conditions",
    "item_data",
    "item_values",
    "operator_queries",
    "queries",
    "regex_patterns",
    "sorts",
]

# Small pools make equal values, ties and nulls frequent, which is where adapters disagree.
_NAMES = st.sampled_from(
    ["a", "b", "B", "ab", "ba", "é", "É", "Z", "a b", "", " ", "\t\n", "a%", "a_b", "'q\""]
)
_CITIES = st.sampled_from(["Oslo", "oslo", "Rome", "Ürümqi", ""])
_TAGS = st.sampled_from(["x", "y", "z", "X", "x y"])
_AGE_VALUES = st.one_of(st.integers(-3, 5), st.sampled_from([2**40, -(2**40)]))
_AGES = st.one_of(st.none(), _AGE_VALUES)
_SCORE_VALUES = st.one_of(
    st.sampled_from([0.0, -0.0, 0.5, -1.25, 2.0, 1e-9, 1e15]),
    st.integers(-2, 2).map(float),
)
_SCORES = st.one_of(st.none(), _SCORE_VALUES)
_TZ = st.sampled_from(
    [UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-7, minutes=-30))]
)
_BASE = datetime(2024, 1, 1, tzinfo=UTC)
_DATE_VALUES = st.builds(
    lambda minutes, tz: (_BASE + timedelta(minutes=minutes)).astimezone(tz),
    st.integers(-600, 600).map(lambda m: m * 30),
    _TZ,
)
_DATES = st.one_of(st.none(), _DATE_VALUES)


_REGEX_ATOMS = st.sampled_from(
    [
        "a",
        "b",
        "B",
        "é",
        "ß",
        "%",
        "_",
        " ",
        ".",
        "\\n",
        "\\.",
        "\\$",
        "[a-c]",
        "[^a]",
        "[é_%]",
        "[^\\n]",
        "\\d",
        "\\w",
        "\\s",
        "\\W",
        "\\S",
        "\\x41",
        "\\u00e9",
    ]
)
_REGEX_QUANTIFIERS = st.sampled_from(["", "", "", "*", "+", "?", "{2}", "{0,2}", "{1,}", "*?"])


def regex_patterns() -> st.SearchStrategy[str]:
    """Patterns of the query ``regex`` dialect: literals, escapes, classes, anchors, groups,
    alternation and quantifiers, nested (including the catastrophic ``(a+)+`` shapes)."""

    def quantified(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        piece = st.builds(lambda a, q: a + q, inner, _REGEX_QUANTIFIERS)
        anchor = st.sampled_from(["^", "$"])
        return st.lists(st.one_of(piece, piece, anchor), min_size=0, max_size=4).map("".join)

    def grouped(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        branches = st.lists(quantified(inner), min_size=1, max_size=3).map("|".join)
        return st.builds(lambda kind, b: f"({kind}{b})", st.sampled_from(["", "?:"]), branches)

    return (
        st.recursive(_REGEX_ATOMS, grouped, max_leaves=6)
        .flatmap(
            lambda atom: st.lists(quantified(st.just(atom) | _REGEX_ATOMS), min_size=1, max_size=3)
        )
        .map("|".join)
    )


def item_data() -> st.SearchStrategy[Item]:
    """Items with many ties and nulls."""
    return st.builds(
        Item,
        name=_NAMES,
        email=st.none(),
        age=_AGES,
        score=_SCORES,
        active=st.booleans(),
        born=_DATES,
        tags=st.lists(_TAGS, max_size=3),
        address=st.one_of(st.none(), st.builds(Address, city=_CITIES, zip=st.none())),
    )


_SCALAR_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": _NAMES,
    "age": _AGE_VALUES,
    "score": _SCORE_VALUES,
    "born": _DATE_VALUES,
    "address.city": _CITIES,
}


def _scalar_condition() -> st.SearchStrategy[Condition]:
    def build(path: str) -> st.SearchStrategy[Condition]:
        values = _SCALAR_FIELDS[path]
        ops = [Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte]
        single = st.builds(
            lambda op, v: Condition(Field(path), op, v), st.sampled_from(ops), values
        )
        multi = st.builds(
            lambda op, vs: Condition(Field(path), op, tuple(vs)),
            st.sampled_from([Op.in_, Op.not_in]),
            st.lists(values, min_size=1, max_size=3),
        )
        options = [single, multi]
        if path in ("name", "address.city"):
            options.append(
                st.builds(
                    lambda op, v: Condition(Field(path), op, v),
                    st.sampled_from([Op.contains, Op.starts_with, Op.ends_with]),
                    st.sampled_from(["a", "b", "", "%", "_", "é", "O"]),
                )
            )
            options.append(
                st.builds(
                    lambda p: Condition(Field(path), Op.regex, p),
                    st.sampled_from(["^a", "b$", "a.b", "[A-Z]", "^$"]) | regex_patterns(),
                )
            )
            options.append(
                st.builds(
                    lambda op, v: Condition(Field(path), op, v),
                    st.sampled_from([Op.icontains, Op.istarts_with, Op.iends_with]),
                    st.sampled_from(["A", "b", "", "é", "É", "o", "OS"]),
                )
            )
            options.append(
                st.builds(
                    lambda op, flag: Condition(Field(path), op, flag),
                    st.sampled_from([Op.is_empty, Op.is_blank]),
                    st.booleans(),
                )
            )
            options.append(
                st.builds(
                    lambda op, n: Condition(Field(path, fn="length"), op, n),
                    st.sampled_from([Op.eq, Op.gt, Op.lte]),
                    st.integers(0, 3),
                )
            )
        return st.one_of(options)

    return st.sampled_from(sorted(_SCALAR_FIELDS)).flatmap(build)


def _other_condition() -> st.SearchStrategy[Condition]:
    paths = [*_SCALAR_FIELDS, "tags", "active"]
    return st.one_of(
        st.builds(lambda v: Condition(Field("active"), Op.eq, v), st.booleans()),
        st.builds(lambda v: Condition(Field("tags"), Op.contains, v), _TAGS),
        st.builds(
            lambda vs: Condition(Field("tags"), Op.contains_any, tuple(vs)),
            st.lists(_TAGS, min_size=1, max_size=3),
        ),
        st.builds(
            lambda p, op, flag: Condition(Field(p), op, flag),
            st.sampled_from(paths),
            st.sampled_from([Op.is_null, Op.exists, Op.truthy]),
            st.booleans(),
        ),
        st.builds(lambda flag: Condition(Field("tags"), Op.is_empty, flag), st.booleans()),
        st.builds(
            lambda op, n: Condition(Field("tags", fn="length"), op, n),
            st.sampled_from([Op.eq, Op.ne, Op.gte]),
            st.integers(0, 3),
        ),
        st.builds(
            lambda fn, op, v: Condition(Field("tags", fn=fn), op, v),
            st.sampled_from(["any", "all"]),
            st.sampled_from([Op.eq, Op.ne, Op.lt, Op.istarts_with, Op.contains]),
            _TAGS,
        ),
        st.builds(
            lambda op, v: Condition(Field("rev_status", meta=True), op, v),
            st.sampled_from([Op.eq, Op.ne]),
            st.sampled_from(["draft", "stable"]),
        ),
    )


def conditions(max_leaves: int = 6) -> st.SearchStrategy[Expr]:
    """Random boolean expressions over the indexed fields of :class:`Item`."""
    leaf: st.SearchStrategy[Expr] = st.one_of(_scalar_condition(), _other_condition())
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, min_size=1, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(children, min_size=1, max_size=3).map(lambda xs: Or(tuple(xs))),
            children.map(Not),
        ),
        max_leaves=max_leaves,
    )


def sorts() -> st.SearchStrategy[tuple[Sort, ...]]:
    """Zero to three distinct sort keys (list fields cannot be sorted)."""
    keys = [
        "name",
        "age",
        "score",
        "born",
        "active",
        "address.city",
        "$created_time",
        "$rev_status",
        "$rev_updated_time",
    ]
    return st.lists(st.sampled_from(keys), max_size=3, unique=True).flatmap(
        lambda ks: st.tuples(*[st.booleans() for _ in ks]).map(
            lambda flags: tuple(Sort(Field.parse(k), d) for k, d in zip(ks, flags, strict=True))
        )
    )


def queries() -> st.SearchStrategy[Query]:
    """Filter + sort + page size."""
    return st.builds(
        Query,
        where=st.one_of(st.none(), conditions()),
        sorts=sorts(),
        limit=st.integers(1, 20),
    )


_REGEXES = ("^a", "b$", "a.b", "[A-Z]", "^$")

#: The queryable fields of :class:`Item` with the edge values of :func:`item_data`'s pools.
ITEM_FIELDS: list[QueryField] = [
    QueryField("name", "text", _NAMES, _REGEXES),
    QueryField("address.city", "text", _CITIES, _REGEXES),
    QueryField("age", "number", _SCALAR_FIELDS["age"]),
    QueryField("score", "number", _SCALAR_FIELDS["score"]),
    QueryField("born", "time", _SCALAR_FIELDS["born"]),
    QueryField("active", "bool", st.booleans()),
    QueryField("tags", "list", _TAGS),
]


def item_values(rows: Sequence[Item]) -> dict[str, list[Any]]:
    """The values stored in each queryable field of ``rows``."""
    docs = [msgspec.to_builtins(r, builtin_types=(datetime,)) for r in rows]
    return stored_values(docs, [f.path for f in ITEM_FIELDS])


def boundary_queries(
    rows: Sequence[Item] = (), ops: Sequence[Op] | None = None
) -> st.SearchStrategy[Query]:
    """Queries whose values are drawn from ``rows`` half the time, every operator alike (see
    :mod:`specstar.testing.boundaries`); with no rows, from the pools :func:`item_data` uses.
    ``ops`` limits the operators of the first condition."""
    return st.builds(
        Query,
        where=boundary_expressions(ITEM_FIELDS, item_values(rows), ops=ops),
        sorts=sorts(),
        limit=st.integers(1, 20),
    )


def operator_queries(rows: Sequence[Item] = ()) -> st.SearchStrategy[list[Query]]:
    """One query per operator with values drawn from ``rows`` half the time (see
    :func:`specstar.testing.boundaries.per_operator`)."""
    exprs = per_operator(ITEM_FIELDS, item_values(rows))
    return st.tuples(exprs, sorts(), st.integers(1, 20)).map(
        lambda t: [Query(where=w, sorts=t[1], limit=t[2]) for w in t[0]]
    )

"""Memory, SQLite and PostgreSQL return identical rows in identical order for the same queries.

The model has every indexable kind, values that are null *or* missing (``UNSET`` fields are left
out of the data, ``inner.*`` is missing when ``inner`` is null), nullable lists, null list
elements, integers at the edges of 64 bits, integers in float fields, infinities, time zones,
astral and combining characters, and the LIKE wildcards ``%``/``_``. Queries cover every
operator, ``Not``/``And``/``Or`` (empty ones too), sorts with nulls, offsets and cursor chains.
Every example also runs one query per operator whose value is, half the time, one of the values
stored (so comparisons meet equality: ``gte`` and ``gt`` select different rows), and fixed cases
put every comparison on a stored value. Without PostgreSQL, memory and SQLite are compared.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import UNSET, UnsetType

from specstar.core import ResourceManager, StorageFactory
from specstar.core.memory import MemoryStorageFactory
from specstar.core.query.ast import And, Condition, Expr, Field, Not, Op, Or, Query, Sort
from specstar.sql import SQLiteStorageFactory
from specstar.testing import budget
from specstar.testing.boundaries import QueryField, per_operator, stored_values
from specstar.testing.strategies import regex_patterns


class Inner(msgspec.Struct, kw_only=True):
    label: str | None = None
    n: int | None = None


class Rich(msgspec.Struct, kw_only=True):
    name: str | UnsetType | None = UNSET
    count: int | UnsetType | None = UNSET
    ratio: float | UnsetType | None = UNSET
    flag: bool | UnsetType | None = UNSET
    when: datetime | UnsetType | None = UNSET
    tags: list[str] | UnsetType | None = UNSET
    nums: list[int] | None = None
    vals: list[float] = msgspec.field(default_factory=list)
    days: list[datetime | None] = msgspec.field(default_factory=list)
    inner: Inner | None = None


INDEXES: list[Any] = [
    ("name", str),
    ("count", int),
    ("ratio", float),
    ("flag", bool),
    ("when", datetime),
    ("tags", list[str]),
    ("nums", list[int]),
    ("vals", list[float]),
    ("days", list[datetime]),
    "inner.label",
    "inner.n",
]

INF = float("inf")
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30))]
STRINGS = [
    *["", "a", "A", "ab", "b", "a%", "%", "_", "a_b", "é", "e\u0301", "ß", "😀", "z", "a\n"],
    *["É", "AB", "aB", " ", " \t\n", "\u00a0", "Σς"],
]
INTS = [-3, -1, 0, 1, 2, 3, 2**62, -(2**62), 2**63 - 1, -(2**63)]
FLOATS = [0.0, -0.0, 0.5, -1.5, 2.0, 1e300, INF, -INF, 1e-9]
FLOAT_INTS = [1, 2, -1, 2**53, -(2**53)]
TAGS = ["x", "y", "X", "", "x y", " ", "Xy", "\u00c9", "\u00e9"]
#: needles of the ASCII-case-insensitive operators: letters of both cases and non-ASCII ones
#: that other foldings would equate (É/é, ß/SS, capital/small/final sigma)
FOLD_NEEDLES = [
    "",
    "a",
    "A",
    "AB",
    "b",
    "É",
    "é",
    "SS",
    "ß",
    "\u03c3",
    "\u03a3",
    "x",
    "X",
    "_",
    "%",
]


def _strings() -> st.SearchStrategy[str]:
    return st.sampled_from(STRINGS)


def _datetimes() -> st.SearchStrategy[datetime]:
    def build(minutes: int, micro: int, tz: timezone | None) -> datetime:
        at = T0 + timedelta(minutes=minutes, microseconds=micro)
        return at.astimezone(tz) if tz is not None else at.replace(tzinfo=None)

    return st.builds(
        build,
        st.integers(-3, 3).map(lambda m: m * 90),
        st.sampled_from([0, 1, 999_999]),
        st.sampled_from([*ZONES, None]),
    )


def _maybe(values: st.SearchStrategy[Any], unset: bool = True) -> st.SearchStrategy[Any]:
    options = [st.none(), values]
    if unset:
        options.append(st.just(UNSET))
    return st.one_of(options)


ROWS = st.builds(
    Rich,
    name=_maybe(_strings()),
    count=_maybe(st.sampled_from(INTS)),
    ratio=_maybe(st.one_of(st.sampled_from(FLOATS), st.sampled_from(FLOAT_INTS))),
    flag=_maybe(st.booleans()),
    when=_maybe(_datetimes()),
    tags=_maybe(st.lists(st.sampled_from(TAGS), max_size=3)),
    nums=_maybe(st.lists(st.sampled_from(INTS), max_size=3), unset=False),
    vals=st.lists(st.one_of(st.sampled_from(FLOATS), st.sampled_from(FLOAT_INTS)), max_size=3),
    days=st.lists(_maybe(_datetimes(), unset=False), max_size=2),
    inner=_maybe(
        st.builds(Inner, label=_maybe(_strings(), False), n=_maybe(st.integers(-2, 2), False)),
        unset=False,
    ),
)

# query values: include what no stored value can equal (beyond 64 bits, between doubles)
_QUERY_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": _strings(),
    "inner.label": _strings(),
    "count": st.sampled_from([*INTS, 2**70, -(2**70), 2**63, -(2**63) - 1]),
    "inner.n": st.integers(-3, 3),
    "ratio": st.sampled_from(
        [*FLOATS, *FLOAT_INTS, 2**53 + 1, -(2**53) - 1, 2**60 + 3, 10**400, -(10**400)]
    ),
    "when": _datetimes(),
    "$resource_id": st.sampled_from(["r00", "r03", "r1", "r10", "s"]),
    "$total_revision_count": st.integers(0, 3),
}
_LISTS: dict[str, st.SearchStrategy[Any]] = {
    "tags": st.sampled_from(TAGS),
    "nums": st.sampled_from([*INTS, 2**70]),
    "vals": st.sampled_from([*FLOATS, *FLOAT_INTS, 2**53 + 1]),
    "days": _datetimes(),
}
_ALL_PATHS = [*INDEXES[:-2], "inner.label", "inner.n"]
_PATHS = [p if isinstance(p, str) else p[0] for p in _ALL_PATHS]
_FIXED_REGEXES = ["^a", "a$", "\\d", "^$", "é|ß", "^.{2}$", "[%_]", "\\w+\\s", "a\\n$", "^(a+)+$"]
_REGEXES = st.one_of(st.sampled_from(_FIXED_REGEXES), regex_patterns())


def _field(path: str) -> Field:
    return Field.parse(path)


def _scalar_conditions() -> st.SearchStrategy[Condition]:
    def build(path: str) -> st.SearchStrategy[Condition]:
        values = _QUERY_VALUES[path]
        options = [
            st.builds(
                lambda op, v: Condition(_field(path), op, v),
                st.sampled_from([Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte]),
                values,
            ),
            st.builds(
                lambda op, vs: Condition(_field(path), op, tuple(vs)),
                st.sampled_from([Op.in_, Op.not_in]),
                st.lists(values, min_size=1, max_size=3),
            ),
        ]
        if path in ("name", "inner.label"):
            options.append(
                st.builds(
                    lambda op, flag: Condition(_field(path), op, flag),
                    st.sampled_from([Op.is_empty, Op.is_blank]),
                    st.booleans(),
                )
            )
            options.append(_length_conditions(path))
        if path in ("name", "inner.label", "$resource_id"):
            options.append(
                st.builds(
                    lambda op, v: Condition(_field(path), op, v),
                    st.sampled_from([Op.icontains, Op.istarts_with, Op.iends_with]),
                    st.sampled_from(FOLD_NEEDLES),
                )
            )
        if path in ("name", "inner.label", "$resource_id"):
            options.append(
                st.builds(
                    lambda op, v: Condition(_field(path), op, v),
                    st.sampled_from([Op.contains, Op.starts_with, Op.ends_with]),
                    st.sampled_from(["", "a", "%", "_", "é", "😀", "a%", "b", "\n", "r0"]),
                )
            )
            options.append(st.builds(lambda p: Condition(_field(path), Op.regex, p), _REGEXES))
        return st.one_of(options)

    return st.sampled_from(sorted(_QUERY_VALUES)).flatmap(build)


def _length_conditions(path: str) -> st.SearchStrategy[Condition]:
    return st.one_of(
        st.builds(
            lambda op, n: Condition(Field(path, fn="length"), op, n),
            st.sampled_from([Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte]),
            st.sampled_from([0, 1, 2, 3, 2**70]),
        ),
        st.builds(
            lambda op, ns: Condition(Field(path, fn="length"), op, tuple(ns)),
            st.sampled_from([Op.in_, Op.not_in]),
            st.lists(st.integers(0, 3), min_size=1, max_size=2),
        ),
    )


def _element_conditions(path: str) -> st.SearchStrategy[Condition]:
    """``any()``/``all()`` over the elements of a list field."""
    values = _LISTS[path]
    quantifier = st.sampled_from(["any", "all"])
    options = [
        st.builds(
            lambda fn, op, v: Condition(Field(path, fn=fn), op, v),
            quantifier,
            st.sampled_from([Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte]),
            values,
        ),
        st.builds(
            lambda fn, op, vs: Condition(Field(path, fn=fn), op, tuple(vs)),
            quantifier,
            st.sampled_from([Op.in_, Op.not_in]),
            st.lists(values, min_size=1, max_size=2),
        ),
    ]
    if path == "tags":
        options.append(
            st.builds(
                lambda fn, op, v: Condition(Field(path, fn=fn), op, v),
                quantifier,
                st.sampled_from(
                    [
                        Op.contains,
                        Op.starts_with,
                        Op.ends_with,
                        Op.icontains,
                        Op.istarts_with,
                        Op.iends_with,
                    ]
                ),
                st.sampled_from(FOLD_NEEDLES),
            )
        )
    return st.one_of(options)


def _other_conditions() -> st.SearchStrategy[Condition]:
    def list_condition(path: str) -> st.SearchStrategy[Condition]:
        values = _LISTS[path]
        return st.one_of(
            st.builds(lambda v: Condition(Field(path), Op.contains, v), values),
            st.builds(
                lambda vs: Condition(Field(path), Op.contains_any, tuple(vs)),
                st.lists(values, min_size=1, max_size=3),
            ),
            st.builds(lambda flag: Condition(Field(path), Op.is_empty, flag), st.booleans()),
            _length_conditions(path),
            _element_conditions(path),
        )

    return st.one_of(
        st.sampled_from(sorted(_LISTS)).flatmap(list_condition),
        st.builds(
            lambda op, v: Condition(Field("flag"), op, v),
            st.sampled_from([Op.eq, Op.ne]),
            st.booleans(),
        ),
        st.builds(
            lambda op, vs: Condition(Field("flag"), op, tuple(vs)),
            st.sampled_from([Op.in_, Op.not_in]),
            st.lists(st.booleans(), min_size=1, max_size=2),
        ),
        st.builds(
            lambda path, op, flag: Condition(_field(path), op, flag),
            st.sampled_from([*_PATHS, "$schema_version"]),
            st.sampled_from([Op.is_null, Op.exists, Op.truthy]),
            st.booleans(),
        ),
        st.builds(
            lambda path, flag: Condition(_field(path), Op.truthy, flag),
            st.sampled_from(["$created_time", "$total_revision_count", "$resource_id"]),
            st.booleans(),
        ),
    )


def conditions() -> st.SearchStrategy[Expr]:
    leaf: st.SearchStrategy[Expr] = st.one_of(_scalar_conditions(), _other_conditions())
    return st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(children, max_size=3).map(lambda xs: Or(tuple(xs))),
            children.map(Not),
        ),
        max_leaves=6,
    )


SORT_KEYS = ["name", "count", "ratio", "flag", "when", "inner.label", "inner.n", "$created_time"]

SORTS = st.lists(st.sampled_from(SORT_KEYS), max_size=3, unique=True).flatmap(
    lambda keys: st.tuples(*[st.booleans() for _ in keys]).map(
        lambda flags: tuple(Sort(_field(k), d) for k, d in zip(keys, flags, strict=True))
    )
)

QUERIES = st.builds(
    Query,
    where=st.one_of(st.none(), conditions()),
    sorts=SORTS,
    limit=st.integers(1, 6),
    offset=st.sampled_from([0, 0, 0, 2]),
    is_deleted=st.sampled_from([False, False, True, None]),
)


#: The queryable fields for the boundary strategies: edge values as above, regexes for text.
FIELDS: list[QueryField] = [
    QueryField("name", "text", _strings(), tuple(_FIXED_REGEXES)),
    QueryField("inner.label", "text", _strings(), tuple(_FIXED_REGEXES)),
    QueryField("$resource_id", "text", _QUERY_VALUES["$resource_id"], ("^r0", "1$")),
    QueryField("count", "number", _QUERY_VALUES["count"]),
    QueryField("inner.n", "number", _QUERY_VALUES["inner.n"]),
    QueryField("ratio", "number", _QUERY_VALUES["ratio"]),
    QueryField("$total_revision_count", "number", _QUERY_VALUES["$total_revision_count"]),
    QueryField("when", "time", _QUERY_VALUES["when"]),
    QueryField("flag", "bool", st.booleans()),
    *[QueryField(path, "list", values) for path, values in _LISTS.items()],
]

#: Everything of a query but its filter.
SHAPES = st.builds(
    Query,
    sorts=SORTS,
    limit=st.integers(1, 6),
    offset=st.sampled_from([0, 0, 0, 2]),
    is_deleted=st.sampled_from([False, False, None]),
)


def stored(rows: list[Rich]) -> dict[str, list[Any]]:
    docs = [msgspec.to_builtins(r, builtin_types=(datetime,)) for r in rows]
    return stored_values(docs, [f.path for f in FIELDS])


class Trio:
    """The same resources in memory (the reference), SQLite and (when it runs) PostgreSQL."""

    def __init__(self, factories: list[StorageFactory]) -> None:
        name = f"diff-{uuid.uuid4().hex[:10]}"
        self.managers = [
            ResourceManager(Rich, storage_factory=f, name=name, indexed_fields=INDEXES)
            for f in factories
        ]

    def load(self, rows: list[Rich], deleted: list[bool]) -> None:
        for mgr in self.managers:
            for meta in list(mgr.iter_all(Query(is_deleted=None))):
                mgr.permanently_delete(meta.resource_id)
        for i, (row, gone) in enumerate(zip(rows, deleted, strict=True)):
            at = T0 + timedelta(seconds=i % 4)  # ties in $created_time
            for mgr in self.managers:
                with mgr.using(user="diff", now=at):
                    mgr.create(row, resource_id=f"r{i:02d}")
                    if gone:
                        mgr.delete(f"r{i:02d}")

    def check(self, query: Query) -> bool:
        """Compare counts and every page of the cursor chain; whether the query selects rows."""
        reference, *others = self.managers
        resolved = reference.resolve(query)
        want = reference.storage.count(resolved)
        for mgr in others:
            assert mgr.storage.count(resolved) == want, (type(mgr.storage).__name__, query)
        cursors: list[Query] = [resolved] * len(self.managers)
        for _ in range(20):  # follow the cursor chain on every adapter
            pages = [m.storage.search(q) for m, q in zip(self.managers, cursors, strict=True)]
            expected = pages[0]
            for mgr, page in zip(others, pages[1:], strict=True):
                label = type(mgr.storage).__name__
                assert [m.resource_id for m in page.items] == [
                    m.resource_id for m in expected.items
                ], (label, query)
                assert page.items == expected.items, (label, "metas differ")
                assert page.has_more == expected.has_more, (label, query)
                assert page.next_cursor == expected.next_cursor, (label, query)
            if not expected.has_more:
                return want > 0
            cursors = [resolved.replace(cursor=p.next_cursor, offset=0) for p in pages]
        return want > 0


@pytest.fixture
def trio(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Trio]:
    sqlite = SQLiteStorageFactory(tmp_path / "sqlite")
    factories: list[StorageFactory] = [MemoryStorageFactory(), sqlite]
    with contextlib.suppress(pytest.skip.Exception):  # without PostgreSQL: memory and SQLite
        factories.append(request.getfixturevalue("pg_factory"))
    yield Trio(factories)
    sqlite.close()


def test_random_data_and_queries_agree(trio: Trio) -> None:
    selected: list[bool] = []

    @settings(
        max_examples=budget(int(os.environ.get("SPECSTAR_DIFF_EXAMPLES", "40"))),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        rows=st.lists(ROWS, min_size=1, max_size=10),
        deleted=st.lists(st.booleans(), min_size=10, max_size=10),
        queries=st.lists(QUERIES, min_size=1, max_size=2),
        data=st.data(),
    )
    def check(
        rows: list[Rich], deleted: list[bool], queries: list[Query], data: st.DataObject
    ) -> None:
        trio.load(rows, deleted[: len(rows)])
        for query in queries:  # anything, hostile edges and deep nesting included
            trio.check(query)
        for where in data.draw(per_operator(FIELDS, stored(rows))):  # every operator
            selected.append(trio.check(data.draw(SHAPES).replace(where=where)))

    check()
    share = sum(selected) / len(selected)
    # 25-40 % by seed: the text edges hold many case-folding and blank variants, a quarter of
    # the shapes read only soft-deleted rows, and the flag operators (is_empty, is_blank,
    # truthy) select few rows one way round; below 20 % the strategy has gone blind
    assert share >= 0.2, f"only {share:.0%} of the per-operator queries selected a row"


# -- fixed cases: the edges above, checked on every run whatever hypothesis draws -----------

FIXED_ROWS = [
    Rich(name="a", count=2**63 - 1, ratio=2**53, flag=True, when=T0, tags=["x", ""], nums=[1]),
    Rich(name=None, count=None, ratio=None, flag=None, when=None, tags=None),
    Rich(),  # every UNSET path missing, inner missing
    Rich(name="a%", count=-(2**63), ratio=-0.0, flag=False, tags=[], vals=[INF, 1]),
    Rich(name="😀", count=0, ratio=INF, when=T0.astimezone(ZONES[1]), inner=Inner()),
    Rich(name="a\n", count=3, ratio=1e300, days=[None, T0], inner=Inner(label="ß", n=1)),
    Rich(name="e\u0301", ratio=-INF, tags=["X"], nums=[2**62, -(2**63)], inner=Inner(label="")),
    Rich(name="_", when=datetime(2024, 3, 1, 12, 0, 0, 1), vals=[-0.0]),
    Rich(name="min", when=datetime.min.replace(tzinfo=UTC), days=[datetime.min]),
    Rich(name="max", when=datetime.max.replace(tzinfo=UTC), days=[datetime.max]),
    Rich(name=" \t\n", count=0, ratio=0.0, flag=False, tags=[" ", "Xy"], inner=Inner(label="É")),
    Rich(name="ÉA", tags=["x", "x"], nums=[], vals=[0.0], inner=Inner(label="SS", n=0)),
    Rich(name="", tags=[""], days=[None]),
]

FIXED_QUERIES: list[Expr] = [
    Condition(Field("count"), Op.gt, 2**70),
    Condition(Field("count"), Op.lt, 2**70),
    Condition(Field("count"), Op.ne, -(2**70)),
    Condition(Field("count"), Op.not_in, (2**70, 3)),
    Condition(Field("ratio"), Op.gt, 2**53 + 1),
    Condition(Field("ratio"), Op.lte, 2**53 + 1),
    Condition(Field("ratio"), Op.gte, 10**400),
    Condition(Field("ratio"), Op.eq, 0),
    Condition(Field("vals"), Op.contains, float("inf")),
    Condition(Field("vals"), Op.contains, 0),
    Condition(Field("nums"), Op.contains_any, (2**70, 2**62)),
    Not(Condition(Field("tags"), Op.contains, "x")),
    Not(Condition(Field("nums"), Op.contains, 1)),
    Condition(Field("tags"), Op.is_null, True),
    Condition(Field("tags"), Op.exists, False),
    Condition(Field("inner.label"), Op.exists, True),
    Condition(Field("inner.label"), Op.is_null, True),
    Condition(Field("name"), Op.starts_with, "a%"),
    Condition(Field("name"), Op.ends_with, "_"),
    Condition(Field("name"), Op.contains, ""),
    Condition(Field("name"), Op.regex, "a$"),
    Condition(Field("name"), Op.gt, "e"),
    Condition(Field("name"), Op.lt, "\U0001f600"),
    Condition(Field("when"), Op.eq, T0.astimezone(ZONES[2])),
    Condition(Field("when"), Op.gt, T0),
    Condition(Field("when"), Op.lt, datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC)),
    Condition(Field("days"), Op.contains, datetime.max),
    Not(Condition(Field("flag"), Op.ne, True)),
    Or(()),
    And(()),
    # ASCII-only case folding: "A" finds "a", "É" finds only "É", "SS" is not "ß"
    Condition(Field("name"), Op.icontains, "A"),
    Condition(Field("name"), Op.icontains, "é"),
    Condition(Field("name"), Op.istarts_with, "éa"),
    Condition(Field("inner.label"), Op.iends_with, "ss"),
    Condition(Field("inner.label"), Op.iends_with, "ß"),
    Condition(Field("name"), Op.icontains, ""),
    Not(Condition(Field("name"), Op.istarts_with, "A")),
    Condition(Field("tags"), Op.contains, "xy"),
    # emptiness: "" and [] only; null stays unknown; blank is ASCII whitespace
    Condition(Field("name"), Op.is_empty, True),
    Condition(Field("name"), Op.is_empty, False),
    Condition(Field("name"), Op.is_blank, True),
    Not(Condition(Field("name"), Op.is_blank, False)),
    Condition(Field("tags"), Op.is_empty, True),
    Condition(Field("nums"), Op.is_empty, False),
    # truthiness: null and missing are falsy, -0.0 and 0 too, every datetime is truthy
    Condition(Field("count"), Op.truthy, True),
    Condition(Field("count"), Op.truthy, False),
    Condition(Field("ratio"), Op.truthy, False),
    Condition(Field("flag"), Op.truthy, True),
    Condition(Field("when"), Op.truthy, True),
    Condition(Field("tags"), Op.truthy, False),
    Condition(Field("inner.label"), Op.truthy, True),
    Not(Condition(Field("vals"), Op.truthy, True)),
    Condition(Field("schema_version", meta=True), Op.truthy, False),
    # length: code points of a str, elements of a list
    Condition(Field("name", fn="length"), Op.eq, 1),
    Condition(Field("name", fn="length"), Op.eq, 0),
    Condition(Field("name", fn="length"), Op.gt, 2**70),
    Condition(Field("name", fn="length"), Op.in_, (2, 3)),
    Condition(Field("tags", fn="length"), Op.lte, 1),
    Condition(Field("days", fn="length"), Op.ne, 1),
    # element quantifiers: any() false and all() true on [], null elements unknown
    Condition(Field("tags", fn="any"), Op.eq, "x"),
    Condition(Field("tags", fn="all"), Op.eq, "x"),
    Condition(Field("tags", fn="all"), Op.icontains, "X"),
    Condition(Field("tags", fn="any"), Op.gt, "X"),
    Not(Condition(Field("tags", fn="all"), Op.ne, "")),
    Condition(Field("nums", fn="all"), Op.lt, 2**70),
    Condition(Field("nums", fn="any"), Op.gte, 2**62),
    Condition(Field("vals", fn="all"), Op.gte, 0),
    Condition(Field("days", fn="all"), Op.gte, T0),
    Condition(Field("days", fn="any"), Op.eq, T0),
    Not(Condition(Field("days", fn="any"), Op.eq, T0)),
    Condition(Field("days", fn="any"), Op.not_in, (T0,)),
    Not(Or((Condition(Field("count"), Op.gt, 1), Condition(Field("name"), Op.eq, "a")))),
]


@pytest.mark.parametrize("where", FIXED_QUERIES, ids=[str(i) for i in range(len(FIXED_QUERIES))])
def test_fixed_edge_cases_agree(trio: Trio, where: Expr) -> None:
    trio.load(FIXED_ROWS, [False] * len(FIXED_ROWS))
    for sorts in [
        (),
        (Sort(Field("name")),),
        (Sort(Field("ratio"), descending=True),),
        (Sort(Field("when"), descending=True), Sort(Field("count"))),
    ]:
        trio.check(Query(where=where, sorts=sorts, limit=3, is_deleted=None))


# -- every operator on values that are stored: where gte and gt (lte and lt) part ways ----------

#: (path, a value stored in FIXED_ROWS) for the comparisons and in/not_in.
STORED_POINTS: list[tuple[str, Any]] = [
    ("count", 3),
    ("count", 0),
    ("count", 2**63 - 1),
    ("ratio", 2**53),
    ("ratio", -0.0),
    ("ratio", INF),
    ("name", "a"),
    ("name", "_"),
    ("when", T0),
    ("when", datetime(2024, 3, 1, 12, 0, 0, 1)),
    ("inner.n", 1),
    ("inner.label", "ß"),
    ("$resource_id", "r03"),
]
#: (path, a stored string's fragment or a stored list element) for the text and list operators.
STORED_PARTS: list[tuple[str, Any]] = [
    ("name", "a"),
    ("name", "a%"),
    ("name", "_"),
    ("inner.label", "ß"),
    ("tags", "x"),
    ("tags", "X"),
    ("nums", 1),
    ("vals", INF),
    ("days", T0),
]


def _stored_cases(op: Op) -> list[tuple[Expr, bool]]:
    """Conditions of ``op`` on stored values, each with whether it must select a row."""
    if op in (Op.in_, Op.not_in):
        return [(Condition(_field(p), op, (v,)), op == Op.in_) for p, v in STORED_POINTS]
    if op in (Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte):
        return [
            (Condition(_field(p), op, v), op in (Op.eq, Op.gte, Op.lte)) for p, v in STORED_POINTS
        ]
    if op == Op.contains_any:
        lists = [(p, v) for p, v in STORED_PARTS if p in _LISTS]
        return [(Condition(Field(p), op, (v,)), True) for p, v in lists]
    texts = [(p, v) for p, v in STORED_PARTS if p not in _LISTS]
    if op == Op.contains:
        return [(Condition(_field(p), op, v), True) for p, v in STORED_PARTS]
    if op in (Op.starts_with, Op.ends_with):
        return [(Condition(_field(p), op, v), False) for p, v in texts]
    raise AssertionError(f"no stored-value cases for {op}")


STORED_OPS = [
    Op.eq,
    Op.ne,
    Op.gt,
    Op.gte,
    Op.lt,
    Op.lte,
    Op.in_,
    Op.not_in,
    Op.contains,
    Op.contains_any,
    Op.starts_with,
    Op.ends_with,
]


@pytest.mark.parametrize("op", STORED_OPS, ids=[op.value for op in STORED_OPS])
def test_operators_on_stored_values_agree(trio: Trio, op: Op) -> None:
    """Each operator with a value equal to (or part of) a stored one, plain and negated."""
    trio.load(FIXED_ROWS, [False] * len(FIXED_ROWS))
    for where, selects in _stored_cases(op):
        for sorts in [(), (Sort(Field("name")),)]:
            hit = trio.check(Query(where=where, sorts=sorts, limit=3, is_deleted=None))
            assert hit or not selects, f"{where} selected no row"
            trio.check(Query(where=Not(where), sorts=sorts, limit=3, is_deleted=None))

"""The builder's full operator surface, with fixed expected rows on every store.

Each case names the rows it must return (in the default order), so a store that agrees with the
reference evaluator but where both are wrong still fails. The rows sit on the boundaries:
equal values, ``""``, ``[]``, ``[""]``, whitespace-only strings, null and missing values,
``0``/``0.0``/``-0.0``, and letters that Unicode case folding would equate but ASCII folding
does not (``É``/``é``, ``ß``/``SS``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from specstar.core import QB, Query, QueryError, ResourceManager, ResourceMeta
from specstar.core.spi import evaluate

from ..models import Address, Item
from .base import SuiteBase

BASE = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)

ROWS: list[Item] = [
    Item(name="Alpha", age=0, score=0.0, active=False, tags=[], address=Address(city="OSLO")),
    Item(name="alpha", age=3, score=-0.0, tags=["x", "X"], born=BASE, address=Address(city="oslo")),
    Item(name="", tags=[""], address=Address(city=" ")),
    Item(name=" \t", age=10, score=2.5, tags=["xy", "x"], born=BASE + DAY),
    Item(
        name="\u00c9lan",
        age=-1,
        score=1.0,
        active=False,
        tags=["\u00c9"],
        born=BASE - DAY,
        address=Address(city="\u00e9lan"),
    ),
    Item(name="stra\u00dfe", tags=["ss", "SS"], address=Address(city="STRASSE")),
]

A, a, EMPTY, BLANK, ELAN, STRASSE = (row.name for row in ROWS)
EVERY = [A, a, EMPTY, BLANK, ELAN, STRASSE]

CASES: list[tuple[str, Any, list[str]]] = [
    # method forms and operator sugar
    ("eq method", QB.age.eq(3), [a]),
    ("ne method", QB.age.ne(3), [A, BLANK, ELAN]),
    ("gt gte lt lte", QB.age.gt(0) & QB.age.gte(3) & QB.age.lt(10) & QB.age.lte(3), [a]),
    ("% is regex", QB.name % "^a", [a]),
    ("<< is in", QB.age << [0, -1], [A, ELAN]),
    (">> is contains", QB.tags >> "SS", [STRASSE]),
    ("~field is falsy", ~QB.active, [A, ELAN]),
    ("match", QB.name.match("l.n$"), [ELAN]),
    ("like _", QB.name.like("_lpha"), [A, a]),
    ("like %", QB.name.like("%e"), [STRASSE]),
    ("like % matches empty", QB.name.like("%"), EVERY),
    ("like is whole-value", QB.name.like("lpha"), []),
    ("one_of", QB.age.one_of([3, 10]), [a, BLANK]),
    ("between is inclusive", QB.age.between(0, 3), [A, a]),
    ("in_range is half-open", QB.age.in_range(0, 3), [A]),
    ("not_contains skips null", QB.name.not_contains("a"), [EMPTY, BLANK]),
    ("not_starts_with", QB.name.not_starts_with("a"), [A, EMPTY, BLANK, ELAN, STRASSE]),
    ("not_ends_with", QB["address.city"].not_ends_with("lo"), [A, EMPTY, ELAN, STRASSE]),
    ("has_value", QB.age.has_value(), [A, a, BLANK, ELAN]),
    ("is_not_null", QB.age.is_not_null(), [A, a, BLANK, ELAN]),
    ("isna", QB.age.isna(), [EMPTY, STRASSE]),
    ("is_true", QB.active.is_true(), [a, EMPTY, BLANK, STRASSE]),
    ("is_false", QB.active.is_false(), [A, ELAN]),
    ("QB.all", QB.all(QB.age >= 0, QB.active.is_true()), [a, BLANK]),
    ("QB.any", QB.any(QB.age < 0, QB.name.is_empty()), [EMPTY, ELAN]),
    ("QB.all() is true", QB.all(), EVERY),
    ("QB.any() is false", QB.any(), []),
    ("meta helper", QB.created_by() == "tester", EVERY),
    # ASCII case folding
    ("icontains", QB.name.icontains("AL"), [A, a]),
    ("icontains leaves É alone", QB.name.icontains("\u00e9lan"), []),
    ("icontains exact non-ASCII", QB.name.icontains("\u00c9LAN"), [ELAN]),
    ("icontains empty needle", QB["address.city"].icontains(""), [A, a, EMPTY, ELAN, STRASSE]),
    ("istarts_with", QB.name.istarts_with("ALP"), [A, a]),
    ("iends_with", QB["address.city"].iends_with("sse"), [STRASSE]),
    ("ß is not ss", QB["address.city"].iends_with("\u00dfe"), []),
    ("any element icontains", QB.tags.any().iends_with("S"), [STRASSE]),
    ("elements fold ASCII only", QB.tags.any().icontains("\u00e9"), []),
    ("elements match non-ASCII exactly", QB.tags.any().istarts_with("\u00c9"), [ELAN]),
    # emptiness
    ("is_empty str", QB.name.is_empty(), [EMPTY]),
    ("not is_empty str", QB.name.is_empty(False), [A, a, BLANK, ELAN, STRASSE]),
    ("is_blank", QB.name.is_blank(), [EMPTY, BLANK]),
    ("is_blank skips missing", QB["address.city"].is_blank(), [EMPTY]),
    ("is_empty list", QB.tags.is_empty(), [A]),
    ("[''] is not empty", QB.tags.is_empty(False), [a, EMPTY, BLANK, ELAN, STRASSE]),
    # truthiness: null and missing are falsy, so is_falsy finds them
    ("is_truthy int", QB.age.is_truthy(), [a, BLANK, ELAN]),
    ("is_falsy int", QB.age.is_falsy(), [A, EMPTY, STRASSE]),
    ("is_falsy float -0.0", QB.score.is_falsy(), [A, a, EMPTY, STRASSE]),
    ("is_truthy list", QB.tags.is_truthy(), [a, EMPTY, BLANK, ELAN, STRASSE]),
    ("is_truthy str", QB["address.city"].is_truthy(), [A, a, EMPTY, ELAN, STRASSE]),
    ("is_truthy datetime", QB.born.is_truthy(), [a, BLANK, ELAN]),
    # length()
    ("length str", QB.name.length() == 5, [A, a]),
    ("length counts code points", QB.name.length() == 4, [ELAN]),
    ("length small", QB.name.length() <= 2, [EMPTY, BLANK]),
    ("length in", QB.name.length().in_([0, 6]), [EMPTY, STRASSE]),
    ("length list", QB.tags.length() >= 2, [a, BLANK, STRASSE]),
    ("length empty list", QB.tags.length() == 0, [A]),
    # element quantifiers
    ("any ==", QB.tags.any() == "x", [a, BLANK]),
    ("all == (vacuous on [])", QB.tags.all() == "x", [A]),
    ("all istarts_with", QB.tags.all().istarts_with("x"), [A, a, BLANK]),
    ("any !=", QB.tags.any() != "x", [a, EMPTY, BLANK, ELAN, STRASSE]),
    ("not any", ~(QB.tags.any() == "x"), [A, EMPTY, ELAN, STRASSE]),
    ("any in", QB.tags.any().in_(["", "ss"]), [EMPTY, STRASSE]),
    # date helpers (BASE is Monday 2024-01-01 00:00 UTC)
    ("today", QB.born.today(now=BASE + DAY + timedelta(hours=5)), [BLANK]),
    ("yesterday", QB.born.yesterday(now=BASE + DAY), [a]),
    ("this_week", QB.born.this_week(now=BASE + 2 * DAY), [a, BLANK]),
    ("this_month", QB.born.this_month(now=BASE), [a, BLANK]),
    ("this_year", QB.born.this_year(now=BASE - DAY), [ELAN]),
    ("last_n_days is inclusive", QB.born.last_n_days(1, now=BASE), [a, ELAN]),
    ("today in UTC", QB.born.today(now=BASE + DAY - timedelta(hours=1)), [a]),
    (
        "today in New York",
        QB.born.today("America/New_York", now=BASE + DAY - timedelta(hours=1)),
        [BLANK],
    ),
]


def _names(metas: list[ResourceMeta]) -> list[str]:
    return [m.indexed_data["name"] for m in metas]


class OperatorTests(SuiteBase):
    @pytest.fixture
    def operands(self, items: ResourceManager[Item]) -> ResourceManager[Item]:
        for row in ROWS:
            items.create(row)
        return items

    @pytest.mark.parametrize(("label", "where", "expected"), CASES, ids=[c[0] for c in CASES])
    def test_operator(
        self, operands: ResourceManager[Item], label: str, where: Any, expected: list[str]
    ) -> None:
        query = Query(where=where, limit=100)
        got = _names(operands.search(query))
        everything = list(operands.iter_all(Query(is_deleted=None)))
        assert got == _names(evaluate.run(everything, operands.resolve(query)).items)
        assert got == expected
        assert operands.count(where) == len(expected)

    def test_query_shaping(self, operands: ResourceManager[Item]) -> None:
        base = QB.age.has_value()
        assert _names(operands.search(base.sort("-age").build())) == [BLANK, a, A, ELAN]
        assert _names(operands.search(base.order_by(QB.age).first().build())) == [ELAN]
        assert _names(operands.search(base.sort(QB.age.desc()).page(2, 3).build())) == [ELAN]
        assert _names(operands.search(base.sort("age").offset(1).limit(2).build())) == [A, a]
        shaped = QB.filter(QB.active.is_true()).exclude(QB.age > 3).filter(QB.tags.is_truthy())
        assert _names(operands.search(shaped.build())) == [a]  # age null: excluded (unknown)
        assert operands.count(QB.filter(QB.name.is_blank()).build()) == 2

    def test_misapplied_operators_are_errors(self, operands: ResourceManager[Item]) -> None:
        wrong = [
            (QB.age.icontains("1"), "icontains"),
            (QB.age.length() > 1, "length"),
            (QB.name.any() == "a", "any"),
            (QB.tags.all().regex("a"), "regex"),
            (QB.active.is_blank(), "is_blank"),
            (QB.name.length() == "a", "name.length()"),
            (QB.name.is_empty(1), "is_empty"),  # type: ignore[arg-type]
        ]
        for where, named in wrong:
            with pytest.raises(QueryError, match=named):
                operands.search(where)
        with pytest.raises(QueryError, match="sort"):
            operands.search(Query(sorts=(QB.name.length().asc(),)))

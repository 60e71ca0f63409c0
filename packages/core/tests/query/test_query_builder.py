"""The Python builder ``QB``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from specstar.core.errors import QueryError
from specstar.core.query import QB, And, Condition, Field, Not, Op, Or, Sort
from specstar.core.query.builder import FieldRef


def test_item_and_attribute_access() -> None:
    assert QB["age"].field == Field("age")
    assert QB.age.field == Field("age")
    assert QB["address.city"].field == Field("address.city")
    assert QB["$created_time"].field == Field("created_time", meta=True)
    assert QB.meta("updated_by").field == Field("updated_by", meta=True)
    assert repr(QB["$created_time"]) == "FieldRef('$created_time')"


def test_underscore_names_are_not_fields() -> None:
    with pytest.raises(AttributeError):
        _ = QB._private
    with pytest.raises(AttributeError):
        _ = QB.__wrapped__
    assert QB["_private"].field == Field("_private")


@pytest.mark.parametrize("path", ["", "a b", "1a", "a..b", "a.", "$", "a-b"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(QueryError):
        QB[path]


def test_unknown_meta_field() -> None:
    with pytest.raises(QueryError, match=r"\$created_time"):
        QB["$nope"]
    with pytest.raises(QueryError, match="not a meta field"):
        QB.meta("nope")


def test_comparisons() -> None:
    f = Field("age")
    assert (QB.age == 1) == Condition(f, Op.eq, 1)
    assert (QB.age != 1) == Condition(f, Op.ne, 1)
    assert (QB.age > 1) == Condition(f, Op.gt, 1)
    assert (QB.age >= 1) == Condition(f, Op.gte, 1)
    assert (QB.age < 1) == Condition(f, Op.lt, 1)
    assert (QB.age <= 1) == Condition(f, Op.lte, 1)


def test_reflected_comparisons() -> None:
    f = Field("age")
    assert (1 < QB.age) == Condition(f, Op.gt, 1)  # noqa: SIM300 - reflected on purpose
    assert (1 >= QB.age) == Condition(f, Op.lte, 1)  # noqa: SIM300
    assert (1 == QB.age) == Condition(f, Op.eq, 1)  # noqa: SIM300


def test_methods() -> None:
    f = Field("tags")
    assert QB.tags.in_(["a", "b"]) == Condition(f, Op.in_, ("a", "b"))
    assert QB.tags.in_(x for x in "ab") == Condition(f, Op.in_, ("a", "b"))
    assert QB.tags.not_in(("a",)) == Condition(f, Op.not_in, ("a",))
    assert QB.tags.contains("a") == Condition(f, Op.contains, "a")
    assert QB.tags.contains_any({"a"}) == Condition(f, Op.contains_any, ("a",))
    assert QB.tags.starts_with("a") == Condition(f, Op.starts_with, "a")
    assert QB.tags.ends_with("a") == Condition(f, Op.ends_with, "a")
    assert QB.tags.regex("a+") == Condition(f, Op.regex, "a+")
    assert QB.tags.is_null() == Condition(f, Op.is_null, True)
    assert QB.tags.is_null(False) == Condition(f, Op.is_null, False)
    assert QB.tags.exists() == Condition(f, Op.exists, True)
    assert QB.tags.exists(flag=False) == Condition(f, Op.exists, False)


@pytest.mark.parametrize("bad", ["ab", b"ab", 3, None])
def test_list_methods_need_a_list(bad: object) -> None:
    with pytest.raises(QueryError, match="list of values"):
        QB.tags.in_(bad)  # type: ignore[arg-type]
    with pytest.raises(QueryError):
        QB.tags.contains_any(bad)  # type: ignore[arg-type]


def test_sorts() -> None:
    assert QB.age.asc() == Sort(Field("age"))
    assert QB.age.desc() == Sort(Field("age"), descending=True)
    assert QB["$created_time"].desc() == Sort(Field("created_time", meta=True), True)


def test_boolean_composition() -> None:
    a, b, c = QB.a == 1, QB.b == 2, QB.c == 3
    assert (a & b) == And((a, b))
    assert (a & b & c) == And((a, b, c))
    assert (a | b | c) == Or((a, b, c))
    assert (a | b & c) == Or((a, And((b, c))))
    assert ~a == Not(a)
    assert ~(a & b) == Not(And((a, b)))


def test_field_refs_are_unhashable_and_not_comparable_to_fields() -> None:
    with pytest.raises(TypeError):
        hash(QB.age)
    with pytest.raises(TypeError):
        {QB.age}  # noqa: B018
    with pytest.raises(QueryError, match="compare"):
        QB.a == QB.b  # noqa: B015


def test_datetime_value_is_kept() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    cond = QB["$created_time"] >= when
    assert isinstance(cond, Condition)
    assert cond.value is when
    assert isinstance(QB.age, FieldRef)


def test_qb_is_not_instantiated() -> None:
    with pytest.raises(TypeError):
        QB()

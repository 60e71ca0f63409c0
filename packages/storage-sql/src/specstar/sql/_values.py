"""Query values as a column binds them: normalised, checked, and exact beyond a column's range.

A value a query compares with is normalised to the target's kind the way stored values are
(:func:`~specstar.core.spi.normalize_scalar`) and encoded by the dialect. Values no stored
value can equal (integers beyond 64 bits, integers a double cannot represent in a float
field) get no encoding instead of a rounded one: the compiler then reasons about the stored
range (:func:`float_bracket`), so no comparison is decided by rounding.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from specstar.core import QueryError
from specstar.core.spi import normalize_scalar

from ._dialect import Dialect, Target
from ._layout import FLOAT_EXACT_INT, INT64_MAX, INT64_MIN, index_value_problem

__all__ = ["exact", "float_bracket", "float_exact", "normalize"]


def normalize(target: Target, value: Any) -> Any:
    """``value`` normalised to the target's kind.

    Raises:
        QueryError: a null, a value not of the kind, a NaN, or a text no column can hold.
    """
    if value is None:
        raise QueryError(f"{target.name}: compare with null using is_null", path=target.name)
    try:
        out = normalize_scalar(target.kind, value)
    except (TypeError, OverflowError):
        raise QueryError(
            f"{target.name}: {value!r} is not a {target.kind}", path=target.name
        ) from None
    if out is None:
        raise QueryError(f"{target.name}: NaN cannot be compared", path=target.name)
    if target.kind == "str":
        problem = index_value_problem("str", out)
        if problem:
            raise QueryError(f"{target.name}: {problem}", path=target.name)
    return out


def exact(dialect: Dialect, target: Target, value: Any) -> tuple[Any, Any]:
    """The normalised value and its encoding — or ``None`` instead of the encoding when
    no stored value can equal it (integers beyond 64 bits, or integers no double holds
    in a float field).

    Raises:
        QueryError: as :func:`normalize`.
    """
    value = normalize(target, value)
    if target.kind == "int" and not INT64_MIN <= value <= INT64_MAX:
        return value, None
    if target.kind == "float" and isinstance(value, int) and abs(value) > FLOAT_EXACT_INT:
        if float_exact(value):
            return value, dialect.encode("float", float(value))
        return value, None
    return value, dialect.encode(target.kind, value)


def float_exact(value: int) -> bool:
    """Whether a double holds the integer ``value`` exactly."""
    try:
        return float(value) == value
    except OverflowError:
        return False


def float_bracket(value: int) -> tuple[float, float]:
    """The adjacent doubles ``lo < value < hi`` around an integer no double represents."""
    try:
        nearest = float(value)
    except OverflowError:
        big = sys.float_info.max
        return (big, math.inf) if value > 0 else (-math.inf, -big)
    if nearest > value:
        return math.nextafter(nearest, -math.inf), nearest
    return nearest, math.nextafter(nearest, math.inf)

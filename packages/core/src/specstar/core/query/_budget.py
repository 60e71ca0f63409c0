"""The time budget of a query in the memory evaluator.

SQL stores bound their statements in the database (PostgreSQL's ``statement_timeout``, an
SQLite progress handler); the memory store has no database to stop it, so its searches run
inside :func:`query_budget` and every row predicate built by the evaluator checks the deadline
(:func:`bounded`). A query past its budget raises
:class:`~specstar.core.errors.QueryTimeoutError` instead of holding the worker.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from ..errors import QueryTimeoutError

__all__ = ["DEFAULT_QUERY_TIMEOUT", "bounded", "check_timeout", "query_budget"]

#: Seconds a query may run by default, on every store.
DEFAULT_QUERY_TIMEOUT = 10.0

#: Rows evaluated between two looks at the clock.
_CHECK_EVERY = 16

_DEADLINE: ContextVar[tuple[float, float] | None] = ContextVar("specstar_deadline", default=None)

T = TypeVar("T")


def check_timeout(value: object, name: str = "query_timeout") -> float | None:
    """``value`` as a budget in seconds: a positive finite number, or ``None`` (no budget).

    Raises:
        ValueError: anything else (zero, a negative number, NaN, infinity, a non-number).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of seconds or None, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


@contextmanager
def query_budget(seconds: float | None) -> Iterator[None]:
    """Run the block under a budget of ``seconds`` (``None``: unbounded).

    Predicates made by :func:`bounded` inside the block raise
    :class:`~specstar.core.errors.QueryTimeoutError` once the budget is spent.
    """
    token = _DEADLINE.set(None if seconds is None else (time.monotonic() + seconds, seconds))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def bounded(pred: Callable[[T], bool]) -> Callable[[T], bool]:
    """``pred``, checking the current budget's deadline every few calls (``pred`` itself when
    no budget is active)."""
    current = _DEADLINE.get()
    if current is None:
        return pred
    deadline, seconds = current
    calls = 0

    def checked(row: T) -> bool:
        nonlocal calls
        calls += 1
        if calls % _CHECK_EVERY == 0 and time.monotonic() > deadline:
            raise QueryTimeoutError(seconds)
        return pred(row)

    return checked

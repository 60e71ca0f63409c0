"""The rows of a memory search, selected and ordered as the reference evaluator does.

:func:`compile_filter` turns the common filters (conjunctions of comparisons on data paths)
into one predicate compiled per query, which gives exactly the reference evaluator's answer;
:func:`run` selects, orders and pages given rows with key sorts instead of comparisons. Both
give the results of :func:`specstar.core.query.evaluate.run`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from .query import evaluate
from .query._budget import bounded
from .query._limits import MAX_EXPR_DEPTH, check_depth
from .query.ast import And, Condition, Expr, Op, Query
from .query.cursor import decode_cursor, effective_sorts, encode_cursor, sort_values
from .query.resolve import DEFAULT_LIMIT
from .types import Page, ResourceMeta

__all__ = ["compile_filter", "run", "selector"]

_COMPARE: dict[Op, Callable[[Any, Any], Any]] = {
    Op.eq: operator.eq,
    Op.ne: operator.ne,
    Op.gt: operator.gt,
    Op.gte: operator.ge,
    Op.lt: operator.lt,
    Op.lte: operator.le,
}


def _comparison(cond: Condition) -> tuple[str, Callable[[Any, Any], Any], Any] | None:
    """``(path, compare, value)`` of a plain comparison (``eq ne gt gte lt lte``) on a data
    path with no datetime value (the reference turns naive ones into UTC first), else
    ``None``."""
    if cond.field.meta or cond.field.fn is not None or isinstance(cond.value, datetime):
        return None
    compare = _COMPARE.get(cond.op)
    return None if compare is None else (cond.field.path, compare, cond.value)


def _all_of(
    tests: tuple[tuple[str, Callable[[Any, Any], Any], Any], ...],
) -> Callable[[ResourceMeta], bool]:
    """A conjunction of plain comparisons in one loop (no call per condition): a missing
    value or one of another type makes it false, as in the reference."""

    def every(meta: ResourceMeta) -> bool:
        data = meta.indexed_data
        for path, compare, target in tests:
            value = data.get(path)
            if value is None:
                return False
            try:
                if not compare(value, target):
                    return False
            except TypeError:
                return False
        return True

    return every


def _compile_condition(cond: Condition) -> Callable[[ResourceMeta], bool] | None:
    if cond.op is not Op.in_:
        test = _comparison(cond)
        return None if test is None else _all_of((test,))
    path, target = cond.field.path, cond.value
    if cond.field.meta or cond.field.fn is not None or isinstance(target, datetime):
        return None  # the reference turns naive datetimes into UTC ones first
    if not isinstance(target, list | tuple) or any(isinstance(x, datetime) for x in target):
        return None

    def member(meta: ResourceMeta) -> bool:
        value = meta.indexed_data.get(path)
        return value is not None and value in target

    return member


def compile_filter(expr: Expr) -> Callable[[ResourceMeta], bool] | None:
    """A predicate true exactly when :func:`evaluate.evaluate` gives ``True``, for filters
    that are comparisons (``eq ne gt gte lt lte in``) on data paths (with no datetime value),
    or conjunctions of them; ``None`` for any other filter."""
    if isinstance(expr, Condition):
        return _compile_condition(expr)
    if not isinstance(expr, And):
        return None
    tests = [_comparison(i) if isinstance(i, Condition) else None for i in expr.items]
    if tests and all(t is not None for t in tests):
        return _all_of(tuple(t for t in tests if t is not None))
    parts = [compile_filter(item) for item in expr.items]
    if any(p is None for p in parts):
        return None
    preds = tuple(p for p in parts if p is not None)

    def every(meta: ResourceMeta) -> bool:
        for pred in preds:  # noqa: SIM110 - a plain loop is faster than all() over a generator
            if not pred(meta):
                return False
        return True

    return every


def selector(query: Query) -> Callable[[ResourceMeta], bool]:
    """:func:`evaluate.selector`, with a compiled filter where :func:`compile_filter` can."""
    where, deleted = query.where, query.is_deleted
    if where is None:
        return evaluate.selector(query)
    check_depth(where, MAX_EXPR_DEPTH)
    pred = compile_filter(where)
    if pred is None:
        return evaluate.selector(query)
    if deleted is None:
        return bounded(pred)
    compiled = pred

    def selected(meta: ResourceMeta) -> bool:
        return meta.is_deleted == deleted and compiled(meta)

    return bounded(selected)


def _sort_key(i: int) -> Callable[[tuple[tuple[Any, ...], ResourceMeta]], tuple[bool, Any]]:
    """The key of the ``i``-th sort value: nulls after every value (before, reversed)."""

    def key(row: tuple[tuple[Any, ...], ResourceMeta]) -> tuple[bool, Any]:
        value = row[0][i]
        return (value is None, value)

    return key


def run(metas: Iterable[ResourceMeta], query: Query) -> Page[ResourceMeta]:
    """:func:`evaluate.run`, faster: compiled filters, and key sorts instead of comparisons.

    The order is the reference order: stable sorts from the last key to the first over rows
    already in ``resource_id`` order, nulls after every value ascending and before every value
    descending (``(is_null, value)`` keys, reversed for descending keys).
    """
    selected = selector(query)
    sorts = effective_sorts(query)
    rows = [(sort_values(m, sorts), m) for m in metas if selected(m)]
    rows.sort(key=lambda row: row[1].resource_id)
    for i in reversed(range(len(sorts))):
        rows.sort(key=_sort_key(i), reverse=sorts[i].descending)
    start = 0
    if query.cursor is not None:
        pos = decode_cursor(query, query.cursor)
        lo, hi = 0, len(rows)
        while lo < hi:  # the first row strictly after the cursor's position
            mid = (lo + hi) // 2
            values, meta = rows[mid]
            if (
                evaluate.compare_rows(values, meta.resource_id, pos.values, pos.resource_id, sorts)
                > 0
            ):
                hi = mid
            else:
                lo = mid + 1
        start = lo
    start += max(query.offset, 0)
    limit = DEFAULT_LIMIT if query.limit is None else max(query.limit, 0)
    items = [meta for _, meta in rows[start : start + limit]]
    has_more = len(rows) > start + limit
    next_cursor = encode_cursor(query, items[-1]) if has_more and items else None
    return Page[ResourceMeta](items=items, next_cursor=next_cursor, has_more=has_more)

"""The reference semantics of queries: an in-memory evaluator.

Every storage adapter must return exactly what :func:`run` and :func:`count` return for the
same rows and the same (resolved) query. The rules:

* **Three-valued logic.** A condition on a null or missing value is *unknown* (``None``), except
  ``is_null`` (true when the value is null or the path is missing) and ``exists`` (true when the
  path is present in ``indexed_data``, even if null; always true for meta fields). Their value
  ``False`` inverts them. ``And`` is false if any item is false, else unknown if any is unknown,
  else true; ``Or`` is the dual; ``Not`` keeps unknown unknown. A row matches only when the
  whole filter is *true*.
* **Operators on present values.** ``ne`` and ``not_in`` are plain ``!=`` / ``not in``.
  ``contains`` is a substring test on str fields and element membership on list fields (null
  elements never match); ``contains_any`` is true when any element of the list is one of the
  values. ``starts_with``/``ends_with``/``regex`` apply to str (``regex`` is the dialect of
  :mod:`._regex`, matched in linear time). Strings compare by code point; ints and floats
  compare numerically.
* **Evaluation order.** A row is selected when every item of the top-level ``And`` is true;
  the items are evaluated in order and evaluation stops at the first one that is not. The
  manager puts the caller's access scope first, so no user predicate ever runs on a row
  outside the scope (what a regex costs cannot reveal rows the caller cannot see).
* **Order.** Rows sort by the effective sorts; null and missing values sort after every value
  ascending and before every value descending; ``resource_id`` ascending breaks the remaining
  ties, so the order is total.
* **Paging.** A cursor keeps the rows strictly after its position in that order; an offset skips
  rows; then ``limit`` rows form the page. ``has_more`` says whether another row follows, and
  ``next_cursor`` is the cursor of the page's last row when it does.
* **Case-insensitive operators** (``icontains``, ``istarts_with``, ``iends_with``) fold ASCII
  letters only (:data:`ASCII_FOLD`): ``"ABC"`` matches ``"abc"``, but ``"É"`` does not match
  ``"é"`` and ``"ß"`` does not match ``"SS"``. Every store folds the same way.
* **Emptiness.** ``is_empty`` is true for ``""`` and ``[]``; ``is_blank`` for a str made only of
  ASCII whitespace (:data:`BLANK_CHARS`, the empty str included). Both are unknown on null.
* **Truthiness.** ``truthy`` is Python's truthiness of the value (``0``, ``0.0``, ``""``,
  ``[]`` and ``false`` are falsy; every datetime is truthy); null and missing values are falsy,
  so ``truthy`` is never unknown.
* **Field functions.** ``length()`` is the number of characters of a str (code points) or
  elements of a list. ``any()``/``all()`` apply the condition to each element of a list: ``any``
  is the Kleene *or* of the element results (false on ``[]``), ``all`` the Kleene *and* (true on
  ``[]``); a null element gives *unknown*.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import Any

from ..types import Page, ResourceMeta
from ._budget import bounded
from ._limits import MAX_EXPR_DEPTH, check_depth
from ._regex import compile_regex
from .ast import ASCII_FOLD, BLANK_CHARS, And, Condition, Expr, Field, Not, Op, Or, Query, Sort
from .cursor import decode_cursor, effective_sorts, encode_cursor, sort_values
from .resolve import DEFAULT_LIMIT

__all__ = ["compare_rows", "conjuncts", "count", "evaluate", "matches", "run", "selector"]

_MISSING: Any = object()


def _lookup(meta: ResourceMeta, field: Field) -> Any:
    """The field's value, ``_MISSING`` when a data path (or unknown meta field) is absent."""
    if field.meta:
        value = getattr(meta, field.path, _MISSING)
    else:
        value = meta.indexed_data.get(field.path, _MISSING)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _contains(value: Any, target: Any) -> bool | None:
    if isinstance(value, str):
        return target in value if isinstance(target, str) else None
    if isinstance(value, list | tuple):
        return any(e is not None and e == target for e in value)
    return None


def _contains_any(value: Any, targets: Any) -> bool | None:
    if isinstance(value, list | tuple) and isinstance(targets, list | tuple):
        return any(e is not None and e in targets for e in value)
    return None


def _str_op(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool | None]:
    def apply(value: Any, target: Any) -> bool | None:
        if isinstance(value, str) and isinstance(target, str):
            return test(value, target)
        return None

    return apply


_OPS: dict[str, Callable[[Any, Any], bool | None]] = {
    Op.eq: lambda v, t: bool(v == t),
    Op.ne: lambda v, t: bool(v != t),
    Op.gt: lambda v, t: bool(v > t),
    Op.gte: lambda v, t: bool(v >= t),
    Op.lt: lambda v, t: bool(v < t),
    Op.lte: lambda v, t: bool(v <= t),
    Op.in_: lambda v, t: v in t if isinstance(t, list | tuple) else None,
    Op.not_in: lambda v, t: v not in t if isinstance(t, list | tuple) else None,
    Op.contains: _contains,
    Op.contains_any: _contains_any,
    Op.starts_with: _str_op(str.startswith),
    Op.ends_with: _str_op(str.endswith),
    Op.regex: _str_op(lambda v, p: compile_regex(p).search(v)),
}


def _folded(test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool | None]:
    return _str_op(lambda v, t: test(v.translate(ASCII_FOLD), t.translate(ASCII_FOLD)))


def _flagged(test: Callable[[Any], bool | None]) -> Callable[[Any, Any], bool | None]:
    def apply(value: Any, flag: Any) -> bool | None:
        hit = test(value)
        return None if hit is None else (hit if flag is not False else not hit)

    return apply


def _empty(value: Any) -> bool | None:
    if isinstance(value, str | list | tuple):
        return len(value) == 0
    return None


def _blank(value: Any) -> bool | None:
    return value.strip(BLANK_CHARS) == "" if isinstance(value, str) else None


def _truthy(value: Any) -> bool:
    """Python truthiness of a stored value; null and missing values are not truthy."""
    if value is _MISSING or value is None:
        return False
    if isinstance(value, datetime):
        return True
    return bool(value)


_OPS.update(
    {
        Op.icontains: _folded(lambda v, t: t in v),
        Op.istarts_with: _folded(str.startswith),
        Op.iends_with: _folded(str.endswith),
        Op.is_empty: _flagged(_empty),
        Op.is_blank: _flagged(_blank),
    }
)


def _apply(op: Op, value: Any, target: Any) -> bool | None:
    """``value <op> target`` for a present, non-null value."""
    apply = _OPS.get(op)
    if apply is None:
        return None
    try:
        return apply(value, target)
    except TypeError:  # values of incomparable types: nothing is known about the row
        return None


def _quantified(cond: Condition, value: Any) -> bool | None:
    """An ``any``/``all`` condition over the elements of a list, in Kleene logic."""
    if not isinstance(value, list | tuple):
        return None
    decisive = cond.field.fn == "any"  # the element result that decides the whole
    unknown = False
    for element in value:
        if isinstance(element, datetime) and element.tzinfo is None:
            element = element.replace(tzinfo=UTC)
        result = None if element is None else _apply(cond.op, element, cond.value)
        if result is decisive:
            return decisive
        if result is None:
            unknown = True
    return None if unknown else not decisive


def _condition(cond: Condition, meta: ResourceMeta) -> bool | None:
    value = _lookup(meta, cond.field)
    if cond.op == Op.is_null:
        hit = value is _MISSING or value is None
        return hit if cond.value is not False else not hit
    if cond.op == Op.exists:
        hit = value is not _MISSING
        return hit if cond.value is not False else not hit
    if cond.op == Op.truthy:
        hit = _truthy(value)
        return hit if cond.value is not False else not hit
    if value is _MISSING or value is None:
        return None
    fn = cond.field.fn
    if fn == "length":
        if not isinstance(value, str | list | tuple):
            return None
        return _apply(cond.op, len(value), cond.value)
    if fn in ("any", "all"):
        return _quantified(cond, value)
    return _apply(cond.op, value, cond.value)


def _eval(expr: Expr, meta: ResourceMeta) -> bool | None:
    if isinstance(expr, Condition):
        return _condition(expr, meta)
    if isinstance(expr, Not):
        inner = _eval(expr.item, meta)
        return None if inner is None else not inner
    decisive = isinstance(expr, Or)  # the item value that decides the whole: True for Or
    unknown = False
    for item in expr.items:
        result = _eval(item, meta)
        if result is decisive:
            return decisive
        if result is None:
            unknown = True
    return None if unknown else not decisive


def evaluate(expr: Expr, meta: ResourceMeta) -> bool | None:
    """The truth value of ``expr`` for one row, in SQL three-valued logic.

    Args:
        expr: a (resolved) filter expression.
        meta: the row.

    Returns:
        ``True`` or ``False``, or ``None`` when the result is unknown (it depends on a null or
        missing value).

    Raises:
        QueryError: the expression nests too deeply.
    """
    check_depth(expr, MAX_EXPR_DEPTH)
    return _eval(expr, meta)


def matches(expr: Expr | None, meta: ResourceMeta) -> bool:
    """Whether the row is selected: only a *true* filter selects; ``None`` selects every row."""
    return expr is None or evaluate(expr, meta) is True


def _cmp(a: Any, b: Any) -> int:
    if a is None:
        return 0 if b is None else 1
    if b is None:
        return -1
    return int(a > b) - int(a < b)


def compare_rows(
    a_values: tuple[Any, ...],
    a_id: str,
    b_values: tuple[Any, ...],
    b_id: str,
    sorts: tuple[Sort, ...],
) -> int:
    """Compare two rows in the total order of ``sorts`` followed by ``resource_id`` ascending.

    Args:
        a_values: the first row's sort values (see
            :func:`~specstar.core.query.cursor.sort_values`).
        a_id: the first row's resource id.
        b_values: the second row's sort values.
        b_id: the second row's resource id.
        sorts: the effective sorts both value tuples follow.

    Returns:
        A negative number, zero or a positive number as the first row comes before, at or after
        the second. Nulls are greater than every value (last ascending, first descending).
    """
    for a, b, sort in zip(a_values, b_values, sorts, strict=True):
        order = _cmp(a, b)
        if order:
            return -order if sort.descending else order
    return _cmp(a_id, b_id)


def conjuncts(expr: Expr) -> list[Expr]:
    """The items of the top-level ``And`` of ``expr`` (nested ``And`` flattened), in order;
    ``[expr]`` for any other expression."""
    out: list[Expr] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, And):
            stack.extend(reversed(node.items))
        else:
            out.append(node)
    return out


def selector(query: Query) -> Callable[[ResourceMeta], bool]:
    """A predicate selecting the rows of a resolved query (``is_deleted`` and ``where``).

    The top-level conjunction is tested item by item, in order, stopping at the first item
    that is not true (see the module docstring); the predicate checks the deadline of the
    current :func:`~._budget.query_budget`.
    """
    where = query.where
    if where is not None:
        check_depth(where, MAX_EXPR_DEPTH)
    items = () if where is None else tuple(conjuncts(where))
    deleted = query.is_deleted

    def selected(meta: ResourceMeta) -> bool:
        if deleted is not None and meta.is_deleted != deleted:
            return False
        for item in items:  # noqa: SIM110 - the order of evaluation is the point
            if _eval(item, meta) is not True:
                return False
        return True

    return bounded(selected)


_Row = tuple[tuple[Any, ...], ResourceMeta]


def run(metas: Iterable[ResourceMeta], query: Query) -> Page[ResourceMeta]:
    """One page of the rows selected by a resolved query, in query order.

    Args:
        metas: every candidate row (any order, live and deleted).
        query: a query returned by :func:`~specstar.core.query.resolve.resolve_query`; a
            ``None`` limit counts as the default page size.

    Returns:
        The page, with ``has_more`` and ``next_cursor``.

    Raises:
        QueryError: the cursor is malformed or belongs to another query.
    """
    selected = selector(query)
    sorts = effective_sorts(query)
    rows = [(sort_values(m, sorts), m) for m in metas if selected(m)]

    def order(
        a: tuple[tuple[Any, ...], ResourceMeta], b: tuple[tuple[Any, ...], ResourceMeta]
    ) -> int:
        return compare_rows(a[0], a[1].resource_id, b[0], b[1].resource_id, sorts)

    rows.sort(key=cmp_to_key(order))
    if query.cursor is not None:
        pos = decode_cursor(query, query.cursor)
        rows = [
            row
            for row in rows
            if compare_rows(row[0], row[1].resource_id, pos.values, pos.resource_id, sorts) > 0
        ]
    if query.offset > 0:
        rows = rows[query.offset :]
    limit = DEFAULT_LIMIT if query.limit is None else max(query.limit, 0)
    items = [meta for _, meta in rows[:limit]]
    has_more = len(rows) > limit
    next_cursor = encode_cursor(query, items[-1]) if has_more and items else None
    return Page[ResourceMeta](items=items, next_cursor=next_cursor, has_more=has_more)


def count(metas: Iterable[ResourceMeta], query: Query) -> int:
    """The number of rows a resolved query selects, ignoring limit, offset and cursor."""
    selected = selector(query)
    return sum(1 for meta in metas if selected(meta))

"""Secondary indexes for the memory store, so searches stay fast as data grows.

The memory store keeps, for every indexed scalar path and for ``$created_time`` and
``$updated_time``, the non-null values as a sorted list of ``(value, resource_id)`` keys plus a
sorted list of the ids whose value is null or missing; list fields get an inverted index
(element → ids). A search then either

* walks the index of its single sort key in order, evaluating the filter row by row and stopping
  after ``limit + 1`` matches (so "filter + sort + limit" costs about ``limit / selectivity``),
* or, when a selective condition narrows the rows (equality, ``in``, a range, list
  membership), evaluates just those candidates,
* or scans every row.

Whatever the plan, rows are selected by the reference evaluator and ordered in the reference
order, so results are identical to :func:`specstar.core.query.evaluate.run`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .query import evaluate
from .query.ast import And, Condition, Expr, Field, Op, Or, Query
from .query.cursor import decode_cursor, effective_sorts, encode_cursor
from .query.resolve import DEFAULT_LIMIT
from .types import Page, ResourceMeta

__all__ = ["IndexSet"]

#: Use the candidate plan when the narrowed set is at most this share of all rows.
CANDIDATE_SHARE = 0.25
_META_SORT_FIELDS = ("created_time", "updated_time")


def _value(meta: ResourceMeta, field: Field) -> Any:
    if field.meta:
        return getattr(meta, field.path)
    return meta.indexed_data.get(field.path)


class _Sorted:
    """Non-null values as sorted ``(value, resource_id)`` keys, and the null ids sorted."""

    def __init__(self) -> None:
        self.keys: list[tuple[Any, str]] = []
        self.nulls: list[str] = []

    def add(self, rid: str, value: Any) -> None:
        if value is None:
            bisect.insort(self.nulls, rid)
        else:
            bisect.insort(self.keys, (value, rid))

    def remove(self, rid: str, value: Any) -> None:
        seq: list[Any] = self.nulls if value is None else self.keys
        key: Any = rid if value is None else (value, rid)
        i = bisect.bisect_left(seq, key)
        if i < len(seq) and seq[i] == key:
            del seq[i]

    def span(
        self, low: Any, low_inclusive: bool, high: Any, high_inclusive: bool
    ) -> tuple[int, int]:
        """Positions ``[start, end)`` of the keys whose value lies in the interval
        (``None`` bounds are open ends)."""
        keys = self.keys
        if low is None:
            start = 0
        elif low_inclusive:
            start = bisect.bisect_left(keys, (low,))
        else:
            start = _after_value(keys, low)
        if high is None:
            end = len(keys)
        elif high_inclusive:
            end = _after_value(keys, high)
        else:
            end = bisect.bisect_left(keys, (high,))
        return start, max(start, end)

    def ids(self, start: int, end: int) -> Iterator[str]:
        keys = self.keys
        for i in range(start, end):
            yield keys[i][1]

    def walk(self, descending: bool, after: tuple[Any, str] | None) -> Iterator[str]:
        """Ids in sort order (nulls last ascending, first descending; ties by id ascending),
        strictly after the ``(value, resource_id)`` position ``after`` when given."""
        if not descending:
            yield from self._ascending(after)
        else:
            yield from self._descending(after)

    def _ascending(self, after: tuple[Any, str] | None) -> Iterator[str]:
        keys, start, null_start = self.keys, 0, 0
        if after is not None:
            value, rid = after
            if value is None:
                start = len(keys)
                null_start = bisect.bisect_right(self.nulls, rid)
            else:
                start = bisect.bisect_right(keys, (value, rid))
        yield from self.ids(start, len(keys))
        nulls = self.nulls
        for i in range(null_start, len(nulls)):
            yield nulls[i]

    def _descending(self, after: tuple[Any, str] | None) -> Iterator[str]:
        keys, end = self.keys, len(self.keys)
        if after is None or after[0] is None:
            nulls = self.nulls
            first = 0 if after is None else bisect.bisect_right(nulls, after[1])
            for i in range(first, len(nulls)):
                yield nulls[i]
        else:
            value, rid = after
            # the rest of the cursor's own value group (ids ascending), then lower values
            group_start = bisect.bisect_left(keys, (value,))
            group_end = _after_value(keys, value)
            yield from self.ids(bisect.bisect_right(keys, (value, rid)), group_end)
            end = group_start
        while end > 0:  # value groups from high to low, ids ascending inside each
            value = keys[end - 1][0]
            start = bisect.bisect_left(keys, (value,), 0, end)
            yield from self.ids(start, end)
            end = start


def _after_value(keys: list[tuple[Any, str]], value: Any) -> int:
    """Index of the first key whose value is greater than ``value``."""
    lo, hi = bisect.bisect_left(keys, (value,)), len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid][0] > value:
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Members:
    """Inverted index of a list field: element → ids holding it."""

    def __init__(self) -> None:
        self.ids: dict[Any, set[str]] = {}

    def add(self, rid: str, value: Any) -> None:
        for element in value or ():
            if element is not None:
                self.ids.setdefault(element, set()).add(rid)

    def remove(self, rid: str, value: Any) -> None:
        for element in value or ():
            holders = self.ids.get(element)
            if holders is not None:
                holders.discard(rid)
                if not holders:
                    del self.ids[element]


class IndexSet:
    """All secondary indexes of one memory store (callers hold the store's lock)."""

    def __init__(self, scalar_paths: Iterable[str], list_paths: Iterable[str]) -> None:
        self.sorted: dict[Field, _Sorted] = {Field(p): _Sorted() for p in scalar_paths}
        for path in _META_SORT_FIELDS:
            self.sorted[Field(path, meta=True)] = _Sorted()
        self.members: dict[Field, _Members] = {Field(p): _Members() for p in list_paths}
        self.live = 0
        self.deleted: set[str] = set()

    def add(self, meta: ResourceMeta) -> None:
        for field, index in self.sorted.items():
            index.add(meta.resource_id, _value(meta, field))
        for field, members in self.members.items():
            members.add(meta.resource_id, _value(meta, field))
        self.live += not meta.is_deleted
        if meta.is_deleted:
            self.deleted.add(meta.resource_id)

    def remove(self, meta: ResourceMeta) -> None:
        for field, index in self.sorted.items():
            index.remove(meta.resource_id, _value(meta, field))
        for field, members in self.members.items():
            members.remove(meta.resource_id, _value(meta, field))
        self.live -= not meta.is_deleted
        self.deleted.discard(meta.resource_id)

    # -- planning ---------------------------------------------------------------------------

    def _spans(self, cond: Condition) -> list[tuple[_Sorted, int, int]] | None:
        """Index spans holding every row a scalar condition can select (``None``: no index).

        Null and missing values never satisfy these operators, so the spans are exact up to
        the ``is_deleted`` filter.
        """
        index = self.sorted.get(cond.field)
        if index is None:
            return None
        v = cond.value
        bounds: dict[Op, tuple[Any, bool, Any, bool]] = {
            Op.eq: (v, True, v, True),
            Op.gt: (v, False, None, False),
            Op.gte: (v, True, None, False),
            Op.lt: (None, False, v, False),
            Op.lte: (None, False, v, True),
        }
        if cond.op in bounds:
            return [(index, *index.span(*bounds[cond.op]))]
        if cond.op is Op.in_:
            return [(index, *index.span(x, True, x, True)) for x in dict.fromkeys(v)]
        return None

    def _plan(self, expr: Expr | None) -> tuple[int, Callable[[], set[str]]] | None:
        """``(estimated size, materialise)`` of a superset of the matching ids, or ``None``."""
        if isinstance(expr, Condition):
            spans = self._spans(expr)
            if spans is not None:
                size = sum(end - start for _, start, end in spans)
                return size, lambda: {rid for ix, a, b in spans for rid in ix.ids(a, b)}
            members = self.members.get(expr.field)
            if members is not None and expr.op in (Op.contains, Op.contains_any):
                values = [expr.value] if expr.op is Op.contains else list(expr.value)
                holders = [members.ids.get(x, set()) for x in values]
                return sum(map(len, holders)), lambda: set().union(*holders)
            return None
        if isinstance(expr, And):
            plans = [p for p in map(self._plan, expr.items) if p is not None]
            return min(plans, key=lambda p: p[0]) if plans else None
        if isinstance(expr, Or):
            parts = [self._plan(item) for item in expr.items]
            if any(p is None for p in parts):
                return None
            chosen = [p for p in parts if p is not None]
            return sum(p[0] for p in chosen), lambda: set().union(*(p[1]() for p in chosen))
        return None

    # -- execution --------------------------------------------------------------------------

    def search(self, rows: Mapping[str, ResourceMeta], query: Query) -> Page[ResourceMeta]:
        plan = self._plan(query.where)
        if plan is not None and plan[0] <= CANDIDATE_SHARE * len(rows):
            return evaluate.run((rows[rid] for rid in plan[1]()), query)
        sorts = effective_sorts(query)
        index = self.sorted.get(sorts[0].field) if len(sorts) == 1 else None
        if index is None:
            return evaluate.run(rows.values(), query)
        after = None
        if query.cursor is not None:
            pos = decode_cursor(query, query.cursor)
            after = (pos.values[0], pos.resource_id)
        selected = evaluate.selector(query)
        limit = DEFAULT_LIMIT if query.limit is None else query.limit
        skip = query.offset
        items: list[ResourceMeta] = []
        has_more = False
        for rid in index.walk(sorts[0].descending, after):
            meta = rows[rid]
            if not selected(meta):
                continue
            if skip:
                skip -= 1
                continue
            if len(items) == limit:
                has_more = True
                break
            items.append(meta)
        cursor = encode_cursor(query, items[-1]) if has_more and items else None
        return Page[ResourceMeta](items=items, next_cursor=cursor, has_more=has_more)

    def count(self, rows: Mapping[str, ResourceMeta], query: Query) -> int:
        where, deleted = query.where, query.is_deleted
        if where is None:
            return (
                len(rows)
                if deleted is None
                else self.live
                if not deleted
                else (len(rows) - self.live)
            )
        spans = self._spans(where) if isinstance(where, Condition) else None
        if spans is not None and deleted is not True and len(self.deleted) <= 64:
            # exact from the index, minus the few deleted rows inside the spans
            total = sum(end - start for _, start, end in spans)
            if deleted is False:
                total -= sum(evaluate.matches(where, rows[rid]) for rid in self.deleted)
            return total
        plan = self._plan(where)
        if plan is not None and plan[0] <= CANDIDATE_SHARE * len(rows):
            return evaluate.count((rows[rid] for rid in plan[1]()), query)
        return evaluate.count(rows.values(), query)

"""Secondary indexes for the memory store, so searches stay fast as data grows.

The memory store keeps, for every indexed scalar path and for ``$created_time`` and
``$updated_time``, the non-null values as a sorted list of ``(value, resource_id)`` keys plus a
sorted list of the ids whose value is null or missing; list fields get an inverted index
(element → ids). A search then either

* walks the index of its single sort key in order, evaluating the filter row by row and stopping
  after ``limit + 1`` matches (so "filter + sort + limit" costs about ``limit / selectivity``),
* or, when a selective condition narrows the rows (equality, ``in``, a range — bounds on one
  field from several conditions of an ``And`` are merged — list membership), evaluates just
  those candidates (when a sort index exists too, it first walks that index for at most as
  many rows as there are candidates, which usually fills a page long before — unless the
  indexes' selectivity says the walk would need more rows than that, and give up),
* or scans every row.

The indexes and the plans are here; the sorted keys and list members they are made of are in
:mod:`~specstar.core._memory_keys`, and the selection and ordering of the rows a plan yields
(filters compiled once per query, key sorts) in :mod:`~specstar.core._memory_scan`.

Whatever the plan, rows are selected by the reference evaluator and ordered in the reference
order, so results are identical to :func:`specstar.core.query.evaluate.run`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._memory_keys import ListMembers, SortedKeys
from ._memory_scan import run, selector
from .query import evaluate
from .query.ast import And, Condition, Expr, Field, Op, Or, Query
from .query.cursor import decode_cursor, effective_sorts, encode_cursor
from .query.resolve import DEFAULT_LIMIT
from .types import Page, ResourceMeta

__all__ = ["IndexSet"]

#: Use the candidate plan when the narrowed set is at most this share of all rows.
CANDIDATE_SHARE = 0.25
#: With a candidate plan of more rows than this and a sort index, first walk the sort index
#: for at most that many rows (often far fewer suffice to fill a page).
WALK_FIRST_MIN = 64
#: ... unless the walk is expected to read more than this share of the candidates before it
#: fills the page (see :meth:`IndexSet._expected_walk`): it would then give up, having doubled
#: the work of the candidate plan.
WALK_EXPECTED_SHARE = 1.0
_META_SORT_FIELDS = ("created_time", "updated_time")


def _value(meta: ResourceMeta, field: Field) -> Any:
    if field.meta:
        return getattr(meta, field.path)
    return meta.indexed_data.get(field.path)


_LOW_BOUNDS = {Op.eq: True, Op.gt: False, Op.gte: True}  # op -> the bound is inclusive
_HIGH_BOUNDS = {Op.eq: True, Op.lt: False, Op.lte: True}


def _is_bound(item: Expr) -> bool:
    return (
        isinstance(item, Condition)
        and (item.op in _LOW_BOUNDS or item.op in _HIGH_BOUNDS)
        and item.value is not None
    )


def _ids_between(index: SortedKeys, start: int, end: int) -> Callable[[], set[str]]:
    return lambda: set(index.ids(start, end))


class IndexSet:
    """All secondary indexes of one memory store (callers hold the store's lock)."""

    def __init__(self, scalar_paths: Iterable[str], list_paths: Iterable[str]) -> None:
        self.sorted: dict[Field, SortedKeys] = {Field(p): SortedKeys() for p in scalar_paths}
        for path in _META_SORT_FIELDS:
            self.sorted[Field(path, meta=True)] = SortedKeys()
        self.members: dict[Field, ListMembers] = {Field(p): ListMembers() for p in list_paths}
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

    def replace(self, old: ResourceMeta, new: ResourceMeta) -> None:
        """Move one resource's entries from ``old`` to ``new``, touching only the indexes whose
        value changed (an update usually changes a few fields, and every sorted-list insert or
        delete moves the list's tail)."""
        rid = old.resource_id
        for field, index in self.sorted.items():
            before, after = _value(old, field), _value(new, field)
            if type(before) is type(after) and before == after:
                continue
            index.remove(rid, before)
            index.add(rid, after)
        for field, members in self.members.items():
            before, after = _value(old, field), _value(new, field)
            if type(before) is type(after) and before == after:
                continue
            members.remove(rid, before)
            members.add(rid, after)
        self.live += (not new.is_deleted) - (not old.is_deleted)
        if new.is_deleted:
            self.deleted.add(rid)
        else:
            self.deleted.discard(rid)

    def remove(self, meta: ResourceMeta) -> None:
        for field, index in self.sorted.items():
            index.remove(meta.resource_id, _value(meta, field))
        for field, members in self.members.items():
            members.remove(meta.resource_id, _value(meta, field))
        self.live -= not meta.is_deleted
        self.deleted.discard(meta.resource_id)

    # -- planning ---------------------------------------------------------------------------

    def _spans(self, cond: Condition) -> list[tuple[SortedKeys, int, int]] | None:
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
            plans += self._merged_ranges(expr.items)
            return min(plans, key=lambda p: p[0]) if plans else None
        if isinstance(expr, Or):
            parts = [self._plan(item) for item in expr.items]
            if any(p is None for p in parts):
                return None
            chosen = [p for p in parts if p is not None]
            return sum(p[0] for p in chosen), lambda: set().union(*(p[1]() for p in chosen))
        return None

    def _merged_ranges(self, items: Iterable[Expr]) -> list[tuple[int, Callable[[], set[str]]]]:
        """One span per indexed field bounded by several conditions of an ``And`` (``a >= 1``
        and ``a < 5`` together select a narrower span than either alone)."""
        return [
            (end - start, _ids_between(ix, start, end)) for _, ix, start, end in self._ranges(items)
        ]

    def _ranges(self, items: Iterable[Expr]) -> list[tuple[Field, SortedKeys, int, int]]:
        """``(field, index, start, end)``: the span of every indexed field that has two or more
        bound conditions (``eq gt gte lt lte``) among ``items``; exactly the rows whose value
        satisfies all of them."""
        by_field: dict[Field, list[Condition]] = {}
        for item in items:
            if isinstance(item, Condition) and _is_bound(item) and item.field in self.sorted:
                by_field.setdefault(item.field, []).append(item)
        spans: list[tuple[Field, SortedKeys, int, int]] = []
        for field, conds in by_field.items():
            if len(conds) < 2:
                continue
            low: Any = None
            high: Any = None
            low_inclusive = high_inclusive = False
            try:
                for c in conds:
                    if c.op in _LOW_BOUNDS:
                        inclusive = _LOW_BOUNDS[c.op]
                        if low is None or c.value > low or (c.value == low and not inclusive):
                            low, low_inclusive = c.value, inclusive
                    if c.op in _HIGH_BOUNDS:
                        inclusive = _HIGH_BOUNDS[c.op]
                        if high is None or c.value < high or (c.value == high and not inclusive):
                            high, high_inclusive = c.value, inclusive
            except TypeError:
                continue  # bounds of incomparable types: leave them to the single spans
            index = self.sorted[field]
            start, end = index.span(low, low_inclusive, high, high_inclusive)
            spans.append((field, index, start, end))
        return spans

    # -- execution --------------------------------------------------------------------------

    def search(self, rows: Mapping[str, ResourceMeta], query: Query) -> Page[ResourceMeta]:
        plan = self._plan(query.where)
        sorts = effective_sorts(query)
        index = self.sorted.get(sorts[0].field) if len(sorts) == 1 else None
        if plan is not None and plan[0] <= CANDIDATE_SHARE * len(rows):
            if (
                index is not None
                and plan[0] > WALK_FIRST_MIN
                and self._expected_walk(query, len(rows)) <= WALK_EXPECTED_SHARE * plan[0]
            ):
                page = self._walk(rows, query, index, sorts[0].descending, budget=plan[0])
                if page is not None:
                    return page
            return run((rows[rid] for rid in plan[1]()), query)
        if index is None:
            return run(rows.values(), query)
        page = self._walk(rows, query, index, sorts[0].descending, budget=None)
        assert page is not None
        return page

    def _expected_walk(self, query: Query, total: int) -> float:
        """Rows a walk of the sort index reads, about, to fill the page: ``offset + limit + 1``
        matches at the selectivity the indexes estimate, each field's conditions taken as
        independent of the others' (a range and an equality on two fields: the product of the
        two shares)."""
        limit = DEFAULT_LIMIT if query.limit is None else query.limit
        need = query.offset + limit + 1
        where = query.where
        if where is None:
            return float(need)
        items: tuple[Expr, ...] = where.items if isinstance(where, And) else (where,)
        share = 1.0
        merged = self._ranges(items)
        for _, _, start, end in merged:
            share *= (end - start) / max(total, 1)
        bounded_fields = {field for field, _, _, _ in merged}
        for item in items:
            if isinstance(item, Condition) and item.field not in bounded_fields:
                plan = self._plan(item)
                if plan is not None:
                    share *= min(plan[0] / max(total, 1), 1.0)
        return need / max(share, 1 / max(total, 1))

    def _walk(
        self,
        rows: Mapping[str, ResourceMeta],
        query: Query,
        index: SortedKeys,
        descending: bool,
        budget: int | None,
    ) -> Page[ResourceMeta] | None:
        """The page, from the sort index in order; ``None`` when more than ``budget`` rows
        had to be looked at."""
        after = None
        if query.cursor is not None:
            pos = decode_cursor(query, query.cursor)
            after = (pos.values[0], pos.resource_id)
        selected = selector(query)
        limit = DEFAULT_LIMIT if query.limit is None else query.limit
        skip = query.offset
        items: list[ResourceMeta] = []
        has_more = False
        seen = 0
        for rid in index.walk(descending, after):
            if budget is not None:
                seen += 1
                if seen > budget:
                    return None
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
        if isinstance(where, And) and plan is not None:
            ranges = self._ranges(where.items)
            best = min(ranges, key=lambda r: r[3] - r[2], default=None)
            if best is not None and best[3] - best[2] <= min(plan[0], CANDIDATE_SHARE * len(rows)):
                # the span holds exactly the rows meeting that field's bounds: check the rest
                field, index, start, end = best
                rest = tuple(
                    i
                    for i in where.items
                    if not (isinstance(i, Condition) and _is_bound(i) and i.field == field)
                )
                residual = selector(query.replace(where=And(rest) if rest else None))
                total = 0
                for _, rid in index.keys[start:end]:
                    if residual(rows[rid]):
                        total += 1
                return total
        selected = selector(query)
        if plan is not None and plan[0] <= CANDIDATE_SHARE * len(rows):
            return sum(1 for rid in plan[1]() if selected(rows[rid]))
        return sum(1 for meta in rows.values() if selected(meta))

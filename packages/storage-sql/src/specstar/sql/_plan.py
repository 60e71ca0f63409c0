"""Choosing the plan of "filter + sort + limit" for a database that cannot (SQLite).

A search filtered on one indexed field and sorted on another can either read the filter's
index and sort every match, or walk the sort index in order, test the filter row by row and
stop once the page is full. Which is faster depends on how many rows the filter selects, and
SQLite without range statistics cannot know: it always takes the filter's index, so an
unselective filter sorts most of the table for a page of 20.

:class:`SortIndexWalk` decides the way the memory store does (``specstar.core``'s
``_memory_index``), in at most three statements:

1. **Probe**: count, in the index of each field a top-level ``And`` narrows (equality, ``in``
   or a range), at most :data:`WALK_BUDGET` entries. Index-only, so cheap; the smallest count
   ``c`` bounds what the filter's index plan reads. When ``c`` is below the budget and
   ``c * c`` (about the matches among the first ``c`` rows in order) is below
   ``page * rows``, the filter is selective: the caller runs the plain query.
2. **Boundary**: where the first ``c`` entries of the sort index end, after the cursor
   (index-only again).
3. **Walk**: read the sort index in order up to that boundary, test the whole ``WHERE`` on each
   row (hidden in a ``CASE`` so that SQLite keeps the sort index) and stop at
   ``offset + limit + 1`` matches. Every row past the boundary comes later in the order, so a
   full page is exactly the plain query's page; a walk that reached the end of the index is
   exact too. Otherwise (the residual filter matched too few rows) the caller runs the plain
   query, and the database takes the filter's index.

A failed walk reads at most ``c`` rows, about what the filter's plan reads, so it at most
doubles a query that was cheap; a successful one replaces a sort of most of the table by a few
hundred index steps.

A table of at most :data:`PLAIN_UP_TO_ROWS` rows (the walk budget) gets the plain query
without a probe for :data:`SIZE_TRUST_SECONDS` after a probe saw it that small
(:class:`SizeHint`): its plain plan reads and sorts no more rows than one walk may read, so
the three statements would buy little. A table that grew meanwhile is probed again once the
hint expires; every plan gives the same rows, so the hint only ever costs time.

Nulls sort last ascending and first descending, but an SQLite index keeps them first, so the
sort index is read as two segments, the nulls (in ``resource_id`` order) and the values, each
in index order; a boundary among the values excludes its whole tie group, so the window is a
prefix of the query's order whatever the order of ties in the index. Every result row passes
the full ``WHERE`` (``is_deleted``, filter and cursor): the window decides only which rows are
looked at, never which qualify.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from specstar.core import And, Condition, Op, Query
from specstar.core.spi import Expr, effective_sorts

from ._backend import Tx
from ._compile import MAX_PARAMS, Compiler
from ._dialect import Sql, Target
from ._rows import META_SELECT

__all__ = ["PLAIN_UP_TO_ROWS", "SIZE_TRUST_SECONDS", "WALK_BUDGET", "SizeHint", "SortIndexWalk"]

#: Most index entries one probe counts, and so most rows one walk of the sort index reads.
WALK_BUDGET = 2048
#: Tables of at most this many rows get the plain query while a probe's sighting is trusted.
PLAIN_UP_TO_ROWS = WALK_BUDGET
#: How long a probe's sighting of a small table is trusted.
SIZE_TRUST_SECONDS = 1.0
#: Operators whose condition the field's index answers as a range of entries.
_NARROWING = frozenset({Op.eq, Op.gt, Op.gte, Op.lt, Op.lte, Op.in_})
#: Meta fields with an index led by ``is_deleted`` (the sort can walk them).
_SORTABLE_META = frozenset({"created_time", "updated_time"})
#: Meta fields whose index a probe can count (``resource_id`` is the primary key).
_PROBED_META = _SORTABLE_META | {"resource_id"}


class SizeHint:
    """What the last probe saw of a table's size: while :meth:`small` holds, searches skip the
    walk (and its probe). Thread-safe enough: a stale read only picks the other plan."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._small_until = float("-inf")

    def small(self) -> bool:
        """Whether a probe saw the table at most :data:`PLAIN_UP_TO_ROWS` rows large less
        than :data:`SIZE_TRUST_SECONDS` ago."""
        return self._clock() < self._small_until

    def observe(self, rows_at_most: int) -> None:
        """Record a probe's bound on the number of rows."""
        small = rows_at_most <= PLAIN_UP_TO_ROWS
        self._small_until = self._clock() + SIZE_TRUST_SECONDS if small else float("-inf")


class _Segment(NamedTuple):
    """A part of the sort index that the index holds in the query's order."""

    #: Selects the part's entries as a range of the index.
    condition: Sql
    #: The query's order within the part.
    order: str
    #: The index's own order of the part (the same up to the order of ties).
    native: str
    #: Whether the part holds the nulls.
    nulls: bool


class SortIndexWalk:
    """The sort-index walk of one search, when the query has the shape it helps.

    Build it with :meth:`plan`; :meth:`run` returns the page's rows or ``None`` when the plain
    query must run.
    """

    def __init__(
        self,
        compiler: Compiler,
        *,
        table: str,
        query: Query,
        limit: int,
        sort: Target,
        descending: bool,
        probes: Sequence[Sql],
    ) -> None:
        self._compiler = compiler
        self._table = table
        self._query = query
        self._limit = limit
        self._sort = sort
        self._descending = descending
        self._probes = probes
        self._pos = compiler.decode_cursor(query)
        self._segments = self._split()

    @classmethod
    def plan(cls, compiler: Compiler, table: str, query: Query, limit: int) -> SortIndexWalk | None:
        """The walk for ``query`` (one page of ``limit`` rows), or ``None`` when the plain
        query is as good: no filter narrowing another field through its index, a sort on
        several keys or on a field without an index led by ``is_deleted``, ``is_deleted``
        unconstrained, or a page deeper than the walk budget."""
        if not compiler.dialect.walks_sort_index or query.is_deleted is None:
            return None
        if query.where is None or query.offset + limit + 1 > WALK_BUDGET:
            return None
        if _matches_one_at_most(compiler, query):
            return None  # the key's index finds the row: no probe needed to know it
        sorts = effective_sorts(query)
        if len(sorts) != 1:
            return None
        field = sorts[0].field
        if field.meta and field.path not in _SORTABLE_META:
            return None
        sort = compiler.sort_target(sorts[0])
        narrowed: dict[str, list[Sql]] = {}
        for cond in _conjuncts(query.where):
            if cond.field.fn is not None or (
                cond.field.meta and cond.field.path not in _PROBED_META
            ):
                continue
            target = compiler.target(cond.field)
            if target.is_list or cond.op not in _NARROWING:
                continue
            sql = compiler.condition(cond)
            if not sql.text.startswith(target.column + " "):
                continue  # no stored value can match: compiled to a constant, not a range
            narrowed.setdefault(target.column, []).append(sql)
        if not narrowed or sort.column in narrowed:
            return None  # nothing to weigh, or the sort index already answers the filter
        deleted = compiler.dialect.bool_literal(query.is_deleted)
        probes = [
            Sql(f"(SELECT count(*) FROM (SELECT 1 FROM {table} WHERE is_deleted = {deleted} AND ")
            + Sql.join(" AND ", conds)
            + Sql(" LIMIT ?))", (WALK_BUDGET,))
            for conds in narrowed.values()
        ]
        return cls(
            compiler,
            table=table,
            query=query,
            limit=limit,
            sort=sort,
            descending=sorts[0].descending,
            probes=probes,
        )

    # -- statements ---------------------------------------------------------------------------

    def probe(self) -> Sql:
        """``SELECT`` of the smallest candidate count among the narrowed fields (capped) and
        of the table's largest rowid (at least its number of rows)."""
        return (
            Sql("SELECT min(")
            + Sql.join(", ", self._probes)
            + Sql(f"), (SELECT max(rowid) FROM {self._table})")
        )

    def boundary(self, budget: int) -> Sql:
        """``SELECT`` of where the first ``budget`` entries of the sort index end (after the
        cursor): rows ``(segment number, sort value, resource_id)``, the first segment that
        holds the ``budget``-th entry giving it; no row when fewer entries remain. Index-only."""
        segments = self._segments
        base = self._base(self._after())
        arms = []
        for number, segment in enumerate(segments):
            if number == 0:
                skip = Sql("?", (budget - 1,))
            else:  # what the first segment left of the budget
                skip = (
                    Sql("max(0, ? - ", (budget - 1,))
                    + self._count(base, segments[0], budget)
                    + Sql(")")
                )
            arms.append(
                Sql(f"SELECT {number} AS seg, k, resource_id FROM (")
                + Sql(f"SELECT {self._sort.column} AS k, resource_id FROM {self._table} WHERE ")
                + Sql.join(" AND ", [*base, segment.condition])
                + Sql(f" ORDER BY {segment.native} LIMIT 1 OFFSET ")
                + skip
                + Sql(")")
            )
        return Sql.join(" UNION ALL ", arms)

    def walk(self, end: tuple[int, Any, Any] | None) -> Sql:
        """The page from the sort index, read in order up to ``end`` (a row of
        :meth:`boundary`; ``None``: to the end of the index)."""
        query = self._query
        need = query.offset + self._limit + 1
        base = self._base(self._compiler.where(query, self._pos))
        arms = []
        for number, segment in enumerate(self._segments):
            conditions = [*base, segment.condition]
            if end is not None and number == end[0]:
                conditions.append(self._before(segment, end[1], end[2]))
            arms.append(
                Sql(f"SELECT * FROM (SELECT {META_SELECT}, {self._sort.column} AS k FROM ")
                + Sql(self._table + " WHERE ")
                + Sql.join(" AND ", conditions)
                + Sql(f" ORDER BY {segment.order} LIMIT ?)", (need,))
            )
            if end is not None and number == end[0]:
                break
        direction = "DESC NULLS FIRST" if self._descending else "ASC NULLS LAST"
        return (
            Sql(f"SELECT {META_SELECT} FROM (")
            + Sql.join(" UNION ALL ", arms)
            + Sql(
                f") ORDER BY k {direction}, resource_id ASC LIMIT ? OFFSET ?",
                (self._limit + 1, query.offset),
            )
        )

    def _base(self, test: Sql | None) -> list[Sql]:
        """``is_deleted`` (an index column) and ``test`` hidden from the index choice (a
        ``CASE`` selects the same rows as its condition but no index can answer it)."""
        deleted = self._compiler.dialect.bool_literal(bool(self._query.is_deleted))
        out = [Sql(f"is_deleted = {deleted}")]
        if test is not None:
            out.append(Sql("CASE WHEN ") + test.wrap() + Sql(" THEN 1 END"))
        return out

    def _after(self) -> Sql | None:
        if self._pos is None:
            return None
        return self._compiler.after(effective_sorts(self._query), self._pos)

    def _count(self, base: list[Sql], segment: _Segment, cap: int) -> Sql:
        return (
            Sql(f"(SELECT count(*) FROM (SELECT 1 FROM {self._table} WHERE ")
            + Sql.join(" AND ", [*base, segment.condition])
            + Sql(" LIMIT ?))", (cap,))
        )

    def _before(self, segment: _Segment, value: Any, resource_id: Any) -> Sql:
        """The entries of ``segment`` before a boundary: up to its resource id among the
        nulls; among values, those strictly before its value (a whole tie group stays out,
        so the window is a prefix of the order whatever the order of ties in the index)."""
        if segment.nulls:
            return Sql("resource_id <= ?", (resource_id,))
        return Sql(f"{self._sort.column} {'>' if self._descending else '<'} ?", (value,))

    def _split(self) -> list[_Segment]:
        """The segments of the sort index in the query's order from the cursor on, each with
        a condition the index answers as a range (the exact cursor test is in the base)."""
        col = self._sort.column
        direction = "DESC" if self._descending else "ASC"
        values = _Segment(
            Sql(f"{col} IS NOT NULL"),
            f"{col} {direction}, resource_id ASC",
            f"{col} {direction}, resource_id {direction}",
            False,
        )
        nulls = _Segment(Sql(f"{col} IS NULL"), "resource_id ASC", "resource_id ASC", True)
        pos = self._pos
        if pos is not None:
            sort_key, rid_key = self._compiler.cursor_keys(effective_sorts(self._query), pos)
            if sort_key.value is None:  # the cursor is among the nulls
                nulls = nulls._replace(
                    condition=Sql(f"{col} IS NULL AND resource_id > ?", (rid_key.value,))
                )
                return [nulls, values] if self._descending else [nulls]
            # ties with a larger resource_id follow the cursor: the bound is inclusive
            bound = Sql(f"{col} {'<=' if self._descending else '>='} ?", (sort_key.value,))
            values = values._replace(condition=bound)
            if self._descending or not self._sort.nullable:
                return [values]
        elif not self._sort.nullable:
            return [values._replace(condition=Sql(self._compiler.dialect.true))]
        return [nulls, values] if self._descending else [values, nulls]

    # -- execution ----------------------------------------------------------------------------

    def run(self, tx: Tx, size: SizeHint | None = None) -> tuple[Sql, list[tuple[Any, ...]]] | None:
        """The walk statement and its rows when the walk answers the query exactly (the page
        filled up before the budget ran out, or the walk reached the end of the index), else
        ``None``: the plain query decides then. ``size`` learns the table's size bound."""
        probe = self.probe()
        row = tx.one(probe.text, probe.params)
        assert row is not None
        budget, rows_at_most = int(row[0]), int(row[1] or 0)
        if size is not None:
            size.observe(rows_at_most)
            if size.small():
                return None
        need = self._query.offset + self._limit + 1
        if budget < WALK_BUDGET and budget * budget < need * rows_at_most:
            # A walk of ``budget`` rows finds about budget * budget / rows matches: too few
            # for the page, while the filter's index reads just ``budget`` rows.
            return None
        boundary = self.boundary(budget)
        ends = sorted(tx.all(boundary.text, boundary.params))
        end = (int(ends[0][0]), ends[0][1], ends[0][2]) if ends else None
        walk = self.walk(end)
        if len(walk.params) > MAX_PARAMS:
            return None
        rows = tx.all(walk.text, walk.params)
        if end is not None and len(rows) < self._limit + 1:
            return None
        return walk, rows


def _matches_one_at_most(compiler: Compiler, query: Query) -> bool:
    """Whether the filter pins a key: ``resource_id`` (the primary key) or, among non-deleted
    rows, a ``Unique`` field equal to one value — so at most one row qualifies and the
    filter's index plan is the best one."""
    assert query.where is not None
    for cond in _conjuncts(query.where):
        if cond.op is not Op.eq or cond.value is None or cond.field.fn is not None:
            continue
        if cond.field.meta:
            if cond.field.path == "resource_id":
                return True
            continue
        column = compiler.columns.get(cond.field.path)
        if column is None or not column.field.unique or column.field.is_list:
            continue
        if query.is_deleted is False:
            return True
    return False


def _conjuncts(expr: Expr) -> Iterator[Condition]:
    """The conditions a row must meet for ``expr`` to hold (the top-level ``And`` flattened)."""
    if isinstance(expr, Condition):
        yield expr
    elif isinstance(expr, And):
        for item in expr.items:
            yield from _conjuncts(item)

"""The order of compiled queries and their keyset cursors.

Order: the effective sorts, ``ASC NULLS LAST`` / ``DESC NULLS FIRST``, then ``resource_id``
ascending, so every order is total. A cursor position becomes a keyset predicate over the same
keys (:meth:`Ordering.after`): the rows strictly after the position in that order. A text
column whose index holds a prefix of each value (:attr:`~._dialect.Dialect.index_prefix`) is
ordered by the prefix first, which is the same order, so the database can read its index.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, NamedTuple

from specstar.core import Field, Query, QueryError, Sort
from specstar.core.spi import CursorPosition, decode_cursor, effective_sorts

from ._dialect import Dialect, Sql, Target, key_limit
from ._shapes import ShapeCache
from ._values import exact

__all__ = ["RESOURCE_ID", "CursorKey", "Ordering"]

#: The ``resource_id`` column, the last key of every order.
RESOURCE_ID = Target('"resource_id"', "str", False, False, None, "$resource_id")


class CursorKey(NamedTuple):
    """One key of a cursor position: the column, its direction and the bound value
    (``None`` for null)."""

    target: Target
    descending: bool
    value: Any


class Ordering(abc.ABC):
    """The ``ORDER BY`` and cursor half of :class:`~._compile.Compiler`: it resolves sorts
    through the compiler's :meth:`target` and caches what depends on their shape only."""

    dialect: Dialect
    shapes: ShapeCache

    @abc.abstractmethod
    def target(self, field: Field) -> Target:
        """The column a field refers to (see :meth:`~._compile.Compiler.target`)."""

    def _sort_target(self, sort: Sort) -> Target:
        target = self.target(sort.field)
        if target.is_list:
            raise QueryError(f"cannot sort on the list field {target.name}", path=target.name)
        return target

    def order_by(self, query: Query) -> str:
        """The ``ORDER BY`` list: the effective sorts, then ``resource_id`` ascending."""
        sorts = effective_sorts(query)
        return self.shapes.get(("order by", sorts), lambda: self._order_by(sorts))

    def _order_by(self, sorts: tuple[Sort, ...]) -> str:
        keys = []
        for sort in sorts:
            target = self._sort_target(sort)
            direction = "DESC" if sort.descending else "ASC"
            if target.nullable:
                direction += " NULLS FIRST" if sort.descending else " NULLS LAST"
            if key_limit(self.dialect, target) is not None:
                # the index's prefix first (the same order: s < t implies s[:n] <= t[:n]),
                # so the database reads the index in order and sorts only ties of prefixes
                keys.append(f"{self.dialect.index_key(target.column)} {direction}")
            keys.append(f"{target.column} {direction}")
        keys.append('"resource_id" ASC')
        return ", ".join(keys)

    def decode_cursor(self, query: Query) -> CursorPosition | None:
        """The query's cursor position, or ``None`` (raises QueryError when it is invalid)."""
        if query.cursor is None:
            return None
        return decode_cursor(query, query.cursor)

    def sort_target(self, sort: Sort) -> Target:
        """The column a sort orders by.

        Raises:
            QueryError: the field is unknown, not indexed, or a list.
        """
        return self._sort_target(sort)

    def cursor_keys(self, sorts: Sequence[Sort], pos: CursorPosition) -> list[CursorKey]:
        """The keys of a cursor position, ``resource_id`` last, with values as bound.

        Raises:
            QueryError: the position does not fit the sorts (``"invalid cursor"``).
        """
        keys: list[CursorKey] = []
        for sort, value in zip(sorts, pos.values, strict=True):
            target = self._sort_target(sort)
            keys.append(CursorKey(target, sort.descending, self._cursor_value(target, value)))
        keys.append(CursorKey(RESOURCE_ID, False, self._cursor_value(RESOURCE_ID, pos.resource_id)))
        return keys

    def after(self, sorts: Sequence[Sort], pos: CursorPosition) -> Sql:
        """Rows strictly after ``pos`` in the order of ``sorts`` + ``resource_id``."""
        disjuncts: list[Sql] = []
        same: list[Sql] = []
        for target, descending, value in self.cursor_keys(sorts, pos):
            col = target.column
            if value is None:
                step = Sql(f"{col} IS NOT NULL") if descending else None
                equal = Sql(f"{col} IS NULL")
            else:
                if descending:
                    step = Sql(f"{col} < ?", (value,))
                elif target.nullable:
                    step = Sql(f"({col} > ? OR {col} IS NULL)", (value,))
                else:
                    step = Sql(f"{col} > ?", (value,))
                equal = Sql(f"{col} = ?", (value,))
            if step is not None:
                disjuncts.append(Sql.join(" AND ", [*same, step]).wrap())
            same.append(equal)
        if not disjuncts:
            return Sql(self.dialect.false)
        return Sql.join(" OR ", disjuncts)

    def _cursor_value(self, target: Target, value: Any) -> Any:
        if value is None:
            if not target.nullable:
                raise QueryError("invalid cursor")
            return None
        try:
            encoded = exact(self.dialect, target, value)[1]
        except QueryError:
            raise QueryError("invalid cursor") from None
        if encoded is None:
            raise QueryError("invalid cursor")
        return encoded

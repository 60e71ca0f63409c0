"""Compiling the core query AST to SQL (shared by SQLite and PostgreSQL).

The compiler emits SQL text with ``?`` placeholders and a parameter list (:class:`~._dialect.Sql`);
a :class:`~._dialect.Dialect` supplies the few constructs that differ between the databases and
converts values to what its driver binds. Identifiers in the output are fixed column names or
registry-allocated ``ix_<n>``/``p_<n>`` names that pass :func:`~._layout.ident`; field paths and
values never become SQL text.

This module compiles filters: conditions, their operators and the ``And``/``Or``/``Not`` around
them. Query values are normalised and encoded by :mod:`._values`; the order and the keyset
cursors come from :mod:`._order` (:class:`Compiler` is an :class:`~._order.Ordering`).

The semantics are those of :mod:`specstar.core.query.evaluate`:

* SQL ``NULL`` is the reference's *unknown*: every comparison on a null or missing value is
  ``NULL``; ``NOT``/``AND``/``OR`` are Kleene logic in both; a row is selected only when the
  whole filter is true. Constructs that would not yield ``NULL`` on a null operand (``EXISTS``
  over a list, a constant) are wrapped in :meth:`Compiler.known`.
* ``is_null`` is ``IS NULL`` on the value column (null and missing alike); ``exists`` reads the
  presence column ``p_<n>``.
* Values outside what a column can hold (integers beyond 64 bits, integers a double cannot
  represent in a float field) are compared exactly by reasoning about the stored range instead
  of being rounded.
* Order: ``ASC NULLS LAST`` / ``DESC NULLS FIRST``, then ``resource_id`` ascending; cursors
  become a keyset predicate over the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from specstar.core import And, Condition, Field, Not, Op, Or, Query, QueryError
from specstar.core.spi import (
    ASCII_FOLD,
    BLANK_CHARS,
    FLAG_OPS,
    CursorPosition,
    Expr,
    RegexSyntaxError,
    compile_regex,
    effective_sorts,
    evaluate,
)

from ._dialect import Dialect, RegexHook, Sql, Target, key_limit, known
from ._layout import META_COLUMNS, IndexColumn, ident
from ._order import Ordering
from ._shapes import ShapeCache
from ._values import exact, float_bracket, normalize

# Sql: the fragment every method returns, imported from here by the store
__all__ = ["MAX_PARAMS", "Compiler", "Sql"]

#: Most bound values one query may carry (SQLite allows 32766, PostgreSQL 65535).
MAX_PARAMS = 30_000

_TEXT_OPS = frozenset(
    {
        Op.contains,
        Op.starts_with,
        Op.ends_with,
        Op.regex,
        Op.icontains,
        Op.istarts_with,
        Op.iends_with,
        Op.is_empty,
        Op.is_blank,
    }
)
_FOLDED = {Op.icontains: Op.contains, Op.istarts_with: Op.starts_with, Op.iends_with: Op.ends_with}

_SYMBOLS = {Op.eq: "=", Op.ne: "<>", Op.gt: ">", Op.gte: ">=", Op.lt: "<", Op.lte: "<="}
#: The comparison of value prefixes implied by each comparison of values.
_KEY_SYMBOLS = {Op.eq: "=", Op.gt: ">=", Op.gte: ">=", Op.lt: "<=", Op.lte: "<="}


class Compiler(Ordering):
    """Compiles resolved queries for one meta table.

    Args:
        dialect: the database's differences.
        columns: indexed path → column of this resource type.
        regex: builds the SQL for one ``regex`` condition (SQLite calls the dialect's
            linear-time matcher; PostgreSQL runs its translation with ``~``).
    """

    def __init__(
        self,
        dialect: Dialect,
        columns: Mapping[str, IndexColumn],
        regex: RegexHook,
        shapes: ShapeCache | None = None,
    ) -> None:
        self.dialect = dialect
        self.columns = columns
        self.regex = regex
        self.shapes = ShapeCache() if shapes is None else shapes

    # -- targets ------------------------------------------------------------------------------

    def target(self, field: Field) -> Target:
        """The column a field refers to (compiled once per field, see ``_shapes``).

        Raises:
            QueryError: an unknown meta field or a path that is not indexed here.
        """
        if not isinstance(field, Field) or not isinstance(field.path, str):
            raise QueryError(f"{field!r} is not a Field")
        return self.shapes.get(field, lambda: self._target(field))

    def _target(self, field: Field) -> Target:
        if not isinstance(field, Field) or not isinstance(field.path, str):
            raise QueryError(f"{field!r} is not a Field")
        if field.meta:
            meta = META_COLUMNS.get(field.path)
            if meta is None:
                raise QueryError(f"'${field.path}' is not a meta field", path=f"${field.path}")
            return Target(ident(meta.name), meta.kind, False, meta.nullable, None, str(field))
        column = self.columns.get(field.path)
        if column is None:
            raise QueryError(f"{field.path!r} is not an indexed field", path=field.path)
        return Target(
            ident(column.value),
            column.field.kind,
            column.field.is_list,
            True,
            ident(column.presence),
            field.path,
        )

    # -- filters ------------------------------------------------------------------------------

    def known(self, target: Target, value: bool) -> Sql:
        """``value`` for rows where the column is not null, unknown (``NULL``) otherwise."""
        return known(self.dialect, target, value)

    def where(self, query: Query, after: CursorPosition | None = None) -> Sql:
        """The full ``WHERE`` condition: ``is_deleted``, the filter and the cursor position.

        The items of the filter's top-level ``And`` from the first one holding a ``regex`` on
        are tested only on rows meeting ``is_deleted`` and every item before it: they sit in
        ``CASE WHEN <those> THEN <the rest> END``, which no database reorders. The manager puts
        the caller's access scope first, so a regex never runs on a row outside the scope,
        whatever plan the database picks (the reference evaluates in the same order).
        """
        parts: list[Sql] = []
        if query.is_deleted is not None:
            parts.append(Sql(f'"is_deleted" = {self.dialect.bool_literal(query.is_deleted)}'))
        if query.where is not None:
            parts.extend(self._filter(query.where, parts))
        if after is not None:
            parts.append(self.after(effective_sorts(query), after).wrap())
        out = Sql.join(" AND ", parts) if parts else Sql(self.dialect.true)
        if len(out.params) > MAX_PARAMS:
            raise QueryError(f"the query binds more than {MAX_PARAMS} values")
        return out

    def _filter(self, where: Expr, before: list[Sql]) -> list[Sql]:
        """The filter's parts, guarded as :meth:`where` says when it holds a ``regex``."""
        if not _has_regex(where):
            return [self.expr(where).wrap()]
        items = evaluate.conjuncts(where)
        first = next(i for i, item in enumerate(items) if _has_regex(item))
        guard = [*before, *(self.expr(item).wrap() for item in items[:first])]
        rest = items[first:]
        test = self.expr(rest[0] if len(rest) == 1 else And(tuple(rest))).wrap()
        if not guard:
            return [test]
        case = Sql("(CASE WHEN ") + Sql.join(" AND ", guard) + Sql(" THEN ") + test + Sql(" END)")
        return [*guard[len(before) :], case]

    def expr(self, expr: Expr) -> Sql:
        """SQL for an expression, in three-valued logic.

        Negations are pushed down to the conditions and nested ``And``/``Or`` of the same kind
        are flattened (both exact in Kleene logic), which keeps the SQL shallow.

        Raises:
            QueryError: the ``And``/``Or`` alternation is deeper than the database parses.
        """
        sql, depth = self._negatable(expr, False)
        if depth > self.dialect.max_depth:
            raise QueryError(
                f"the filter nests And/Or {depth} levels deep; this store parses at most "
                f"{self.dialect.max_depth} — simplify the filter"
            )
        return sql

    def _negatable(self, expr: Expr, negate: bool) -> tuple[Sql, int]:
        """``expr`` (negated when ``negate``) and the parenthesis depth of its SQL."""
        while isinstance(expr, Not):
            expr, negate = expr.item, not negate
        if isinstance(expr, Condition):
            sql = self.condition(expr)
            return (Sql("NOT ") + sql.wrap(), 1) if negate else (sql, 0)
        if isinstance(expr, And | Or):
            return self._junction(expr.items, negate, isinstance(expr, And) != negate)
        raise QueryError(f"{expr!r} is not a query expression")

    def _junction(self, items: Sequence[Expr], negate: bool, conj: bool) -> tuple[Sql, int]:
        parts: list[Sql] = []
        depth = 0
        work = [(item, negate) for item in reversed(items)]
        while work:
            item, neg = work.pop()
            while isinstance(item, Not):
                item, neg = item.item, not neg
            if isinstance(item, And | Or) and (isinstance(item, And) != neg) == conj:
                work.extend((child, neg) for child in reversed(item.items))  # same junction
                continue
            sql, inner = self._negatable(item, neg)
            parts.append(sql)
            depth = max(depth, inner)
        if not parts:
            return Sql(self.dialect.bool_literal(conj)), 0
        if len(parts) == 1:
            return parts[0], depth
        glue = " AND " if conj else " OR "
        return Sql.join(glue, (p.wrap() for p in parts)), depth + 1

    def condition(self, cond: Condition) -> Sql:
        """SQL for one comparison."""
        target = self.target(cond.field)
        try:
            op = Op(cond.op)
        except ValueError:
            raise QueryError(f"unknown operator {cond.op!r}", path=target.name) from None
        if op is Op.is_null:
            test = "IS NULL" if cond.value is not False else "IS NOT NULL"
            return Sql(f"{target.column} {test}")
        if op is Op.exists:
            present = cond.value is not False
            if target.presence is None:  # meta fields always exist
                return Sql(self.dialect.bool_literal(present))
            return Sql(f"{target.presence} = {self.dialect.bool_literal(present)}")
        if op is Op.truthy:
            return self._truthy(target, cond.value is not False)
        fn = cond.field.fn
        if fn == "length":
            return self._length(target, op, cond.value)
        if fn in ("any", "all"):
            return self._quantified(target, fn == "any", op, cond.value)
        if fn is not None:
            raise QueryError(f"unknown field function {fn!r}", path=target.name)
        if target.is_list:
            if op is Op.is_empty:
                test = "=" if cond.value is not False else "<>"
                return Sql(f"{self.dialect.list_length(target.column)} {test} 0")
            return self._list_condition(target, op, cond.value)
        return self._scalar(target, op, cond.value)

    def _scalar(self, target: Target, op: Op, value: Any) -> Sql:
        """One operator on a scalar column (or a scalar expression such as an element)."""
        if op in _SYMBOLS:
            return self._compare(target, op, value)
        if op in (Op.in_, Op.not_in):
            return self._membership(target, op, value)
        if target.kind == "str" and op in _TEXT_OPS:
            return self._text(target, op, value)
        raise QueryError(f"operator {op.value!r} does not apply to {target.name}", path=target.name)

    def _truthy(self, target: Target, want: bool) -> Sql:
        """Python truthiness, never unknown: null and missing values are falsy."""
        col = target.column
        if target.is_list:
            test = f"{self.dialect.list_length(col)} > 0"
        elif target.kind == "bool":
            test = f"{col} = {self.dialect.true}"
        elif target.kind in ("int", "float"):
            test = f"{col} <> 0"
        elif target.kind == "str":
            test = f"{col} <> ''"
        else:
            test = f"{col} IS NOT NULL"
        truth = f"COALESCE(({test}), {self.dialect.false})"
        return Sql(truth if want else f"NOT {truth}")

    def _length(self, target: Target, op: Op, value: Any) -> Sql:
        if target.is_list:
            length = self.dialect.list_length(target.column)
        elif target.kind == "str":
            length = self.dialect.text_length(target.column)
        else:
            raise QueryError(f"length() does not apply to {target.name}", path=target.name)
        measured = Target(length, "int", False, True, None, f"{target.name}.length()")
        if op not in _SYMBOLS and op not in (Op.in_, Op.not_in):
            raise QueryError(f"operator {op.value!r} does not apply to {measured.name}")
        return self._scalar(measured, op, value)

    def _quantified(self, target: Target, some: bool, op: Op, value: Any) -> Sql:
        """``any``/``all`` over the elements, in Kleene logic: ``any`` is true when an element
        is, else unknown when an element is unknown, else false (``all`` is the dual)."""
        if not target.is_list:
            raise QueryError(f"any()/all() apply to list fields, not {target.name}")
        if op is Op.regex or op in FLAG_OPS or op is Op.contains_any:
            raise QueryError(f"operator {op.value!r} does not apply to list elements")
        source, element = self.dialect.elements(target.column, target.kind)
        name = f"{target.name}.{'any' if some else 'all'}()"
        test = self._scalar(Target(element, target.kind, False, True, None, name), op, value)
        decided = test.wrap() if some else Sql("NOT ") + test.wrap()
        first, last = (self.dialect.true, self.dialect.false)
        if not some:
            first, last = last, first
        return (
            Sql(
                f"(CASE WHEN {target.column} IS NULL THEN NULL WHEN EXISTS (SELECT 1 FROM {source}"
                " WHERE "
            )
            + decided
            + Sql(f") THEN {first} WHEN EXISTS (SELECT 1 FROM {source} WHERE ")
            + test.wrap()
            + Sql(f" IS NULL) THEN NULL ELSE {last} END)")
        )

    def _compare(self, target: Target, op: Op, value: Any) -> Sql:
        raw, encoded = exact(self.dialect, target, value)
        if encoded is not None:
            test = Sql(f"{target.column} {_SYMBOLS[op]} ?", (encoded,))
            key = _KEY_SYMBOLS.get(op)
            limit = key_limit(self.dialect, target)
            if key is None or limit is None:
                return test
            # s < t implies s[:n] <= t[:n]: the prefix condition selects a superset of the
            # rows (as an index range) and the full comparison keeps exactly the right ones.
            head = Sql(f"{self.dialect.index_key(target.column)} {key} ?", (encoded[:limit],))
            return head + Sql(" AND ") + test
        if op in (Op.eq, Op.ne):
            return self.known(target, op is Op.ne)
        if target.kind == "int":  # every stored value lies on one side of raw
            above_all = raw > 0
            return self.known(target, above_all == (op in (Op.lt, Op.lte)))
        lo, hi = float_bracket(raw)
        if op in (Op.gt, Op.gte):
            return Sql(f"{target.column} >= ?", (self.dialect.encode("float", hi),))
        return Sql(f"{target.column} <= ?", (self.dialect.encode("float", lo),))

    def _membership(self, target: Target, op: Op, values: Any) -> Sql:
        if not isinstance(values, list | tuple) or not values:
            raise QueryError(f"{op.value} on {target.name} needs a non-empty list of values")
        encoded = [e for e in (exact(self.dialect, target, v)[1] for v in values) if e is not None]
        if not encoded:  # no stored value can be one of them
            return self.known(target, op is Op.not_in)
        marks = ", ".join("?" * len(encoded))
        word = "IN" if op is Op.in_ else "NOT IN"
        test = Sql(f"{target.column} {word} ({marks})", tuple(encoded))
        limit = key_limit(self.dialect, target)
        if op is Op.not_in or limit is None:
            return test
        heads = tuple(dict.fromkeys(e[:limit] for e in encoded))
        key = self.dialect.index_key(target.column)
        return Sql(f"{key} IN ({', '.join('?' * len(heads))}) AND ", heads) + test

    def _text(self, target: Target, op: Op, value: Any) -> Sql:
        if op in (Op.is_empty, Op.is_blank):
            test = "=" if value is not False else "<>"
            if op is Op.is_empty:
                return Sql(f"{target.column} {test} ''")
            return Sql(f"{self.dialect.strip(target.column)} {test} ''", (BLANK_CHARS,))
        if op in _FOLDED:
            folded = Target(
                self.dialect.fold(target.column), "str", False, target.nullable, None, target.name
            )
            needle = normalize(target, value)
            return self._text(folded, _FOLDED[op], needle.translate(ASCII_FOLD))
        needle = normalize(target, value)
        if op is Op.regex:
            try:
                compile_regex(needle)
            except RegexSyntaxError as exc:
                raise QueryError(f"invalid regex for {target.name}: {exc}") from None
            return self.regex(target, needle)
        if needle == "":
            return self.known(target, True)
        if op is Op.contains:
            return self.dialect.substring(target.column, needle)
        if op is Op.starts_with:
            return Sql(f"{self.dialect.prefix(target.column, len(needle))} = ?", (needle,))
        return Sql(f"{self.dialect.suffix(target.column, len(needle))} = ?", (needle,))

    def _list_condition(self, target: Target, op: Op, value: Any) -> Sql:
        if op is Op.contains:
            encoded = exact(self.dialect, target, value)[1]
            if encoded is None:
                return self.known(target, False)
            test = self.dialect.list_contains(target.column, target.kind, encoded)
        elif op is Op.contains_any:
            if not isinstance(value, list | tuple) or not value:
                raise QueryError(f"contains_any on {target.name} needs a non-empty list")
            found = [e for e in (exact(self.dialect, target, v)[1] for v in value) if e is not None]
            if not found:
                return self.known(target, False)
            test = self.dialect.list_contains_any(target.column, target.kind, found)
        else:
            raise QueryError(f"operator {op.value!r} does not apply to the list {target.name}")
        return Sql(f"(CASE WHEN {target.column} IS NULL THEN NULL ELSE ") + test + Sql(" END)")


def _has_regex(expr: Expr) -> bool:
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Condition):
            if node.op == Op.regex:
                return True
        elif isinstance(node, Not):
            stack.append(node.item)
        elif isinstance(node, And | Or):
            stack.extend(node.items)
    return False

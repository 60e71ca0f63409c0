"""The query abstract syntax tree.

A query is plain data (``msgspec`` structs with tagged unions), so it can be built in Python with
:class:`~specstar.core.query.builder.QB`, parsed from the compact URL form
(:func:`~specstar.core.query.grammar.parse_condition`), sent as JSON, and compiled by storage
adapters. The memory evaluator (:mod:`specstar.core.query.evaluate`) is the reference semantics.

Fields are either *meta fields* of :class:`~specstar.core.types.ResourceMeta` (written
``$created_time`` in the string form, ``Field("created_time", meta=True)`` here) or dotted paths
into the resource data that are declared as indexed fields (``Field("address.city")``).
"""

from __future__ import annotations

import enum
import re
from typing import Any, Union

import msgspec

from ..errors import QueryError

__all__ = [
    "ASCII_FOLD",
    "BLANK_CHARS",
    "FIELD_FNS",
    "META_FIELDS",
    "PATH_RE",
    "And",
    "Condition",
    "Expr",
    "Field",
    "Not",
    "Op",
    "Or",
    "Query",
    "QueryBuilder",
    "Sort",
]

#: A data path: dot-separated identifiers. Anything else is rejected before it reaches a store.
PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")

#: Meta fields a query may use, with their value kind.
META_FIELDS: dict[str, str] = {
    "resource_id": "str",
    "current_revision_id": "str",
    "schema_version": "str",
    "total_revision_count": "int",
    "revision_seq": "int",
    "created_time": "datetime",
    "created_by": "str",
    "updated_time": "datetime",
    "updated_by": "str",
    "is_deleted": "bool",
    "rev_status": "str",
    "rev_created_time": "datetime",
    "rev_updated_time": "datetime",
}


class Op(enum.StrEnum):
    """Comparison operators.

    ``is_null``, ``exists``, ``is_empty``, ``is_blank`` and ``truthy`` take a boolean value
    (``True``: the row must be null / have the path / be empty / be blank / be truthy; ``False``
    inverts). ``is_null``, ``exists`` and ``truthy`` are never unknown (null and missing values
    are not truthy); every other operator yields *unknown* on a null or missing value (SQL
    three-valued logic), and a row matches only when the whole condition is *true*.

    ``icontains``/``istarts_with``/``iends_with`` compare after ASCII case folding: ``A``-``Z``
    equal ``a``-``z``, every other character only itself (``É`` is not ``é``), identically on
    every store.
    """

    eq = "eq"
    ne = "ne"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    in_ = "in"
    not_in = "not_in"
    contains = "contains"
    contains_any = "contains_any"
    starts_with = "starts_with"
    ends_with = "ends_with"
    regex = "regex"
    is_null = "is_null"
    exists = "exists"
    icontains = "icontains"
    istarts_with = "istarts_with"
    iends_with = "iends_with"
    is_empty = "is_empty"
    is_blank = "is_blank"
    truthy = "truthy"


#: ASCII case folding, what the case-insensitive operators compare by: ``A``-``Z`` become
#: ``a``-``z``; every other character stays itself (``str.translate`` table).
ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
#: The characters ``is_blank`` treats as blank: ASCII whitespace.
BLANK_CHARS = " \t\n\r\f\v"

#: Functions a :class:`Field` may apply before the comparison: ``length`` (characters of a str,
#: elements of a list) and the element quantifiers ``any``/``all`` of a list field.
FIELD_FNS = frozenset({"length", "any", "all"})


class Field(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A queryable field: a meta field (``meta=True``) or an indexed data path.

    ``fn`` applies a function first: ``"length"`` compares the number of characters of a str
    (elements of a list); ``"any"``/``"all"`` make the condition apply to the elements of a
    list field: true when some (every) element satisfies it, in three-valued logic (an empty
    list: ``any`` false, ``all`` true).
    """

    path: str
    meta: bool = False
    fn: str | None = None

    def __str__(self) -> str:
        base = f"${self.path}" if self.meta else self.path
        return base if self.fn is None else f"{base}.{self.fn}()"

    @classmethod
    def parse(cls, text: str) -> Field:
        """``"$created_time"`` → meta field; ``"address.city"`` → data path."""
        if text.startswith("$"):
            return cls(text[1:], meta=True)
        return cls(text)


class _ExprOps:
    """Boolean composition with ``&``, ``|`` and ``~`` for every expression node."""

    def __and__(self, other: Expr) -> And:
        left = self.items if isinstance(self, And) else (self,)
        right = other.items if isinstance(other, And) else (other,)
        return And((*left, *right))

    def __or__(self, other: Expr) -> Or:
        left = self.items if isinstance(self, Or) else (self,)
        right = other.items if isinstance(other, Or) else (other,)
        return Or((*left, *right))

    def __invert__(self) -> Not:
        return Not(self)  # type: ignore[arg-type]

    def _start(self) -> QueryBuilder:
        return QueryBuilder(where=self)  # type: ignore[arg-type]

    def filter(self, *exprs: Expr) -> QueryBuilder:
        """A query of this filter and every one of ``exprs``."""
        return self._start().filter(*exprs)

    def exclude(self, *exprs: Expr) -> QueryBuilder:
        """A query of this filter, leaving out rows where any of ``exprs`` is true."""
        return self._start().exclude(*exprs)

    def sort(self, *keys: SortKey) -> QueryBuilder:
        """A query of this filter ordered by ``keys`` (see :meth:`QueryBuilder.sort`)."""
        return self._start().sort(*keys)

    def order_by(self, *keys: SortKey) -> QueryBuilder:
        """Same as :meth:`sort`."""
        return self._start().sort(*keys)

    def limit(self, n: int) -> QueryBuilder:
        """A query of this filter returning at most ``n`` rows."""
        return self._start().limit(n)

    def offset(self, n: int) -> QueryBuilder:
        """A query of this filter skipping ``n`` rows."""
        return self._start().offset(n)

    def page(self, number: int, size: int) -> QueryBuilder:
        """A query of this filter for page ``number`` (from 1) of ``size`` rows."""
        return self._start().page(number, size)

    def first(self) -> QueryBuilder:
        """A query of this filter for its first row (``limit(1)``)."""
        return self._start().first()

    def build(self) -> Query:
        """This filter as a :class:`Query` with default order and paging."""
        return self._start().build()


class Condition(_ExprOps, msgspec.Struct, frozen=True, tag="cmp", forbid_unknown_fields=True):
    """``field <op> value``. ``in``/``not_in``/``contains_any`` take a tuple of values."""

    field: Field
    op: Op
    value: Any = None


class And(_ExprOps, msgspec.Struct, frozen=True, tag="and", forbid_unknown_fields=True):
    """True when every item is true; an empty ``And`` is true."""

    items: tuple[Expr, ...]


class Or(_ExprOps, msgspec.Struct, frozen=True, tag="or", forbid_unknown_fields=True):
    """True when any item is true; an empty ``Or`` is false."""

    items: tuple[Expr, ...]


class Not(_ExprOps, msgspec.Struct, frozen=True, tag="not", forbid_unknown_fields=True):
    """Negation; *unknown* stays *unknown*."""

    item: Expr


Expr = Union[Condition, And, Or, Not]  # noqa: UP007 - msgspec needs a runtime Union here


class Sort(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One sort key. Null and missing values sort after every value ascending (before, descending).

    Every result order ends with ``resource_id`` ascending as the final tie-breaker, so orders are
    total and pagination is stable.
    """

    field: Field
    descending: bool = False

    def __str__(self) -> str:
        return f"{'-' if self.descending else ''}{self.field}"

    @classmethod
    def parse(cls, text: str) -> Sort:
        """``"-age"`` → descending, ``"+age"`` or ``"age"`` → ascending."""
        text = text.strip()
        if text.startswith("-"):
            return cls(Field.parse(text[1:].strip()), descending=True)
        if text.startswith("+"):
            text = text[1:].strip()
        return cls(Field.parse(text))


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """A search: filter, order and page.

    Attributes:
        where: filter expression; ``None`` matches every row.
        sorts: sort keys; empty means ``$created_time`` ascending. ``resource_id`` always
            breaks ties.
        limit: page size; ``None`` takes the manager's default page size. Never unlimited.
        offset: rows to skip (cannot be combined with ``cursor``).
        cursor: opaque continuation token from a previous :class:`~specstar.core.types.Page`.
        is_deleted: ``False`` (default) only live resources, ``True`` only soft-deleted ones,
            ``None`` both.
    """

    where: Expr | None = None
    sorts: tuple[Sort, ...] = ()
    limit: int | None = None
    offset: int = 0
    cursor: str | None = None
    is_deleted: bool | None = False

    def replace(self, **changes: Any) -> Query:
        """A copy with some attributes changed."""
        return msgspec.structs.replace(self, **changes)


#: What :meth:`QueryBuilder.sort` accepts: a :class:`Sort`, text such as ``"-age"`` or
#: ``"$created_time"``, or anything with an ``asc()`` method (a builder field, ascending).
SortKey = Any


def _positive_int(value: Any, name: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise QueryError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def _sort_key(key: SortKey) -> Sort:
    if isinstance(key, Sort):
        return key
    if isinstance(key, str):
        if not key.strip():
            raise QueryError("an empty sort key")
        return Sort.parse(key)
    asc = getattr(key, "asc", None)
    if callable(asc):
        sort = asc()
        if isinstance(sort, Sort):
            return sort
    raise QueryError(f"{key!r} is not a sort key (a Sort, a field or text like '-age')")


class QueryBuilder(msgspec.Struct, frozen=True, kw_only=True):
    """An immutable, chainable description of a search; :meth:`build` makes the :class:`Query`.

    Every method returns a new builder. Start one from any expression
    (``(QB.age >= 18).sort("-age").limit(10)``) or from ``QB.filter(...)``.

    Attributes:
        where: the filter (``None``: every row).
        sorts: the order keys.
        limit_: the page size (``None``: the manager's default).
        offset_: rows skipped.
    """

    where: Expr | None = None
    sorts: tuple[Sort, ...] = ()
    limit_: int | None = None
    offset_: int = 0

    def filter(self, *exprs: Expr) -> QueryBuilder:
        """Keep only rows where every one of ``exprs`` is true (added to the filter with and)."""
        current: tuple[Expr, ...] = ()
        if isinstance(self.where, And):
            current = self.where.items
        elif self.where is not None:
            current = (self.where,)
        items = (*current, *exprs)
        where: Expr | None = None
        if items:
            where = items[0] if len(items) == 1 else And(items)
        return msgspec.structs.replace(self, where=where)

    def exclude(self, *exprs: Expr) -> QueryBuilder:
        """Leave out rows where any of ``exprs`` is true.

        Three-valued logic applies: a row where an excluded condition is *unknown* (it
        compares a null value) is left out too; ``exclude(QB.age > 3)`` keeps the rows whose
        ``age`` is 3 or less, not those without an age.
        """
        if not exprs:
            return self
        return self.filter(*(Not(e) for e in exprs))

    def sort(self, *keys: SortKey) -> QueryBuilder:
        """Append sort keys: :class:`Sort` objects, ``"-age"``/``"name"``/``"$created_time"``
        text, or builder fields (``QB.age`` ascending, ``QB.age.desc()``)."""
        return msgspec.structs.replace(self, sorts=self.sorts + tuple(_sort_key(k) for k in keys))

    def order_by(self, *keys: SortKey) -> QueryBuilder:
        """Same as :meth:`sort`."""
        return self.sort(*keys)

    def limit(self, n: int) -> QueryBuilder:
        """Return at most ``n`` rows (``n`` >= 1)."""
        return msgspec.structs.replace(self, limit_=_positive_int(n, "limit", 1))

    def offset(self, n: int) -> QueryBuilder:
        """Skip the first ``n`` rows (``n`` >= 0)."""
        return msgspec.structs.replace(self, offset_=_positive_int(n, "offset", 0))

    def page(self, number: int, size: int) -> QueryBuilder:
        """Page ``number`` (counted from 1) of ``size`` rows: ``offset((number-1)*size)``
        and ``limit(size)``."""
        number = _positive_int(number, "page number", 1)
        size = _positive_int(size, "page size", 1)
        return msgspec.structs.replace(self, limit_=size, offset_=(number - 1) * size)

    def first(self) -> QueryBuilder:
        """Only the first row in order (``limit(1)``)."""
        return self.limit(1)

    def build(self) -> Query:
        """The :class:`Query`; paths and kinds are checked when a manager resolves it."""
        return Query(where=self.where, sorts=self.sorts, limit=self.limit_, offset=self.offset_)

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

__all__ = [
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
}


class Op(enum.StrEnum):
    """Comparison operators.

    ``is_null`` and ``exists`` take a boolean value (``True``: the row must be null / must have
    the path); every other operator yields *unknown* on a null or missing value (SQL
    three-valued logic), and a row matches only when the whole condition is *true*.
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


class Field(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A queryable field: a meta field (``meta=True``) or an indexed data path."""

    path: str
    meta: bool = False

    def __str__(self) -> str:
        return f"${self.path}" if self.meta else self.path

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

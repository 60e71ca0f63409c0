"""Queries: the expression tree, builder, string form, validation and reference evaluator.

* :mod:`.ast` — the plain-data tree (:class:`Condition`, :class:`And`, :class:`Or`, :class:`Not`,
  :class:`Sort`, :class:`Query`);
* :mod:`.builder` — :class:`QB`, e.g. ``(QB.age >= 18) & QB["name"].starts_with("A")``;
* :mod:`.grammar` — the compact string form (:func:`parse_condition`, :func:`format_condition`,
  :func:`parse_sorts`, :func:`format_sorts`);
* :mod:`.resolve` — :func:`resolve_query` checks a query against the indexed fields;
* :mod:`.cursor` — opaque keyset-pagination cursors;
* :mod:`.evaluate` — the reference semantics every store must agree with.
"""

from .ast import META_FIELDS, And, Condition, Expr, Field, Not, Op, Or, Query, QueryBuilder, Sort
from .builder import QB
from .cursor import CursorPosition, decode_cursor, encode_cursor
from .grammar import format_condition, format_sorts, parse_condition, parse_sorts
from .resolve import resolve_query

__all__ = [
    "META_FIELDS",
    "QB",
    "And",
    "Condition",
    "CursorPosition",
    "Expr",
    "Field",
    "Not",
    "Op",
    "Or",
    "Query",
    "QueryBuilder",
    "Sort",
    "decode_cursor",
    "encode_cursor",
    "format_condition",
    "format_sorts",
    "parse_condition",
    "parse_sorts",
    "resolve_query",
]

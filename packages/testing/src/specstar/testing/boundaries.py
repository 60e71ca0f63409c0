"""Query strategies that meet the data: values drawn from the stored rows, every operator alike.

Random query values rarely equal a stored value, so ``gte`` and ``gt`` (or ``lte`` and ``lt``)
select the same rows and a compiler that swaps them goes unnoticed. These strategies draw the
operator first (uniformly, so each is well represented), then a field it applies to, then a value
that three times in four is one of the values stored in that field (so comparisons meet
equality and most queries return rows), otherwise one of the field's edge values.

Describe the queryable fields once with :class:`QueryField`; to cover a new operator, add a
builder to :data:`OPERATORS`::

    fields = [QueryField("age", "number", st.integers(-3, 3)), QueryField("tags", "list", ...)]
    where = boundary_conditions(fields, stored_values(rows, ["age", "tags"]))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from hypothesis import strategies as st

from specstar.core.spi import And, Condition, Expr, Field, Not, Op, Or

__all__ = [
    "COMPARISONS",
    "OPERATORS",
    "QueryField",
    "boundary_conditions",
    "boundary_expressions",
    "per_operator",
    "stored_values",
]

#: Kinds of queryable fields: ``"text"`` (str), ``"number"``/``"time"`` (ordered), ``"bool"``,
#: ``"list"`` (a list of scalars).
Kind = Literal["text", "number", "time", "bool", "list"]

#: The ordering comparisons (with equality), the operators a boundary value matters most for.
COMPARISONS = (Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte)


class QueryField(NamedTuple):
    """One queryable field: its path (``$name`` for meta fields), its kind and edge values."""

    path: str
    kind: Kind
    edges: st.SearchStrategy[Any]
    #: regular expressions to try on a text field (the dialect is the adapter's concern)
    patterns: tuple[str, ...] = ()


def stored_values(rows: Iterable[Mapping[str, Any]], paths: Iterable[str]) -> dict[str, list[Any]]:
    """The non-null values stored at each dotted path of ``rows`` (list fields: their elements).

    ``rows`` are builtins documents (``msgspec.to_builtins(..., builtin_types=(datetime,))``).
    """
    out: dict[str, list[Any]] = {}
    for path in paths:
        found: list[Any] = []
        for row in rows:
            value: Any = row
            for part in path.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
            if isinstance(value, list):
                found.extend(v for v in value if v is not None)
            elif value is not None:
                found.append(value)
        out[path] = found
    return out


def _values(f: QueryField, stored: Mapping[str, Sequence[Any]]) -> st.SearchStrategy[Any]:
    """Three in four stored values (when there are any), else edge values."""
    present = [v for v in stored.get(f.path, ()) if v is not None]
    if not present:
        return f.edges
    known = st.sampled_from(present)
    return st.one_of(known, known, known, f.edges)


def _fragments(f: QueryField, stored: Mapping[str, Sequence[Any]]) -> st.SearchStrategy[str]:
    """Prefixes, suffixes and middles of stored strings (and the edge values)."""
    texts = [v for v in stored.get(f.path, ()) if isinstance(v, str)]
    edges = f.edges  # a text field's edge values are strings
    if not texts:
        return edges

    def cut(text: str) -> st.SearchStrategy[str]:
        return st.tuples(st.integers(0, len(text)), st.integers(0, len(text))).map(
            lambda ij: text[min(ij) : max(ij)]
        )

    return st.one_of(st.sampled_from(texts).flatmap(cut), st.sampled_from(texts), edges)


def _field(f: QueryField) -> Field:
    return Field.parse(f.path)


def _one(op: Op) -> Builder:
    def build(f: QueryField, stored: Mapping[str, Sequence[Any]]) -> st.SearchStrategy[Condition]:
        return _values(f, stored).map(lambda v: Condition(_field(f), op, v))

    return build


def _many(op: Op) -> Builder:
    def build(f: QueryField, stored: Mapping[str, Sequence[Any]]) -> st.SearchStrategy[Condition]:
        return st.lists(_values(f, stored), min_size=1, max_size=3).map(
            lambda vs: Condition(_field(f), op, tuple(vs))
        )

    return build


def _text(op: Op) -> Builder:
    def build(f: QueryField, stored: Mapping[str, Sequence[Any]]) -> st.SearchStrategy[Condition]:
        if f.kind == "list":  # element membership
            return _values(f, stored).map(lambda v: Condition(_field(f), op, v))
        return _fragments(f, stored).map(lambda v: Condition(_field(f), op, v))

    return build


def _folded(op: Op) -> Builder:
    """Fragments of stored strings with their ASCII letters' case swapped half the time, so
    the case-insensitive matchers meet values that differ from the needle only in case."""

    def build(f: QueryField, stored: Mapping[str, Sequence[Any]]) -> st.SearchStrategy[Condition]:
        needles = st.one_of(_fragments(f, stored), _fragments(f, stored).map(_swap_ascii_case))
        return needles.map(lambda v: Condition(_field(f), op, v))

    return build


def _swap_ascii_case(text: str) -> str:
    return "".join(
        c.lower() if "A" <= c <= "Z" else c.upper() if "a" <= c <= "z" else c for c in text
    )


def _regex(f: QueryField, stored: Mapping[str, Sequence[Any]]) -> st.SearchStrategy[Condition]:
    return st.sampled_from(f.patterns).map(lambda p: Condition(_field(f), Op.regex, p))


def _flag(op: Op) -> Builder:
    def build(f: QueryField, stored: Mapping[str, Sequence[Any]]) -> st.SearchStrategy[Condition]:
        return st.booleans().map(lambda b: Condition(_field(f), op, b))

    return build


Builder = Callable[[QueryField, Mapping[str, Sequence[Any]]], st.SearchStrategy[Condition]]
_SCALAR: frozenset[str] = frozenset({"text", "number", "time", "bool"})
_ORDERED: frozenset[str] = frozenset({"text", "number", "time"})

#: Per operator: which field kinds it applies to, and how to build a condition for one field.
OPERATORS: dict[Op, tuple[Callable[[QueryField], bool], Builder]] = {
    Op.eq: (lambda f: f.kind in _SCALAR, _one(Op.eq)),
    Op.ne: (lambda f: f.kind in _SCALAR, _one(Op.ne)),
    **{op: (lambda f: f.kind in _ORDERED, _one(op)) for op in (Op.gt, Op.gte, Op.lt, Op.lte)},
    Op.in_: (lambda f: f.kind in _SCALAR, _many(Op.in_)),
    Op.not_in: (lambda f: f.kind in _SCALAR, _many(Op.not_in)),
    Op.contains: (lambda f: f.kind in ("text", "list"), _text(Op.contains)),
    Op.contains_any: (lambda f: f.kind == "list", _many(Op.contains_any)),
    Op.starts_with: (lambda f: f.kind == "text", _text(Op.starts_with)),
    Op.ends_with: (lambda f: f.kind == "text", _text(Op.ends_with)),
    Op.regex: (lambda f: f.kind == "text" and bool(f.patterns), _regex),
    Op.is_null: (lambda f: not f.path.startswith("$"), _flag(Op.is_null)),
    Op.exists: (lambda f: True, _flag(Op.exists)),
    **{
        op: (lambda f: f.kind == "text", _folded(op))
        for op in (Op.icontains, Op.istarts_with, Op.iends_with)
    },
    Op.is_empty: (
        lambda f: f.kind in ("text", "list") and not f.path.startswith("$"),
        _flag(Op.is_empty),
    ),
    Op.is_blank: (lambda f: f.kind == "text" and not f.path.startswith("$"), _flag(Op.is_blank)),
    Op.truthy: (lambda f: not f.path.startswith("$"), _flag(Op.truthy)),
}


def boundary_conditions(
    fields: Sequence[QueryField],
    stored: Mapping[str, Sequence[Any]] | None = None,
    ops: Iterable[Op] | None = None,
) -> st.SearchStrategy[Condition]:
    """One condition: a uniformly drawn operator, a field it applies to, a value near the data.

    Args:
        fields: the queryable fields.
        stored: values stored per path (see :func:`stored_values`); none: edge values only.
        ops: the operators to draw from (default: every operator in :data:`OPERATORS` that
            applies to at least one field).
    """
    known = stored or {}
    usable: list[tuple[Op, list[QueryField]]] = []
    for op in OPERATORS if ops is None else ops:
        applies, _build = OPERATORS[op]
        targets = [f for f in fields if applies(f)]
        if targets:
            usable.append((op, targets))
    if not usable:
        raise ValueError("no operator applies to these fields")

    def for_op(choice: tuple[Op, list[QueryField]]) -> st.SearchStrategy[Condition]:
        op, targets = choice
        build = OPERATORS[op][1]
        return st.sampled_from(targets).flatmap(lambda f: build(f, known))

    return st.sampled_from(usable).flatmap(for_op)


def boundary_expressions(
    fields: Sequence[QueryField],
    stored: Mapping[str, Sequence[Any]] | None = None,
    max_leaves: int = 3,
    empty_groups: bool = False,
    ops: Iterable[Op] | None = None,
) -> st.SearchStrategy[Expr]:
    """Shallow boolean expressions over :func:`boundary_conditions` (a single condition half
    the time, so most queries still select rows); ``ops`` limits the operators of the single
    condition."""
    if ops is not None:
        first = boundary_conditions(fields, stored, ops)
        other = boundary_conditions(fields, stored)
        return st.one_of(
            first, first.map(Not), st.tuples(first, other).map(And), st.tuples(first, other).map(Or)
        )
    leaf: st.SearchStrategy[Expr] = boundary_conditions(fields, stored)
    smallest = 0 if empty_groups else 1
    compound = st.recursive(
        leaf,
        lambda children: st.one_of(
            st.lists(children, min_size=smallest, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(children, min_size=smallest, max_size=3).map(lambda xs: Or(tuple(xs))),
            children.map(Not),
        ),
        max_leaves=max_leaves,
    )
    return st.one_of(leaf, compound)


def per_operator(
    fields: Sequence[QueryField],
    stored: Mapping[str, Sequence[Any]] | None = None,
    ops: Iterable[Op] | None = None,
) -> st.SearchStrategy[list[Expr]]:
    """One expression per operator (each applicable one, in :data:`OPERATORS` order), so every
    example exercises every operator: the condition alone, negated, or joined to another one.
    """
    parts = [
        boundary_expressions(fields, stored, ops=[op])
        for op in (OPERATORS if ops is None else ops)
        if any(OPERATORS[op][0](f) for f in fields)
    ]
    return st.tuples(*parts).map(list)

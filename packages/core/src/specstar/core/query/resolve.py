"""Validation and normalisation of queries against a resource type's indexed fields.

Every query goes through :func:`resolve_query` before it reaches a store, so stores (and the
memory evaluator) only ever see well-formed queries: known fields, operators that fit the
field's kind, values in canonical form (datetimes aware in UTC, lists as tuples), sane paging.
"""

from __future__ import annotations

from typing import Any, cast

from ..errors import QueryError
from ..indexes import IndexSpec, Kind, normalize_scalar
from ._limits import MAX_EXPR_DEPTH, MAX_REGEX_LENGTH, check_depth
from ._regex import RegexSyntaxError, compile_regex
from .ast import (
    FIELD_FNS,
    META_FIELDS,
    PATH_RE,
    And,
    Condition,
    Expr,
    Field,
    Not,
    Op,
    Or,
    Query,
    QueryBuilder,
    Sort,
)
from .cursor import decode_cursor

__all__ = ["DEFAULT_LIMIT", "FLAG_OPS", "MAX_LIMIT", "resolve_query"]

#: Page size when a query gives none.
DEFAULT_LIMIT = 50
#: Largest page size a query may ask for.
MAX_LIMIT = 1000

_ORDERED = frozenset({Op.eq, Op.ne, Op.gt, Op.gte, Op.lt, Op.lte, Op.in_, Op.not_in})
_FLAGS = frozenset({Op.is_null, Op.exists, Op.truthy})
_STR_MATCH = frozenset(
    {Op.contains, Op.starts_with, Op.ends_with, Op.icontains, Op.istarts_with, Op.iends_with}
)
_STR_ONLY = _STR_MATCH | {Op.regex, Op.is_empty, Op.is_blank}
_LIST_VALUED = frozenset({Op.in_, Op.not_in, Op.contains_any})
#: Operators taking a boolean flag rather than a comparison value.
FLAG_OPS = _FLAGS | {Op.is_empty, Op.is_blank}

_ALLOWED: dict[str, frozenset[Op]] = {
    "str": _ORDERED | _STR_ONLY | _FLAGS,
    "int": _ORDERED | _FLAGS,
    "float": _ORDERED | _FLAGS,
    "datetime": _ORDERED | _FLAGS,
    "bool": frozenset({Op.eq, Op.ne, Op.in_, Op.not_in}) | _FLAGS,
    "list": frozenset({Op.contains, Op.contains_any, Op.is_empty}) | _FLAGS,
}
#: Operators a condition on ``length()`` may use (the length is an int).
_LENGTH_OPS = _ORDERED
#: Operators an ``any()``/``all()`` condition may apply to the elements, by element kind.
_ELEMENT_OPS: dict[str, frozenset[Op]] = {
    "str": _ORDERED | _STR_MATCH,
    "int": _ORDERED,
    "float": _ORDERED,
    "datetime": _ORDERED,
    "bool": frozenset({Op.eq, Op.ne, Op.in_, Op.not_in}),
}


class _Target:
    """What a field refers to: its display name, kind and list-ness."""

    __slots__ = ("is_list", "kind", "name")

    def __init__(self, name: str, kind: Kind, is_list: bool) -> None:
        self.name = name
        self.kind = kind
        self.is_list = is_list


def _known(spec: IndexSpec) -> str:
    indexed = ", ".join(spec.paths) or "(none)"
    meta = ", ".join(f"${name}" for name in META_FIELDS)
    return f"indexed fields: {indexed}; meta fields: {meta}"


def _target(field: Field, spec: IndexSpec) -> _Target:
    if not isinstance(field, Field) or not isinstance(field.path, str):
        raise QueryError(f"{field!r} is not a Field")
    if field.meta:
        kind = META_FIELDS.get(field.path)
        if kind is None:
            raise QueryError(
                f"'${field.path}' is not a meta field; {_known(spec)}", path=f"${field.path}"
            )
        return _Target(f"${field.path}", cast(Kind, kind), False)
    if not PATH_RE.fullmatch(field.path):
        raise QueryError(
            f"{field.path!r} is not a valid path (dot-separated identifiers); {_known(spec)}",
            path=field.path,
        )
    indexed = spec.get(field.path)
    if indexed is None:
        hint = f" (did you mean '${field.path}'?)" if field.path in META_FIELDS else ""
        raise QueryError(
            f"{field.path!r} is not indexed{hint}; {_known(spec)}",
            path=field.path,
        )
    return _Target(field.path, indexed.kind, indexed.is_list)


def _fn_target(field: Field, target: _Target) -> tuple[_Target, frozenset[Op]]:
    """The target a field function compares (and the operators it allows)."""
    fn = field.fn
    if field.meta or fn not in FIELD_FNS:
        if fn not in FIELD_FNS:
            raise QueryError(
                f"unknown field function {fn!r}; functions: {', '.join(sorted(FIELD_FNS))}",
                path=target.name,
            )
        raise QueryError(f"{fn}() applies to indexed data paths, not {target.name}")
    name = f"{target.name}.{fn}()"
    if fn == "length":
        if not (target.is_list or target.kind == "str"):
            raise QueryError(
                f"length() applies to str and list fields; {target.name} is a {target.kind}",
                path=target.name,
            )
        return _Target(name, "int", False), _LENGTH_OPS
    if not target.is_list:
        raise QueryError(
            f"{fn}() applies to list fields; {target.name} is a {target.kind}", path=target.name
        )
    return _Target(name, target.kind, False), _ELEMENT_OPS[target.kind]


def _scalar(target: _Target, op: Op, value: Any) -> Any:
    """Normalise one comparison value to the field's (element) kind."""
    if value is None:
        raise QueryError(
            f"{target.name} {op.value} null is never true; use is_null() to find null or "
            "missing values",
            path=target.name,
        )
    try:
        out = normalize_scalar(target.kind, value)
    except TypeError:
        kind = f"{'an' if target.kind == 'int' else 'a'} {target.kind}"
        shown = f"a list of {target.kind}" if target.is_list else f"{kind} field"
        raise QueryError(
            f"{target.name} is {shown}; {value!r} is not {kind}", path=target.name
        ) from None
    if out is None:  # NaN
        raise QueryError(f"{target.name}: NaN cannot be compared", path=target.name)
    return out


def _condition(cond: Condition, spec: IndexSpec) -> Condition:
    target = _target(cond.field, spec)
    try:
        op = Op(cond.op)
    except ValueError:
        raise QueryError(f"unknown operator {cond.op!r}", path=target.name) from None
    family = "list" if target.is_list else target.kind
    ops = _ALLOWED[family]
    if cond.field.fn is not None:
        target, ops = _fn_target(cond.field, target)
    if op not in ops:
        shown = f"list of {target.kind}" if target.is_list else target.kind
        allowed = ", ".join(sorted(o.value for o in ops))
        raise QueryError(
            f"operator {op.value!r} does not apply to {target.name} ({shown}); allowed: {allowed}",
            path=target.name,
        )
    value = cond.value
    if op in FLAG_OPS:
        if value is None:
            value = True
        if not isinstance(value, bool):
            raise QueryError(f"{op.value} takes true or false, not {value!r}", path=target.name)
        return Condition(cond.field, op, value)
    if op in _LIST_VALUED:
        if not isinstance(value, list | tuple) or not value:
            raise QueryError(
                f"{op.value!r} on {target.name} needs a non-empty list of values, not {value!r}",
                path=target.name,
            )
        return Condition(cond.field, op, tuple(_scalar(target, op, v) for v in value))
    value = _scalar(target, op, value)
    if op is Op.regex:
        if len(value) > MAX_REGEX_LENGTH:
            raise QueryError(
                f"regex on {target.name} is longer than {MAX_REGEX_LENGTH} characters",
                path=target.name,
            )
        try:
            compile_regex(value)
        except RegexSyntaxError as exc:
            raise QueryError(f"invalid regex for {target.name}: {exc}", path=target.name) from None
    return Condition(cond.field, op, value)


def _expr(expr: Any, spec: IndexSpec) -> Expr:
    if isinstance(expr, Condition):
        return _condition(expr, spec)
    if isinstance(expr, Not):
        return Not(_expr(expr.item, spec))
    if isinstance(expr, And):
        return And(tuple(_expr(item, spec) for item in expr.items))
    if isinstance(expr, Or):
        return Or(tuple(_expr(item, spec) for item in expr.items))
    raise QueryError(f"{expr!r} is not a query expression")


def _sorts(sorts: Any, spec: IndexSpec) -> tuple[Sort, ...]:
    if not isinstance(sorts, list | tuple):
        raise QueryError(f"sorts must be a list of Sort, not {sorts!r}")
    seen: set[Field] = set()
    out: list[Sort] = []
    for sort in sorts:
        if not isinstance(sort, Sort):
            raise QueryError(f"{sort!r} is not a Sort")
        target = _target(sort.field, spec)
        if sort.field.fn is not None:
            raise QueryError(f"cannot sort on {sort.field}", path=target.name)
        if target.is_list:
            raise QueryError(f"cannot sort on the list field {target.name}", path=target.name)
        if sort.field in seen:
            raise QueryError(f"{target.name} appears twice in sorts", path=target.name)
        seen.add(sort.field)
        out.append(Sort(sort.field, descending=bool(sort.descending)))
    return tuple(out)


def _int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise QueryError(f"{name} must be an integer, not {value!r}")
    return value


def _mentions_is_deleted(expr: Expr) -> bool:
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Condition):
            if node.field.meta and node.field.path == "is_deleted":
                return True
        elif isinstance(node, Not):
            stack.append(node.item)
        else:
            stack.extend(node.items)
    return False


def resolve_query(
    query: Query | QueryBuilder | Expr | None,
    spec: IndexSpec,
    *,
    default_limit: int = DEFAULT_LIMIT,
    max_limit: int = MAX_LIMIT,
) -> Query:
    """Check ``query`` against the indexed fields and return its normalised form.

    Args:
        query: a :class:`~.ast.Query`, a :class:`~.ast.QueryBuilder`, a bare expression (a
            filter with default paging), or ``None`` (everything, default paging).
        spec: the indexed fields of the resource type.
        default_limit: page size used when the query gives none.
        max_limit: the largest page size accepted.

    Returns:
        A new query with normalised values (canonical kinds, datetimes in UTC, value lists as
        tuples, ``is_null``/``exists`` without a value as ``True``), validated sorts, and a
        concrete ``limit``.

    Raises:
        QueryError: an unknown or unindexed field (the message lists the indexed paths and the
            meta fields), an operator that does not fit the field's kind, a value of the wrong
            kind, a null comparison value (use ``is_null``), an empty value list, an invalid or
            over-long regex, a sort on a list field or a repeated sort field, a limit outside
            ``1..max_limit``, a negative offset, an offset combined with a cursor, or a cursor
            that is malformed or belongs to another query.
    """
    if isinstance(query, QueryBuilder):
        query = query.build()
    if query is None:
        query = Query()
    elif isinstance(query, Condition | And | Or | Not):
        query = Query(where=query)
    elif not isinstance(query, Query):
        raise QueryError(f"expected a Query or an expression, not {type(query).__name__}")

    where = None
    if query.where is not None:
        check_depth(query.where, MAX_EXPR_DEPTH)
        where = _expr(query.where, spec)
    sorts = _sorts(query.sorts, spec)

    limit = default_limit if query.limit is None else _int(query.limit, "limit")
    if not 1 <= limit <= max_limit:
        raise QueryError(f"limit must be between 1 and {max_limit}, not {limit}")
    offset = _int(query.offset, "offset")
    if offset < 0:
        raise QueryError(f"offset must not be negative, not {offset}")
    if query.is_deleted is not None and not isinstance(query.is_deleted, bool):
        raise QueryError(f"is_deleted must be true, false or null, not {query.is_deleted!r}")
    if where is not None and query.is_deleted is not None and _mentions_is_deleted(where):
        raise QueryError(
            "filter on $is_deleted only together with is_deleted=None; otherwise use the "
            "query's is_deleted (false: live only, true: deleted only, null: both)",
            path="$is_deleted",
        )
    if query.cursor is not None and offset > 0:
        raise QueryError("a query cannot have both a cursor and an offset")

    resolved = Query(
        where=where,
        sorts=sorts,
        limit=limit,
        offset=offset,
        cursor=query.cursor,
        is_deleted=query.is_deleted,
    )
    if resolved.cursor is not None:
        decode_cursor(resolved, resolved.cursor)
    return resolved

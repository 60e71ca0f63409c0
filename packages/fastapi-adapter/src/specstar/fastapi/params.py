"""Query-string parameters of the generated routes, parsed into core query objects.

A listing is filtered by any combination of (all must hold):

* ``qb`` — the compact string form, e.g. ``year >= 1960 & title.starts_with("D")``
  (:func:`specstar.core.parse_condition`);
* ``conditions`` — the JSON form of the same tree (a ``Condition``/``And``/``Or``/``Not``
  object, or a list of them meaning *all of*);
* ``created_time_start``/``created_time_end`` and ``updated_time_start``/``updated_time_end``
  — a half-open interval ``[start, end)`` on ``$created_time``/``$updated_time``;
* ``rev_created_time_start``/``_end`` and ``rev_updated_time_start``/``_end`` — a closed
  interval ``[start, end]`` (both ends inclusive, as the reference documents them) on
  ``$rev_created_time``/``$rev_updated_time``, the times of the current revision;
* ``rev_statuses`` — ``$rev_status in [...]`` (``draft``/``stable``, the current revision's);
* ``created_by``/``updated_by`` — ``$created_by in [...]``/``$updated_by in [...]``;
* ``is_deleted`` — ``false`` (default: live resources), ``true`` (soft-deleted ones) or ``any``.

``sorts`` takes ``-year,title,$created_time`` or the JSON list form. Errors in any of them are
:class:`~specstar.core.QueryError` (HTTP 400, ``invalid_query``).

Every list-valued parameter (``created_by``, ``updated_by``, ``rev_statuses``, ``sorts``,
``returns``, ``partial``) may be repeated (``?a=x&a=y``), comma-separated (``?a=x,y``) or sent with
brackets (``?a[]=x``, rewritten by the route class): all mean the same list.

No ``from __future__ import annotations`` here: FastAPI reads these signatures at run time,
and they refer to names local to the factories.
"""

import enum
import re
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from typing import Annotated, Any, Union

import msgspec
from pydantic import BeforeValidator

from fastapi import Depends
from fastapi import Query as QueryParam
from specstar.core import (
    And,
    Condition,
    Field,
    Op,
    PatchError,
    Query,
    QueryError,
    ResourceManager,
    RevisionStatus,
    Sort,
    parse_condition,
    parse_sorts,
)
from specstar.core.spi import META_FIELDS, Expr, jsonpointer

__all__ = [
    "MAX_OFFSET",
    "RETURNS",
    "DeletedFilter",
    "Filters",
    "filters_dependency",
    "parse_conditions_json",
    "parse_partial",
    "parse_returns",
    "parse_sorts_param",
    "parse_sorts_params",
    "query_dependency",
]

#: Largest ``offset`` accepted (deeper pages: use the cursor).
MAX_OFFSET = 2**31 - 1

#: The parts a read may return.
RETURNS = ("data", "info", "meta")

_EXPRS: Any = Union[Expr, list[Expr]]  # noqa: UP007 - msgspec needs a runtime Union


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_8601_only(value: Any) -> Any:
    """Refuse what is not an ISO 8601 date-time text before pydantic reads it: pydantic would
    take a plain number as seconds (or milliseconds) since the epoch, so ``?x=1700000000``
    would silently mean a date the client never wrote."""
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError(
            "expected an ISO 8601 date-time such as 2024-01-31T12:00:00Z (numbers are not accepted)"
        )
    return value


#: A date-time query parameter: ISO 8601 text only.
DateTimeParam = Annotated[datetime | None, BeforeValidator(_iso_8601_only)]


class DeletedFilter(enum.StrEnum):
    """Which resources a listing covers."""

    false = "false"
    true = "true"
    any = "any"

    def as_query_value(self) -> bool | None:
        return {"false": False, "true": True, "any": None}[self.value]


class Filters(msgspec.Struct, frozen=True):
    """The filter part of a listing: the combined condition and the deletion filter."""

    where: Expr | None
    is_deleted: bool | None


_GROUPS = {"and": "and", "or": "or", "not": "not"}
_CONDITION_KEYS = frozenset({"field_path", "operator", "value"})
_GROUP_KEYS = frozenset({"operator", "conditions"})


def _reference_node(node: Any, *, data_only: bool, depth: int = 0) -> Any:
    """The SpecStar JSON form of one node, which may be in the reference's form:
    ``{"field_path": "age", "operator": "gte", "value": 18}`` (a field of the data, or with
    ``data_only=False`` a meta field when it names one) or a group
    ``{"operator": "and"|"or"|"not", "conditions": [...]}``. A node in SpecStar's own form
    (``{"type": ...}``) passes unchanged."""
    if depth > 64:
        raise QueryError("conditions nests too deeply")
    if not isinstance(node, dict) or "type" in node:
        return node
    if "field_path" in node:
        unknown = sorted(set(node) - _CONDITION_KEYS)
        if unknown:
            raise QueryError(f"unknown member(s) {', '.join(unknown)} in condition {node!r}")
        path, operator = node["field_path"], node.get("operator")
        if not isinstance(path, str) or not isinstance(operator, str):
            raise QueryError(f"field_path and operator must be strings in {node!r}")
        try:
            op = Op(operator)
        except ValueError:
            ops = ", ".join(o.value for o in Op)
            raise QueryError(f"unknown operator {operator!r} (accepted: {ops})") from None
        meta = not data_only and path in META_FIELDS
        field = {"path": path, "meta": meta}
        return {"type": "cmp", "field": field, "op": op.value, "value": node.get("value")}
    if node.get("operator") in _GROUPS and "conditions" in node:
        unknown = sorted(set(node) - _GROUP_KEYS)
        if unknown:
            raise QueryError(f"unknown member(s) {', '.join(unknown)} in group {node!r}")
        items = node["conditions"]
        if not isinstance(items, list):
            raise QueryError("a group's conditions must be a list")
        converted = [_reference_node(i, data_only=data_only, depth=depth + 1) for i in items]
        if node["operator"] == "not":
            return {"type": "not", "item": {"type": "and", "items": converted}}
        return {"type": node["operator"], "items": converted}
    return node


def parse_conditions_json(text: str, *, name: str = "conditions", data_only: bool = False) -> Expr:
    """The JSON form of a condition tree (one node, or a list of nodes meaning all of them).

    Nodes may be in SpecStar's form (the ``Expr`` schema) or in the reference's
    ``{"field_path", "operator", "value"}`` / ``{"operator": "and", "conditions"}`` form; in
    ``data_conditions`` (``data_only``) a ``field_path`` always names a data path.
    """
    try:
        raw = msgspec.json.decode(text)
        if isinstance(raw, list):
            raw = [_reference_node(n, data_only=data_only) for n in raw]
        else:
            raw = _reference_node(raw, data_only=data_only)
        decoded = msgspec.convert(raw, type=_EXPRS)
    except RecursionError:
        raise QueryError(f"{name} nests too deeply") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise QueryError(f"{name} is not a valid JSON condition tree: {exc}") from None
    except QueryError as exc:
        raise QueryError(f"{name}: {exc}") from None
    if isinstance(decoded, list):
        return And(tuple(decoded))
    expr: Expr = decoded
    return expr


def parse_sorts_param(text: str) -> tuple[Sort, ...]:
    """``-year,title`` (string form), ``[{"field": {"path": "year"}, "descending": true}]``
    or one such object alone."""
    if text.lstrip().startswith("{"):
        try:
            return (msgspec.json.decode(text, type=Sort),)
        except RecursionError:
            raise QueryError("sorts nests too deeply") from None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise QueryError(f"sorts is not a valid JSON sort: {exc}") from None
    if text.lstrip().startswith("["):
        try:
            return tuple(msgspec.json.decode(text, type=list[Sort]))
        except RecursionError:
            raise QueryError("sorts nests too deeply") from None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise QueryError(f"sorts is not a valid JSON list of sorts: {exc}") from None
    return parse_sorts(text)


def parse_sorts_params(values: Iterable[str] | None) -> tuple[Sort, ...]:
    """Repeated ``sorts`` values, each in a form :func:`parse_sorts_param` reads, in order."""
    out: list[Sort] = []
    for value in values or ():
        if value.strip():
            out.extend(parse_sorts_param(value))
    return tuple(out)


def _split(values: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def parse_returns(values: Iterable[str] | None) -> tuple[str, ...]:
    """``returns=data,info`` or repeated ``returns=`` → the parts to return (default: all)."""
    parts = _split(values)
    if not parts:
        return RETURNS
    unknown = sorted(set(parts) - set(RETURNS))
    if unknown:
        raise QueryError(f"returns accepts data, info, meta — not {', '.join(unknown)}")
    return tuple(p for p in RETURNS if p in parts)


def parse_partial(values: Iterable[str] | None) -> list[str] | None:
    """``partial`` paths (JSON Pointers or dotted paths), or ``None`` for the whole data.

    Each value may hold several paths separated by commas; a path containing a comma must be
    sent alone in a JSON Pointer (``~`` escapes do not apply to commas: use the JSON body of
    a custom route for such keys).
    """
    paths = _split(values)
    if not paths:
        return None
    out: list[str] = []
    for path in paths:
        try:
            out.append(jsonpointer.format_pointer(jsonpointer.to_pointer(path)))
        except PatchError as exc:
            raise QueryError(f"invalid partial path {path!r}: {exc.message}", path=path) from None
    return out


_REV_STATUSES = [status.value for status in RevisionStatus]


def _rev_statuses(values: list[str]) -> tuple[str, ...]:
    """The values of ``rev_statuses``, each a revision status (else a QueryError naming it)."""
    for value in values:
        if value not in _REV_STATUSES:
            raise QueryError(
                f"rev_statuses: {value!r} is not a revision status; use one of {_REV_STATUSES}",
                path="rev_statuses",
            )
    return tuple(values)


def _meta(name: str) -> Field:
    return Field(name, meta=True)


def _combine(parts: list[Expr]) -> Expr | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


_QB_DOC = (
    'Filter in the compact string form, e.g. `year >= 1960 & title.starts_with("D")`. '
    "Fields are indexed data paths or meta fields such as `$created_time`. "
    "Combine with `&`/`and`, `|`/`or`, `!`/`not` and parentheses. "
    "Operators: `== != > >= < <=`, `in [...]`, `not in [...]`; methods `contains`, "
    "`contains_any`, `starts_with`, `ends_with`, `regex`, `icontains`, `istarts_with`, "
    "`iends_with` (ASCII case-insensitive), `is_null`, `exists`, `is_empty`, `is_blank`, "
    "`truthy` (these five take `true`/`false`, default `true`). Field functions: "
    '`name.length() > 3`, `tags.any().starts_with("a")`, `scores.all() >= 0`. '
    'Literals: JSON strings, numbers, `true`, `false`, `null`, lists, `dt"2024-01-01T00:00:00Z"`.'
)
_CONDITIONS_DOC = (
    "Filter in the JSON form: a `Condition`/`And`/`Or`/`Not` object (see the `Expr` schema), "
    'or a list of them meaning all of them, e.g. `{"type": "cmp", "field": {"path": "year"}, '
    '"op": "gte", "value": 1960}`. The reference\'s form is accepted too: '
    '`[{"field_path": "year", "operator": "gte", "value": 1960}]`, groups '
    '`{"operator": "or", "conditions": [...]}`; there a `field_path` naming a meta field '
    "(`created_time`, …) means that meta field."
)
_DATA_CONDITIONS_DOC = (
    "Filter on indexed data in the JSON form of `conditions`; a `field_path` here always "
    "names a data path."
)


def filters_dependency() -> Callable[..., Coroutine[Any, Any, Filters]]:
    """A FastAPI dependency reading the filter parameters of a listing into :class:`Filters`.

    It is a coroutine function: parsing takes microseconds (the condition is bounded), so it
    runs on the event loop instead of costing the request a thread hop.
    """

    async def filters(
        *,
        qb: Annotated[str | None, QueryParam(description=_QB_DOC)] = None,
        conditions: Annotated[str | None, QueryParam(description=_CONDITIONS_DOC)] = None,
        is_deleted: Annotated[
            DeletedFilter,
            QueryParam(description="`false`: live resources, `true`: soft-deleted, `any`: both"),
        ] = DeletedFilter.false,
        created_time_start: Annotated[
            DateTimeParam, QueryParam(description="`$created_time >= this`")
        ] = None,
        created_time_end: Annotated[
            DateTimeParam, QueryParam(description="`$created_time < this`")
        ] = None,
        updated_time_start: Annotated[
            DateTimeParam, QueryParam(description="`$updated_time >= this`")
        ] = None,
        updated_time_end: Annotated[
            DateTimeParam, QueryParam(description="`$updated_time < this`")
        ] = None,
        created_by: Annotated[
            list[str],
            QueryParam(
                default_factory=list,
                description="`$created_by` is one of these (repeated or comma-separated)",
            ),
        ],
        updated_by: Annotated[
            list[str],
            QueryParam(
                default_factory=list,
                description="`$updated_by` is one of these (repeated or comma-separated)",
            ),
        ],
        created_bys: Annotated[
            list[str],
            QueryParam(default_factory=list, description="The same as `created_by` (either name)."),
        ],
        updated_bys: Annotated[
            list[str],
            QueryParam(default_factory=list, description="The same as `updated_by` (either name)."),
        ],
        data_conditions: Annotated[str | None, QueryParam(description=_DATA_CONDITIONS_DOC)] = None,
        rev_statuses: Annotated[
            list[str],
            QueryParam(
                default_factory=list,
                description="`$rev_status` (the current revision's status, `draft` or `stable`) "
                "is one of these (repeated or comma-separated)",
                json_schema_extra={"items": {"type": "string", "enum": _REV_STATUSES}},
            ),
        ],
        rev_created_time_start: Annotated[
            DateTimeParam, QueryParam(description="`$rev_created_time >= this`")
        ] = None,
        rev_created_time_end: Annotated[
            DateTimeParam, QueryParam(description="`$rev_created_time <= this` (inclusive)")
        ] = None,
        rev_updated_time_start: Annotated[
            DateTimeParam, QueryParam(description="`$rev_updated_time >= this`")
        ] = None,
        rev_updated_time_end: Annotated[
            DateTimeParam, QueryParam(description="`$rev_updated_time <= this` (inclusive)")
        ] = None,
    ) -> Filters:
        parts: list[Expr] = []
        if qb is not None and qb.strip():
            parts.append(parse_condition(qb))
        if conditions is not None and conditions.strip():
            parts.append(parse_conditions_json(conditions))
        if data_conditions is not None and data_conditions.strip():
            parts.append(
                parse_conditions_json(data_conditions, name="data_conditions", data_only=True)
            )
        bounds = (
            ("created_time", Op.gte, created_time_start),
            ("created_time", Op.lt, created_time_end),
            ("updated_time", Op.gte, updated_time_start),
            ("updated_time", Op.lt, updated_time_end),
            ("rev_created_time", Op.gte, rev_created_time_start),
            ("rev_created_time", Op.lte, rev_created_time_end),
            ("rev_updated_time", Op.gte, rev_updated_time_start),
            ("rev_updated_time", Op.lte, rev_updated_time_end),
        )
        for name, op, value in bounds:
            if value is not None:
                parts.append(Condition(_meta(name), op, value))
        for name, values in (
            ("created_by", [*created_by, *created_bys]),
            ("updated_by", [*updated_by, *updated_bys]),
        ):
            users = _split(values)
            if users:
                parts.append(Condition(_meta(name), Op.in_, tuple(users)))
        statuses = _split(rev_statuses)
        if statuses:
            parts.append(Condition(_meta("rev_status"), Op.in_, _rev_statuses(statuses)))
        return Filters(where=_combine(parts), is_deleted=is_deleted.as_query_value())

    return filters


def query_dependency(manager: ResourceManager[Any]) -> Callable[..., Coroutine[Any, Any, Query]]:
    """A FastAPI dependency reading filters, ``sorts`` and paging into a core :class:`Query`
    (a coroutine function, like :func:`filters_dependency`)."""
    max_limit = manager.max_limit

    async def query(
        *,
        filters: Annotated[Filters, Depends(filters_dependency())],
        sorts: Annotated[
            list[str] | None,
            QueryParam(
                description=(
                    "Sort keys, e.g. `-year,title,$created_time` (`-`: descending), repeated "
                    "or comma-separated, or the JSON list form"
                )
            ),
        ] = None,
        limit: Annotated[
            int | None,
            QueryParam(ge=1, le=max_limit, description="Page size (default: the model's)"),
        ] = None,
        offset: Annotated[
            int,
            QueryParam(ge=0, le=MAX_OFFSET, description="Rows to skip (not with `cursor`)"),
        ] = 0,
        cursor: Annotated[
            str | None,
            QueryParam(description="Continue after the page that returned this `X-Next-Cursor`"),
        ] = None,
    ) -> Query:
        return Query(
            where=filters.where,
            sorts=parse_sorts_params(sorts),
            limit=limit,
            offset=offset,
            cursor=cursor or None,
            is_deleted=filters.is_deleted,
        )

    return query

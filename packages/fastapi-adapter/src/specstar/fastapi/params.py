"""Query-string parameters of the generated routes, parsed into core query objects.

A listing is filtered by any combination of (all must hold):

* ``qb`` — the compact string form, e.g. ``year >= 1960 & title.starts_with("D")``
  (:func:`specstar.core.parse_condition`);
* ``conditions`` — the JSON form of the same tree (a ``Condition``/``And``/``Or``/``Not``
  object, or a list of them meaning *all of*);
* ``created_time_start``/``created_time_end`` and ``updated_time_start``/``updated_time_end``
  — a half-open interval ``[start, end)`` on ``$created_time``/``$updated_time``;
* ``created_by``/``updated_by`` — ``$created_by in [...]``/``$updated_by in [...]``;
* ``is_deleted`` — ``false`` (default: live resources), ``true`` (soft-deleted ones) or ``any``.

``sorts`` takes ``-year,title,$created_time`` or the JSON list form. Errors in any of them are
:class:`~specstar.core.QueryError` (HTTP 400, ``invalid_query``).

Every list-valued parameter (``created_by``, ``updated_by``, ``sorts``, ``returns``,
``partial``) may be repeated (``?a=x&a=y``), comma-separated (``?a=x,y``) or sent with
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
    Sort,
    parse_condition,
    parse_sorts,
)
from specstar.core.spi import Expr, jsonpointer

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


def parse_conditions_json(text: str) -> Expr:
    """The JSON form of a condition tree (one node, or a list of nodes meaning all of them)."""
    try:
        decoded = msgspec.json.decode(text, type=_EXPRS)
    except RecursionError:
        raise QueryError("conditions nests too deeply") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise QueryError(f"conditions is not a valid JSON condition tree: {exc}") from None
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


def _meta(name: str) -> Field:
    return Field(name, meta=True)


def _combine(parts: list[Expr]) -> Expr | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


_QB_DOC = (
    'Filter in the compact string form, e.g. `year >= 1960 & title.starts_with("D")`. '
    "Fields are indexed data paths or meta fields such as `$created_time`."
)
_CONDITIONS_DOC = (
    "Filter in the JSON form: a `Condition`/`And`/`Or`/`Not` object (see the `Expr` schema), "
    'or a list of them meaning all of them, e.g. `{"type": "cmp", "field": {"path": "year"}, '
    '"op": "gte", "value": 1960}`.'
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
            list[str] | None,
            QueryParam(description="`$created_by` is one of these (repeated or comma-separated)"),
        ] = None,
        updated_by: Annotated[
            list[str] | None,
            QueryParam(description="`$updated_by` is one of these (repeated or comma-separated)"),
        ] = None,
    ) -> Filters:
        parts: list[Expr] = []
        if qb is not None and qb.strip():
            parts.append(parse_condition(qb))
        if conditions is not None and conditions.strip():
            parts.append(parse_conditions_json(conditions))
        bounds = (
            ("created_time", Op.gte, created_time_start),
            ("created_time", Op.lt, created_time_end),
            ("updated_time", Op.gte, updated_time_start),
            ("updated_time", Op.lt, updated_time_end),
        )
        for name, op, value in bounds:
            if value is not None:
                parts.append(Condition(_meta(name), op, value))
        for name, values in (("created_by", created_by), ("updated_by", updated_by)):
            users = _split(values)
            if users:
                parts.append(Condition(_meta(name), Op.in_, tuple(users)))
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

"""The pages that browse many resources: the dashboard, a model's list (search, filters,
sorting, pages, batch actions) and the options of the reference picker."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UnsetType
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from specstar.core import (
    And,
    Condition,
    Field,
    JobStatus,
    Op,
    PermissionDeniedError,
    Query,
    QueryError,
    ResourceManager,
    ResourceMeta,
    Sort,
    SpecStarError,
    parse_condition,
    parse_sorts,
)
from specstar.core.query import Expr

from .forms import display_field
from .site import AdminSite, BadRequest

__all__ = ["batch", "dashboard", "listing", "options"]

_RECENT = 15
_BY_UPDATE = (Sort(Field("updated_time", meta=True), descending=True),)
#: The query parameter prefix of the per-field filters of a list (``f.title=...``).
FILTER = "f."
_MAX_BATCH = 200
_OPTIONS = 20


def _dashboard_row(
    site: AdminSite, name: str, manager: ResourceManager[Any], user: str | UnsetType
) -> tuple[dict[str, Any], list[tuple[datetime, str, Any]]]:
    row: dict[str, Any] = {"name": name, "count": None, "jobs": {}, "error": ""}
    recent: list[tuple[datetime, str, Any]] = []
    try:
        row["count"] = manager.count(user=user)
        page = manager.search_page(
            Query(sorts=_BY_UPDATE, limit=_RECENT, is_deleted=None), user=user
        )
        recent = [(m.updated_time, name, m) for m in page.items]
        if site.is_job(manager):
            for state in JobStatus:
                where = Condition(Field("status"), Op.eq, state.value)
                row["jobs"][state.value] = manager.count(Query(where=where), user=user)
    except PermissionDeniedError:
        row["error"] = "no access"
    except SpecStarError as exc:
        row["error"] = exc.message
    return row, recent


def dashboard(site: AdminSite, request: Request, user: str | UnsetType) -> Response:
    """Every model with its count (and job states), and the latest changes across models."""
    site.params(request, ())
    rows: list[dict[str, Any]] = []
    recent: list[tuple[datetime, str, Any]] = []
    for name, manager in site.managers.items():
        row, changes = _dashboard_row(site, name, manager, user)
        rows.append(row)
        recent.extend(changes)
    recent.sort(key=lambda r: (r[0], r[2].resource_id), reverse=True)
    return site.render(request, "dashboard.html", rows=rows, recent=recent[:_RECENT])


def columns(manager: ResourceManager[Any]) -> list[tuple[str, str]]:
    """``(path, kind)`` of a list's data columns: the display field, then the indexed ones."""
    out: list[tuple[str, str]] = []
    shown = display_field(manager.model)
    kinds = {f.path: f.kind for f in manager.index_spec.fields if f.source is None}
    if shown is not None:
        out.append((shown, kinds.get(shown, "")))
    out.extend((path, kind) for path, kind in kinds.items() if path != shown)
    return out


def _filter_value(path: str, kind: str, text: str) -> Any:
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise QueryError(f"filter {path}: {text!r} is not a whole number") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise QueryError(f"filter {path}: {text!r} is not a number") from None
    if kind == "bool":
        if text not in ("true", "false"):
            raise QueryError(f"filter {path}: use true or false, not {text!r}")
        return text == "true"
    if kind == "datetime":
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise QueryError(f"filter {path}: {text!r} is not an ISO 8601 date-time") from None
        return value
    return text


def _value_at(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def listing(site: AdminSite, request: Request, model: str, user: str | UnsetType) -> Response:
    """A model's resources: ``qb`` search, filters per indexed field, sort, pages by cursor."""
    manager = site.manager(model)
    params = site.params(request, ("qb", "sort", "cursor", "deleted"), prefix=FILTER)
    cols = columns(manager)
    kinds = dict(cols)
    filters = {k[len(FILTER) :]: v for k, v in params.items() if k.startswith(FILTER)}
    for path in filters:
        if path not in kinds:
            raise BadRequest(f"no filter for {path!r}: filter on {', '.join(kinds) or 'nothing'}")
    deleted = params.get("deleted", "")
    if deleted not in ("", "1"):
        raise BadRequest(f"deleted must be 1 or absent, not {deleted!r}")
    qb = params.get("qb", "")
    sort = params.get("sort", "")
    error: dict[str, Any] | None = None
    rows: list[dict[str, Any]] = []
    next_cursor: str | None = None
    try:
        lists = {f.path for f in manager.index_spec.fields if f.is_list}
        conditions: list[Expr] = [
            Condition(
                Field(path),
                Op.contains if path in lists else Op.eq,
                _filter_value(path, kinds[path], text),
            )
            for path, text in filters.items()
            if text != ""
        ]
        if qb.strip():
            try:
                searched = parse_condition(qb)
                manager.resolve(Query(where=searched))  # unindexed paths, wrong kinds
                conditions.append(searched)
            except QueryError as exc:
                error = {
                    "field": "qb",
                    "message": exc.message,
                    "position": exc.extra.get("position"),
                }
                raise
        where = (
            None
            if not conditions
            else conditions[0]
            if len(conditions) == 1
            else And(tuple(conditions))
        )
        try:
            sorts = parse_sorts(sort)
        except QueryError as exc:
            error = {"field": "sort", "message": exc.message, "position": exc.extra.get("position")}
            raise
        query = Query(
            where=where,
            sorts=sorts,
            limit=site.page_size,
            cursor=params.get("cursor") or None,
            is_deleted=None if deleted else False,
        )
        page = manager.list_page(query, returns=("data", "meta"), user=user)
        next_cursor = page.next_cursor if page.has_more else None
        for item in page.items:
            data = msgspec.to_builtins(item.data)
            rows.append(
                {
                    "meta": item.meta,
                    "cells": [_value_at(data, path) for path, _ in cols],
                }
            )
    except QueryError as exc:
        if error is None:  # not the text of the search or the sort: a filter or the cursor
            error = {"field": "query", "message": exc.message, "position": None}
    status = 200 if error is None else 400
    return site.render(
        request,
        "list.html",
        status=status,
        model=model,
        columns=cols,
        rows=rows,
        qb=qb,
        sort=sort,
        deleted=bool(deleted),
        filters=filters,
        error=error,
        next_cursor=next_cursor,
        cursor=params.get("cursor", ""),
        is_job=site.is_job(manager),
        ref_targets={r.path: r.target for r in manager.refs if not r.is_list},
    )


def options(site: AdminSite, request: Request, model: str, user: str | UnsetType) -> Response:
    """The reference picker's choices: resources of ``model`` whose id or display field starts
    with ``q`` (JSON ``[{"id", "label"}]``)."""
    manager = site.manager(model)
    params = site.params(request, ("q",))
    text = params.get("q", "")
    shown = display_field(manager.model)
    indexed = {f.path for f in manager.index_spec.fields}
    where: Any = None
    if text:
        where = Condition(Field("resource_id", meta=True), Op.starts_with, text)
        if shown is not None and shown in indexed:
            where = where | Condition(Field(shown), Op.istarts_with, text)
    try:
        page = manager.list_page(
            Query(where=where, limit=_OPTIONS), returns=("data", "meta"), user=user
        )
    except PermissionDeniedError:
        return JSONResponse([], status_code=403)
    out = []
    for item in page.items:
        data = msgspec.to_builtins(item.data)
        label = _value_at(data, shown) if shown else None
        assert isinstance(item.meta, ResourceMeta)
        out.append({"id": item.meta.resource_id, "label": str(label) if label is not None else ""})
    return JSONResponse(out)


def batch(
    site: AdminSite, request: Request, model: str, form: FormData, user: str | UnsetType
) -> Response:
    """Delete or restore the selected resources: a confirmation page first, then each one
    acted on in turn (one failing does not stop the others; each outcome is shown)."""
    manager = site.manager(model)
    site.params(request, ())
    inputs = site.form_fields(form, ("action", "confirmed"), lists=("ids",))
    ids = [i for i in form.getlist("ids") if isinstance(i, str)]
    action = inputs.get("action", "")
    if action not in ("delete", "restore"):
        raise BadRequest(f"action must be delete or restore, not {action!r}")
    if not ids:
        raise BadRequest("select at least one resource")
    if len(ids) > _MAX_BATCH:
        raise BadRequest(f"at most {_MAX_BATCH} resources at once, not {len(ids)}")
    if inputs.get("confirmed") != "1":
        return site.render(request, "batch.html", model=model, action=action, ids=ids, results=None)
    results: list[tuple[str, str]] = []
    for rid in ids:
        try:
            verb = manager.delete if action == "delete" else manager.restore
            site.write(manager, user, functools.partial(verb, rid, user=user))
            results.append((rid, "done"))
        except SpecStarError as exc:
            results.append((rid, exc.message))
    return site.render(
        request,
        "batch.html",
        model=model,
        action=action,
        ids=ids,
        results=results,
    )

"""``POST /m/batch/delete`` and ``POST /m/batch/restore``: soft delete or restore by query."""

import logging
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter
from specstar.core import (
    And,
    FieldError,
    Query,
    ResourceManager,
    ResourceMeta,
    SpecStarError,
    ValidationError,
    parse_condition,
)
from specstar.core.spi import Expr, Unrestricted, decode_data

from .._http import read_json
from ..dependencies import DependencyProvider
from ..openapi import BatchFailure, BatchRequest, BatchResult, json_content, problem_responses, ref
from ..problems import status_for
from ..responses import json_response
from ._base import BaseRouteTemplate, ModelRoutes, self_doc
from ._redact import redact_conflict

__all__ = ["BatchRouteTemplate", "batch_filter"]

log = logging.getLogger("specstar.fastapi")


def batch_filter(request: BatchRequest) -> Expr | None:
    """The condition of a batch request (``None``: every resource, only with ``confirm_all``).

    Raises:
        QueryError: ``qb`` does not parse (400).
        ValidationError: no filter and no ``confirm_all`` (422).
    """
    parts: list[Expr] = []
    if request.qb is not None and request.qb.strip():
        parts.append(parse_condition(request.qb))
    if isinstance(request.conditions, list):
        if request.conditions:
            parts.append(And(tuple(request.conditions)))
    elif request.conditions is not None:
        parts.append(request.conditions)
    if not parts:
        if not request.confirm_all:
            raise ValidationError(
                "a batch without qb or conditions applies to every resource: "
                "send confirm_all: true to do that",
                [FieldError("/confirm_all", "required when there is no filter")],
            )
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _run_batch(
    manager: ResourceManager[Any],
    action: str,
    op: Callable[..., ResourceMeta],
    where: Expr | None,
    *,
    deleted: bool,
    user: Any,
    now: Any,
) -> BatchResult:
    """Match, then change one by one (blocking).

    The user must be allowed ``action`` at all (else 403 before anything is read); the rows
    matched are those of the filter that lie in both the user's ``search`` scope and their
    ``action`` scope, so a batch never touches, counts or names a row the user could not
    change by itself.
    """
    u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
    scope = manager.authorize(action, user=u)
    if not isinstance(scope, Unrestricted):
        where = scope if where is None else And((scope, where))
    query = Query(where=where, is_deleted=deleted, limit=manager.max_limit)
    ids: list[str] = []
    while True:  # collect first: the changes move rows out of the filter
        page = manager.search_page(query, user=u)
        ids.extend(meta.resource_id for meta in page.items)
        if not page.has_more:
            break
        query = query.replace(cursor=page.next_cursor)
    succeeded: list[str] = []
    failed: list[BatchFailure] = []
    for rid in ids:
        try:
            op(rid, user=u, now=n)
        except SpecStarError as raised:
            exc = redact_conflict(manager, raised, u)
            status = status_for(exc)
            detail = exc.message
            if status >= 500:
                log.error("batch %s of %s %r failed", action, manager.name, rid, exc_info=exc)
                detail = "could not be changed; the error was logged"
            failed.append(
                BatchFailure(resource_id=rid, status=status, code=exc.code, detail=detail)
            )
        else:
            succeeded.append(rid)
    return BatchResult(matched=len(ids), succeeded=succeeded, failed=failed)


class BatchRouteTemplate(BaseRouteTemplate):
    """``POST /m/batch/delete`` soft-deletes, ``POST /m/batch/restore`` restores, by query.

    Body: `{"qb": "…"}` and/or `{"conditions": …}`; a batch with no filter is refused (422)
    unless it says `"confirm_all": true`. Only resources the user may search are matched (the
    filter is ANDed with their access scope), and each is changed on its own, authorized on its
    own (not one transaction); the result lists which succeeded and which failed, and why.
    """

    order = 10

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        self._add(m, "delete", m.manager.delete, deleted=False)
        self._add(m, "restore", m.manager.restore, deleted=True)

    def _add(
        self, m: ModelRoutes, verb: str, op: Callable[..., ResourceMeta], *, deleted: bool
    ) -> None:
        manager = m.manager

        async def batch(request: Request, user: Any = m.user, now: Any = m.now) -> Response:
            body = decode_data(BatchRequest, await read_json(request))
            where = batch_filter(body)
            result = await m.call(
                _run_batch, manager, verb, op, where, deleted=deleted, user=user, now=now
            )
            return json_response(result)

        which = "live" if not deleted else "soft-deleted"
        m.add(
            f"/batch/{verb}",
            batch,
            method="POST",
            action=f"batch_{verb}",
            summary=f"{verb.capitalize()} every {which} {m.name} matching a filter",
            description=self_doc(BatchRouteTemplate),
            request_body={"required": True, "content": json_content(ref("BatchRequest"))},
            responses={
                200: {
                    "description": "What was changed",
                    "content": json_content(ref("BatchResult")),
                },
                **problem_responses(400, 401, 403, 415, 422),
            },
        )

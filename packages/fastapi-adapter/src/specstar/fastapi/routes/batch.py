"""``POST /m/batch/delete`` and ``POST /m/batch/restore``: soft delete or restore by query."""

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter
from specstar.core import BatchOutcome, ResourceManager, batch_delete, batch_restore
from specstar.core import batch_filter as core_batch_filter
from specstar.core.spi import Expr, decode_data

from .._http import read_json
from ..dependencies import DependencyProvider
from ..openapi import BatchFailure, BatchRequest, BatchResult, json_content, problem_responses, ref
from ..problems import status_for
from ..responses import json_response
from ._base import BaseRouteTemplate, ModelRoutes, self_doc

__all__ = ["BatchRouteTemplate", "batch_filter"]

log = logging.getLogger("specstar.fastapi")

_BATCHES = {"delete": batch_delete, "restore": batch_restore}


def batch_filter(request: BatchRequest) -> Expr | None:
    """The condition of a batch request (``None``: every resource, only with ``confirm_all``).

    Raises:
        QueryError: ``qb`` does not parse (400).
        ValidationError: no filter and no ``confirm_all`` (422).
    """
    return core_batch_filter(
        qb=request.qb, conditions=request.conditions, confirm_all=request.confirm_all
    )


def _render(manager: ResourceManager[Any], outcome: BatchOutcome) -> BatchResult:
    """The HTTP body of a batch: each failure with the status its single-resource route
    would have answered (a server error is logged, and its detail withheld)."""
    failed: list[BatchFailure] = []
    for failure in outcome.failed:
        status = status_for(failure.error)
        detail = failure.message
        if status >= 500:
            log.error(
                "batch %s of %s %r failed",
                outcome.action,
                manager.name,
                failure.resource_id,
                exc_info=failure.error,
            )
            detail = "could not be changed; the error was logged"
        failed.append(
            BatchFailure(
                resource_id=failure.resource_id, status=status, code=failure.code, detail=detail
            )
        )
    return BatchResult(matched=outcome.matched, succeeded=list(outcome.succeeded), failed=failed)


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
        self._add(m, "delete", deleted=False)
        self._add(m, "restore", deleted=True)

    def _add(self, m: ModelRoutes, verb: str, *, deleted: bool) -> None:
        manager = m.manager
        run = _BATCHES[verb]

        async def batch(request: Request, user: Any = m.user, now: Any = m.now) -> Response:
            body = decode_data(BatchRequest, await read_json(request))
            where = batch_filter(body)
            outcome = await m.call(
                run,
                manager,
                where,
                confirm_all=body.confirm_all,
                user=DependencyProvider.user_of(user),
                now=DependencyProvider.now_of(now),
            )
            return json_response(_render(manager, outcome))

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

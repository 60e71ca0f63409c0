"""The routes of job models: rerun, cancel and the job's log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from msgspec import UnsetType
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from fastapi import APIRouter
from fastapi import Query as QueryParam
from specstar.core import JobManager, ResourceManager, RevisionInfo, SpecStarError

from ..dependencies import DependencyProvider
from ..openapi import json_content, problem_responses, ref
from ..responses import json_response
from ._base import BaseRouteTemplate, ModelRoutes, ResourceIdPath

__all__ = ["JobRouteTemplate"]


class JobRouteTemplate(BaseRouteTemplate):
    """``POST /m/{id}/rerun``, ``POST /m/{id}/cancel`` and ``GET /m/{id}/logs`` for job models.

    `rerun` makes a completed, failed or cancelled job pending again (retries, error and
    artifact reset) and queues it; any other status is a 409 `job_state`. `cancel` stops a
    pending job from running and asks a running one to stop; a completed or failed job is a 409.
    Both are authorized as an `update` of the job, and answer the job's revision information.
    `logs` is what the handler logged (`text/plain`), `204` when it logged nothing, authorized
    as a `get` of the job. With `?follow=true` it streams instead (`200`, chunked
    `text/plain`): the lines logged so far, then each line as the worker flushes it (every
    `log_flush_seconds` of the job manager), until the job is completed, failed or cancelled;
    the job is read again (and the user authorized) every `follow_poll_seconds`. Models that
    are not job models get none of these routes.
    """

    order = 50

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        if not isinstance(resource_manager, JobManager):
            return
        m = self.model_routes(model_name, resource_manager, router)
        _verb_route(m, resource_manager.rerun, "rerun", f"Run a finished {model_name} again")
        _verb_route(m, resource_manager.cancel, "cancel", f"Cancel a {model_name}")
        manager = resource_manager

        async def logs(
            resource_id: ResourceIdPath,
            follow: Annotated[
                bool,
                QueryParam(
                    description="Stream the log until the job is completed, failed or "
                    "cancelled, instead of answering what was logged so far."
                ),
            ] = False,
            user: Any = m.user,
        ) -> Response:
            u = DependencyProvider.user_of(user)
            if follow:
                first = await m.call(manager.log_lines, resource_id, user=u)
                return StreamingResponse(
                    _follow(m, manager, resource_id, u, first),
                    media_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
                )
            text = await m.call(manager.get_logs, resource_id, user=u)
            if not text:
                return Response(status_code=204)
            return PlainTextResponse(text)

        m.add(
            "/{resource_id}/logs",
            logs,
            method="GET",
            action="logs",
            summary=f"What a {model_name}'s handler logged",
            description="One line per entry, oldest first; 204 when nothing was logged. "
            "With `follow=true`, a stream of the lines until the job is finished.",
            responses={
                200: {
                    "description": "The log (streamed with `follow=true`)",
                    "content": {"text/plain": {"schema": {}}},
                },
                204: {"description": "Nothing logged"},
                **problem_responses(401, 403, 404, 410, 422),
            },
            response_class=PlainTextResponse,
        )


async def _follow(
    m: ModelRoutes,
    manager: JobManager[Any],
    job_id: str,
    user: str | UnsetType,
    first: tuple[list[str], bool],
) -> AsyncIterator[str]:
    """The lines of a followed log; reads run in the thread pool, waits on the event loop,
    so a client that goes away cancels the wait and nothing keeps polling."""
    lines, finished = first
    sent = 0
    while True:
        if lines:
            yield "".join(line + "\n" for line in lines)
            sent += len(lines)
        if finished:
            return
        await asyncio.sleep(manager.follow_poll_seconds)
        try:
            lines, finished = await m.call(manager.log_lines, job_id, start=sent, user=user)
        except SpecStarError:
            return  # deleted, or no longer readable by the user, while followed


def _verb_route(m: ModelRoutes, verb: Any, action: str, summary: str) -> None:
    def run(resource_id: str, user: str | UnsetType) -> RevisionInfo:
        info: RevisionInfo = verb(resource_id, user=user)
        return info

    async def endpoint(resource_id: ResourceIdPath, user: Any = m.user) -> Response:
        u = DependencyProvider.user_of(user)
        info = await m.call_as(u, run, resource_id, u)
        return json_response(info, etag=info.revision_id)

    m.add(
        f"/{{resource_id}}/{action}",
        endpoint,
        method="POST",
        action=action,
        summary=summary,
        description=JobRouteTemplate.__doc__,
        responses={
            200: {
                "description": "The job's revision afterwards",
                "content": json_content(ref("RevisionInfo")),
            },
            **problem_responses(401, 403, 404, 409, 410),
        },
    )

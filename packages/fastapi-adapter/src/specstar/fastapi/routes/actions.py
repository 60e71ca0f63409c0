"""Custom action routes: ``POST /m/{path}`` (create actions) and ``POST /m/{id}/{path}``
(update actions), made from the handlers given to ``SpecStar.create_action`` and
``update_action`` (see :mod:`specstar.fastapi.custom_actions`)."""

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import NoMatchFound

from fastapi import APIRouter, BackgroundTasks
from specstar.core import (
    BackgroundTaskAccepted,
    JobRedirectInfo,
    PreconditionFailedError,
    ResourceManager,
    RevisionInfo,
    entity_tag,
)

from ..action_jobs import file_payload, upload_of
from ..custom_actions import (
    CustomAction,
    endpoint_annotation,
    is_pydantic_model,
    optional_of,
    perform,
    read_target,
    split_annotated,
    to_struct,
)
from ..dependencies import DependencyProvider
from ..openapi import json_content, problem_responses, ref
from ..responses import json_response
from ._base import BaseRouteTemplate, IfMatch, ModelRoutes, ResourceIdPath, etag_header, if_match

__all__ = ["ActionRouteTemplate"]

log = logging.getLogger("specstar.fastapi.actions")

_OWN = ("specstar_request", "specstar_background", "specstar_user", "specstar_now")


class ActionRouteTemplate(BaseRouteTemplate):
    """The routes of custom actions (added by ``SpecStar.apply`` when actions are registered).

    Args:
        actions: the registered actions.
        resource_managers: every manager of the app (for the job models of job actions).
    """

    order = 45

    def __init__(
        self,
        actions: Sequence[CustomAction] = (),
        resource_managers: Mapping[str, ResourceManager[Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.actions = list(actions)
        self.resource_managers = resource_managers or {}

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        for spec in self.actions:
            if spec.resource_name == model_name:
                _add(m, spec, self.resource_managers)


def _add(m: ModelRoutes, spec: CustomAction, managers: Mapping[str, ResourceManager[Any]]) -> None:
    manager = m.manager
    converters: dict[str, Callable[[Any], Any]] = {}
    params: list[inspect.Parameter] = []
    for p in spec.params:
        annotation, convert = endpoint_annotation(p.annotation)
        if convert is not None:
            converters[p.name] = convert
        params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=annotation))
    names = {p.name for p in params}
    update = spec.kind == "update"
    own: list[inspect.Parameter] = [
        inspect.Parameter("specstar_request", inspect.Parameter.KEYWORD_ONLY, annotation=Request),
        inspect.Parameter(
            "specstar_background", inspect.Parameter.KEYWORD_ONLY, annotation=BackgroundTasks
        ),
        inspect.Parameter("specstar_user", inspect.Parameter.KEYWORD_ONLY, default=m.user),
        inspect.Parameter("specstar_now", inspect.Parameter.KEYWORD_ONLY, default=m.now),
    ]
    if update:
        own.append(
            inspect.Parameter(
                "specstar_if_match",
                inspect.Parameter.KEYWORD_ONLY,
                annotation=IfMatch,
                default=None,
            )
        )
        if "resource_id" not in names:
            own.insert(
                0,
                inspect.Parameter(
                    "resource_id", inspect.Parameter.KEYWORD_ONLY, annotation=ResourceIdPath
                ),
            )
    clash = names & {p.name for p in own if p.name != "resource_id"}
    if clash:
        raise TypeError(f"action {spec.path!r}: parameter names {sorted(clash)} are reserved")

    async def endpoint(**values: Any) -> Response:
        request: Request = values.pop("specstar_request")
        background: BackgroundTasks = values.pop("specstar_background")
        user = DependencyProvider.user_of(values.pop("specstar_user"))
        now = DependencyProvider.now_of(values.pop("specstar_now"))
        tags = if_match(values.pop("specstar_if_match", None))
        rid = values["resource_id"] if update else None
        if "resource_id" not in names:
            values.pop("resource_id", None)
        kwargs = {k: converters[k](v) if k in converters else v for k, v in values.items()}
        expected: str | None = None
        if update:
            assert rid is not None
            expected = await m.call(m.expected_etag, rid, tags, user)

        if spec.async_mode is None:
            outcome = await perform(
                spec,
                manager,
                kwargs,
                resource_id=rid,
                expected_etag=expected,
                user=user,
                now=now,
                blocking=lambda fn, *a, **kw: m.call_as(user, fn, *a, **kw),
            )
            if outcome.response is not None:
                return outcome.response
            if outcome.info is None:
                return json_response(None)
            info = outcome.info
            location = m.location(request, info.resource_id)
            status = 201 if outcome.created else 200
            return json_response(
                info, status_code=status, etag=entity_tag(info), headers={"Location": location}
            )

        # asynchronous: refuse now what would fail at once (permission, scope, If-Match)
        if update:
            assert rid is not None
            current, _meta = await m.call(read_target, spec, manager, rid, user)
            tag = entity_tag(current.info)
            if expected is not None and expected != tag:
                raise PreconditionFailedError(rid, expected, tag)
        else:
            await m.call(manager.authorize, spec.permission, user=user)

        if spec.async_mode == "job":
            return await _start_job(
                m,
                spec=spec,
                managers=managers,
                request=request,
                kwargs=kwargs,
                rid=rid,
                expected=expected,
                user=user,
                now=now,
            )

        for name, value in list(kwargs.items()):
            if isinstance(value, UploadFile):  # closed with the request: keep the bytes
                data = await value.read()
                kwargs[name] = upload_of(data, value.filename, value.content_type)
        background.add_task(
            _run_background,
            spec,
            manager=manager,
            kwargs=kwargs,
            rid=rid,
            expected=expected,
            user=user,
            now=now,
        )
        what = f"{spec.label} of {manager.name}" + (f" {rid!r}" if rid else "")
        return json_response(
            BackgroundTaskAccepted(message=f"{what} accepted; it runs in the background"),
            status_code=202,
        )

    endpoint.__name__ = f"{spec.kind}_action_{spec.path.replace('-', '_')}"
    endpoint.__doc__ = inspect.getdoc(spec.handler)
    endpoint.__signature__ = inspect.Signature([*params, *own])  # type: ignore[attr-defined]
    m.add(
        f"/{{resource_id}}/{spec.path}" if update else f"/{spec.path}",
        endpoint,
        method="POST",
        action=f"action_{spec.path.replace('-', '_').replace('.', '_')}",
        summary=f"{spec.label} ({'update' if update else 'create'} action on {m.name})",
        description=inspect.getdoc(spec.handler),
        status_code=_success_status(spec),
        responses=_responses(spec),
    )
    route = m.router.routes[-1]
    openapi_extra = getattr(route, "openapi_extra", None) or {}
    key = "x-specstar-update-action" if update else "x-specstar-create-action"
    openapi_extra[key] = spec.describe()
    route.openapi_extra = openapi_extra  # type: ignore[attr-defined]


def _success_status(spec: CustomAction) -> int:
    if spec.async_mode is not None:
        return 202
    return 200 if spec.kind == "update" else 201


def _responses(spec: CustomAction) -> dict[int | str, Any]:
    errors = problem_responses(401, 403, 409, 422)
    if spec.kind == "update":
        errors.update(problem_responses(404, 410, 412))
    if spec.async_mode == "job":
        return {
            202: {
                "description": "The job that runs the action was created and queued",
                "content": json_content(ref("JobRedirectInfo")),
                "headers": {
                    "Location": {
                        "description": "URL of the job",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                },
            },
            **errors,
        }
    if spec.async_mode == "background":
        return {
            202: {
                "description": "Accepted; the action runs after the response",
                "content": json_content(ref("BackgroundTaskAccepted")),
            },
            **errors,
        }
    written = {
        "description": ("The revision the action wrote, or `null` when it wrote nothing"),
        "content": json_content({"anyOf": [ref("RevisionInfo"), {"type": "null"}]}),
        "headers": {"ETag": etag_header(required=False)},
    }
    return {_success_status(spec): written, **errors}


async def _start_job(
    m: ModelRoutes,
    *,
    spec: CustomAction,
    managers: Mapping[str, ResourceManager[Any]],
    request: Request,
    kwargs: dict[str, Any],
    rid: str | None,
    expected: str | None,
    user: Any,
    now: Any,
) -> Response:
    assert spec.job_name is not None
    assert spec.job_model is not None
    jobs = managers[spec.job_name]
    fields: dict[str, Any] = {}
    for p in spec.params:
        value = kwargs[p.name]
        base, _ = optional_of(split_annotated(p.annotation)[0])
        if isinstance(value, UploadFile):
            value = await file_payload(value)
        elif value is not None and is_pydantic_model(base):
            value = value.model_dump(mode="json", by_alias=True)
        fields[p.name] = value
    if spec.kind == "update":
        fields["resource_id"] = rid
        fields["expected_etag"] = expected
    assert spec.payload_model is not None
    payload = to_struct(fields, spec.payload_model)
    job = spec.job_model(payload=payload)
    info: RevisionInfo = await m.call_as(user, jobs.create, job, user=user, now=now)
    try:
        url = request.url_for(f"{spec.job_name}:get", resource_id=info.resource_id)
        path, location = url.path, str(url)
    except NoMatchFound:  # the job model's read route was left out
        path = location = f"/{spec.job_name}/{info.resource_id}"
    redirect = JobRedirectInfo(
        job_resource_name=spec.job_name, job_resource_id=info.resource_id, redirect_url=path
    )
    return json_response(redirect, status_code=202, headers={"Location": location})


async def _run_background(
    spec: CustomAction,
    *,
    manager: ResourceManager[Any],
    kwargs: dict[str, Any],
    rid: str | None,
    expected: str | None,
    user: Any,
    now: Any,
) -> None:
    try:
        outcome = await perform(
            spec,
            manager,
            kwargs,
            resource_id=rid,
            expected_etag=expected,
            user=user,
            now=now,
            blocking=run_in_threadpool,
        )
    except Exception:
        log.exception(
            "background action %r on %s%s by %r failed",
            spec.path,
            manager.name,
            f" {rid!r}" if rid else "",
            user,
        )
        return
    written = outcome.info.revision_id if outcome.info is not None else "nothing"
    log.info("background action %r on %s by %r wrote %s", spec.path, manager.name, user, written)

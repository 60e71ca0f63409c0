"""``POST /m``: create a resource."""

from datetime import datetime
from typing import Annotated, Any

from msgspec import UnsetType
from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter
from fastapi import Query as QueryParam
from specstar.core import (
    AlreadyExistsError,
    ClientIdsDisabledError,
    FieldError,
    JobManager,
    ResourceManager,
    RevisionInfo,
    RevisionStatus,
    entity_tag,
)

from .._http import read_json
from .._validation import with_every_field_error
from ..dependencies import DependencyProvider
from ..errors import ExistsPreconditionError, ParameterError, client_ids_disabled
from ..openapi import json_content, problem_responses, ref
from ..responses import json_response
from ._base import (
    RESERVED_IDS,
    RESOURCE_ID_PATTERN,
    BaseRouteTemplate,
    IfNoneMatch,
    create_only,
    created_headers,
    self_doc,
)

__all__ = ["CreateRouteTemplate", "ExistsPreconditionError", "check_client_id", "create_resource"]


def check_client_id(resource_id: str, source: str = "query") -> None:
    """Refuse ids that would be shadowed by the fixed routes (``count``, ``batch``).

    Args:
        resource_id: the id the client chose.
        source: where it came from: ``query`` (``POST /m?resource_id=``) or ``path``.
    """
    if resource_id in RESERVED_IDS:
        raise ParameterError(
            f"{resource_id!r} is reserved by the HTTP API and cannot be a resource id",
            [FieldError("resource_id", "reserved id")],
            source=source,
        )


def create_resource(
    manager: ResourceManager[Any],
    body: Any,
    *,
    resource_id: str | None,
    status: RevisionStatus | None,
    only_create: bool,
    user: str | UnsetType,
    now: datetime | UnsetType,
) -> RevisionInfo:
    """Create (blocking); with ``only_create`` a taken id is a 412, else a 409.

    ``user`` and ``now`` are normalised (``DependencyProvider.user_of``/``now_of``).
    """
    info, _created = create_or_find(
        manager,
        body,
        resource_id=resource_id,
        status=status,
        only_create=only_create,
        user=user,
        now=now,
    )
    return info


def create_or_find(
    manager: ResourceManager[Any],
    body: Any,
    *,
    resource_id: str | None,
    status: RevisionStatus | None,
    only_create: bool,
    user: str | UnsetType,
    now: datetime | UnsetType,
) -> tuple[RevisionInfo, bool]:
    """:func:`create_resource`, and whether it created: a job whose ``idempotency_key``
    names an existing job with the same payload is that job (``False``)."""

    def create() -> tuple[RevisionInfo, bool]:
        if isinstance(manager, JobManager):
            return manager.enqueue(body, resource_id=resource_id, status=status, user=user, now=now)
        info = manager.create(body, resource_id=resource_id, status=status, user=user, now=now)
        return info, True

    try:
        return with_every_field_error(
            manager.model, body, create, forbid_unknown=not manager.allow_unknown_fields
        )
    except AlreadyExistsError as exc:
        if not only_create:
            raise
        # the same answer whoever holds the id: nothing about a hidden resource but that
        # the id is taken
        raise ExistsPreconditionError(exc.resource_id) from None


class CreateRouteTemplate(BaseRouteTemplate):
    """``POST /m`` — create a resource; 201 with ``Location`` and ``ETag``.

    The body is the model's JSON. ``?resource_id=`` chooses the id (409 when taken, or 412
    with ``If-None-Match: *``); ``?status=draft`` creates a draft revision. For a job model,
    an ``idempotency_key`` already used by a job with the same payload answers 200 with that
    job's current revision (and its ``Location`` and ``ETag``); with another payload, 409
    ``idempotency_conflict`` naming the key.
    """

    order = 30

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        async def create(
            request: Request,
            *,
            resource_id: Annotated[
                str | None,
                QueryParam(
                    pattern=RESOURCE_ID_PATTERN,
                    description="Choose the new resource's id (default: generated).",
                ),
            ] = None,
            status: Annotated[
                RevisionStatus | None,
                QueryParam(description="Status of the first revision (default: the model's)."),
            ] = None,
            if_none_match: IfNoneMatch = None,
            user: Any = m.user,
            now: Any = m.now,
        ) -> Response:
            only_create = create_only(if_none_match)
            if resource_id is not None:
                if not manager.client_ids:
                    raise client_ids_disabled(ClientIdsDisabledError(manager.name), "query")
                check_client_id(resource_id)
            u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
            body = await read_json(request)
            info, created = await m.call_as(
                u,
                create_or_find,
                manager,
                body,
                resource_id=resource_id,
                status=status,
                only_create=only_create,
                user=u,
                now=n,
            )
            return json_response(
                info,
                status_code=201 if created else 200,
                etag=entity_tag(info),
                headers={"Location": m.location(request, info.resource_id)},
            )

        m.add(
            "",
            create,
            method="POST",
            action="create",
            summary=f"Create a {model_name}",
            description=self_doc(CreateRouteTemplate),
            status_code=201,
            request_body={"required": True, "content": json_content(ref(m.schemas.data))},
            responses={
                201: {
                    "description": "Created: the first revision's info",
                    "content": json_content(ref("RevisionInfo")),
                    "headers": created_headers(),
                },
                **(
                    {
                        200: {
                            "description": "A job with this idempotency key and payload "
                            "exists: its current revision's info",
                            "content": json_content(ref("RevisionInfo")),
                            "headers": created_headers(),
                        }
                    }
                    if isinstance(manager, JobManager)
                    else {}
                ),
                **problem_responses(400, 401, 403, 409, 412, 415, 422),
            },
        )

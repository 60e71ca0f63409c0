"""Replacement of data: ``PUT /m/{id}``.

The other changes of data have modules of their own: :mod:`.patch` (``PATCH /m/{id}``) and
:mod:`.modify` (``POST /m/{id}/modify``); their templates are importable from here too.
"""

from datetime import datetime
from typing import Annotated, Any

from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter
from fastapi import Query as QueryParam
from specstar.core import (
    ClientIdsDisabledError,
    ResourceManager,
    RevisionInfo,
    RevisionStatus,
    entity_tag,
)

from .._http import read_json
from .._validation import with_every_field_error
from ..dependencies import DependencyProvider
from ..errors import BadRequestError, client_ids_disabled
from ..openapi import json_content, problem_responses, ref
from ..responses import json_response
from ._base import (
    BaseRouteTemplate,
    ExpectedRevisionQuery,
    IfMatch,
    IfNoneMatch,
    ResourceIdPath,
    create_only,
    created_headers,
    self_doc,
    write_precondition,
)
from ._writes import ChangeStatusQuery, ModeQuery, WriteMode, info_doc, info_response
from .create import check_client_id, create_resource
from .modify import ModifyRouteTemplate
from .patch import PatchRouteTemplate

__all__ = ["ModifyRouteTemplate", "PatchRouteTemplate", "UpdateRouteTemplate", "WriteMode"]


def _status_of(
    status: RevisionStatus | None, change_status: RevisionStatus | None
) -> RevisionStatus | None:
    if status is not None and change_status is not None and status != change_status:
        raise BadRequestError(
            f"status={status.value} and change_status={change_status.value} disagree: "
            "send one of them",
            code="invalid_parameter",
        )
    return change_status if change_status is not None else status


class UpdateRouteTemplate(BaseRouteTemplate):
    """``PUT /m/{id}`` replaces the data with a new revision (created when the id is new).

    `If-Match` makes it update-only and conditional (412 on mismatch); `If-None-Match: *`
    makes it create-only (412 when the id exists). Without either, a missing resource is
    created (201 with `Location`), and an id taken by a resource the user may not see is a
    409 `already_exists`, as for any taken id. Identical data writes no new revision. A
    model without client-chosen ids (`client_ids=False`) only replaces: a new id is a 422
    `client_ids_disabled`.
    """

    order = 50

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        def put(
            resource_id: str,
            body: Any,
            *,
            mode: WriteMode,
            status: RevisionStatus | None,
            tags: Any,
            expected_revision_id: str | None,
            only_create: bool,
            user: str | UnsetType,
            now: datetime | UnsetType,
        ) -> tuple[RevisionInfo, bool]:
            try:
                return replace_or_create(
                    resource_id,
                    body,
                    mode=mode,
                    status=status,
                    tags=tags,
                    expected_revision_id=expected_revision_id,
                    only_create=only_create,
                    user=user,
                    now=now,
                )
            except ClientIdsDisabledError as exc:
                raise client_ids_disabled(exc, "path") from None

        def replace_or_create(
            resource_id: str,
            body: Any,
            *,
            mode: WriteMode,
            status: RevisionStatus | None,
            tags: Any,
            expected_revision_id: str | None,
            only_create: bool,
            user: str | UnsetType,
            now: datetime | UnsetType,
        ) -> tuple[RevisionInfo, bool]:
            if only_create:
                info = create_resource(
                    manager,
                    body,
                    resource_id=resource_id,
                    status=status,
                    only_create=True,
                    user=user,
                    now=now,
                )
                return info, True
            forbid = not manager.allow_unknown_fields
            if mode is WriteMode.modify:  # in place: the resource must exist (and be a draft)
                pre = m.preconditions(resource_id, tags, expected_revision_id, user)
                info = with_every_field_error(
                    manager.model,
                    body,
                    lambda: manager.modify(
                        resource_id,
                        body,
                        UNSET if status is None else status,
                        **pre,
                        user=user,
                        now=now,
                    ),
                    forbid_unknown=forbid,
                )
                return info, False
            if tags is not None or expected_revision_id is not None:  # update only
                pre = m.preconditions(resource_id, tags, expected_revision_id, user)
                info = with_every_field_error(
                    manager.model,
                    body,
                    lambda: manager.update(
                        resource_id, body, **pre, status=status, user=user, now=now
                    ),
                    forbid_unknown=forbid,
                )
                return info, False
            return with_every_field_error(
                manager.model,
                body,
                lambda: manager.put(resource_id, body, status=status, user=user, now=now),
                forbid_unknown=forbid,
            )

        async def replace(
            request: Request,
            *,
            resource_id: ResourceIdPath,
            status: Annotated[
                RevisionStatus | None,
                QueryParam(description="Status of the new revision (default: the model's)."),
            ] = None,
            mode: ModeQuery = WriteMode.update,
            change_status: ChangeStatusQuery = None,
            expected_revision_id: ExpectedRevisionQuery = None,
            if_match_header: IfMatch = None,
            if_none_match: IfNoneMatch = None,
            user: Any = m.user,
            now: Any = m.now,
        ) -> Response:
            tags = write_precondition(if_match_header, expected_revision_id)
            only_create = create_only(if_none_match)
            conditional = tags is not None or expected_revision_id is not None
            if conditional and only_create:
                raise BadRequestError(
                    "send either If-Match or expected_revision_id (update) or "
                    "If-None-Match: * (create), not both",
                    code="invalid_precondition",
                )
            if only_create and mode is WriteMode.modify:
                raise BadRequestError(
                    "mode=modify edits an existing draft: it cannot go with If-None-Match: *",
                    code="invalid_precondition",
                )
            new_status = _status_of(status, change_status)
            if not conditional and mode is WriteMode.update:
                check_client_id(resource_id, "path")
            u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
            body = await read_json(request)
            info, created = await m.call_as(
                u,
                put,
                resource_id,
                body,
                mode=mode,
                status=new_status,
                tags=tags,
                expected_revision_id=expected_revision_id,
                only_create=only_create,
                user=u,
                now=n,
            )
            if created:
                return json_response(
                    info,
                    status_code=201,
                    etag=entity_tag(info),
                    headers={"Location": m.location(request, info.resource_id)},
                )
            return info_response(info)

        m.add(
            "/{resource_id}",
            replace,
            method="PUT",
            action="replace",
            summary=f"Replace (or create) a {model_name}",
            description=self_doc(UpdateRouteTemplate),
            request_body={"required": True, "content": json_content(ref(m.schemas.data))},
            responses={
                200: info_doc("Replaced: the new revision's info"),
                201: {
                    "description": "Created: the first revision's info",
                    "content": json_content(ref("RevisionInfo")),
                    "headers": created_headers(),
                },
                **problem_responses(400, 401, 403, 404, 409, 410, 412, 415, 422),
            },
        )

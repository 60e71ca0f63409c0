"""In-place edits of a draft revision: ``POST /m/{id}/modify``."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter
from specstar.core import FieldError, ResourceManager, RevisionInfo, RevisionStatus, ValidationError

from .._http import read_json
from .._validation import with_every_field_error
from ..dependencies import DependencyProvider
from ..openapi import json_content, problem_responses, ref
from ._base import BaseRouteTemplate, IfMatch, ResourceIdPath, if_match, self_doc
from ._writes import body_error, info_doc, info_response

__all__ = ["ModifyRouteTemplate"]


def _modify_args(body: Any) -> tuple[Any, Any]:
    """``(data or patch or UNSET, status or UNSET)`` from a modify body."""
    if not isinstance(body, Mapping):
        raise body_error("the modify body is an object with data, patch and/or status")
    unknown = sorted(set(body) - {"data", "patch", "status"})
    if unknown:
        raise ValidationError(
            f"unknown member(s) {', '.join(unknown)}",
            [FieldError(f"/{k}", "unknown member") for k in unknown],
        )
    if "data" in body and "patch" in body:
        raise ValidationError(
            "send data or patch, not both", [FieldError("/patch", "not with data")]
        )
    change: Any = UNSET
    if "data" in body:
        change = body["data"]
        if not isinstance(change, Mapping):
            raise ValidationError("data must be an object", [FieldError("/data", "not an object")])
    elif "patch" in body:
        change = body["patch"]
        if not isinstance(change, list):
            raise ValidationError(
                "patch must be a list of JSON Patch operations",
                [FieldError("/patch", "not a list")],
            )
    status: Any = UNSET
    if "status" in body:
        try:
            status = RevisionStatus(body["status"])
        except (ValueError, TypeError):
            raise ValidationError(
                "status must be draft or stable", [FieldError("/status", "not draft or stable")]
            ) from None
    if change is UNSET and status is UNSET:
        raise body_error("send data, patch and/or status")
    return change, status


class ModifyRouteTemplate(BaseRouteTemplate):
    """``POST /m/{id}/modify`` edits the current revision in place while it is a draft.

    Body: `{"data": {…}}` (new data) or `{"patch": [ … ]}` (a JSON Patch), and/or
    `{"status": "stable"}` (after which the revision is immutable). No new revision is
    written; the `ETag` changes with every edit (`If-Match` with an older one: 412). A
    stable current revision gives 409 `revision_not_draft`.
    """

    order = 50

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        def run(
            resource_id: str,
            change: Any,
            *,
            status: Any,
            tags: Any,
            user: str | UnsetType,
            now: datetime | UnsetType,
        ) -> RevisionInfo:
            expected = m.expected_etag(resource_id, tags, user)

            def run_modify() -> RevisionInfo:
                return manager.modify(
                    resource_id,
                    change,
                    status,
                    expected_etag=expected,
                    user=user,
                    now=now,
                )

            if isinstance(change, Mapping):  # new data: report every field error
                return with_every_field_error(
                    manager.model,
                    change,
                    run_modify,
                    forbid_unknown=not manager.allow_unknown_fields,
                )
            return run_modify()

        async def modify(
            request: Request,
            resource_id: ResourceIdPath,
            if_match_header: IfMatch = None,
            user: Any = m.user,
            now: Any = m.now,
        ) -> Response:
            tags = if_match(if_match_header)
            change, status = _modify_args(await read_json(request))
            u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
            info = await m.call_as(
                u, run, resource_id, change, status=status, tags=tags, user=u, now=n
            )
            return info_response(info)

        m.add(
            "/{resource_id}/modify",
            modify,
            method="POST",
            action="modify",
            summary=f"Modify a draft {model_name} in place",
            description=self_doc(ModifyRouteTemplate),
            request_body={"required": True, "content": json_content(ref(m.schemas.modify))},
            responses={
                200: info_doc("Modified: the rewritten revision's info"),
                **problem_responses(400, 401, 403, 404, 409, 410, 412, 415, 422),
            },
        )

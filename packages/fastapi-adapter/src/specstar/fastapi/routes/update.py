"""Changes of data: ``PUT /m/{id}``, ``PATCH /m/{id}`` and ``POST /m/{id}/modify``."""

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter
from fastapi import Query as QueryParam
from specstar.core import (
    ClientIdsDisabledError,
    FieldError,
    PreconditionFailedError,
    ResourceManager,
    RevisionInfo,
    RevisionStatus,
    ValidationError,
    entity_tag,
)
from specstar.core.spi import apply_merge_patch

from .._http import media_type_of, read_json
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
    ModelRoutes,
    ResourceIdPath,
    create_only,
    created_headers,
    etag_header,
    if_match,
    self_doc,
    write_precondition,
)
from .create import check_client_id, create_resource

__all__ = ["ModifyRouteTemplate", "PatchRouteTemplate", "UpdateRouteTemplate", "WriteMode"]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, "application/json")


class WriteMode(enum.StrEnum):
    """``?mode=`` of ``PUT`` and ``PATCH``: a new revision, or an in-place edit of a draft."""

    update = "update"
    modify = "modify"


ModeQuery = Annotated[
    WriteMode,
    QueryParam(
        description=(
            "`update` (default): write a new revision. `modify`: edit the current revision in "
            "place, as `POST /{id}/modify` does (only while it is a draft: 409 "
            "`revision_not_draft` otherwise)."
        )
    ),
]
ChangeStatusQuery = Annotated[
    RevisionStatus | None,
    QueryParam(
        description=(
            "With `mode=update`: the new revision's status; with `mode=modify`: the status "
            "the edited draft moves to (`stable` makes it immutable)."
        )
    ),
]

#: Attempts of a merge patch in place (``PATCH ?mode=modify``) that races other edits.
_MERGE_MODIFY_ATTEMPTS = 16


def merge_modify(
    m: ModelRoutes,
    resource_id: str,
    document: Mapping[str, Any],
    status: RevisionStatus | UnsetType,
    preconditions: Mapping[str, str | None],
    *,
    user: str | UnsetType,
    now: datetime | UnsetType,
) -> RevisionInfo:
    """A merge patch applied to a draft in place (blocking): the draft read, merged and
    rewritten under the entity tag that was read, again on a concurrent edit (unless the
    client gave its own precondition, which then fails with 412)."""
    manager = m.manager
    given = any(v is not None for v in preconditions.values())
    for _ in range(_MERGE_MODIFY_ATTEMPTS):
        current = manager.get(resource_id, user=user)
        tag = entity_tag(current.info)
        merged = apply_merge_patch(msgspec.to_builtins(current.data), dict(document))
        if given:
            if preconditions.get("expected_revision_id") not in (None, current.info.revision_id):
                raise PreconditionFailedError(
                    resource_id, str(preconditions["expected_revision_id"]), tag
                )
            if preconditions.get("expected_etag") not in (None, tag):
                raise PreconditionFailedError(resource_id, str(preconditions["expected_etag"]), tag)

        def rewrite(merged: Any = merged, tag: str = tag) -> RevisionInfo:
            return manager.modify(
                resource_id, merged, status, expected_etag=tag, user=user, now=now
            )

        try:
            return with_every_field_error(
                manager.model, merged, rewrite, forbid_unknown=not manager.allow_unknown_fields
            )
        except PreconditionFailedError:
            if given:
                raise
    raise PreconditionFailedError(resource_id, "the draft read", None)


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


def _info_response(info: RevisionInfo, *, status_code: int = 200) -> Response:
    return json_response(info, status_code=status_code, etag=entity_tag(info))


def _info_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": json_content(ref("RevisionInfo")),
        "headers": {"ETag": etag_header()},
    }


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
            return _info_response(info)

        m.add(
            "/{resource_id}",
            replace,
            method="PUT",
            action="replace",
            summary=f"Replace (or create) a {model_name}",
            description=self_doc(UpdateRouteTemplate),
            request_body={"required": True, "content": json_content(ref(m.schemas.data))},
            responses={
                200: _info_doc("Replaced: the new revision's info"),
                201: {
                    "description": "Created: the first revision's info",
                    "content": json_content(ref("RevisionInfo")),
                    "headers": created_headers(),
                },
                **problem_responses(400, 401, 403, 404, 409, 410, 412, 415, 422),
            },
        )


class PatchRouteTemplate(BaseRouteTemplate):
    """``PATCH /m/{id}`` changes part of the data, as a new revision.

    Two flavours: an RFC 6902 JSON Patch (a list of operations, `JsonPatch`) or an RFC 7386
    merge patch (an object, `MergePatch`). With `Content-Type: application/json` the body's
    shape says which (a list is a JSON Patch, an object a merge patch);
    `application/json-patch+json` and `application/merge-patch+json` name the flavour
    explicitly. A failing JSON Patch `test` is 409; an operation that cannot apply is 422.
    `If-Match` → 412 on mismatch; without it, a concurrent write makes the patch re-apply
    to the fresh data.
    """

    order = 50

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        def run(
            resource_id: str,
            body: Any,
            *,
            kind: str,
            mode: WriteMode,
            status: RevisionStatus | None,
            tags: Any,
            expected_revision_id: str | None,
            user: str | UnsetType,
            now: datetime | UnsetType,
        ) -> RevisionInfo:
            pre = m.preconditions(resource_id, tags, expected_revision_id, user)
            if mode is WriteMode.modify:
                in_place = UNSET if status is None else status
                if kind == JSON_PATCH:
                    return manager.modify(resource_id, body, in_place, **pre, user=user, now=now)
                return merge_modify(m, resource_id, body, in_place, pre, user=user, now=now)
            if kind == JSON_PATCH:
                return manager.patch(
                    resource_id,
                    body,
                    expected_revision_id=pre.get("expected_revision_id"),
                    expected_etag=pre.get("expected_etag"),
                    status=status,
                    user=user,
                    now=now,
                )
            return manager.merge_patch(resource_id, body, **pre, status=status, user=user, now=now)

        async def patch(
            request: Request,
            *,
            resource_id: ResourceIdPath,
            mode: ModeQuery = WriteMode.update,
            change_status: ChangeStatusQuery = None,
            expected_revision_id: ExpectedRevisionQuery = None,
            if_match_header: IfMatch = None,
            user: Any = m.user,
            now: Any = m.now,
        ) -> Response:
            tags = write_precondition(if_match_header, expected_revision_id)
            body = await read_json(request, _PATCH_TYPES)
            kind = media_type_of(request)
            if kind not in (JSON_PATCH, MERGE_PATCH):
                kind = JSON_PATCH if isinstance(body, list) else MERGE_PATCH
            if kind == JSON_PATCH and not isinstance(body, list):
                raise _body_error("a JSON Patch is a list of operations")
            if kind == MERGE_PATCH and not isinstance(body, Mapping):
                raise _body_error("a merge patch for a resource is a JSON object")
            u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
            info = await m.call_as(
                u,
                run,
                resource_id,
                body,
                kind=kind,
                mode=mode,
                status=change_status,
                tags=tags,
                expected_revision_id=expected_revision_id,
                user=u,
                now=n,
            )
            return _info_response(info)

        m.add(
            "/{resource_id}",
            patch,
            method="PATCH",
            action="patch",
            summary=f"Patch a {model_name}",
            description=self_doc(PatchRouteTemplate),
            request_body=patch_request_body(),
            responses={
                200: _info_doc("Patched: the new (or unchanged current) revision's info"),
                **problem_responses(400, 401, 403, 404, 409, 410, 412, 415, 422),
            },
        )


def patch_request_body() -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of ``PATCH /m/{id}``.

    One media type, ``application/json``, whose schema is ``oneOf`` the two flavours (a list
    and an object cannot be confused). The explicit media types are accepted too, but are
    left out of the document on purpose: client generators turn several request media types
    into run-time type checks per media type (``isinstance(body, list[...])`` in
    openapi-python-client, which Python refuses) or drop the ``Content-Type`` header (orval's
    fetch client), so a document listing them produces clients that cannot send a patch.
    """
    return {
        "required": True,
        "description": (
            "A JSON Patch (list of operations) or a merge patch (object). Also accepted as "
            f"`{JSON_PATCH}` and `{MERGE_PATCH}`."
        ),
        "content": json_content({"oneOf": [ref("JsonPatch"), ref("MergePatch")]}),
    }


def _body_error(message: str) -> ValidationError:
    return ValidationError(message, [FieldError("", message)])


def _modify_args(body: Any) -> tuple[Any, Any]:
    """``(data or patch or UNSET, status or UNSET)`` from a modify body."""
    if not isinstance(body, Mapping):
        raise _body_error("the modify body is an object with data, patch and/or status")
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
        raise _body_error("send data, patch and/or status")
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
            return _info_response(info)

        m.add(
            "/{resource_id}/modify",
            modify,
            method="POST",
            action="modify",
            summary=f"Modify a draft {model_name} in place",
            description=self_doc(ModifyRouteTemplate),
            request_body={"required": True, "content": json_content(ref(m.schemas.modify))},
            responses={
                200: _info_doc("Modified: the rewritten revision's info"),
                **problem_responses(400, 401, 403, 404, 409, 410, 412, 415, 422),
            },
        )

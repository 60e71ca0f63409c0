"""Partial changes of data: ``PATCH /m/{id}`` (JSON Patch or merge patch)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter
from specstar.core import (
    PreconditionFailedError,
    ResourceManager,
    RevisionInfo,
    RevisionStatus,
    entity_tag,
)
from specstar.core.spi import apply_merge_patch

from .._http import media_type_of, read_json
from .._validation import with_every_field_error
from ..dependencies import DependencyProvider
from ..openapi import json_content, problem_responses, ref
from ._base import (
    BaseRouteTemplate,
    ExpectedRevisionQuery,
    IfMatch,
    ModelRoutes,
    ResourceIdPath,
    self_doc,
    write_precondition,
)
from ._writes import ChangeStatusQuery, ModeQuery, WriteMode, body_error, info_doc, info_response

__all__ = ["JSON_PATCH", "MERGE_PATCH", "PatchRouteTemplate", "merge_modify", "patch_request_body"]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, "application/json")

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
                raise body_error("a JSON Patch is a list of operations")
            if kind == MERGE_PATCH and not isinstance(body, Mapping):
                raise body_error("a merge patch for a resource is a JSON object")
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
            return info_response(info)

        m.add(
            "/{resource_id}",
            patch,
            method="PATCH",
            action="patch",
            summary=f"Patch a {model_name}",
            description=self_doc(PatchRouteTemplate),
            request_body=patch_request_body(),
            responses={
                200: info_doc("Patched: the new (or unchanged current) revision's info"),
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

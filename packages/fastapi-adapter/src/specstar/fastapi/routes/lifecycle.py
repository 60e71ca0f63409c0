"""Pointer and flag changes: switch, soft delete, restore and permanent delete."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from msgspec import UnsetType
from starlette.responses import Response

from fastapi import APIRouter
from fastapi import Query as QueryParam
from specstar.core import ResourceManager, ResourceMeta

from ..dependencies import DependencyProvider
from ..openapi import json_content, problem_responses, ref
from ..responses import json_response
from ._base import (
    BaseRouteTemplate,
    ExpectedRevisionQuery,
    IfMatch,
    ModelRoutes,
    ResourceIdPath,
    RevisionIdPath,
    etag_header,
    self_doc,
    write_precondition,
)

__all__ = ["DeleteRouteTemplate", "RestoreRouteTemplate", "SwitchRouteTemplate", "revision_of"]


def revision_of(resource_id: str, revision: str) -> str:
    """A revision of ``resource_id`` named by its id or by its bare sequence number
    (``3`` → ``{resource_id}:3``): ids of revisions always end in ``:{seq}``."""
    return f"{resource_id}:{int(revision)}" if revision.isdigit() else revision


def _meta_doc(description: str, *, with_etag: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "description": description,
        "content": json_content(ref("ResourceMeta")),
    }
    if with_etag:  # absent when the user may not read the revision
        doc["headers"] = {"ETag": etag_header(required=False)}
    return doc


def _tagged(
    m: ModelRoutes, meta: ResourceMeta, user: str | UnsetType
) -> tuple[ResourceMeta, str | None]:
    """``meta`` and the entity tag of its current revision (blocking)."""
    return meta, m.current_etag(meta.resource_id, meta.current_revision_id, user)


def _meta_route(
    m: ModelRoutes,
    op: Callable[..., ResourceMeta],
    *,
    path: str,
    method: str,
    action: str,
    summary: str,
    description: str,
    statuses: tuple[int, ...],
    with_etag: bool = True,
) -> None:
    """A route calling ``op(resource_id, expected_etag=, user=, now=)`` → meta."""

    def run(
        resource_id: str,
        tags: Any,
        expected_revision_id: str | None,
        user: str | UnsetType,
        now: datetime | UnsetType,
    ) -> tuple[ResourceMeta, str | None]:
        meta = op(
            resource_id,
            **m.preconditions(resource_id, tags, expected_revision_id, user),
            user=user,
            now=now,
        )
        return _tagged(m, meta, user) if with_etag else (meta, None)

    async def endpoint(
        resource_id: ResourceIdPath,
        expected_revision_id: ExpectedRevisionQuery = None,
        if_match_header: IfMatch = None,
        user: Any = m.user,
        now: Any = m.now,
    ) -> Response:
        tags = write_precondition(if_match_header, expected_revision_id)
        u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
        meta, etag = await m.call_as(u, run, resource_id, tags, expected_revision_id, u, n)
        return json_response(meta, etag=etag)

    m.add(
        path,
        endpoint,
        method=method,
        action=action,
        summary=summary,
        description=description,
        responses={
            200: _meta_doc("The resource's meta afterwards", with_etag=with_etag),
            **problem_responses(*statuses),
        },
    )


class SwitchRouteTemplate(BaseRouteTemplate):
    """``POST /m/{id}/switch/{revision_id}`` makes an existing revision current again."""

    order = 50

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        def run(
            resource_id: str,
            revision_id: str,
            *,
            tags: Any,
            expected_revision_id: str | None,
            user: str | UnsetType,
            now: datetime | UnsetType,
        ) -> tuple[ResourceMeta, str | None]:
            meta = manager.switch(
                resource_id,
                revision_of(resource_id, revision_id),
                **m.preconditions(resource_id, tags, expected_revision_id, user),
                user=user,
                now=now,
            )
            return _tagged(m, meta, user)

        async def switch(
            *,
            resource_id: ResourceIdPath,
            revision_id: RevisionIdPath,
            expected_revision_id: ExpectedRevisionQuery = None,
            if_match_header: IfMatch = None,
            user: Any = m.user,
            now: Any = m.now,
        ) -> Response:
            tags = write_precondition(if_match_header, expected_revision_id)
            u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
            meta, etag = await m.call_as(
                u,
                run,
                resource_id,
                revision_id,
                tags=tags,
                expected_revision_id=expected_revision_id,
                user=u,
                now=n,
            )
            return json_response(meta, etag=etag)

        m.add(
            "/{resource_id}/switch/{revision_id}",
            switch,
            method="POST",
            action="switch",
            summary=f"Switch a {model_name} to one of its revisions",
            description=(
                "No revision is written or changed: the current-revision pointer moves. "
                "`revision_id` is a revision id or its bare sequence number (`3` for "
                "`{id}:3`). `If-Match` or `expected_revision_id` → 412 on mismatch."
            ),
            responses={
                200: _meta_doc("The resource's meta afterwards"),
                **problem_responses(400, 401, 403, 404, 409, 410, 412, 422),
            },
        )


class DeleteRouteTemplate(BaseRouteTemplate):
    """``DELETE /m/{id}`` soft-deletes; ``DELETE /m/{id}/permanently`` removes for good."""

    order = 50

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        _meta_route(
            m,
            m.manager.permanently_delete,
            path="/{resource_id}/permanently",
            method="DELETE",
            action="permanently_delete",
            summary=f"Delete a {model_name} and its history for good",
            description=(
                "Soft-deleted or not. Returns the last meta (no `ETag`: nothing is left). "
                "`If-Match` → 412 on mismatch."
            ),
            statuses=(400, 401, 403, 404, 409, 412, 422),
            with_etag=False,
        )
        _meta_route(
            m,
            m.manager.delete,
            path="/{resource_id}",
            method="DELETE",
            action="delete",
            summary=f"Soft-delete a {model_name}",
            description=(
                "Hidden from reads and listings (410), history kept, unique values released; "
                "`POST /{id}/restore` undoes it. Already deleted: 410. `If-Match` → 412."
            ),
            statuses=(400, 401, 403, 404, 409, 410, 412, 422),
        )


class RestoreRouteTemplate(BaseRouteTemplate):
    """``POST /m/{id}/restore`` undoes a soft delete (a live resource is left as it is).

    With `cascade=true` the referrers that the delete removed through `on_delete=cascade`
    references are restored too, recursively, each authorized as the restoring user;
    referrers deleted on their own before stay deleted. 409 `unique_violation` when another
    resource took one of its unique values meanwhile. `If-Match` → 412 on mismatch.
    """

    order = 50

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        def run(
            resource_id: str,
            *,
            cascade: bool,
            tags: Any,
            expected_revision_id: str | None,
            user: str | UnsetType,
            now: datetime | UnsetType,
        ) -> tuple[ResourceMeta, str | None]:
            meta = manager.restore(
                resource_id,
                **m.preconditions(resource_id, tags, expected_revision_id, user),
                cascade=cascade,
                user=user,
                now=now,
            )
            return _tagged(m, meta, user)

        async def restore(
            *,
            resource_id: ResourceIdPath,
            cascade: Annotated[
                bool,
                QueryParam(description="Also restore what the delete cascaded to (recursively)."),
            ] = False,
            expected_revision_id: ExpectedRevisionQuery = None,
            if_match_header: IfMatch = None,
            user: Any = m.user,
            now: Any = m.now,
        ) -> Response:
            tags = write_precondition(if_match_header, expected_revision_id)
            u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
            meta, etag = await m.call_as(
                u,
                run,
                resource_id,
                cascade=cascade,
                tags=tags,
                expected_revision_id=expected_revision_id,
                user=u,
                now=n,
            )
            return json_response(meta, etag=etag)

        m.add(
            "/{resource_id}/restore",
            restore,
            method="POST",
            action="restore",
            summary=f"Restore a soft-deleted {model_name}",
            description=self_doc(RestoreRouteTemplate),
            responses={
                200: _meta_doc("The resource's meta afterwards"),
                **problem_responses(400, 401, 403, 404, 409, 412, 422),
            },
        )

"""``GET /m/{id}/revisions``: a resource's revisions, selected and paged."""

import enum
from datetime import datetime
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from fastapi import Query as QueryParam
from specstar.core import QueryError, RevisionInfo, RevisionSelection, select_revisions

from ..dependencies import DependencyProvider
from ..openapi import json_content, problem_responses, ref
from ..params import MAX_OFFSET
from ..responses import json_response
from ._base import REVISION_ID_PATTERN, ModelRoutes, ResourceIdPath
from ._paging import next_url, page_doc
from .lifecycle import revision_of

__all__ = ["RevisionOrder", "add_revisions_route", "revision_members"]

_REVISION_PARTIAL_DOC = (
    "Only these members of each revision's info (`revision_id`, `status`, …; an `info/` "
    "prefix is allowed), comma-separated or repeated."
)
_INFO_MEMBERS = frozenset(f.name for f in msgspec.structs.fields(RevisionInfo))


class RevisionOrder(enum.StrEnum):
    """``sort`` of ``GET /m/{id}/revisions``."""

    oldest_first = "created_time"
    oldest_first_plus = "+created_time"
    newest_first = "-created_time"


def revision_members(values: list[str] | None) -> frozenset[str] | None:
    """The ``partial`` members of a revision listing (``None``: all).

    Raises:
        QueryError: a name that is no member of ``RevisionInfo`` (400).
    """
    names = [
        part.strip().removeprefix("info/")
        for value in values or ()
        for part in value.split(",")
        if part.strip()
    ]
    if not names:
        return None
    unknown = sorted(set(names) - _INFO_MEMBERS)
    if unknown:
        raise QueryError(
            f"partial names no member of a revision's info: {', '.join(unknown)} "
            f"(accepted: {', '.join(sorted(_INFO_MEMBERS))})",
            path=unknown[0],
        )
    return frozenset(names)


def add_revisions_route(m: ModelRoutes) -> None:
    """Add ``GET /m/{resource_id}/revisions`` (action ``list_revisions``) to ``m``."""
    manager = m.manager

    async def list_revisions(
        request: Request,
        *,
        resource_id: ResourceIdPath,
        offset: Annotated[
            int, QueryParam(ge=0, le=MAX_OFFSET, description="Revisions to skip.")
        ] = 0,
        limit: Annotated[
            int, QueryParam(ge=1, le=manager.max_limit, description="Page size.")
        ] = manager.default_limit,
        sort: Annotated[
            RevisionOrder,
            QueryParam(description="`created_time` (oldest first) or `-created_time`."),
        ] = RevisionOrder.oldest_first,
        created_time_start: Annotated[
            datetime | None, QueryParam(description="Revisions created at or after this.")
        ] = None,
        created_time_end: Annotated[
            datetime | None, QueryParam(description="Revisions created before this.")
        ] = None,
        from_revision_id: Annotated[
            str | None,
            QueryParam(
                pattern=REVISION_ID_PATTERN,
                description="Start at this revision (id or bare number), in `sort` order.",
            ),
        ] = None,
        chain_only: Annotated[
            bool,
            QueryParam(
                description="Only the current revision and its ancestors (`parent_revision_id`)."
            ),
        ] = False,
        partial: Annotated[list[str] | None, QueryParam(description=_REVISION_PARTIAL_DOC)] = None,
        user: Any = m.user,
    ) -> Response:
        members = revision_members(partial)
        selection = RevisionSelection(
            descending=sort is RevisionOrder.newest_first,
            created_time_start=created_time_start,
            created_time_end=created_time_end,
            from_revision_id=None
            if from_revision_id is None
            else revision_of(resource_id, from_revision_id),
            chain_only=chain_only,
        )
        u = DependencyProvider.user_of(user)
        if selection.is_default:
            infos, total = await m.call(
                manager.list_revision_infos_with_total,
                resource_id,
                offset=offset,
                limit=limit + 1,
                user=u,
            )
        else:
            infos, total = await m.call(
                select_revisions,
                manager,
                resource_id,
                selection,
                offset=offset,
                limit=limit + 1,
                user=u,
            )
        has_more = len(infos) > limit
        headers = {"X-Has-More": "true" if has_more else "false", "X-Total-Count": str(total)}
        if has_more:
            link = next_url(request, frozenset({"offset"}), ("offset", str(offset + limit)))
            headers["Link"] = f'<{link}>; rel="next"'
        page: Any = infos[:limit]
        if members is not None:
            page = [{k: v for k, v in msgspec.to_builtins(i).items() if k in members} for i in page]
        return json_response(page, headers=headers)

    m.add(
        "/{resource_id}/revisions",
        list_revisions,
        method="GET",
        action="list_revisions",
        summary=f"List the revisions of a {m.name}",
        description=(
            "Oldest first (`sort=-created_time`: newest first), paged with `offset` and "
            "`limit` (soft-deleted resources too); `created_time_start`/`_end` bound their "
            "creation time (`[start, end)`), `from_revision_id` starts at one of them, "
            "`chain_only` keeps the current revision and its ancestors, `partial` the "
            "named members of each. `X-Total-Count` counts what is selected."
        ),
        responses={
            200: {
                "description": "Revision infos",
                "content": json_content({"type": "array", "items": ref("RevisionInfo")}),
                "headers": {
                    k: v for k, v in page_doc(with_total=True).items() if k != "X-Next-Cursor"
                },
            },
            **problem_responses(403, 404, 422),
        },
    )

"""Reads: ``GET /m`` (list), ``GET /m/_partial``, ``GET /m/count``, ``GET /m/{id}``,
``GET /m/{id}/partial``, ``GET /m/{id}/revisions``."""

from typing import Annotated, Any

from msgspec import UnsetType
from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter, Depends, Header
from fastapi import Query as QueryParam
from specstar.core import (
    PreconditionFailedError,
    Query,
    ResourceManager,
    SearchedResource,
    entity_tag,
)

from .._http import EntityTags, parse_entity_tags
from .._shape import ReadShape, read_shape
from ..dependencies import DependencyProvider
from ..errors import BadRequestError
from ..openapi import json_content, problem_responses, ref
from ..params import (
    Filters,
    filters_dependency,
    query_dependency,
)
from ..responses import etag_of, json_batches_response, json_response
from ._base import (
    REVISION_ID_PATTERN,
    BaseRouteTemplate,
    IfMatch,
    ResourceIdPath,
    etag_header,
    self_doc,
)
from ._history import add_revisions_route
from ._paging import next_url, page_doc, page_headers
from .lifecycle import revision_of

__all__ = [
    "ListRouteTemplate",
    "ReadRouteTemplate",
    "check_if_match",
    "next_url",
]

_RETURNS_DOC = (
    "Parts to return, comma-separated or repeated: `data`, `info` (or `revision_info`), "
    "`meta` (default: all); or one of `only-data`, `only-meta`, `only-revision_info` "
    "alone, which returns that part by itself."
)
_PARTIAL_DOC = (
    "Only these parts of `data`: JSON Pointers (`/address/city`) or dotted paths "
    "(`address.city`), optionally prefixed `data/`, comma-separated or repeated; "
    "`meta/<member>` and `info/<member>` narrow `meta` and `info` the same way."
)

ReturnsParam = Annotated[list[str] | None, QueryParam(description=_RETURNS_DOC)]
#: ``partial`` on the full reads: still honoured, but not in the document, where a full read
#: returns the whole model and partial reads are their own operations (typed ``…Partial``).
PartialParam = Annotated[
    list[str] | None, QueryParam(description=_PARTIAL_DOC, include_in_schema=False)
]
RequiredPartialParam = Annotated[list[str], QueryParam(description=_PARTIAL_DOC, min_length=1)]


#: ``?revision_id=`` of the single-resource reads.
RevisionIdQuery = Annotated[
    str | None,
    QueryParam(
        pattern=REVISION_ID_PATTERN,
        description=(
            "Read this revision instead of the current one (its id, or its bare sequence "
            "number: `3` for `{id}:3`)."
        ),
    ),
]
IncludeTotalQuery = Annotated[
    bool | None, QueryParam(description="Also count all matches (`X-Total-Count`).")
]
WithTotalQuery = Annotated[
    bool | None, QueryParam(description="The same as `include_total` (either name).")
]


def _total_wanted(include_total: bool | None, with_total: bool | None) -> bool:
    if include_total is not None and with_total is not None and include_total != with_total:
        raise BadRequestError(
            "include_total and with_total disagree: send one of them", code="invalid_parameter"
        )
    return bool(include_total or with_total)


#: ``?include_deleted=`` of the single-resource reads.
IncludeDeletedQuery = Annotated[
    bool, QueryParam(description="Read a soft-deleted resource instead of 410.")
]


def check_if_match(resource_id: str, tags: EntityTags | None, etag: str | None) -> None:
    """Evaluate ``If-Match`` on a read whose representation has the tag ``etag`` (RFC 9110
    §13.1.1): ``*`` matches any, a listed strong tag must equal it, weak tags never match.

    Raises:
        PreconditionFailedError: the condition is false (412).
    """
    if tags is None or tags.any or (etag is not None and etag in tags.strong):
        return
    shown = tags.strong[0] if tags.strong else f"W/{tags.weak[0]}"
    raise PreconditionFailedError(resource_id, shown, etag)


class ListRouteTemplate(BaseRouteTemplate):
    """``GET /m`` lists resources; ``GET /m/count`` counts them.

    Filters: `qb` (string form), `conditions` (JSON form), `created_time_start`/`_end`,
    `updated_time_start`/`_end` (half-open intervals), `created_by`/`updated_by`, `is_deleted`.
    Order: `sorts`. Paging: `limit` with `offset` or `cursor`; the headers `X-Has-More`,
    `X-Next-Cursor`, `Link: <…>; rel="next"` and, with `include_total=true`, `X-Total-Count`.
    Each item is `{data, info, meta}`, narrowed by `returns`; `GET /m/_partial` takes
    `partial` too and returns only those members of each item's `data`.
    """

    order = 20

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager
        query_dep = query_dependency(manager)
        filters_dep = filters_dependency()

        def run_list(
            query: Query, shape: ReadShape, include_total: bool, user: Any
        ) -> tuple[Any, Any, int | None]:
            u = DependencyProvider.user_of(user)
            page, raw = manager.list_batches(
                query, returns=shape.returns, partial=shape.data_paths, user=u
            )
            batches = (shape.apply_all(batch) for batch in raw)
            total = manager.count(query, user=u) if include_total else None
            return page, batches, total

        async def list_resources(
            request: Request,
            *,
            query: Annotated[Query, Depends(query_dep)],
            returns: ReturnsParam = None,
            partial: PartialParam = None,
            include_total: IncludeTotalQuery = None,
            with_total: WithTotalQuery = None,
            user: Any = m.user,
        ) -> Response:
            shape = read_shape(returns, partial)
            total_wanted = _total_wanted(include_total, with_total)
            page, batches, total = await m.call(run_list, query, shape, total_wanted, user)
            headers = page_headers(
                request, has_more=page.has_more, next_cursor=page.next_cursor, total=total
            )
            return await json_batches_response(batches, headers=headers)

        async def list_partial(
            request: Request,
            *,
            query: Annotated[Query, Depends(query_dep)],
            partial: RequiredPartialParam,
            returns: ReturnsParam = None,
            include_total: IncludeTotalQuery = None,
            with_total: WithTotalQuery = None,
            user: Any = m.user,
        ) -> Response:
            return await list_resources(
                request,
                query=query,
                returns=returns,
                partial=partial,
                include_total=include_total,
                with_total=with_total,
                user=user,
            )

        async def count_resources(
            filters: Annotated[Filters, Depends(filters_dep)],
            user: Any = m.user,
        ) -> Response:
            query = Query(where=filters.where, is_deleted=filters.is_deleted)
            n = await m.call(manager.count, query, user=DependencyProvider.user_of(user))
            return json_response({"count": n})

        m.add(
            "/count",
            count_resources,
            method="GET",
            action="count",
            summary=f"Count {model_name} resources",
            description="Takes the same filters as the listing.",
            responses={
                200: {"description": "The count", "content": json_content(ref("Count"))},
                **problem_responses(400, 403, 422, 503),
            },
        )
        m.add(
            "/_partial",
            list_partial,
            method="GET",
            action="list_partial",
            summary=f"List parts of {model_name} resources",
            description=(
                "The listing of `GET /{name}` with only the `partial` members of each "
                "item's `data` (typed as the model's `…Partial` schema)."
            ).replace("{name}", model_name),
            responses={
                200: {
                    "description": "One page of partial resources",
                    "content": json_content(
                        {"type": "array", "items": ref(m.schemas.partial_resource)}
                    ),
                    "headers": page_doc(with_total=True),
                },
                **problem_responses(400, 403, 422, 503),
            },
        )
        m.add(
            "",
            list_resources,
            method="GET",
            action="list",
            summary=f"List {model_name} resources",
            description=self_doc(ListRouteTemplate),
            responses={
                200: {
                    "description": "One page of resources",
                    "content": json_content({"type": "array", "items": ref(m.schemas.resource)}),
                    "headers": page_doc(with_total=True),
                },
                **problem_responses(400, 403, 422, 503),
            },
        )


class ReadRouteTemplate(BaseRouteTemplate):
    """``GET /m/{id}`` reads a resource; ``GET /m/{id}/revisions`` lists its revisions.

    A read returns `{data, info, meta}` (narrowed by `returns`; `GET /m/{id}/partial?partial=…`
    returns only those members of `data`) and the `ETag` of the revision read (a draft's
    changes with every edit). Conditional requests follow RFC 9110 §13.2.2: `If-Match` first
    (no listed tag is the one read, strong comparison, weak tags never match, `*` matches any:
    412), then `If-None-Match` (a listed tag is the one read, weak comparison, or `*`: 304).
    A soft-deleted resource is 410 unless `include_deleted=true`; a missing one 404, whatever
    the conditions. `revision_id` reads an older revision.
    """

    order = 40

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        def read(
            resource_id: str,
            *,
            revision_id: str | None,
            returns: tuple[str, ...],
            partial: list[str] | None,
            include_deleted: bool,
            user: str | UnsetType,
        ) -> tuple[SearchedResource[Any], str | None]:
            """The whole blocking work of one ``GET /m/{id}`` (one thread hop, one manager
            call): the item and the entity tag of the revision read (``None`` for a meta-only
            read of a user who may not read the revision's info)."""
            item, info = manager.get_resource_with_info(
                resource_id,
                returns=returns,
                partial=partial,
                revision_id=revision_id,
                include_deleted=include_deleted,
                user=user,
            )
            return item, None if info is None else entity_tag(info)

        async def get_resource(
            request: Request,
            *,
            resource_id: ResourceIdPath,
            revision_id: RevisionIdQuery = None,
            returns: ReturnsParam = None,
            partial: PartialParam = None,
            include_deleted: IncludeDeletedQuery = False,
            if_match_header: IfMatch = None,
            if_none_match: Annotated[
                str | None,
                Header(
                    alias="If-None-Match",
                    description=(
                        "Entity tags the client has (weak comparison), or `*`: if the revision "
                        "read has one of them, 304."
                    ),
                ),
            ] = None,
            user: Any = m.user,
        ) -> Response:
            match = parse_entity_tags(if_match_header, "If-Match")
            tags = parse_entity_tags(if_none_match, "If-None-Match")
            shape = read_shape(returns, partial)
            body, etag = await m.call(
                read,
                resource_id,
                revision_id=None if revision_id is None else revision_of(resource_id, revision_id),
                returns=shape.returns,
                partial=shape.data_paths,
                include_deleted=include_deleted,
                user=DependencyProvider.user_of(user),
            )
            check_if_match(resource_id, match, etag)
            if tags is not None and (tags.any or (etag is not None and tags.weak_matches(etag))):
                headers = {} if etag is None else {"ETag": etag_of(etag)}
                return Response(status_code=304, headers=headers)
            return json_response(shape.apply(body), etag=etag)

        async def get_partial(
            request: Request,
            *,
            resource_id: ResourceIdPath,
            partial: RequiredPartialParam,
            revision_id: RevisionIdQuery = None,
            returns: ReturnsParam = None,
            include_deleted: IncludeDeletedQuery = False,
            if_match_header: IfMatch = None,
            if_none_match: Annotated[
                str | None,
                Header(
                    alias="If-None-Match",
                    description="Entity tags the client has; if the revision read is one: 304.",
                ),
            ] = None,
            user: Any = m.user,
        ) -> Response:
            return await get_resource(
                request,
                resource_id=resource_id,
                revision_id=revision_id,
                returns=returns,
                partial=partial,
                include_deleted=include_deleted,
                if_match_header=if_match_header,
                if_none_match=if_none_match,
                user=user,
            )

        add_revisions_route(m)
        m.add(
            "/{resource_id}/partial",
            get_partial,
            method="GET",
            action="get_partial",
            summary=f"Read parts of a {model_name}",
            description=(
                "`GET /{id}` with only the `partial` members of `data` (typed as the model's "
                "`…Partial` schema); the `ETag` is the revision's."
            ),
            responses={
                200: {
                    "description": "The resource, with partial data",
                    "content": json_content(ref(m.schemas.partial_resource)),
                    "headers": {"ETag": etag_header()},
                },
                304: {
                    "description": "Not modified (`If-None-Match` matched)",
                    "headers": {"ETag": etag_header()},
                },
                **problem_responses(400, 403, 404, 410, 412, 422),
            },
        )
        m.add(
            "/{resource_id}",
            get_resource,
            method="GET",
            action="get",
            summary=f"Read a {model_name}",
            description=self_doc(ReadRouteTemplate),
            responses={
                200: {
                    "description": "The resource",
                    "content": json_content(ref(m.schemas.resource)),
                    "headers": {"ETag": etag_header()},
                },
                304: {
                    "description": "Not modified (`If-None-Match` matched)",
                    "headers": {"ETag": etag_header()},
                },
                **problem_responses(400, 403, 404, 410, 412, 422),
            },
        )

"""References over HTTP: ``GET /m/{id}/referrers`` and the graph ``GET /_relationships``."""

from collections.abc import Mapping
from typing import Annotated, Any

from starlette.requests import Request
from starlette.responses import Response

from fastapi import APIRouter, Depends
from fastapi import Query as QueryParam
from specstar.core import ResourceManager, find_referrers, relationships

from ..dependencies import DependencyProvider
from ..openapi import json_content, problem_responses, ref
from ..params import MAX_OFFSET
from ..responses import MsgspecResponse, json_list_response, json_response
from ._base import BaseRouteTemplate, ResourceIdPath, self_doc
from ._paging import next_url

__all__ = ["ReferrersRouteTemplate", "RelationshipsRouteTemplate", "find_referrers"]


class ReferrersRouteTemplate(BaseRouteTemplate):
    """``GET /m/{id}/referrers`` lists the resources whose `Ref` fields name this one.

    Items are `{resource, field, resource_id}`, ordered by referring model, field and id, and
    paged with `offset` and `limit` (`X-Total-Count`, `X-Has-More`, `Link: <…>; rel="next"`).
    Reading the target needs the `get` permission of its model; the referrers are searched
    with the permissions of their own models, so rows the user may not see are neither listed
    nor counted. `include_deleted=true` reads a soft-deleted target and lists soft-deleted
    referrers too. Only models that some `Ref` field refers to have this route.
    """

    order = 40

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        registry = resource_manager.registry
        if registry is None or not registry.refs_to(model_name):
            return
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        async def list_referrers(
            request: Request,
            *,
            resource_id: ResourceIdPath,
            include_deleted: Annotated[
                bool,
                QueryParam(
                    description="Read a soft-deleted target, and list soft-deleted referrers."
                ),
            ] = False,
            offset: Annotated[
                int, QueryParam(ge=0, le=MAX_OFFSET, description="Referrers to skip.")
            ] = 0,
            limit: Annotated[
                int, QueryParam(ge=1, le=manager.max_limit, description="Page size.")
            ] = manager.default_limit,
            user: Any = m.user,
        ) -> Response:
            items, total = await m.call(
                find_referrers,
                manager,
                resource_id,
                user=DependencyProvider.user_of(user),
                include_deleted=include_deleted,
                offset=offset,
                limit=limit,
            )
            has_more = offset + len(items) < total
            headers = {"X-Has-More": "true" if has_more else "false", "X-Total-Count": str(total)}
            if has_more:
                link = next_url(
                    request, frozenset({"offset"}), ("offset", str(offset + len(items)))
                )
                headers["Link"] = f'<{link}>; rel="next"'
            return json_list_response(items, headers=headers)

        m.add(
            "/{resource_id}/referrers",
            list_referrers,
            method="GET",
            action="list_referrers",
            summary=f"List the resources referring to a {model_name}",
            description=self_doc(ReferrersRouteTemplate),
            responses={
                200: {
                    "description": "One page of referrers",
                    "content": json_content({"type": "array", "items": ref("Referrer")}),
                    "headers": {
                        "X-Has-More": {
                            "description": "`true` when another page follows",
                            "required": True,
                            "schema": {"type": "string", "enum": ["true", "false"]},
                        },
                        "X-Total-Count": {
                            "description": "Number of referrers the user may see",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9]+$"},
                        },
                        "Link": {
                            "description": 'The next page\'s URL with `rel="next"`',
                            "schema": {"type": "string"},
                        },
                    },
                },
                **problem_responses(400, 403, 404, 410, 422),
            },
        )


class RelationshipsRouteTemplate(BaseRouteTemplate):
    """``GET /_relationships``: the graph of `Ref` fields between the registered models.

    One item per reference field: `{source, field, target, on_delete, ref_type, is_list,
    nullable}`; served when at least one model has a `Ref` field. It describes the models,
    never their data (the same facts are in the OpenAPI document as `x-ref-*`), so no
    permission checker is asked; the `get_user` dependency still runs, so an authentication
    dependency that refuses a request refuses this one too.
    """

    order = 100

    def __init__(
        self,
        *,
        path: str = "/_relationships",
        dependency_provider: DependencyProvider | None = None,
        tags: list[str] | None = None,
        strict_query_parameters: bool | None = None,
    ) -> None:
        super().__init__(
            dependency_provider=dependency_provider,
            tags=tags,
            strict_query_parameters=strict_query_parameters,
        )
        self.path = path

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        return None  # one route for all models: see apply_global

    def apply_global(
        self, resource_managers: Mapping[str, ResourceManager[Any]], router: APIRouter
    ) -> None:
        graph = relationships(resource_managers)
        if not graph:
            return  # no references: no graph to serve
        prefix = getattr(router, "prefix", "") or ""
        suffix = "".join(c if c.isalnum() else "_" for c in prefix).strip("_")

        get_user = self.deps.get_user

        async def list_relationships(user: Annotated[Any, Depends(get_user)]) -> Response:
            return json_response(graph)

        router.add_api_route(
            self.path,
            list_relationships,
            methods=["GET"],
            name="relationships",
            operation_id="list_relationships" + (f"_{suffix}" if suffix else ""),
            summary="The references between models",
            description=self_doc(RelationshipsRouteTemplate),
            tags=list(self.tags) if self.tags is not None else ["relationships"],
            responses={
                200: {
                    "description": "Every reference field",
                    "content": json_content({"type": "array", "items": ref("Relationship")}),
                },
                **problem_responses(400, 401, 422),
            },
            response_class=MsgspecResponse,
            route_class_override=self.route_class,
        )

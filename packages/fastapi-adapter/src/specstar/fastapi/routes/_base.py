"""The route template interface and the helpers the built-in templates share.

No ``from __future__ import annotations`` in route modules: FastAPI reads the endpoint
signatures at run time, and they refer to names local to the ``apply`` methods.
"""

import abc
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from msgspec import UNSET, UnsetType
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import NoMatchFound

from fastapi import APIRouter, Depends, Header, Path
from fastapi import Query as QueryParam
from specstar.core import (
    PreconditionFailedError,
    ReferenceRestrictedError,
    ResourceManager,
    SpecStarError,
    UniqueConstraintError,
    entity_tag,
    revision_of_tag,
)

from .._http import EntityTags, parse_entity_tags
from ..dependencies import DependencyProvider, default_get_now, default_get_user
from ..errors import BadRequestError
from ..openapi import ModelSchemaNames, model_schema_names, problem_responses
from ..responses import MsgspecResponse, SpecStarRoute
from ._redact import redact_conflict

__all__ = [
    "RESERVED_IDS",
    "RESOURCE_ID_PATTERN",
    "REVISION_ID_PATTERN",
    "BaseRouteTemplate",
    "ExpectedRevisionQuery",
    "IfMatch",
    "IfNoneMatch",
    "ModelRoutes",
    "ResourceIdPath",
    "RevisionIdPath",
    "RouteTemplate",
    "write_precondition",
]

R = TypeVar("R")

#: Resource ids as core accepts them (``specstar.core.naming.RESOURCE_ID_RE``).
RESOURCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~@-]{0,199}$"
#: Revision ids are ``{resource_id}:{seq}``.
REVISION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:~@-]{0,219}$"
#: Ids a client may not choose: they are the fixed path segments next to ``/{resource_id}``.
RESERVED_IDS = frozenset({"count", "batch"})

ResourceIdPath = Annotated[
    str,
    Path(
        pattern=RESOURCE_ID_PATTERN,
        description="The resource id, e.g. `book:1f0c…` (colons need no escaping).",
    ),
]
RevisionIdPath = Annotated[
    str,
    Path(pattern=REVISION_ID_PATTERN, description="A revision id, `{resource_id}:{seq}`."),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description=(
            "Only act when the current representation has one of these entity tags (`ETag` "
            'values, e.g. `"book:1f0c…:3"`, or `"book:1f0c…:3~9a41c07e"` for a draft), or `*` '
            "for any; otherwise 412. Weak tags never match."
        ),
    ),
]
#: ``?expected_revision_id=`` of the writes: act only while this revision is current.
ExpectedRevisionQuery = Annotated[
    str | None,
    QueryParam(
        pattern=REVISION_ID_PATTERN,
        description=(
            "Act only while this revision is current (412 otherwise; compares the revision "
            "id only, not a draft's content). With `If-Match`, one of its tags must name "
            "this revision (400 otherwise)."
        ),
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="`*`: only create, never replace (else 412)."),
]


class RouteTemplate(abc.ABC):
    """Generates some routes for every registered model.

    Templates are applied in ascending ``order`` (each to every model before the next
    template). Whatever the order, a path with a literal segment is matched before one with
    a parameter in its place: ``/m/search`` added by any template is never taken by
    ``GET /m/{resource_id}``.
    """

    order: int = 100

    @abc.abstractmethod
    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        """Add this template's routes for one model to ``router``."""

    def apply_global(  # noqa: B027 - an optional hook: most templates add no such routes
        self, resource_managers: Mapping[str, ResourceManager[Any]], router: APIRouter
    ) -> None:
        """Add routes that belong to no single model (called once per ``apply``, after
        :meth:`apply` ran for every model; nothing by default)."""


class BaseRouteTemplate(RouteTemplate):
    """A template with a :class:`DependencyProvider` (``SpecStar`` fills in its own when the
    template has none) and helpers for adding documented routes.

    Args:
        dependency_provider: where routes get the acting user and time.
        tags: OpenAPI tags for the routes (default: the model name).
        strict_query_parameters: refuse query parameters a route does not read (400
            ``unknown_parameter``); ``None`` (default) takes the ``SpecStar`` app's setting,
            strict when applied without one.
    """

    def __init__(
        self,
        *,
        dependency_provider: DependencyProvider | None = None,
        tags: list[str] | None = None,
        strict_query_parameters: bool | None = None,
    ) -> None:
        self.dependency_provider = dependency_provider
        self.tags = tags
        self.strict_query_parameters = strict_query_parameters

    @property
    def route_class(self) -> type[SpecStarRoute]:
        """The route class of this template's routes (see ``strict_query_parameters``)."""
        return SpecStarRoute.for_query_parameters(self.strict_query_parameters is not False)

    @property
    def deps(self) -> DependencyProvider:
        return self.dependency_provider or DependencyProvider()

    def model_routes(
        self, model_name: str, manager: ResourceManager[Any], router: APIRouter
    ) -> "ModelRoutes":
        return ModelRoutes(
            model_name, manager, router, self.deps, self.tags, route_class=self.route_class
        )


class ModelRoutes:
    """Everything a template needs to add the routes of one model."""

    def __init__(
        self,
        name: str,
        manager: ResourceManager[Any],
        router: APIRouter,
        deps: DependencyProvider,
        tags: list[str] | None,
        *,
        route_class: type[SpecStarRoute] = SpecStarRoute,
    ) -> None:
        self.name = name
        self.route_class = route_class
        self.manager = manager
        self.router = router
        self.deps = deps
        self.tags: list[str | Any] = list(tags) if tags is not None else [name]
        self.schemas: ModelSchemaNames = model_schema_names(manager.model)
        self.base = f"/{name}"
        self.ident = name.replace("-", "_").replace(".", "_")
        self._user = Depends(deps.get_user)
        self._now = Depends(deps.get_now)
        # Parameters whose dependency would only say "not known from this request": the
        # routes get the value itself instead (no dependency to solve, no thread hop).
        self._fixed: dict[int, Any] = {}
        if deps.get_user is default_get_user:
            self._fixed[id(self._user)] = UNSET
        if deps.get_now is default_get_now:
            self._fixed[id(self._now)] = UNSET

    @property
    def user(self) -> Any:
        """A ``Depends`` for the acting user (a parameter default of a route)."""
        return self._user

    @property
    def now(self) -> Any:
        """A ``Depends`` for the operation time (a parameter default of a route)."""
        return self._now

    def route_name(self, action: str) -> str:
        return f"{self.name}:{action}"

    def add(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        method: str,
        action: str,
        summary: str,
        description: str | None = None,
        status_code: int = 200,
        responses: Mapping[int | str, Any] | None = None,
        request_body: Mapping[str, Any] | None = None,
        response_class: type[Response] = MsgspecResponse,
    ) -> None:
        """Add one documented route (msgspec responses, problem+json errors; every route
        documents a 400, the answer to a query parameter it does not read)."""
        extra: dict[str, Any] = {}
        if request_body is not None:
            extra["requestBody"] = dict(request_body)
        self.router.add_api_route(
            self.base + path,
            self.lean(endpoint),
            methods=[method],
            name=self.route_name(action),
            operation_id=f"{action}_{self.ident}",
            summary=summary,
            description=description,
            status_code=status_code,
            tags=self.tags,
            responses={
                **problem_responses(400, 503),
                # /m/count, /m/_migrate... are routes of their own: another method there is 405
                **(problem_responses(405) if path == "/{resource_id}" else {}),
                **dict(responses or {}),
            },
            response_class=response_class,
            route_class_override=self.route_class,
            openapi_extra=extra or None,
        )

    def lean(self, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        """``endpoint`` without the :attr:`user`/:attr:`now` parameters whose dependency is
        the provider's default: those always answer ``UNSET``, so the route passes ``UNSET``
        itself and FastAPI has one dependency (and, for a sync one, one thread hop) less to
        run per request. The OpenAPI document is the same: the defaults declare nothing.
        """
        sig = inspect.signature(endpoint)
        fixed = {
            p.name: self._fixed[id(p.default)]
            for p in sig.parameters.values()
            if id(p.default) in self._fixed
        }
        if not fixed:
            return endpoint
        lean_endpoint: Callable[..., Any]
        if inspect.iscoroutinefunction(endpoint):

            async def lean_endpoint(*args: Any, **kwargs: Any) -> Any:
                return await endpoint(*args, **kwargs, **fixed)

        else:  # a sync endpoint of a custom template: FastAPI runs it in the thread pool

            def lean_endpoint(*args: Any, **kwargs: Any) -> Any:
                return endpoint(*args, **kwargs, **fixed)

        functools.update_wrapper(lean_endpoint, endpoint)
        kept = [p for p in sig.parameters.values() if p.name not in fixed]
        lean_endpoint.__signature__ = sig.replace(parameters=kept)  # type: ignore[union-attr]
        return lean_endpoint

    def location(self, request: Request, resource_id: str) -> str:
        """The URL of a resource (its ``GET`` route, or this collection path + the id)."""
        try:
            return str(request.url_for(self.route_name("get"), resource_id=resource_id))
        except NoMatchFound:
            return str(request.url.replace(query="")).rstrip("/") + "/" + resource_id

    async def call(self, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
        """Run a (blocking) manager call in the thread pool."""
        return await run_in_threadpool(fn, *args, **kwargs)

    async def call_as(
        self, acting_user: str | UnsetType, fn: Callable[..., R], /, *args: Any, **kwargs: Any
    ) -> R:
        """Like :meth:`call`, for a write by ``acting_user`` (a ``get_user`` result as
        :meth:`DependencyProvider.user_of` normalises it, once per request): conflicts that
        name other resources (a clashing unique value, blocking referrers) name only those
        the user may see."""

        def run() -> R:
            try:
                return fn(*args, **kwargs)
            except (UniqueConstraintError, ReferenceRestrictedError) as exc:
                raise redact_conflict(self.manager, exc, acting_user) from exc

        return await run_in_threadpool(run)

    def expected_etag(
        self, resource_id: str, tags: EntityTags | None, user: str | UnsetType = UNSET
    ) -> str | None:
        """The ``expected_etag`` for a write under ``If-Match`` (blocking).

        One strong tag is passed on as is (the store compares it atomically, a draft's
        content included); with several, the current one among them is chosen (reading the
        current revision as ``user``, so a resource the user may not see stays not found);
        ``*`` only requires existence, which every write on an existing resource checks
        anyway. Weak tags never match (RFC 9110 §13.1.1). ``user`` is normalised
        (:meth:`DependencyProvider.user_of`).

        Raises:
            PreconditionFailedError: no tag can match (412).
        """
        if tags is None or tags.any:
            return None
        if len(tags.strong) == 1:
            return tags.strong[0]
        info = self.manager.get_revision_info(resource_id, include_deleted=True, user=user)
        current = entity_tag(info)
        if current in tags.strong:
            return current
        shown = tags.strong[0] if tags.strong else f"W/{tags.weak[0]}"
        raise PreconditionFailedError(resource_id, shown, current)

    def preconditions(
        self,
        resource_id: str,
        tags: EntityTags | None,
        expected_revision_id: str | None,
        user: str | UnsetType = UNSET,
    ) -> dict[str, str | None]:
        """The ``expected_etag``/``expected_revision_id`` keyword arguments of a write under
        ``If-Match`` and ``?expected_revision_id=`` (blocking; see
        :func:`write_precondition`, which must have accepted the pair)."""
        if expected_revision_id is None:
            return {"expected_etag": self.expected_etag(resource_id, tags, user)}
        if tags is not None and not tags.any:
            named = [t for t in tags.strong if revision_of_tag(t) == expected_revision_id]
            return {"expected_etag": named[0]}
        return {"expected_revision_id": expected_revision_id}

    def expected_revision(
        self, resource_id: str, tags: EntityTags | None, user: str | UnsetType = UNSET
    ) -> str | None:
        """The revision id of :meth:`expected_etag` (blocking), for a custom route that
        calls a verb with ``expected_revision_id``: it compares the revision only, not a
        draft's content; prefer passing :meth:`expected_etag` as ``expected_etag``."""
        tag = self.expected_etag(resource_id, tags, user)
        return None if tag is None else revision_of_tag(tag)

    def current_etag(
        self, resource_id: str, revision_id: str, user: str | UnsetType = UNSET
    ) -> str | None:
        """The entity tag of the revision ``revision_id`` as ``user`` (normalised, see
        :meth:`DependencyProvider.user_of`) may read it (blocking), for a response that
        carries only the meta; ``None`` when the user may not read it."""
        try:
            info = self.manager.get_revision_info(
                resource_id, revision_id, include_deleted=True, user=user
            )
        except SpecStarError:
            return None
        return entity_tag(info)


def if_match(value: str | None) -> EntityTags | None:
    """Parse ``If-Match``."""
    return parse_entity_tags(value, "If-Match")


def write_precondition(
    if_match_header: str | None, expected_revision_id: str | None
) -> EntityTags | None:
    """Parse ``If-Match`` of a write that may also carry ``?expected_revision_id=``.

    The two say the same thing in two ways, so they must agree: with both, ``If-Match`` is
    ``*`` or one of its strong tags names ``expected_revision_id`` (its revision id, or a
    draft's tag of it).

    Raises:
        BadRequestError: they disagree (400 ``invalid_precondition``).
    """
    tags = if_match(if_match_header)
    if tags is None or expected_revision_id is None or tags.any:
        return tags
    if not any(revision_of_tag(t) == expected_revision_id for t in tags.strong):
        raise BadRequestError(
            f"expected_revision_id {expected_revision_id!r} disagrees with If-Match "
            f"{if_match_header!r}: send one of them, or both naming the same revision",
            code="invalid_precondition",
        )
    return tags


def create_only(value: str | None) -> bool:
    """Whether ``If-None-Match: *`` was sent (the only form writes accept)."""
    tags = parse_entity_tags(value, "If-None-Match")
    if tags is None:
        return False
    if not tags.any:
        raise BadRequestError(
            "on writes If-None-Match accepts only '*' (create, never replace)",
            code="invalid_precondition",
        )
    return True


def self_doc(cls: type) -> str:
    """A template's docstring as an operation description (without the summary line)."""
    lines = (cls.__doc__ or "").strip().splitlines()
    return "\n".join(line.strip() for line in lines[1:]).strip() or lines[0].strip()


def etag_header(required: bool = True) -> dict[str, Any]:
    """OpenAPI description of the ``ETag`` response header."""
    return {
        "description": (
            'The entity tag of the revision, quoted: its id (`"book:1f0c…:3"`), and for a '
            'draft its id and a version of its content (`"book:1f0c…:3~9a41c07e"`)'
        ),
        "required": required,
        "schema": {"type": "string"},
    }


def created_headers() -> dict[str, Any]:
    """``ETag`` and ``Location`` of a 201 response."""
    return {
        "ETag": etag_header(),
        "Location": {
            "description": "URL of the new resource",
            "required": True,
            "schema": {"type": "string"},
        },
    }

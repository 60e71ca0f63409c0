"""Route generation of a :class:`~specstar.fastapi.SpecStar` app: ``apply`` its route
templates to an app or router, and its OpenAPI document."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from msgspec import UNSET

from fastapi import APIRouter, FastAPI
from specstar.core import (
    BackgroundTaskAccepted,
    BlobUploadSession,
    JobRedirectInfo,
    RevisionInfo,
    SpecStarError,
    relationships,
)

from ._app_models import ModelRegistration
from ._route_order import unshadowed
from .custom_actions import action_extensions
from .openapi import build_components, install_openapi
from .problems import handle_specstar_error
from .routes import (
    DEFAULT_TEMPLATES,
    ActionRouteTemplate,
    BaseRouteTemplate,
    BlobRouteTemplate,
    MigrateRouteTemplate,
    RouteTemplate,
)

__all__ = ["RouteGeneration", "TemplateSpec", "templates_from"]

TemplateSpec = Sequence[RouteTemplate] | Mapping[type[RouteTemplate], Mapping[str, Any]]


class RouteGeneration(ModelRegistration):
    """The routes part of :class:`~specstar.fastapi.SpecStar`: route templates, the routes
    they generate for the registered models, and the OpenAPI document."""

    def add_route_template(self, template: RouteTemplate) -> None:
        """Add a route template; one of the same class already present is replaced."""
        self.route_templates = [t for t in self.route_templates if type(t) is not type(template)]
        self.route_templates.append(template)

    def apply(
        self,
        app: FastAPI | APIRouter,
        *,
        router: APIRouter | None = None,
        structs: Sequence[type] | None = None,
        auto_include: bool = True,
    ) -> APIRouter:
        """Generate the routes of every registered model.

        Args:
            app: a FastAPI app or an ``APIRouter``. With an app, its OpenAPI document gets
                the model schemas (:meth:`openapi`) and SpecStar errors raised by the app's
                other routes become problem documents too.
            router: generate on this router instead of ``app``.
            structs: extra msgspec types for ``components.schemas``.
            auto_include: with an app and a ``router``, include the router in the app.

        Returns:
            The router the routes were added to.
        """
        unknown = sorted(
            {a.resource_name for a in self.custom_actions} - set(self.resource_managers)
        )
        if unknown:
            raise ValueError(f"custom actions of unregistered models: {', '.join(unknown)}")
        self._register_action_jobs()
        target: APIRouter
        if router is not None:
            target = router
        elif isinstance(app, FastAPI):
            target = app.router
        else:
            target = app
        first_new = len(target.routes)
        for template in sorted(self._templates_to_apply(), key=lambda t: t.order):
            if isinstance(template, BaseRouteTemplate):
                if template.dependency_provider is None:
                    template.dependency_provider = self.dependency_provider
                if template.strict_query_parameters is None:
                    template.strict_query_parameters = self.strict_query_parameters
            if isinstance(template, BlobRouteTemplate):
                if template.uploads is None:
                    template.uploads = self.blob_uploads
                if template.permission_checker is UNSET:
                    template.permission_checker = self.permission_checker
            for rname, manager in self.resource_managers.items():
                template.apply(rname, manager, target)
            template.apply_global(self.resource_managers, target)
        target.routes[first_new:] = unshadowed(target.routes[first_new:])
        if isinstance(app, FastAPI):
            if router is not None and auto_include:
                app.include_router(router)
            app.add_exception_handler(SpecStarError, handle_specstar_error)
            self.openapi(app, structs=structs)
        return target

    def _templates_to_apply(self) -> list[RouteTemplate]:
        """The configured templates, plus the migrate routes of models that asked for them
        (unless a :class:`MigrateRouteTemplate` is configured, which then decides)."""
        templates = list(self.route_templates)
        if self.migrate_route_models and not any(
            isinstance(t, MigrateRouteTemplate) for t in templates
        ):
            templates.append(MigrateRouteTemplate(models=sorted(self.migrate_route_models)))
        if self.custom_actions:
            templates.append(ActionRouteTemplate(self.custom_actions, self.resource_managers))
        return templates

    def openapi(self, app: FastAPI, structs: Sequence[type] | None = None) -> None:
        """Add the model and core schemas to ``app``'s OpenAPI document (3.1).

        Called by :meth:`apply` when given an app; call it yourself after applying to a
        bare router that you include in the app.
        """
        extra = tuple(structs or ())
        if any(m.has_binary_fields for m in self.resource_managers.values()):
            extra = (*extra, BlobUploadSession)
        if self.custom_actions:
            extra = (*extra, RevisionInfo, JobRedirectInfo, BackgroundTaskAccepted)

        @functools.cache
        def components() -> dict[str, Any]:
            models = [m.model for m in self.resource_managers.values()]
            return build_components(models, extra)

        @functools.cache
        def extensions() -> dict[str, Any]:
            return {
                "x-specstar-relationships": msgspec.to_builtins(
                    relationships(self.resource_managers)
                ),
                "x-specstar-indexed-fields": {
                    name: [_indexed_field(f) for f in manager.index_spec.fields]
                    for name, manager in self.resource_managers.items()
                },
                **action_extensions(self.custom_actions),
            }

        install_openapi(app, components, extensions)


def _indexed_field(field: Any) -> dict[str, Any]:
    """One entry of ``x-specstar-indexed-fields``: path, kind, is_list and unique, plus the
    source and normalisers of a normalised unique key (only for such a key)."""
    entry: dict[str, Any] = msgspec.to_builtins(field)
    if not field.normalize:
        entry.pop("source", None)
        entry.pop("normalize", None)
    return entry


def templates_from(spec: TemplateSpec | None) -> list[RouteTemplate]:
    """The templates ``route_templates=`` asks for: ``None`` the defaults, a dict the defaults
    and its other classes made with its arguments, a list as is."""
    if spec is None:
        return [cls() for cls in DEFAULT_TEMPLATES]
    if isinstance(spec, Mapping):
        classes = list(DEFAULT_TEMPLATES) + [c for c in spec if c not in DEFAULT_TEMPLATES]
        return [cls(**dict(spec.get(cls, {}))) for cls in classes]
    return list(spec)

"""The admin's routes: each reads its request (query, form, CSRF token), then runs its page in
the thread pool as the acting user (see :mod:`.browse`, :mod:`.resource` and :mod:`.editing`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from . import browse, csrf, editing, resource
from .site import AdminSite, BadRequest, threaded

__all__ = ["add_routes"]

#: The actions ``POST {base}/{model}/{id}/{action}`` takes (the form inputs each reads).
_ACTIONS: dict[str, tuple[str, ...]] = {
    "delete": ("etag",),
    "restore": ("etag",),
    "purge": ("etag", "confirm_id"),
    "switch": ("revision_id",),
    "publish": ("etag",),
    "rerun": (),
    "cancel": (),
}


async def _form(site: AdminSite, request: Request) -> Any:
    """The posted form, once its CSRF token is checked (closed when refused)."""
    form = await request.form()
    token = form.get(csrf.FIELD)
    try:
        csrf.check(request, token if isinstance(token, str) else None)
    except csrf.CsrfError:
        await form.close()
        raise
    return form


async def _closing(form: Any, work: Awaitable[Response]) -> Response:
    """Await a page's work, then close the form (its uploaded files)."""
    try:
        return await work
    finally:
        await form.close()


def add_routes(site: AdminSite, router: APIRouter, user_dep: Any) -> None:
    """Add every admin page to ``router`` (``user_dep``: the app's ``get_user`` dependency)."""
    base = site.path

    async def dashboard(request: Request, user: Any = user_dep) -> Response:
        acting = site.user_of(user)
        return await threaded(site, request, lambda: browse.dashboard(site, request, acting))

    async def listing(request: Request, model: str, user: Any = user_dep) -> Response:
        acting = site.user_of(user)
        return await threaded(site, request, lambda: browse.listing(site, request, model, acting))

    async def options(request: Request, model: str, user: Any = user_dep) -> Response:
        acting = site.user_of(user)
        return await threaded(site, request, lambda: browse.options(site, request, model, acting))

    async def batch(request: Request, model: str, user: Any = user_dep) -> Response:
        acting = site.user_of(user)
        try:
            form = await _form(site, request)
        except csrf.CsrfError as exc:
            return site.error_page(request, 403, str(exc), "csrf")
        return await _closing(
            form, threaded(site, request, lambda: browse.batch(site, request, model, form, acting))
        )

    async def new(request: Request, model: str, user: Any = user_dep) -> Response:
        acting = site.user_of(user)
        if request.method == "GET":
            return await threaded(
                site, request, lambda: editing.create_form(site, request, model, acting)
            )
        try:
            form = await _form(site, request)
        except csrf.CsrfError as exc:
            return site.error_page(request, 403, str(exc), "csrf")
        return await _closing(
            form,
            threaded(site, request, lambda: editing.create(site, request, model, form, acting)),
        )

    async def detail(
        request: Request, model: str, resource_id: str, user: Any = user_dep
    ) -> Response:
        acting = site.user_of(user)
        return await threaded(
            site, request, lambda: resource.detail(site, request, model, resource_id, acting)
        )

    async def diff(
        request: Request, model: str, resource_id: str, user: Any = user_dep
    ) -> Response:
        acting = site.user_of(user)
        return await threaded(
            site, request, lambda: resource.diff_page(site, request, model, resource_id, acting)
        )

    async def confirm(
        request: Request, model: str, resource_id: str, user: Any = user_dep
    ) -> Response:
        acting = site.user_of(user)
        return await threaded(
            site, request, lambda: resource.confirm(site, request, model, resource_id, acting)
        )

    async def logs(
        request: Request, model: str, resource_id: str, user: Any = user_dep
    ) -> Response:
        acting = site.user_of(user)
        return await threaded(
            site, request, lambda: resource.logs(site, request, model, resource_id, acting)
        )

    async def blob(
        request: Request, model: str, resource_id: str, file_id: str, user: Any = user_dep
    ) -> Response:
        acting = site.user_of(user)
        return await threaded(
            site,
            request,
            lambda: resource.blob(site, request, model, resource_id, file_id=file_id, user=acting),
        )

    async def edit(
        request: Request, model: str, resource_id: str, user: Any = user_dep
    ) -> Response:
        acting = site.user_of(user)
        if request.method == "GET":
            return await threaded(
                site, request, lambda: editing.edit_form(site, request, model, resource_id, acting)
            )
        try:
            form = await _form(site, request)
        except csrf.CsrfError as exc:
            return site.error_page(request, 403, str(exc), "csrf")
        return await _closing(
            form,
            threaded(
                site,
                request,
                lambda: editing.save(site, request, model, resource_id, form=form, user=acting),
            ),
        )

    async def action(
        request: Request, model: str, resource_id: str, name: str, user: Any = user_dep
    ) -> Response:
        acting = site.user_of(user)
        if name not in _ACTIONS:
            return site.error_page(request, 404, f"no action named {name!r}", "not_found")
        try:
            form = await _form(site, request)
        except csrf.CsrfError as exc:
            return site.error_page(request, 403, str(exc), "csrf")

        def run() -> Response:
            inputs = site.form_fields(form, _ACTIONS[name])
            if request.query_params:
                raise BadRequest(f"unknown query parameter {next(iter(request.query_params))!r}")
            return resource.act(
                site, request, model, resource_id, action=name, inputs=inputs, user=acting
            )

        return await _closing(form, threaded(site, request, run))

    add = router.add_api_route
    add(base, dashboard, methods=["GET"], name="admin:dashboard")
    add(base + "/", dashboard, methods=["GET"], name="admin:dashboard-slash")
    add(base + "/{model}", listing, methods=["GET"], name="admin:list")
    add(base + "/{model}/_options", options, methods=["GET"], name="admin:options")
    add(base + "/{model}/_batch", batch, methods=["POST"], name="admin:batch")
    add(base + "/{model}/_new", new, methods=["GET", "POST"], name="admin:new")
    add(base + "/{model}/{resource_id}", detail, methods=["GET"], name="admin:detail")
    add(base + "/{model}/{resource_id}/diff", diff, methods=["GET"], name="admin:diff")
    add(base + "/{model}/{resource_id}/confirm", confirm, methods=["GET"], name="admin:confirm")
    add(base + "/{model}/{resource_id}/logs", logs, methods=["GET"], name="admin:logs")
    add(
        base + "/{model}/{resource_id}/blob/{file_id}",
        blob,
        methods=["GET"],
        name="admin:blob",
    )
    add(base + "/{model}/{resource_id}/edit", edit, methods=["GET", "POST"], name="admin:edit")
    add(base + "/{model}/{resource_id}/{name}", action, methods=["POST"], name="admin:action")

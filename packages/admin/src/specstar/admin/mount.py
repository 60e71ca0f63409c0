"""Mounting the admin on an app: its site, its routes and its static files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from starlette.staticfiles import StaticFiles

from specstar.fastapi import SpecStar

from .routes import add_routes
from .site import STATIC, AdminSite

__all__ = ["mount"]


def _user_dependency(site: AdminSite) -> Any:
    """The app's own ``get_user`` dependency (resolved per request, like the API's)."""
    return Depends(site.provider.get_user)


def mount(
    app: FastAPI,
    crud: SpecStar,
    *,
    path: str = "/admin",
    title: str = "SpecStar admin",
    page_size: int = 25,
) -> AdminSite:
    """Serve the admin UI of ``crud``'s models on ``app`` at ``path``.

    Call it after registering the models (``crud.add_model``); ``crud.apply(app)`` may come
    before or after. Pages act as the user ``crud``'s dependency provider resolves for each
    request, with the models' own permission checkers.

    Example:
        ```python
        # doc: skip
        from specstar.admin import mount

        crud.apply(app)
        mount(app, crud, path="/admin")
        ```

    Returns:
        The :class:`AdminSite` (its routes are on ``app`` already).

    Raises:
        ValueError: a malformed ``path`` or a ``page_size`` below 1.
    """
    site = AdminSite(crud, path=path, title=title, page_size=page_size)
    router = APIRouter(include_in_schema=False)
    add_routes(site, router, _user_dependency(site))
    app.mount(path + "/_static", StaticFiles(directory=STATIC), name="specstar-admin-static")
    app.include_router(router)
    return site

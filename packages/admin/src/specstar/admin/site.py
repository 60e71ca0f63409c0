"""The admin site: its models and templates, rendering its pages, and the answers to errors.

Every page runs as the user the app's :class:`~specstar.fastapi.DependencyProvider`
resolves, through the same resource managers (so the same permission checker) as the API:
the admin has no power of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import jinja2
from msgspec import UnsetType
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from specstar.core import (
    JobManager,
    ReferenceRestrictedError,
    ResourceManager,
    SpecStarError,
    UniqueConstraintError,
    redact_conflict,
)
from specstar.fastapi import DependencyProvider, SpecStar
from specstar.fastapi.problems import status_for

from . import csrf

__all__ = ["STATIC", "AdminSite", "BadRequest", "NotFound", "threaded"]

_HERE = Path(__file__).parent
#: The folder of the admin's static files (styles, scripts).
STATIC = _HERE / "static"
R = TypeVar("R")

#: What an error page is titled, by status.
_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    410: "Deleted",
    412: "Changed meanwhile",
    422: "Invalid",
    429: "Too many requests",
    503: "Unavailable",
}


class NotFound(LookupError):
    """No such model or page; answered with a 404 page."""


class BadRequest(Exception):
    """A request the admin cannot act on (an unknown parameter or form input, a bad value);
    answered with a 400 page naming it."""


class AdminSite:
    """The admin pages of one :class:`~specstar.fastapi.SpecStar` app.

    Args:
        crud: the app's SpecStar object (its models, managers and dependency provider).
        path: where the admin is served, e.g. ``"/admin"``.
        title: the name shown in the header.
        page_size: rows per list page.
    """

    def __init__(
        self,
        crud: SpecStar,
        *,
        path: str = "/admin",
        title: str = "SpecStar admin",
        page_size: int = 25,
    ) -> None:
        if not path.startswith("/") or path.endswith("/") or "//" in path:
            raise ValueError(f"path must start with '/' and not end with one, got {path!r}")
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.crud = crud
        self.path = path
        self.title = title
        self.page_size = page_size
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters["q"] = lambda v: quote(str(v), safe="")
        self.templates.globals["urlencode"] = urlencode

    @property
    def provider(self) -> DependencyProvider:
        return self.crud.dependency_provider

    # -- models ---------------------------------------------------------------------------------

    @property
    def managers(self) -> Mapping[str, ResourceManager[Any]]:
        return self.crud.resource_managers

    def manager(self, name: str) -> ResourceManager[Any]:
        """The manager of a model shown in the admin.

        Raises:
            NotFound: no such model (a 404 page).
        """
        manager = self.managers.get(name)
        if manager is None:
            raise NotFound(f"no model named {name!r}")
        return manager

    @staticmethod
    def is_job(manager: ResourceManager[Any]) -> bool:
        return isinstance(manager, JobManager)

    def url(self, *parts: str, **params: Any) -> str:
        """An admin URL: ``url("post", "post:1", revision="post:1:2")``."""
        path = "/".join([self.path, *(quote(p, safe="") for p in parts)])
        query = {k: v for k, v in params.items() if v not in (None, "", False)}
        return path + ("?" + urlencode(query, doseq=True) if query else "")

    # -- rendering ------------------------------------------------------------------------------

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page of the admin (with the CSRF token of the session)."""
        html = self.templates.get_template(template).render(
            site=self,
            base=self.path,
            title=self.title,
            csrf_field=csrf.FIELD,
            csrf_token=csrf.token_of(request),
            models=list(self.managers),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        csrf.ensure_cookie(request, response, self.path)
        return response

    def error_page(self, request: Request, status: int, message: str, code: str = "") -> Response:
        return self.render(
            request,
            "error.html",
            status=status,
            heading=_TITLES.get(status, "Error"),
            message=message,
            code=code,
        )

    def answer(self, request: Request, fn: Callable[[], Response]) -> Response:
        """Run a page (blocking) and turn the errors a user can meet into pages."""
        try:
            return fn()
        except csrf.CsrfError as exc:
            return self.error_page(request, 403, str(exc), "csrf")
        except BadRequest as exc:
            return self.error_page(request, 400, str(exc), "bad_request")
        except NotFound as exc:
            return self.error_page(request, 404, str(exc), "not_found")
        except SpecStarError as exc:
            status = status_for(exc)
            message = exc.message if status < 500 else "the server could not complete the request"
            return self.error_page(request, status, message, exc.code)

    # -- request inputs -------------------------------------------------------------------------

    @staticmethod
    def params(request: Request, allowed: Iterable[str], prefix: str = "") -> dict[str, str]:
        """The query parameters of a page; one it does not read is a 400 naming it, and so
        is a repeated one."""
        known = set(allowed)
        out: dict[str, str] = {}
        for key, value in request.query_params.multi_items():
            if key not in known and not (prefix and key.startswith(prefix)):
                raise BadRequest(f"unknown query parameter {key!r}")
            if key in out:
                raise BadRequest(f"query parameter {key!r} given more than once")
            out[key] = value
        return out

    @staticmethod
    def form_fields(
        form: FormData,
        allowed: Iterable[str],
        lists: Iterable[str] = (),
        files: Iterable[str] = (),
    ) -> dict[str, str]:
        """The text inputs of a posted form (the CSRF token left out); an input the form does
        not have is a 400 naming it. ``lists`` may repeat (read them from ``form.getlist``);
        ``files`` are file inputs (read them from ``form``; an empty one is left out)."""
        known = set(allowed) | {csrf.FIELD}
        many = set(lists)
        uploads = set(files)
        out: dict[str, str] = {}
        for key, value in form.multi_items():
            if key not in known and key not in many and key not in uploads:
                raise BadRequest(f"unknown form input {key!r}")
            if key in uploads:
                if isinstance(value, str) and value:
                    raise BadRequest(f"form input {key!r} must be a file")
                continue
            if not isinstance(value, str):
                raise BadRequest(f"form input {key!r} must be text, not a file")
            if key in many:
                continue
            if key in out:
                raise BadRequest(f"form input {key!r} given more than once")
            out[key] = value
        return out

    @staticmethod
    def write(manager: ResourceManager[Any], user: str | UnsetType, fn: Callable[[], R]) -> R:
        """Run a write as ``user``: a conflict naming other resources (a unique value's
        holder, blocking referrers) names only those the user may see, as in the API."""
        try:
            return fn()
        except (UniqueConstraintError, ReferenceRestrictedError) as exc:
            raise redact_conflict(manager, exc, user) from exc

    def user_of(self, value: Any) -> str | UnsetType:
        return self.provider.user_of(value)


def threaded(site: AdminSite, request: Request, fn: Callable[[], Response]) -> Awaitable[Response]:
    """Run a page's blocking work in the thread pool, errors answered as pages."""
    return run_in_threadpool(functools.partial(site.answer, request, fn))

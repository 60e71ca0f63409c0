"""Paging of listings: the next page's URL and the paging headers (and their description)."""

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

__all__ = ["next_url", "page_doc", "page_headers"]

_PAGING = frozenset({"cursor", "offset"})


def next_url(request: Request, drop: frozenset[str], add: tuple[str, str]) -> str:
    """The request's URL without the ``drop`` parameters, with ``add`` appended."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in drop]
    params.append(add)
    return str(request.url.replace(query=urlencode(params)))


def page_headers(
    request: Request, *, has_more: bool, next_cursor: str | None, total: int | None
) -> dict[str, str]:
    """The paging headers of a listing page: ``X-Has-More``, ``X-Next-Cursor`` and ``Link``
    when another page follows, ``X-Total-Count`` when counted."""
    headers = {"X-Has-More": "true" if has_more else "false"}
    if next_cursor is not None:
        headers["X-Next-Cursor"] = next_cursor
        link = next_url(request, _PAGING, ("cursor", next_cursor))
        headers["Link"] = f'<{link}>; rel="next"'
    if total is not None:
        headers["X-Total-Count"] = str(total)
    return headers


def page_doc(with_total: bool) -> dict[str, Any]:
    """OpenAPI description of :func:`page_headers`."""
    headers: dict[str, Any] = {
        "X-Has-More": {
            "description": "`true` when another page follows",
            "required": True,
            "schema": {"type": "string", "enum": ["true", "false"]},
        },
        "X-Next-Cursor": {
            "description": "Pass as `cursor` for the next page (present when one follows)",
            "schema": {"type": "string"},
        },
        "Link": {
            "description": 'The next page\'s URL with `rel="next"` (when one follows)',
            "schema": {"type": "string"},
        },
    }
    if with_total:
        headers["X-Total-Count"] = {
            "description": "Number of matching rows (lists: with `include_total=true`)",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    return headers

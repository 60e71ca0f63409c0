"""HTTP plumbing shared by the routes: request bodies and conditional-request headers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import Scope

from .errors import BadRequestError, UnsupportedMediaTypeError

__all__ = [
    "JSON_MEDIA_TYPES",
    "EntityTags",
    "allowed_methods",
    "media_type_of",
    "parse_entity_tags",
    "read_json",
    "serves",
]

JSON_MEDIA_TYPES = ("application/json",)

#: Largest request body read (bytes); larger bodies get 413.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Bodies up to this size are decoded on the event loop (it takes microseconds).
_DECODE_INLINE_BYTES = 64 * 1024


def media_type_of(request: Request) -> str:
    """The request's media type, lower-cased and without parameters (``""`` when absent)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_json(request: Request, accepted: Sequence[str] = JSON_MEDIA_TYPES) -> Any:
    """Decode the request body as JSON.

    A missing ``Content-Type`` is read as JSON; another type not in ``accepted`` (nor a
    ``+json`` type when ``accepted`` is the default) is refused with 415.

    Raises:
        UnsupportedMediaTypeError: wrong content type (415).
        BadRequestError: empty or malformed body (400, ``invalid_json``).
    """
    media_type = media_type_of(request)
    lenient = accepted == JSON_MEDIA_TYPES and _is_json(media_type)
    if media_type and media_type not in accepted and not lenient:
        raise UnsupportedMediaTypeError(media_type, accepted)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequestError(
                f"the request body is larger than {MAX_BODY_BYTES} bytes",
                code="content_too_large",
                status=413,
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise BadRequestError("this request needs a JSON body", code="invalid_json")
    try:
        if len(body) > _DECODE_INLINE_BYTES:  # big documents decode off the event loop
            return await run_in_threadpool(msgspec.json.decode, body)
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}", code="invalid_json") from None
    except RecursionError:
        raise BadRequestError("the JSON body nests too deeply", code="invalid_json") from None


class EntityTags(msgspec.Struct, frozen=True):
    """A parsed ``If-Match``/``If-None-Match`` value.

    Attributes:
        any: the header was ``*``.
        strong: the opaque values of the strong tags (revision ids), in order.
        weak: the opaque values of the weak (``W/``) tags; they never match strongly.
    """

    any: bool = False
    strong: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()

    def matches(self, revision_id: str) -> bool:
        """Strong comparison against the current revision id (RFC 9110 §13.1.1)."""
        return self.any or revision_id in self.strong

    def weak_matches(self, revision_id: str) -> bool:
        """Weak comparison (RFC 9110 §13.1.2, for ``If-None-Match`` on reads)."""
        return self.any or revision_id in self.strong or revision_id in self.weak


def parse_entity_tags(value: str | None, header: str) -> EntityTags | None:
    """Parse a conditional header: ``*`` or a comma-separated list of entity tags.

    Quoted tags (``"book:1f0c:3"``) follow RFC 9110; a bare revision id without quotes is
    accepted too. Weak tags (``W/"..."``) never match strongly.

    Raises:
        BadRequestError: the value is malformed (400, ``invalid_precondition``).
    """
    if value is None:
        return None
    text = value.strip()
    if text == "*":
        return EntityTags(any=True)
    strong: list[str] = []
    weak: list[str] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        is_weak = item.startswith("W/")
        if is_weak:
            item = item[2:]
        if len(item) >= 2 and item[0] == '"' and item[-1] == '"':
            item = item[1:-1]
        if not item or any(c in item for c in '" ') or not item.isprintable():
            raise BadRequestError(
                f"{header}: {value!r} is not '*' or a list of entity tags",
                code="invalid_precondition",
            )
        (weak if is_weak else strong).append(item)
    if not strong and not weak:
        raise BadRequestError(f"{header} is empty", code="invalid_precondition")
    return EntityTags(strong=tuple(strong), weak=tuple(weak))


_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def serves(methods: set[str] | None, method: str) -> bool:
    """Whether a route with ``methods`` answers ``method`` (``HEAD`` wherever ``GET`` is)."""
    if not methods:
        return True
    return method in methods or (method == "HEAD" and "GET" in methods)


_PROBE_KEYS = (
    "type",
    "scheme",
    "server",
    "path",
    "raw_path",
    "root_path",
    "headers",
    "app",
    "router",
)


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route of the request's router answers for the request's path.

    Starlette answers 405 with the methods of the *first* route whose path matched; this asks
    every route (included routers too) about each method instead, for ``Allow``.
    """
    routes = getattr(scope.get("router"), "routes", ())
    probe = {k: scope[k] for k in _PROBE_KEYS if k in scope}
    found: list[str] = []
    for method in _METHOD_ORDER:
        probe["method"] = method
        if any(route.matches(dict(probe))[0] is Match.FULL for route in routes):
            found.append(method)
    return found

"""Responses encoded with msgspec, and the route class that turns errors into problems."""

from __future__ import annotations

import collections
import logging
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, ClassVar, Final

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from specstar.core import SpecStarError

from ._http import allowed_methods, serves
from ._query_string import INSTANT_ERRORS, QueryStringRules, with_instant_errors
from .errors import InternalError
from .problems import http_exception_problem, problem_for, problem_response, validation_problem

__all__ = [
    "LIST_CHUNK_BYTES",
    "MsgspecResponse",
    "SpecStarRoute",
    "etag_of",
    "head_response",
    "internal_error",
    "json_batches_response",
    "json_list_response",
    "json_response",
]

log = logging.getLogger("specstar.fastapi")

_ENCODER = msgspec.json.Encoder()


class MsgspecResponse(JSONResponse):
    """``application/json`` encoded by msgspec (structs, datetimes, UUIDs ... directly)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _ENCODER.encode(content)


def etag_of(revision_id: str) -> str:
    """The strong entity tag for a revision id (quoted, RFC 9110)."""
    return f'"{revision_id}"'


def json_response(
    content: Any,
    *,
    status_code: int = 200,
    etag: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> MsgspecResponse:
    """A msgspec-encoded JSON response, with an ``ETag`` when ``etag`` (a revision id) is given."""
    out = dict(headers or {})
    if etag is not None:
        out["ETag"] = etag_of(etag)
    return MsgspecResponse(content=content, status_code=status_code, headers=out)


#: Size a streamed JSON array is sent in: a list whose encoding is larger is never held
#: encoded in memory as a whole, whatever the page size and the size of its documents.
LIST_CHUNK_BYTES: Final = 64 * 1024


def json_list_response(
    items: Iterable[Any], *, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON array: one body (with ``Content-Length``) when it encodes to at most
    :data:`LIST_CHUNK_BYTES`, else streamed in chunks of about that size, each item dropped
    once encoded (see :func:`json_batches_response`)."""
    pending = collections.deque(items)
    first = _next_chunk(pending, bytearray(b"["))
    if not pending:
        return _whole(first, headers)
    return StreamingResponse(
        _chunks(first, pending, None), media_type="application/json", headers=dict(headers or {})
    )


async def json_batches_response(
    batches: Iterator[Sequence[Any]], *, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON array of the items of ``batches`` (a blocking iterator, advanced in the thread
    pool as the client reads): one body with ``Content-Length`` when it all encodes to at most
    :data:`LIST_CHUNK_BYTES`, else streamed in chunks of about that size.

    The server waits for a slow reader before it asks for the next batch, so a large page
    costs about one batch and one chunk per reader, never the whole page. An error while a
    later batch is read ends the stream early (the status line is sent by then): the client
    sees an incomplete body, never a complete wrong one.
    """
    pending: collections.deque[Any] = collections.deque()
    out = bytearray(b"[")
    while len(out) < LIST_CHUNK_BYTES:
        batch = await run_in_threadpool(next, batches, None)
        if batch is None:
            return _whole(out, headers)  # every item was encoded: pending is empty
        pending.extend(batch)
        out = _next_chunk(pending, out)
    return StreamingResponse(
        _chunks(out, pending, batches), media_type="application/json", headers=dict(headers or {})
    )


def _whole(body: bytearray, headers: Mapping[str, str] | None) -> Response:
    body += b"]"
    return Response(content=bytes(body), media_type="application/json", headers=dict(headers or {}))


def _next_chunk(pending: collections.deque[Any], out: bytearray) -> bytearray:
    """``out`` extended by encoded items (taken from ``pending``) up to a chunk's size."""
    while pending and len(out) < LIST_CHUNK_BYTES:
        if len(out) > 1:
            out += b","
        _ENCODER.encode_into(pending.popleft(), out, len(out))
    return out


async def _chunks(
    first: bytearray,
    pending: collections.deque[Any],
    batches: Iterator[Sequence[Any]] | None,
) -> AsyncIterator[bytes]:
    yield bytes(first)
    while True:
        if not pending and batches is not None:
            batch = await run_in_threadpool(next, batches, None)
            if batch is None:
                batches = None
            else:
                pending.extend(batch)
        if not pending:
            break
        yield bytes(_next_chunk(pending, bytearray(b",")))
    yield b"]"


def head_response(response: Response) -> Response:
    """The answer to ``HEAD``: the ``GET`` response's status and headers, without its body.

    ``Content-Length`` stays the length the ``GET`` body has (RFC 9110 §9.3.2).
    """
    out = Response(status_code=response.status_code, background=response.background)
    out.raw_headers = [(k, v) for k, v in response.raw_headers]
    if not any(k == b"content-length" for k, _ in out.raw_headers) and hasattr(response, "body"):
        out.raw_headers.append((b"content-length", str(len(response.body)).encode()))
    return out


class SpecStarRoute(APIRoute):
    """An ``APIRoute`` whose errors become ``application/problem+json`` responses.

    Works on any router (no app-level exception handlers needed): SpecStar errors map to
    their status (see :mod:`specstar.fastapi.problems`), invalid parameters to 422, and any
    other exception to a 500 problem that reveals nothing but is logged in full.

    A ``GET`` route answers ``HEAD`` too (the same status and headers, no body; not a
    separate operation in the OpenAPI document), and a method no route of the path answers
    gets 405 with ``Allow`` listing the methods that every route of the path answers.

    A list-valued query parameter reads the same repeated (``?a=x&a=y``), with brackets
    (``?a[]=x&a[]=y``) or comma-separated (``?a=x,y``, split by the parameter's parser); a
    query parameter the route does not read is a 400 ``unknown_parameter`` problem naming it
    and the accepted ones, unless :attr:`strict_query_parameters` is false (see
    :meth:`for_query_parameters`).
    """

    #: Refuse query parameters the route does not read (400 ``unknown_parameter``).
    strict_query_parameters: ClassVar[bool] = True

    @staticmethod
    def for_query_parameters(strict: bool) -> type[SpecStarRoute]:
        """The route class refusing (``strict``) or leaving unread (not ``strict``) unknown
        query parameters: ``SpecStarRoute`` itself, or its lenient subclass."""
        return SpecStarRoute if strict else LenientSpecStarRoute

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if (
            match is not Match.NONE
            and self.param_convertors
            and _names_a_fixed_route(self, scope, child_scope)
        ):
            # ``PUT /m/count``, ``DELETE /m/_migrate``: the path is a fixed route, not a
            # resource id; stepping aside lets that route answer 405 with its ``Allow``
            return Match.NONE, {}
        if (
            match is Match.PARTIAL
            and scope.get("method") == "HEAD"
            and "GET" in (self.methods or ())
        ):
            return Match.FULL, child_scope
        return match, child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if serves(self.methods, scope["method"]):
            await self.app(scope, receive, send)
            return
        headers = {"Allow": ", ".join(allowed_methods(scope))}
        if "app" not in scope:  # a bare router: no exception handlers to turn this into a problem
            await PlainTextResponse("Method Not Allowed", 405, headers)(scope, receive, send)
            return
        raise HTTPException(status_code=405, headers=headers)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        rules = QueryStringRules.of(self.dependant)
        strict = self.strict_query_parameters

        async def route_handler(request: Request) -> Response:
            response = await respond(request)
            return head_response(response) if request.method == "HEAD" else response

        async def respond(request: Request) -> Response:
            try:
                rules.apply(request.scope, strict=strict)
                request.__dict__.pop("_query_params", None)  # read again, rewritten
                return await handler(request)
            except SpecStarError as exc:
                return problem_response(problem_for(exc, request.url.path))
            except RequestValidationError as exc:
                errors = with_instant_errors(exc.errors(), request.scope.get(INSTANT_ERRORS, ()))
                return problem_response(validation_problem(errors, request.url.path))
            except HTTPException as exc:
                if exc.status_code < 400:
                    raise
                return http_exception_problem(exc, request.url.path)
            except Exception as exc:
                return problem_response(problem_for(InternalError(exc), request.url.path))

        return route_handler


def _names_a_fixed_route(route: APIRoute, scope: Scope, child_scope: Scope) -> bool:
    """Whether the path a parametric ``route`` matched is the path of a route without
    parameters (``/m/count`` against ``/m/{resource_id}``) in the request's router."""
    params = child_scope.get("path_params", {})
    try:
        concrete = route.path_format.format(**params)
    except (KeyError, IndexError, ValueError):
        return False
    for other in getattr(scope.get("router"), "routes", ()):
        path = getattr(other, "path", None)
        if other is not route and path == concrete and "{" not in path:
            return True
    return False


class LenientSpecStarRoute(SpecStarRoute):
    """A :class:`SpecStarRoute` that leaves query parameters it does not read unread instead
    of refusing them (``SpecStar(strict_query_parameters=False)``)."""

    strict_query_parameters: ClassVar[bool] = False


def internal_error(exc: Exception) -> SpecStarError:
    """An unexpected exception as an error that maps to a logged, opaque 500 problem."""
    return InternalError(exc)

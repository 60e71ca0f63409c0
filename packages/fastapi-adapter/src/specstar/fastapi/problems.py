"""Errors as RFC 9457 problem documents (``application/problem+json``).

Core errors carry no HTTP status; this module is the one place that maps them. Every problem
document has ``type`` (a stable URN, ``urn:specstar:problem:<code>``), ``title``, ``status``,
``code`` (the same ``<code>``), ``detail`` and ``instance`` (the request path), plus the
error's machine-readable fields (:meth:`~specstar.core.SpecStarError.details`) as extension
members.

====================================  ======  =========================
error                                 status  code
====================================  ======  =========================
malformed JSON body, missing body     400     ``invalid_json``
``QueryError``                        400     ``invalid_query``
bad ``If-Match``/``If-None-Match``    400     ``invalid_precondition``
request body over 16 MiB              413     ``content_too_large``
``ContentTooLargeError`` (a file)     413     ``content_too_large``
``MissingOperationContextError``      401     ``missing_operation_context``
``PermissionDeniedError``             403     ``permission_denied``
``NotFoundError``                     404     ``not_found``
``AlreadyExistsError``                409     ``already_exists``
``UniqueConstraintError``             409     ``unique_violation``
``RevisionNotDraftError``             409     ``revision_not_draft``
``RevisionNotMigratedError``          409     ``revision_not_migrated``
``ReferenceRestrictedError``          409     ``reference_restricted``
``PatchTestFailedError``              409     ``patch_test_failed``
other ``ConflictError``               409     ``conflict``
``GoneError``                         410     ``gone``
``PreconditionFailedError``           412     ``precondition_failed``
unsupported request content type      415     ``unsupported_media_type``
``ValidationError`` / ``PatchError``  422     ``validation_error`` / ``invalid_patch``
``ArchiveError``                      422     ``invalid_archive``
``ClientIdsDisabledError``            422     ``client_ids_disabled``
invalid query/path/header parameter   422     ``validation_error``
``QueryTimeoutError``                 503     ``query_timeout``
``StorageUnavailableError``           503     ``storage_unavailable``
``WriteOutcomeUnknownError``          503     ``write_outcome_unknown``
other ``StorageError``                500     ``storage_error``
anything else                         500     ``internal_error``
====================================  ======  =========================

500 responses never reveal the error's text: it goes to the ``specstar.fastapi`` logger. A 503
says whether the write was not applied (``storage_unavailable``: retry as it is) or may have
been (``write_outcome_unknown``: read the resource first); its detail is SpecStar's own text,
never the driver's, and the cause is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from fastapi.exceptions import RequestValidationError
from specstar.core import (
    ArchiveError,
    ConflictError,
    ContentTooLargeError,
    GoneError,
    MissingOperationContextError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    QueryError,
    QueryTimeoutError,
    SpecStarError,
    StorageError,
    StorageUnavailableError,
    ValidationError,
)

from ._http import allowed_methods
from .errors import BadRequestError, ParameterError, UnsupportedMediaTypeError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_PREFIX",
    "BadRequestError",
    "FieldProblem",
    "Problem",
    "UnsupportedMediaTypeError",
    "problem_for",
    "problem_response",
    "status_for",
    "validation_problem",
]

log = logging.getLogger("specstar.fastapi")

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: ``type`` of every problem document is this prefix followed by its ``code``.
PROBLEM_TYPE_PREFIX = "urn:specstar:problem:"

_TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    410: "Gone",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class FieldProblem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One problem with one part of the request.

    Attributes:
        loc: where: a JSON Pointer into the body (``"/title"``, ``""`` for the whole body), or
            the name of a query, path or header parameter.
        message: what is wrong.
        source: ``body``, ``query``, ``path`` or ``header``.
    """

    loc: str
    message: str
    source: str = "body"


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document; members beyond ``code`` depend on the problem type.

    Attributes:
        type: stable URN naming the problem type, ``urn:specstar:problem:<code>``.
        title: short summary of the problem type.
        status: the HTTP status code.
        code: machine-readable problem code (the last part of ``type``).
        detail: explanation of this occurrence.
        instance: the request path.
        errors: per-field problems (``validation_error``, ``invalid_patch``).
        resource_id: the resource concerned.
        revision_id: the revision concerned.
        field: the unique field that clashed (``unique_violation``).
        value: the clashing value (``unique_violation``).
        conflicting_resource_id: the resource already holding the value (``unique_violation``).
        expected: the revision id the client expected (``precondition_failed``).
        actual: the current revision id (``precondition_failed``).
        path: the offending field or JSON Pointer (``invalid_query``, ``patch_test_failed``).
        accepted: the query parameters the route accepts (``unknown_parameter``).
        limit: the largest size accepted, in bytes (``content_too_large`` of a file).
    """

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | msgspec.UnsetType = msgspec.UNSET
    resource_id: str | msgspec.UnsetType | None = msgspec.UNSET
    revision_id: str | msgspec.UnsetType | None = msgspec.UNSET
    field: str | msgspec.UnsetType = msgspec.UNSET
    value: Any | msgspec.UnsetType = msgspec.UNSET
    conflicting_resource_id: str | msgspec.UnsetType | None = msgspec.UNSET
    expected: str | msgspec.UnsetType | None = msgspec.UNSET
    actual: str | msgspec.UnsetType | None = msgspec.UNSET
    path: str | msgspec.UnsetType | None = msgspec.UNSET
    accepted: list[str] | msgspec.UnsetType = msgspec.UNSET
    limit: int | msgspec.UnsetType = msgspec.UNSET


def status_for(exc: SpecStarError) -> int:
    """The HTTP status a SpecStar error maps to (see the module docstring)."""
    if isinstance(exc, BadRequestError):
        return exc.status
    if isinstance(exc, QueryError):
        return 400
    if isinstance(exc, MissingOperationContextError):
        return 401
    if isinstance(exc, PermissionDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, GoneError):
        return 410
    if isinstance(exc, PreconditionFailedError):
        return 412
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, UnsupportedMediaTypeError):
        return 415
    if isinstance(exc, ContentTooLargeError):
        return 413
    if isinstance(exc, ValidationError | ArchiveError):
        return 422
    if isinstance(exc, QueryTimeoutError | StorageUnavailableError):
        return 503
    return 500


def _jsonable(value: Any) -> Any:
    """``value`` if msgspec can encode it, else its ``repr`` (details must never break a 4xx)."""
    try:
        msgspec.json.encode(value)
    except (TypeError, ValueError, OverflowError):
        return repr(value)
    return value


def problem_for(exc: SpecStarError, instance: str | None = None) -> dict[str, Any]:
    """The problem document (as a dict) for a SpecStar error.

    Args:
        exc: the error.
        instance: the request path, for the ``instance`` member.

    Returns:
        The document; 5xx documents hold no text from the error itself.
    """
    status = status_for(exc)
    code = exc.code
    if status == 500:
        if isinstance(exc, StorageError):
            code = "storage_error"
            log.error("storage error on %s: %s", instance, exc, exc_info=exc)
        else:
            code = "internal_error"
            log.error("unexpected error on %s", instance, exc_info=exc)
        return _document(status, code, _GENERIC_500, instance, {})
    if status == 503:
        log.warning("%s on %s", code, instance, exc_info=exc)
    details: dict[str, Any] = {}
    if isinstance(exc, ValidationError):
        source = exc.source if isinstance(exc, ParameterError) else "body"
        details["errors"] = [
            {"loc": e.loc, "message": e.message, "source": source} for e in exc.errors
        ]
        if isinstance(exc, ContentTooLargeError):
            details["limit"] = exc.limit
    else:
        details = {k: _jsonable(v) for k, v in exc.details().items()}
    return _document(status, code, exc.message, instance, details)


_GENERIC_500 = "the server could not complete the request; the error was logged"


def _document(
    status: int, code: str, detail: str | None, instance: str | None, extra: Mapping[str, Any]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
    }
    if detail is not None:
        doc["detail"] = detail
    if instance is not None:
        doc["instance"] = instance
    for key, value in extra.items():
        doc.setdefault(key, value)
    return doc


def problem_response(doc: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    """An ``application/problem+json`` response for a problem document."""
    return Response(
        content=msgspec.json.encode(doc),
        status_code=int(doc["status"]),
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


_SOURCES = {"query", "path", "header", "body", "cookie"}


def _loc_text(loc: Sequence[Any]) -> tuple[str, str]:
    parts = [str(p) for p in loc]
    source = parts[0] if parts and parts[0] in _SOURCES else "body"
    rest = parts[1:] if parts and parts[0] in _SOURCES else parts
    if source == "body":
        return source, "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in rest)
    return source, ".".join(rest)


def validation_problem(errors: Iterable[Mapping[str, Any]], instance: str | None) -> dict[str, Any]:
    """The 422 problem for FastAPI's request validation errors (query, path, header params)."""
    items = []
    for err in errors:
        source, loc = _loc_text(err.get("loc", ()))
        items.append(
            {"loc": loc, "message": str(err.get("msg", "invalid value")), "source": source}
        )
    where = ", ".join(f"{i['source']} {i['loc']}".strip() for i in items)
    return _document(
        422,
        "validation_error",
        f"invalid request parameter(s): {where}" if where else "invalid request",
        instance,
        {"errors": items},
    )


def http_exception_problem(exc: HTTPException, instance: str | None) -> Response:
    """Starlette's own HTTP errors (unknown path, wrong method) as problem documents."""
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail if isinstance(exc.detail, str) else None
    doc = _document(exc.status_code, code, detail, instance, {})
    if exc.status_code in _TITLES:
        doc["title"] = _TITLES[exc.status_code]
    return problem_response(doc, headers=exc.headers)


async def handle_specstar_error(request: Request, exc: Exception) -> Response:
    """App-level exception handler for :class:`SpecStarError`."""
    assert isinstance(exc, SpecStarError)
    return problem_response(problem_for(exc, request.url.path))


async def handle_request_validation_error(request: Request, exc: Exception) -> Response:
    """App-level exception handler for FastAPI's :class:`RequestValidationError`."""
    assert isinstance(exc, RequestValidationError)
    return problem_response(validation_problem(exc.errors(), request.url.path))


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """App-level exception handler for Starlette's :class:`HTTPException`."""
    assert isinstance(exc, HTTPException)
    if exc.status_code < 400:
        return Response(status_code=exc.status_code, headers=exc.headers)
    if exc.status_code == 405:  # Starlette names only the first matching route's methods
        allow = allowed_methods(request.scope)
        if allow:
            exc = HTTPException(
                405, exc.detail, headers={**(exc.headers or {}), "Allow": ", ".join(allow)}
            )
    return http_exception_problem(exc, request.url.path)

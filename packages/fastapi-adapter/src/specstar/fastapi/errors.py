"""Every exception the HTTP adapter defines (core errors live in ``specstar.core``).

These are the request-level failures only the adapter can see — a body it cannot read, a
content type it does not take, a create-only precondition — plus the wrapper that turns an
unexpected exception into an opaque, logged 500. :mod:`specstar.fastapi.problems` maps each
error, core or adapter, to its RFC 9457 problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from specstar.core import (
    ClientIdsDisabledError,
    ConflictError,
    FieldError,
    PreconditionFailedError,
    SpecStarError,
    ValidationError,
)

__all__ = [
    "ActionConflictError",
    "BadRequestError",
    "ExistsPreconditionError",
    "ExportCancelledError",
    "InternalError",
    "ParameterError",
    "UnknownParameterError",
    "UnsupportedMediaTypeError",
    "client_ids_disabled",
]


class BadRequestError(SpecStarError):
    """A request the adapter cannot read (malformed JSON, bad precondition header).

    Args:
        message: the problem's ``detail``.
        code: the problem code.
        status: the HTTP status (400 unless given).
    """

    code = "bad_request"

    def __init__(self, message: str, *, code: str = "bad_request", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class UnknownParameterError(BadRequestError):
    """Query parameters the route does not know: HTTP 400, ``unknown_parameter``.

    The problem names every unknown parameter in ``errors`` (``loc`` is its name, ``source``
    is ``query``) and lists the parameters the route accepts in ``accepted``.

    Args:
        unknown: the unknown parameter names, in the order they were sent.
        accepted: the names the route accepts.
    """

    def __init__(self, unknown: Sequence[str], accepted: Sequence[str]) -> None:
        names = ", ".join(repr(name) for name in unknown)
        listed = ", ".join(accepted) if accepted else "none"
        noun = "parameter" if len(unknown) == 1 else "parameters"
        super().__init__(
            f"unknown query {noun} {names}; this route accepts: {listed}",
            code="unknown_parameter",
        )
        self.unknown = list(unknown)
        self.accepted = list(accepted)

    def details(self) -> dict[str, Any]:
        return {
            "errors": [
                {"loc": name, "message": "unknown query parameter", "source": "query"}
                for name in self.unknown
            ],
            "accepted": self.accepted,
        }


class ParameterError(ValidationError):
    """An invalid query, path or header parameter, found by the adapter itself: HTTP 422.

    Args:
        message: the problem's ``detail``.
        errors: the per-parameter problems (``loc`` is the parameter name).
        source: where the parameters are: ``query``, ``path`` or ``header``.
    """

    def __init__(self, message: str, errors: Sequence[FieldError], *, source: str) -> None:
        super().__init__(message, errors)
        self.source = source


def client_ids_disabled(exc: ClientIdsDisabledError, source: str) -> ParameterError:
    """``exc`` as the 422 ``client_ids_disabled`` problem about the ``resource_id``
    parameter found in ``source`` (``query`` or ``path``)."""
    error = ParameterError(exc.message, exc.errors, source=source)
    error.code = exc.code
    return error


class UnsupportedMediaTypeError(SpecStarError):
    """The request body's content type is not one the route reads: HTTP 415."""

    code = "unsupported_media_type"

    def __init__(self, content_type: str, supported: Sequence[str]) -> None:
        super().__init__(
            f"content type {content_type or '(none)'!r} is not supported here; "
            f"use one of: {', '.join(supported)}"
        )
        self.content_type = content_type
        self.supported = list(supported)

    def details(self) -> dict[str, Any]:
        return {"supported": self.supported}


class ExistsPreconditionError(PreconditionFailedError):
    """``If-None-Match: *`` on a create whose id is taken (412).

    ``actual`` is always ``None``: the answer is the same whoever holds the id, so it tells
    no more about a resource the user may not see than that the id is taken.
    """

    def __init__(self, resource_id: str, actual: str | None = None) -> None:
        SpecStarError.__init__(
            self, f"resource {resource_id!r} already exists (If-None-Match: * allows only create)"
        )
        self.resource_id = resource_id
        self.expected = None  # type: ignore[assignment]
        self.actual = actual


class InternalError(SpecStarError):
    """Wraps an unexpected exception so it maps to a logged, opaque 500."""

    code = "internal_error"

    def __init__(self, exc: Exception) -> None:
        super().__init__(f"{type(exc).__name__}: {exc}")
        self.__cause__ = exc
        self.__traceback__ = exc.__traceback__


class ActionConflictError(ConflictError):
    """The target changed while an update action ran; its result was not written (409)."""

    code = "concurrent_change"


class ExportCancelledError(Exception):
    """The client of a streaming export went away: the dump stops (never reaches a client)."""

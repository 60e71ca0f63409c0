"""The query string of a generated route: list parameters in the forms clients send, and
no parameter the route does not know.

Clients spell a list-valued parameter in three ways: repeated (``?a=x&a=y``, what the OpenAPI
document describes), with brackets (``?a[]=x&a[]=y``, axios and PHP) and comma-separated
(``?a=x,y``). :class:`QueryStringRules` rewrites the bracket form to the repeated one before
FastAPI reads the parameters (the parsers of the list parameters split commas), and refuses a
name the route does not read: a misspelt filter would otherwise answer the unfiltered list.
A date-time parameter must be written as one (``2024-01-31T12:00:00Z``): a number, which
FastAPI would read as seconds since 1970, is refused.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote_plus

from starlette.types import Scope

from fastapi.dependencies.models import Dependant

from .errors import BadRequestError, UnknownParameterError

__all__ = ["INSTANT_ERRORS", "QueryStringRules", "with_instant_errors"]

#: Scope key of the errors of date-time parameters written as numbers (see
#: :meth:`QueryStringRules.apply`), reported with FastAPI's own parameter errors.
INSTANT_ERRORS = "specstar.instant_errors"
#: What such a parameter is replaced with, so that FastAPI refuses it along with the others.
_NOT_AN_INSTANT = b"not-a-date-time"

_LISTS = (list, tuple, set, frozenset, Sequence, typing.Sequence, typing.List)  # noqa: UP006
_BRACKETS = "[]"


def _is_list(annotation: Any) -> bool:
    """Whether a parameter annotation is list-valued (``list[str] | None`` included)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_list(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return annotation in _LISTS or origin in _LISTS


#: The start every date-time (and date) value has: a four-digit year, month and day.
_DATE_START = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_datetime(annotation: Any) -> bool:
    """Whether a parameter annotation is a date-time (``datetime | None`` included)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_datetime(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return any(_is_datetime(arg) for arg in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, datetime)


def _fields(dependant: Dependant) -> Iterator[tuple[str, Any]]:
    """``(name, annotation)`` of every query parameter of a dependant and its dependencies; a
    parameter model (``Annotated[Model, Query()]``) gives its fields."""
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        members = getattr(annotation, "model_fields", None)
        if isinstance(members, dict):
            for name, info in members.items():
                yield (info.alias or name), info.annotation
        else:
            yield field.alias, annotation
    for sub in dependant.dependencies:
        yield from _fields(sub)


def with_instant_errors(
    errors: Sequence[Any], instant_errors: Sequence[dict[str, Any]]
) -> list[Any]:
    """FastAPI's parameter ``errors`` with those of the parameters in ``instant_errors``
    replaced by them (which name the value the client sent)."""
    mine = {tuple(e["loc"]): e for e in instant_errors}
    out = [mine.pop(tuple(e.get("loc", ())), e) for e in errors]
    return [*out, *mine.values()]


class QueryStringRules:
    """What one route reads from the query string.

    Args:
        accepted: every query parameter name the route reads.
        lists: the list-valued ones among them.
        instants: the date-time ones among them.
    """

    def __init__(
        self, accepted: Sequence[str], lists: Sequence[str], instants: Sequence[str] = ()
    ) -> None:
        self.accepted = tuple(sorted(set(accepted)))
        self.lists = frozenset(lists)
        self.instants = frozenset(instants)
        self._known = frozenset(self.accepted)

    @classmethod
    def of(cls, dependant: Dependant) -> QueryStringRules:
        """The rules of a route, from FastAPI's description of its endpoint."""
        fields = list(_fields(dependant))
        return cls(
            [name for name, _ in fields],
            [name for name, a in fields if _is_list(a)],
            [name for name, a in fields if _is_datetime(a)],
        )

    def apply(self, scope: Scope, *, strict: bool) -> None:
        """Rewrite ``scope["query_string"]`` so list parameters sent as ``a[]`` read as ``a``.

        Args:
            scope: the request's ASGI scope (changed in place).
            strict: refuse names the route does not read (else they stay, unread).

        Raises:
            UnknownParameterError: ``strict`` and a name the route does not read was sent.
            BadRequestError: ``strict`` and a single-valued parameter was sent more than once
                (``?limit=1&limit=2``: which one was meant cannot be known).

        A date-time parameter written as a number (which FastAPI would read as seconds since
        1970) is replaced by a value FastAPI refuses, and its error, naming what was sent, is
        left in ``scope[INSTANT_ERRORS]`` to replace FastAPI's (so the 422 lists it with every
        other invalid parameter).
        """
        raw: bytes = scope.get("query_string", b"")
        if not raw:
            return
        unknown: list[str] = []
        seen: set[str] = set()
        repeated: list[str] = []
        parts: list[bytes] = []
        changed = False
        for part in raw.split(b"&"):
            if not part:
                continue
            key, sep, value = part.partition(b"=")
            name = unquote_plus(key.decode("latin-1"))
            if name.endswith(_BRACKETS) and name[: -len(_BRACKETS)] in self.lists:
                name = name[: -len(_BRACKETS)]
                key = quote(name, safe="").encode("ascii")
                changed = True
            elif name not in self._known and name not in unknown:
                unknown.append(name)
            elif name in self._known and name not in self.lists:
                if name in seen and name not in repeated:
                    repeated.append(name)
                seen.add(name)
            if name in self.instants:
                error = self._instant_error(name, unquote_plus(value.decode("latin-1")))
                if error is not None:
                    scope.setdefault(INSTANT_ERRORS, []).append(error)
                    value = _NOT_AN_INSTANT
                    changed = True
            parts.append(key + sep + value)
        if strict and unknown:
            raise UnknownParameterError(unknown, self.accepted)
        if strict and repeated:
            raise BadRequestError(
                f"query parameter(s) {', '.join(repr(n) for n in repeated)} may be given only once",
                code="repeated_parameter",
            )
        if changed:
            scope["query_string"] = b"&".join(parts)

    @staticmethod
    def _instant_error(name: str, value: str) -> dict[str, Any] | None:
        if not value or _DATE_START.match(value):
            return None
        return {
            "type": "datetime_parsing",
            "loc": ("query", name),
            "msg": "Input should be an RFC 3339 date-time, e.g. 2024-01-31T12:00:00Z",
            "input": value,
        }

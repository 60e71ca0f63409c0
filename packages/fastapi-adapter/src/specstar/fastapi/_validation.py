"""Every field error of a request body, not just the first one.

msgspec stops at the first value that does not fit. When a write fails validation, the
routes ask :func:`every_field_error` for the complete list: each member of the body is
checked on its own (nested structs member by member too), so a body with four bad fields
gets four entries in the problem's ``errors``. This runs only after a failure: valid writes
pay nothing for it.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec

from specstar.core import FieldError, ValidationError
from specstar.core.spi import decode_data

__all__ = ["every_field_error", "with_every_field_error"]

R = TypeVar("R")

#: At most this many entries are reported (a huge body must not make a huge problem).
MAX_ERRORS = 100


def _pointer(name: str) -> str:
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _struct_of(tp: Any) -> type[msgspec.Struct] | None:
    """The Struct type ``tp`` is (through ``Annotated`` and ``X | None``), if it is one."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) != 1:
            return None
        return _struct_of(members[0])
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    return None


@functools.cache
def _single(owner: type[msgspec.Struct], name: str) -> type[msgspec.Struct]:
    """A one-field Struct holding field ``name`` of ``owner`` (type, constraints and name)."""
    info = next(f for f in msgspec.structs.fields(owner) if f.name == name)
    return msgspec.defstruct(
        f"{owner.__name__}_{name}", [(info.name, info.type)], rename={info.name: info.encode_name}
    )


def every_field_error(
    model: type[msgspec.Struct], body: Any, prefix: str = "", *, forbid_unknown: bool = False
) -> list[FieldError]:
    """Every problem of ``body`` as data of ``model``, located by JSON Pointers.

    Args:
        model: the Struct type the body must fit.
        body: the decoded JSON body.
        prefix: a JSON Pointer prepended to every ``loc``.
        forbid_unknown: members no field declares are problems too (at every depth), as
            they are for Struct types with ``forbid_unknown_fields``.

    Returns:
        The problems, in field order (empty when the body fits, as far as types go).
    """
    if not isinstance(body, Mapping):
        try:
            decode_data(model, body, loc_prefix=prefix, forbid_unknown=forbid_unknown)
        except ValidationError as exc:
            return list(exc.errors)
        return []
    config = model.__struct_config__
    if config.tag_field is not None or config.array_like:
        try:  # tagged or array-like structs: msgspec's own (first) error
            decode_data(model, dict(body), loc_prefix=prefix, forbid_unknown=forbid_unknown)
        except ValidationError as exc:
            return list(exc.errors)
        return []
    out: list[FieldError] = []
    fields = msgspec.structs.fields(model)
    known = {f.encode_name for f in fields}
    for info in fields:
        loc = prefix + _pointer(info.encode_name)
        if info.encode_name not in body:
            if info.required:
                out.append(FieldError(loc, "missing required field"))
            continue
        value = body[info.encode_name]
        nested = _struct_of(info.type)
        if nested is not None and isinstance(value, Mapping):
            out.extend(every_field_error(nested, value, loc, forbid_unknown=forbid_unknown))
            continue
        try:
            decode_data(_single(model, info.name), {info.encode_name: value}, loc_prefix=prefix)
        except ValidationError as exc:
            out.extend(exc.errors)
    if config.forbid_unknown_fields or forbid_unknown:
        out.extend(
            FieldError(prefix + _pointer(str(k)), "unknown field") for k in body if k not in known
        )
    return out[:MAX_ERRORS]


def with_every_field_error(
    model: type[msgspec.Struct],
    body: Any,
    fn: Callable[[], R],
    prefix: str = "",
    *,
    forbid_unknown: bool = False,
) -> R:
    """``fn()``; when it fails validation on the body's types, with every field error.

    An error that is not about types (a validator, a reference, a constraint) passes
    unchanged: only when re-checking the body finds type errors are they reported, all of
    them, in place of msgspec's first one.
    """
    try:
        return fn()
    except ValidationError as exc:
        if type(exc) is not ValidationError:
            raise
        found = every_field_error(model, body, prefix, forbid_unknown=forbid_unknown)
        if len(found) <= len(exc.errors):
            raise
        detail = f"{len(found)} invalid field(s): " + ", ".join(e.loc or "(root)" for e in found)
        raise ValidationError(detail, found) from exc

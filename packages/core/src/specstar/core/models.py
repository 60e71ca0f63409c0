"""Model handling: model classes, validated decoding, builtins/JSON forms and data hashes.

SpecStar stores and validates data with ``msgspec.Struct`` types. Users may also declare their
models with Pydantic v2; :func:`as_struct_type` turns such a ``BaseModel`` subclass into an
equivalent Struct type, so everything downstream only deals with Structs. Pydantic is optional:
this module never imports it, it only looks at ``sys.modules`` to recognise Pydantic classes
and instances.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import re
import typing
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar, get_args, get_origin

import msgspec
import msgspec.inspect

from ._pydantic import (
    _is_pydantic_instance,
    _is_pydantic_model_type,
    _is_union,
    as_struct_type,
    is_pydantic_model,
)
from .errors import FieldError, ValidationError
from .jsonpointer import format_pointer

__all__ = [
    "_is_pydantic_instance",
    "_is_pydantic_model_type",
    "as_struct_type",
    "canonical_json",
    "decode_data",
    "find_annotated_fields",
    "is_pydantic_model",
]

S = TypeVar("S", bound=msgspec.Struct)
M = TypeVar("M")

_NONE_TYPE = type(None)

# -- decoding ------------------------------------------------------------------------------------

_PASSTHROUGH = (
    bytes,
    bytearray,
    datetime.datetime,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
)
_AT_RE = re.compile(r"(?P<msg>.*) - at `(?P<path>\$.*)`", re.DOTALL)
_KEY_RE = re.compile(r"(?P<msg>.*) - at `key` in `(?P<path>\$.*)`", re.DOTALL)
_FIELD_RE = re.compile(
    r"Object (?:missing required|contains unknown) field `(?P<name>.*)`", re.DOTALL
)
_UNKNOWN = object()


class _NoLocation(Exception):
    """Internal: the offending dict key could not be identified."""


def _replace_at(obj: Any, keys: list[Any], new: Any) -> Any:
    """A copy of ``obj`` with the value at ``keys`` replaced (containers copied on the way)."""
    if not keys:
        return new
    head, rest = keys[0], keys[1:]
    if isinstance(obj, Mapping):
        out = dict(obj)
        out[head] = _replace_at(obj[head], rest, new)
        return out
    if isinstance(obj, list | tuple):
        items = list(obj)
        items[head] = _replace_at(obj[head], rest, new)
        return items
    raise _NoLocation


def _convert(data: Any, struct_type: type[S]) -> S:
    # Strict value conversion, JSON-like coercion of dict keys (``{"1": ...}`` for dict[int, ...]).
    return msgspec.convert(data, type=struct_type, strict=True, str_keys=True)


def _find_key(
    struct_type: type[msgspec.Struct],
    root: Any,
    keys: list[Any],
    mapping: Any,
    *,
    found: list[tuple[list[Any], Any]],
    error: str,
) -> Any:
    """The key of ``mapping`` (found at ``keys`` in ``root``) that causes ``error``.

    msgspec reports dict entries as ``[...]``, hiding the key. Re-validating the document with
    the mapping reduced to a single entry finds the entry that reproduces the same error. The
    dicts already located on the way (``found``: their keys path and culprit key) are reduced
    to their culprit entry as well, so a later entry of an enclosing dict cannot reproduce the
    error in its place.
    """
    if not isinstance(mapping, Mapping):
        raise _NoLocation
    reduced = root
    for outer_keys, outer_key in found:
        outer = _get_at(reduced, outer_keys)
        reduced = _replace_at(reduced, outer_keys, {outer_key: outer[outer_key]})
    for key in mapping:
        candidate = _replace_at(reduced, keys, {key: mapping[key]})
        try:
            _convert(candidate, struct_type)
        except msgspec.ValidationError as exc:
            if str(exc) == error:
                return key
    raise _NoLocation


def _get_at(obj: Any, keys: list[Any]) -> Any:
    for key in keys:
        obj = obj[key]
    return obj


def _member_name(current: Any, path: str, pos: int) -> str:
    """The member name starting at ``path[pos]`` (names may themselves contain dots)."""
    if isinstance(current, Mapping):
        matches = [
            key
            for key in current
            if isinstance(key, str)
            and path.startswith(key, pos)
            and (pos + len(key) == len(path) or path[pos + len(key)] in ".[")
        ]
        if matches:
            return max(matches, key=len)
    end = pos
    while end < len(path) and path[end] not in ".[":
        end += 1
    return path[pos:end]


def _locate(
    struct_type: type[msgspec.Struct], root: Any, path: str, key_error: bool, error: str
) -> list[str]:
    """Pointer tokens for a msgspec error path such as ``$.a.b[0]`` (``$`` is the root)."""
    tokens: list[str] = []
    keys: list[Any] = []
    found: list[tuple[list[Any], Any]] = []
    current = root
    pos = 1
    try:
        while pos < len(path):
            if path[pos] == ".":
                name = _member_name(current, path, pos + 1)
                pos += 1 + len(name)
                key: Any = name
            elif path.startswith("[...]", pos):
                pos += 5
                if current is _UNKNOWN:
                    raise _NoLocation
                key = _find_key(struct_type, root, keys, current, found=found, error=error)
                found.append((list(keys), key))
            elif path[pos] == "[":
                end = path.index("]", pos)
                key = int(path[pos + 1 : end])
                pos = end + 1
            else:
                raise _NoLocation
            tokens.append(str(key))
            keys.append(key)
            try:
                current = current[key] if current is not _UNKNOWN else _UNKNOWN
            except (LookupError, TypeError):
                current = _UNKNOWN
        if key_error and current is not _UNKNOWN:
            tokens.append(
                str(_find_key(struct_type, root, keys, current, found=found, error=error))
            )
    except (_NoLocation, ValueError):
        pass
    return tokens


def _to_validation_error(
    struct_type: type[msgspec.Struct], root: Any, error: str, loc_prefix: str
) -> ValidationError:
    key_error = False
    match = _KEY_RE.fullmatch(error)
    if match is not None:
        key_error = True
        message = f"invalid key: {match['msg']}"
    else:
        match = _AT_RE.fullmatch(error)
        message = match["msg"] if match is not None else error
    path = match["path"] if match is not None else "$"
    tokens = _locate(struct_type, root, path, key_error, error)
    field = _FIELD_RE.fullmatch(message)
    if field is not None:
        tokens.append(field["name"])
    loc = loc_prefix + format_pointer(tokens)
    where = f' at "{loc}"' if loc else ""
    return ValidationError(
        f"invalid {struct_type.__name__} data{where}: {message}", [FieldError(loc, message)]
    )


class _Plan(typing.NamedTuple):
    """How to look for unknown members in the input of one Struct type."""

    known: frozenset[str]
    nested: tuple[tuple[str, str], ...]  # (attribute, encoded name) of fields that may hold Structs
    check: bool  # the input is a JSON object whose members msgspec does not already check


def _may_hold_struct(tp: Any, seen: set[int]) -> bool:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return True
    if id(tp) in seen:
        return False
    seen.add(id(tp))
    return any(_may_hold_struct(arg, seen) for arg in get_args(tp))


@functools.cache
def _plan(struct_type: type[msgspec.Struct]) -> _Plan:
    config = struct_type.__struct_config__
    fields = msgspec.structs.fields(struct_type)
    known = {f.encode_name for f in fields}
    if config.tag_field is not None:
        known.add(config.tag_field)
    nested = tuple((f.name, f.encode_name) for f in fields if _may_hold_struct(f.type, set()))
    check = not (config.forbid_unknown_fields or config.array_like)
    return _Plan(frozenset(known), nested, check)


def _unknown_member(obj: Any, data: Any) -> list[str] | None:
    """Pointer tokens, innermost first, of the first member of ``data`` that the decoded
    ``obj`` does not hold (the path is only built on the way back from a hit)."""
    if isinstance(obj, msgspec.Struct):
        if not isinstance(data, Mapping):
            return None
        plan = _plan(type(obj))
        if plan.check:
            for key in data:
                if key not in plan.known:
                    return [str(key)]
        for attr, name in plan.nested:
            if name in data:
                found = _unknown_member(getattr(obj, attr), data[name])
                if found is not None:
                    found.append(name)
                    return found
    elif isinstance(obj, list | tuple) and isinstance(data, list | tuple):
        for index, (item, raw) in enumerate(zip(obj, data, strict=False)):
            found = _unknown_member(item, raw)
            if found is not None:
                found.append(str(index))
                return found
    elif isinstance(obj, dict) and isinstance(data, Mapping):
        for (key, raw), item in zip(data.items(), obj.values(), strict=False):
            found = _unknown_member(item, raw)
            if found is not None:
                found.append(str(key))
                return found
    return None


def _reject_unknown(
    struct_type: type[msgspec.Struct], obj: Any, data: Any, loc_prefix: str
) -> None:
    tokens = _unknown_member(obj, data)
    if tokens is None:
        return
    tokens.reverse()
    message = f"Object contains unknown field `{tokens[-1]}`"
    loc = loc_prefix + format_pointer(tokens)
    raise ValidationError(
        f'invalid {struct_type.__name__} data at "{loc}": {message}', [FieldError(loc, message)]
    )


def decode_data(
    struct_type: type[S], data: Any, *, loc_prefix: str = "", forbid_unknown: bool = False
) -> S:
    """Validate data against a Struct type and build an instance of it.

    Conversion is strict, with the same semantics as decoding JSON into the type: ISO 8601
    strings become ``datetime``/``date``/``time``, base64 strings become ``bytes``, strings
    become ``UUID``/``Decimal``, lists become tuples and sets, enum values become enum members,
    string dict keys become the key type (``{"1": ...}`` for ``dict[int, ...]``), and
    integers are accepted for floats; but ``"1"`` is not an ``int``, ``1.0`` is not an
    ``int`` and ``True`` is not a number. Python values of those types (``datetime``, ``UUID``,
    ...) are accepted as well.

    Args:
        struct_type: the target ``msgspec.Struct`` type (see :func:`as_struct_type`).
        data: the builtins form of the data (usually a dict), a Struct instance (of any Struct
            type: it is re-validated through its builtins form, since msgspec does not validate
            on construction), or a Pydantic model instance (via ``model_dump()``). Struct
            instances nested inside a builtins ``data`` are taken as they are.
        loc_prefix: a JSON Pointer prepended to every error ``loc`` (e.g. ``"/data"``).
        forbid_unknown: a member of a mapping ``data`` that no field of the type (or of a
            nested Struct type) declares is an error, as if every Struct type involved had
            ``forbid_unknown_fields=True``. Instances given as ``data`` are not affected.

    Returns:
        The new instance.

    Raises:
        ValidationError: the data does not fit the type. It carries one
            :class:`~specstar.core.errors.FieldError` whose ``loc`` is a JSON Pointer (after
            ``loc_prefix``) to the offending value: ``"/a/b/0"`` for msgspec's
            ``$.a.b[0]``, ``""`` for the root. For a missing required field or an unknown field
            (with ``forbid_unknown_fields``) it points at that field; entries of dicts are
            located by their key.
        TypeError: ``struct_type`` is not a Struct type.
    """
    if not (isinstance(struct_type, type) and issubclass(struct_type, msgspec.Struct)):
        raise TypeError(f"decode_data needs a msgspec.Struct type, not {struct_type!r}")
    check = forbid_unknown and isinstance(data, Mapping)
    if isinstance(data, msgspec.Struct):
        data = msgspec.to_builtins(data, builtin_types=_PASSTHROUGH)
    elif _is_pydantic_instance(data):
        data = data.model_dump(mode="python")
    try:
        obj = _convert(data, struct_type)
    except msgspec.ValidationError as exc:
        raise _to_validation_error(struct_type, data, str(exc), loc_prefix) from None
    if check:
        _reject_unknown(struct_type, obj, data, loc_prefix)
    return obj


# -- builtins, canonical JSON and hashes --------------------------------------------------------

_CANONICAL_ENCODER = msgspec.json.Encoder(order="sorted")


def _encodable(instance: Any) -> Any:
    if _is_pydantic_instance(instance):
        return instance.model_dump(mode="python")
    return instance


def canonical_json(instance: Any) -> bytes:
    """The canonical JSON encoding of an instance (compact, members sorted by name).

    Uses msgspec's ``order="sorted"``: dict keys, set items *and* Struct fields are sorted, so
    an instance and its ``msgspec.to_builtins(..., order="sorted")`` dict (or an equivalent
    Pydantic instance) encode to the same bytes.

    Args:
        instance: a Struct instance, a Pydantic model instance, or any msgspec-encodable value.

    Returns:
        The UTF-8 JSON bytes.
    """
    return _CANONICAL_ENCODER.encode(_encodable(instance))


# -- annotated fields ---------------------------------------------------------------------------


def _unwrap(tp: Any) -> tuple[list[Any], Any]:
    """Annotated metadata found through ``Annotated`` and ``Optional`` layers, and the core."""
    metadata: list[Any] = []
    while True:
        if get_origin(tp) is Annotated:
            inner, *extra = get_args(tp)
            metadata.extend(extra)
            tp = inner
            continue
        if _is_union(tp):
            members = [m for m in get_args(tp) if m is not _NONE_TYPE]
            if len(members) == 1:
                tp = members[0]
                continue
        return metadata, tp


def _collect_markers(
    struct_type: type[msgspec.Struct],
    marker_type: type[M],
    prefix: str,
    out: list[tuple[str, M]],
    seen: tuple[type, ...],
) -> None:
    hints = typing.get_type_hints(struct_type, include_extras=True)
    for field in msgspec.structs.fields(struct_type):
        metadata, core = _unwrap(hints.get(field.name, Any))
        path = prefix + field.encode_name
        out.extend((path, item) for item in metadata if isinstance(item, marker_type))
        base = get_origin(core) or core
        if isinstance(base, type) and issubclass(base, msgspec.Struct) and base not in seen:
            _collect_markers(base, marker_type, path + ".", out, (*seen, base))


def find_annotated_fields(struct_type: type[Any], marker_type: type[M]) -> list[tuple[str, M]]:
    """Fields whose ``Annotated`` metadata holds an instance of ``marker_type``.

    ``Annotated`` is looked for through ``Optional``/``X | None`` in both nestings
    (``Optional[Annotated[T, m]]`` and ``Annotated[Optional[T], m]``). Fields whose type is
    (optionally) another Struct are searched too, giving dotted paths such as
    ``"address.city"``; fields inside lists, dicts or unions of several types are not. A
    Struct type is not entered again below itself, so recursive types end after one level.

    Args:
        struct_type: a Struct type, or a Pydantic model class (converted with
            :func:`as_struct_type`).
        marker_type: the marker class to look for (e.g. ``Unique``).

    Returns:
        ``(path, marker)`` pairs in field order, one per matching marker instance. Paths use
        the fields' encoded names (as in the builtins form of the data).

    Raises:
        TypeError: ``struct_type`` is not a supported model class.
        NameError: an annotation cannot be resolved.
    """
    struct = as_struct_type(struct_type)
    out: list[tuple[str, M]] = []
    _collect_markers(struct, marker_type, "", out, (struct,))
    return out

"""Model handling: model classes, validated decoding, builtins/JSON forms and data hashes.

SpecStar stores and validates data with ``msgspec.Struct`` types. Users may also declare their
models with Pydantic v2; :func:`as_struct_type` turns such a ``BaseModel`` subclass into an
equivalent Struct type, so everything downstream only deals with Structs. Pydantic is optional:
this module never imports it, it only looks at ``sys.modules`` to recognise Pydantic classes
and instances.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import functools
import hashlib
import re
import sys
import threading
import types
import typing
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import msgspec
import msgspec.inspect

from .errors import FieldError, ValidationError
from .jsonpointer import format_pointer

__all__ = [
    "as_struct_type",
    "canonical_json",
    "data_hash",
    "decode_data",
    "find_annotated_fields",
    "to_builtins",
]

S = TypeVar("S", bound=msgspec.Struct)
M = TypeVar("M")

_SUPPORTED = "msgspec.Struct subclasses and pydantic.BaseModel subclasses (Pydantic v2)"
_NONE_TYPE = type(None)


# -- Pydantic detection (never imports pydantic) -------------------------------------------------


def _pydantic() -> Any:
    return sys.modules.get("pydantic")


def _is_pydantic_model_type(tp: Any) -> bool:
    pydantic = _pydantic()
    return pydantic is not None and isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def is_pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a Pydantic model class (without importing Pydantic)."""
    return _is_pydantic_model_type(tp)


def _is_pydantic_instance(obj: Any) -> bool:
    pydantic = _pydantic()
    return pydantic is not None and isinstance(obj, pydantic.BaseModel)


def _is_union(tp: Any) -> bool:
    origin = get_origin(tp)
    return origin is Union or origin is types.UnionType


def _make_union(members: tuple[Any, ...]) -> Any:
    return Union.__getitem__(members)


def _make_annotated(tp: Any, metadata: list[Any]) -> Any:
    if not metadata:
        return tp
    return Annotated.__class_getitem__((tp, *metadata))  # type: ignore[attr-defined]


# -- Pydantic constraints -> msgspec.Meta ---------------------------------------------------------

_NUMERIC_KEYS = frozenset({"gt", "ge", "lt", "le", "multiple_of"})
_LENGTH_KEYS = frozenset({"min_length", "max_length"})
_CONSTRAINT_KEYS = ("gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "pattern")
_SIZED = (str, bytes, bytearray, list, set, frozenset, dict, tuple)


def _constraints_of(item: Any) -> dict[str, Any]:
    """Constraints a Pydantic ``FieldInfo`` or ``annotated_types`` object expresses."""
    module = type(item).__module__ or ""
    if not module.startswith(("pydantic", "annotated_types")):
        return {}
    out: dict[str, Any] = {}
    fields_module = sys.modules.get("pydantic.fields")
    if fields_module is not None and isinstance(item, fields_module.FieldInfo):
        for inner in item.metadata:
            out.update(_constraints_of(inner))
        return out
    for key in _CONSTRAINT_KEYS:
        value = getattr(item, key, None)
        if value is not None:
            out[key] = value.pattern if isinstance(value, re.Pattern) else value
    return out


def _meta_keys(metadata: list[Any]) -> set[str]:
    return {
        key
        for item in metadata
        if isinstance(item, msgspec.Meta)
        for key in _CONSTRAINT_KEYS
        if getattr(item, key) is not None
    }


def _supports(tp: Any, key: str) -> bool:
    base = get_origin(tp) or tp
    if key in _NUMERIC_KEYS:
        return base is int or base is float
    if key in _LENGTH_KEYS:
        if base is tuple:
            args = get_args(tp)
            return not args or (len(args) == 2 and args[1] is Ellipsis)
        return base in _SIZED
    return base is str  # pattern


def _apply_constraints(tp: Any, constraints: dict[str, Any]) -> Any:
    """Attach ``constraints`` to ``tp`` as a ``msgspec.Meta`` where msgspec supports them.

    Unions (``Optional``) get the constraints on each member that supports them; constraints
    msgspec cannot express for a type are dropped (Pydantic enforced them, msgspec won't).
    """
    if _is_union(tp):
        return _make_union(
            tuple(
                member if member is _NONE_TYPE else _apply_constraints(member, constraints)
                for member in get_args(tp)
            )
        )
    if get_origin(tp) is Annotated:
        inner, *metadata = get_args(tp)
        taken = _meta_keys(metadata)
        rest = {k: v for k, v in constraints.items() if k not in taken}
        return _make_annotated(_apply_constraints(inner, rest), metadata)
    supported = {k: v for k, v in constraints.items() if _supports(tp, k)}
    if not supported:
        return tp
    return Annotated[tp, msgspec.Meta(**supported)]


def _annotate(tp: Any, metadata: list[Any]) -> Any:
    """``Annotated[tp, *metadata]`` plus a ``msgspec.Meta`` translating Pydantic constraints."""
    constraints: dict[str, Any] = {}
    for item in metadata:
        constraints.update(_constraints_of(item))
    for key in _meta_keys(metadata):
        constraints.pop(key, None)
    if constraints:
        tp = _apply_constraints(tp, constraints)
    return _make_annotated(tp, metadata)


# -- Pydantic model -> Struct conversion ---------------------------------------------------------

_CACHE: weakref.WeakKeyDictionary[type, type[msgspec.Struct]] = weakref.WeakKeyDictionary()
_LOCK = threading.RLock()
_IMMUTABLE = (
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    _NONE_TYPE,
    enum.Enum,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    uuid.UUID,
    decimal.Decimal,
)


def _is_immutable(value: Any) -> bool:
    if isinstance(value, _IMMUTABLE):
        return True
    if isinstance(value, tuple | frozenset):
        return all(_is_immutable(item) for item in value)
    return False


def _contains_pydantic(value: Any) -> bool:
    if _is_pydantic_instance(value):
        return True
    if isinstance(value, Mapping):
        return any(_contains_pydantic(v) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_contains_pydantic(v) for v in value)
    return False


def _dump_pydantic(value: Any) -> Any:
    if _is_pydantic_instance(value):
        return value.model_dump(mode="python")
    if isinstance(value, Mapping):
        return {k: _dump_pydantic(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_dump_pydantic(v) for v in value]
    return value


def _default_factory(
    make: Callable[[], Any], annotations: dict[str, Any], name: str
) -> Callable[[], Any]:
    """A factory producing ``make()``, with Pydantic instances converted to Struct instances."""

    def factory() -> Any:
        value = make()
        if _contains_pydantic(value):
            return msgspec.convert(_dump_pydantic(value), type=annotations[name], strict=True)
        return value

    return factory


def _convert_annotation(tp: Any, pending: dict[type, type[msgspec.Struct]]) -> Any:
    """``tp`` with every Pydantic model replaced by its Struct type, recursively."""
    if _is_pydantic_model_type(tp):
        return _convert_model(tp, pending)
    origin = get_origin(tp)
    if origin is None or origin is Literal:
        return tp
    args = get_args(tp)
    if origin is Annotated:
        return _annotate(_convert_annotation(args[0], pending), list(args[1:]))
    new_args = tuple(_convert_annotation(arg, pending) for arg in args)
    if all(new is old for new, old in zip(new_args, args, strict=True)):
        return tp
    if _is_union(tp):
        return _make_union(new_args)
    if isinstance(tp, types.GenericAlias):
        return types.GenericAlias(origin, new_args)
    copy_with = getattr(tp, "copy_with", None)
    if copy_with is not None:
        return copy_with(new_args)
    raise TypeError(f"cannot convert the Pydantic models inside {tp!r}")


def _convert_model(model: type, pending: dict[type, type[msgspec.Struct]]) -> type[msgspec.Struct]:
    done = _CACHE.get(model) or pending.get(model)
    if done is not None:
        return done
    pydantic = _pydantic()
    if issubclass(model, pydantic.RootModel):
        raise TypeError(
            f"{model.__qualname__} is a pydantic.RootModel; only models with named fields can "
            "be converted to a msgspec.Struct"
        )
    if not model.__pydantic_complete__:  # type: ignore[attr-defined]
        try:
            model.model_rebuild(raise_errors=True)  # type: ignore[attr-defined]
        except Exception as exc:
            raise TypeError(
                f"pydantic model {model.__qualname__} is not fully defined: {exc}"
            ) from None
    fields: dict[str, Any] = model.model_fields  # type: ignore[attr-defined]
    config: Mapping[str, Any] = model.model_config  # type: ignore[attr-defined]
    annotations: dict[str, Any] = {}
    spec: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name, info in fields.items():
        if info.default_factory is not None:
            if getattr(info, "default_factory_takes_validated_data", False):
                raise TypeError(
                    f"{model.__qualname__}.{name}: a default_factory that takes the validated "
                    "data cannot be converted to a msgspec.Struct"
                )
            factory = _default_factory(info.default_factory, annotations, name)
            spec.append((name, Any, msgspec.field(default_factory=factory)))
        elif info.is_required():
            spec.append((name, Any))
        elif _is_immutable(info.default):
            spec.append((name, Any, info.default))
        else:
            factory = _default_factory(
                functools.partial(copy.deepcopy, info.default), annotations, name
            )
            spec.append((name, Any, msgspec.field(default_factory=factory)))
    struct_type = msgspec.defstruct(
        model.__name__,
        spec,
        module=model.__module__,
        namespace={"__qualname__": model.__qualname__, "__doc__": model.__doc__},
        kw_only=True,
        frozen=bool(config.get("frozen", False)),
        forbid_unknown_fields=config.get("extra") == "forbid",
    )
    # Register before converting the annotations so self-referencing models terminate;
    # msgspec reads the annotations lazily, on first use.
    pending[model] = struct_type
    for name, info in fields.items():
        annotations[name] = _annotate(
            _convert_annotation(info.annotation, pending), list(info.metadata)
        )
    struct_type.__annotations__.update(annotations)
    return struct_type


def _custom_type(info: msgspec.inspect.Type, seen: set[type]) -> type | None:
    """The first class msgspec only handles through hooks (a ``CustomType``) inside ``info``."""
    if isinstance(info, msgspec.inspect.CustomType):
        return info.cls
    children: list[msgspec.inspect.Type] = []
    if isinstance(info, msgspec.inspect.StructType):
        if info.cls in seen:
            return None
        seen.add(info.cls)
        children = [field.type for field in info.fields]
    elif isinstance(info, msgspec.inspect.Metadata):
        children = [info.type]
    elif isinstance(info, msgspec.inspect.UnionType):
        children = list(info.types)
    elif isinstance(info, msgspec.inspect.DictType):
        children = [info.key_type, info.value_type]
    elif isinstance(info, msgspec.inspect.TupleType):
        children = list(info.item_types)
    else:
        item_type = getattr(info, "item_type", None)
        if isinstance(item_type, msgspec.inspect.Type):
            children = [item_type]
    for child in children:
        found = _custom_type(child, seen)
        if found is not None:
            return found
    return None


def as_struct_type(model: type) -> type[msgspec.Struct]:
    """The ``msgspec.Struct`` type for a model class.

    Struct types are returned unchanged. A Pydantic v2 ``BaseModel`` subclass is converted into
    an equivalent Struct type with the same name, module, qualified name and field names
    (aliases are ignored: data uses the Python field names). Field annotations are kept, with
    nested ``BaseModel`` types converted recursively wherever they appear (``list[...]``,
    ``dict[str, ...]``, ``Optional``/unions, ``Annotated``); ``Annotated`` metadata is preserved
    so field markers stay visible to :func:`find_annotated_fields`. Defaults and
    ``default_factory`` are kept (mutable defaults are copied per instance). Pydantic
    constraints msgspec can express (``gt``, ``ge``, ``lt``, ``le``, ``multiple_of`` on
    ``int``/``float``, ``min_length``/``max_length`` on strings, bytes and collections,
    ``pattern`` on strings) become a ``msgspec.Meta``; others are not enforced. The Struct is
    keyword-only, frozen when the model is, and forbids unknown fields when the model has
    ``extra="forbid"``. Validators, computed fields and private attributes are not carried
    over. Conversions are cached, and self-referencing models are supported.

    Pydantic is never imported by this function: a class counts as a Pydantic model only if
    ``pydantic`` is already in ``sys.modules`` (it must be, for the class to exist).

    Args:
        model: a ``msgspec.Struct`` subclass or a ``pydantic.BaseModel`` subclass.

    Returns:
        The Struct type.

    Raises:
        TypeError: ``model`` is another kind of class (dataclass, ``RootModel``, ...) or not a
            class, or a field type cannot be represented by msgspec.
    """
    if isinstance(model, type) and issubclass(model, msgspec.Struct):
        return model
    if not _is_pydantic_model_type(model):
        if not isinstance(model, type):
            raise TypeError(f"expected a model class ({_SUPPORTED}), got {model!r}")
        raise TypeError(
            f"unsupported model type {model.__qualname__}: SpecStar supports {_SUPPORTED}"
        )
    with _LOCK:
        cached = _CACHE.get(model)
        if cached is not None:
            return cached
        pending: dict[type, type[msgspec.Struct]] = {}
        struct_type = _convert_model(model, pending)
        try:
            info = msgspec.inspect.type_info(struct_type)  # resolve every annotation now
            custom = _custom_type(info, set())
            if custom is not None:
                raise TypeError(f"msgspec cannot validate values of type {custom.__qualname__}")
        except TypeError as exc:
            raise TypeError(
                f"cannot convert pydantic model {model.__qualname__} to a msgspec.Struct: {exc}"
            ) from None
        _CACHE.update(pending)
        return struct_type


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


def decode_data(struct_type: type[S], data: Any, *, loc_prefix: str = "") -> S:
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
    if isinstance(data, msgspec.Struct):
        data = msgspec.to_builtins(data, builtin_types=_PASSTHROUGH)
    elif _is_pydantic_instance(data):
        data = data.model_dump(mode="python")
    try:
        return _convert(data, struct_type)
    except msgspec.ValidationError as exc:
        raise _to_validation_error(struct_type, data, str(exc), loc_prefix) from None


# -- builtins, canonical JSON and hashes --------------------------------------------------------

_JSON_ENCODER = msgspec.json.Encoder()
_CANONICAL_ENCODER = msgspec.json.Encoder(order="sorted")


def _encodable(instance: Any) -> Any:
    if _is_pydantic_instance(instance):
        return instance.model_dump(mode="python")
    return instance


def to_builtins(instance: Any) -> dict[str, Any]:
    """The JSON-compatible builtins form of a model instance.

    Exactly what decoding the instance's JSON encoding gives: datetimes become ISO 8601
    strings, bytes base64 strings, UUIDs and Decimals strings, enums their values, tuples and
    sets lists, NaN and infinities ``None``, dict keys strings.

    Args:
        instance: a Struct instance, a Pydantic model instance, or any msgspec-encodable value
            whose JSON form is an object.

    Returns:
        A new dict.

    Raises:
        TypeError: the instance cannot be encoded, or does not encode to a JSON object.
    """
    out = msgspec.json.decode(_JSON_ENCODER.encode(_encodable(instance)))
    if not isinstance(out, dict):
        raise TypeError(f"{type(instance).__name__} does not encode to a JSON object")
    return out


def canonical_json(instance: Any) -> bytes:
    """The canonical JSON encoding of an instance (compact, members sorted by name).

    Uses msgspec's ``order="sorted"``: dict keys, set items *and* Struct fields are sorted, so
    an instance and its :func:`to_builtins` dict (or an equivalent Pydantic instance) encode
    to the same bytes.

    Args:
        instance: a Struct instance, a Pydantic model instance, or any msgspec-encodable value.

    Returns:
        The UTF-8 JSON bytes.
    """
    return _CANONICAL_ENCODER.encode(_encodable(instance))


def data_hash(instance: Any) -> str:
    """The content hash of an instance: ``"sha256:<hex>"`` of its :func:`canonical_json`.

    Args:
        instance: a Struct instance, a Pydantic model instance, or any msgspec-encodable value.

    Returns:
        E.g. ``"sha256:3a7bd3e2..."`` (64 lowercase hex digits).
    """
    return "sha256:" + hashlib.sha256(canonical_json(instance)).hexdigest()


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

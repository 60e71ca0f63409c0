"""Pydantic v2 models turned into msgspec Structs (Pydantic is never imported here)."""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import functools
import re
import sys
import threading
import types
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec
import msgspec.inspect

__all__ = ["as_struct_type", "is_pydantic_model"]

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

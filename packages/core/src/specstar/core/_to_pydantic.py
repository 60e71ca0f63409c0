"""``struct_to_pydantic``: a Pydantic model class equivalent to a ``msgspec.Struct`` type.

For frameworks that introspect Pydantic models (a FastAPI request body, say). Pydantic is
imported only when this runs.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

__all__ = ["struct_to_pydantic"]

_CACHE: dict[type, type] = {}


def struct_to_pydantic(struct_cls: type) -> type:
    """A Pydantic ``BaseModel`` subclass with the fields, types and defaults of
    ``struct_cls``.

    Scalars, ``datetime``/``date``/``UUID``/``Decimal`` and enums keep their type; optionals,
    lists, sets, tuples and dicts are converted member by member; nested Structs become
    nested models (each converted once); a union of tagged Structs becomes a discriminated
    union on the tag field. ``Annotated`` metadata (``Ref``, ``Unique``, ``DisplayName``,
    ``msgspec.Meta``) is dropped.

    Raises:
        TypeError: ``struct_cls`` is not a ``msgspec.Struct`` subclass.
        ModuleNotFoundError: Pydantic is not installed.
    """
    if not (isinstance(struct_cls, type) and issubclass(struct_cls, msgspec.Struct)):
        raise TypeError(f"struct_to_pydantic takes a msgspec.Struct class, not {struct_cls!r}")
    try:
        import pydantic
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "struct_to_pydantic needs pydantic: pip install pydantic", name="pydantic"
        ) from exc
    return _model(pydantic, struct_cls)


def _model(pydantic: Any, cls: type) -> type:
    found = _CACHE.get(cls)
    if found is not None:
        return found
    hints = typing.get_type_hints(cls, include_extras=True)
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    fields: dict[str, Any] = {}
    if info.tag_field is not None:
        fields[info.tag_field] = (Literal[info.tag], info.tag)
    for field in info.fields:
        options: dict[str, Any] = {}
        if field.default is not msgspec.NODEFAULT:
            options["default"] = field.default
        elif field.default_factory is not msgspec.NODEFAULT:
            options["default_factory"] = field.default_factory
        if field.encode_name != field.name:
            options["alias"] = field.encode_name
        tp = _convert(pydantic, hints[field.name])
        fields[field.name] = (tp, pydantic.Field(**options) if options else ...)
    model: type = pydantic.create_model(cls.__name__, __doc__=cls.__doc__, **fields)
    _CACHE[cls] = model
    return model


def _convert(pydantic: Any, tp: Any) -> Any:
    origin = get_origin(tp)
    if origin is Annotated:
        return _convert(pydantic, get_args(tp)[0])
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _model(pydantic, tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if origin is Union or origin is types.UnionType:
        members = [_convert(pydantic, m) for m in get_args(tp)]
        structs = [m for m in get_args(tp) if isinstance(m, type) and issubclass(m, msgspec.Struct)]
        tag_fields = {getattr(msgspec.inspect.type_info(m), "tag_field", None) for m in structs}
        union = Union.__getitem__(tuple(members))
        if len(structs) > 1 and len(structs) == len(get_args(tp)) and len(tag_fields) == 1:
            (tag_field,) = tag_fields
            if tag_field is not None:
                return Annotated[union, pydantic.Field(discriminator=tag_field)]
        return union
    if origin is not None:
        args = get_args(tp)
        if not args:
            return tp
        converted = tuple(a if a is Ellipsis else _convert(pydantic, a) for a in args)
        alias = {list: list, set: set, frozenset: frozenset, tuple: tuple, dict: dict}.get(origin)
        if alias is not None:
            return alias[converted if len(converted) > 1 else converted[0]]  # type: ignore[index]
        if origin is Literal:
            return tp
        return origin[converted if len(converted) > 1 else converted[0]]
    return tp

"""``struct_to_pydantic``: a Pydantic model class equivalent to a ``msgspec.Struct`` type.

For what FastAPI introspects as Pydantic models: a request body of a hand-written route, say.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Annotated, Any, Literal, Union

import msgspec
import msgspec.inspect as mi
import pydantic

__all__ = ["struct_to_pydantic"]

_CACHE: dict[tuple[type, bool], type] = {}


def struct_to_pydantic(struct_cls: type, *, forbid_extra: bool = False) -> type:
    """A Pydantic ``BaseModel`` subclass with the fields, types and defaults of
    ``struct_cls``.

    Scalars, ``datetime``/``date``/``UUID``/``Decimal`` and enums keep their type; optionals,
    lists, sets, tuples and dicts are converted member by member; nested Structs become
    nested models (each converted once); a union of tagged Structs becomes a discriminated
    union on the tag field. ``Annotated`` metadata (``Ref``, ``Unique``, ``DisplayName``,
    ``msgspec.Meta``) is dropped; a custom type msgspec handles becomes ``Any``.

    With ``forbid_extra`` the models (nested ones too) refuse members they do not declare,
    as a request body must (otherwise Pydantic drops them silently).

    Raises:
        TypeError: ``struct_cls`` is not a ``msgspec.Struct`` subclass.
    """
    if not (isinstance(struct_cls, type) and issubclass(struct_cls, msgspec.Struct)):
        raise TypeError(f"struct_to_pydantic takes a msgspec.Struct class, not {struct_cls!r}")
    return _model(pydantic, struct_cls, forbid_extra)


def _model(pydantic: Any, cls: type, forbid: bool) -> type:
    found = _CACHE.get((cls, forbid))
    if found is not None:
        return found
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
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
        tp = _convert(pydantic, forbid, field.type)
        fields[field.name] = (tp, pydantic.Field(**options) if options else ...)
    config = pydantic.ConfigDict(extra="forbid") if forbid else None
    model: type = pydantic.create_model(
        cls.__name__, __doc__=cls.__doc__, __config__=config, **fields
    )
    _CACHE[(cls, forbid)] = model
    return model


_SCALARS: dict[type, Any] = {
    mi.AnyType: Any,
    mi.NoneType: None,
    mi.BoolType: bool,
    mi.IntType: int,
    mi.FloatType: float,
    mi.StrType: str,
    mi.BytesType: bytes,
    mi.ByteArrayType: bytearray,
    mi.MemoryViewType: bytes,
    mi.DateTimeType: datetime.datetime,
    mi.DateType: datetime.date,
    mi.TimeType: datetime.time,
    mi.TimeDeltaType: datetime.timedelta,
    mi.UUIDType: uuid.UUID,
    mi.DecimalType: decimal.Decimal,
}


def _convert(pydantic: Any, forbid: bool, t: mi.Type) -> Any:
    """The Python type Pydantic validates like msgspec validates ``t`` (metadata dropped)."""
    scalar = _SCALARS.get(type(t), _MISSING)
    if scalar is not _MISSING:
        return scalar
    if isinstance(t, mi.Metadata):
        return _convert(pydantic, forbid, t.type)
    if isinstance(t, mi.StructType):
        return _model(pydantic, t.cls, forbid)
    if isinstance(t, mi.EnumType | mi.DataclassType | mi.TypedDictType | mi.NamedTupleType):
        return t.cls
    if isinstance(t, mi.LiteralType):
        return Literal.__getitem__(tuple(t.values))
    if isinstance(t, mi.ListType):
        return list[_convert(pydantic, forbid, t.item_type)]  # type: ignore[misc]
    if isinstance(t, mi.SetType):
        return set[_convert(pydantic, forbid, t.item_type)]  # type: ignore[misc]
    if isinstance(t, mi.FrozenSetType):
        return frozenset[_convert(pydantic, forbid, t.item_type)]  # type: ignore[misc]
    if isinstance(t, mi.VarTupleType):
        return tuple[_convert(pydantic, forbid, t.item_type), ...]  # type: ignore[misc]
    if isinstance(t, mi.TupleType):
        return tuple.__class_getitem__(tuple(_convert(pydantic, forbid, i) for i in t.item_types))
    if isinstance(t, mi.DictType):
        key, value = (
            _convert(pydantic, forbid, t.key_type),
            _convert(pydantic, forbid, t.value_type),
        )
        return dict[key, value]  # type: ignore[valid-type]
    if isinstance(t, mi.UnionType):
        members = tuple(_convert(pydantic, forbid, m) for m in t.types)
        union = Union.__getitem__(members)
        structs = [m for m in t.types if isinstance(m, mi.StructType)]
        tag_fields = {m.tag_field for m in structs}
        if len(structs) > 1 and len(structs) == len(t.types) and len(tag_fields) == 1:
            (tag_field,) = tag_fields
            if tag_field is not None:
                return Annotated[union, pydantic.Field(discriminator=tag_field)]
        return union
    return Any  # a custom type msgspec handles itself (Ext, Raw, ...)


_MISSING = object()

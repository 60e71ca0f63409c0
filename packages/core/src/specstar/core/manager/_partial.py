"""Partial Structs: the named parts of a resource's data as an instance of a Struct type
declaring only those members."""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi

__all__ = ["partial_struct"]

_TYPES: dict[tuple[object, frozenset[str]], type[msgspec.Struct]] = {}


def partial_struct(model: Any, parts: dict[str, Any]) -> msgspec.Struct:
    """``parts`` (a projection of ``model``'s data, see ``jsonpointer.project``) as a partial
    Struct: members the model declares as Structs become partial Structs in turn; other
    values keep their builtins form."""
    return _build(mi.type_info(model), getattr(model, "__name__", "Data"), parts)


def _struct_of(t: mi.Type) -> mi.StructType | None:
    """The Struct type ``t`` is (through metadata, and an optional's ``None``)."""
    if isinstance(t, mi.Metadata):
        return _struct_of(t.type)
    if isinstance(t, mi.StructType):
        return t
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(members) == 1:
            return _struct_of(members[0])
    return None


def _build(t: mi.Type, name: str, parts: dict[str, Any]) -> msgspec.Struct:
    struct = _struct_of(t)
    fields = {f.encode_name: f for f in struct.fields} if struct is not None else {}
    values: dict[str, Any] = {}
    for key, value in parts.items():
        field = fields.get(key)
        if isinstance(value, dict) and field is not None and _struct_of(field.type) is not None:
            value = _build(field.type, key, value)
        values[key] = value
    if struct is not None:
        name = struct.cls.__name__
    cache_key = (struct.cls if struct is not None else name, frozenset(values))
    cls = _TYPES.get(cache_key)
    if cls is None:
        cls = msgspec.defstruct(
            f"Partial{name[:1].upper()}{name[1:]}",
            [(key, Any, msgspec.field(default=None)) for key in values],
            kw_only=True,
        )
        _TYPES[cache_key] = cls
    return cls(**values)

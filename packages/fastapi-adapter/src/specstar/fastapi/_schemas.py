"""What msgspec's JSON Schemas leave out, added from the types themselves.

:func:`msgspec.json.schema_components` describes a ``datetime`` as a plain string and
marks only fields without defaults as required. Both are right for data a client *sends*;
for client generators they lose two facts:

* a ``datetime`` is an RFC 3339 ``date-time`` (generated clients get a date type);
* data the server *returns* always has every member that is always encoded (a field with a
  default is still encoded, unless the struct has ``omit_defaults`` or the value may be
  left ``UNSET``), so output schemas list those as required.

:func:`annotate` walks each type beside its schema (:mod:`msgspec.inspect`), adds the
formats and returns the Struct of each object component; :func:`output_required` gives
the members an encoded instance always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import msgspec.inspect as mi

__all__ = ["annotate", "output_required"]

_REF_PREFIX = "#/components/schemas/"

_OBJECTS = (mi.StructType, mi.DataclassType, mi.TypedDictType)
_SEQUENCES = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
_ARRAYS = (*_SEQUENCES, mi.TupleType)

ObjectInfo = mi.StructType | mi.DataclassType | mi.TypedDictType


def annotate(
    types: list[Any], roots: list[Any], components: Mapping[str, Any]
) -> dict[str, ObjectInfo]:
    """Add ``format: date-time`` wherever a ``datetime`` is, in place.

    Args:
        types: the types whose schemas ``roots`` are (as given to ``schema_components``).
        roots: their schemas (``$ref``s or inline schemas).
        components: the component schemas the roots refer to.

    Returns:
        The object type info of each component reached, by component name.
    """
    found: dict[str, ObjectInfo] = {}
    for tp, root in zip(types, roots, strict=True):
        _walk(mi.type_info(tp), root, components, found)
    return found


def output_required(info: ObjectInfo) -> list[str]:
    """The members every encoded instance has (names as encoded)."""
    if isinstance(info, mi.TypedDictType):
        return [f.encode_name for f in info.fields if f.required]
    omit_defaults = isinstance(info, mi.StructType) and info.cls.__struct_config__.omit_defaults
    out = []
    for f in info.fields:
        if omit_defaults and not f.required:
            continue
        if f.default is msgspec.UNSET:  # an UNSET value is never encoded
            continue
        out.append(f.encode_name)
    return out


def _kind(info: mi.Type) -> str:
    """The JSON type a value of ``info`` encodes to."""
    if isinstance(info, mi.Metadata):
        return _kind(info.type)
    if isinstance(info, mi.StructType):
        return "array" if info.array_like else "object"
    if isinstance(info, (*_OBJECTS, mi.DictType)):
        return "object"
    if isinstance(info, _ARRAYS):
        return "array"
    if isinstance(info, (mi.StrType, mi.DateTimeType, mi.DateType, mi.TimeType, mi.UUIDType)):
        return "string"
    return "other"


def _schema_kind(node: Mapping[str, Any], components: Mapping[str, Any]) -> str:
    target = node.get("$ref")
    if isinstance(target, str):
        comp = components.get(target.removeprefix(_REF_PREFIX), {})
        return "object" if "properties" in comp or comp.get("type") == "object" else "other"
    return str(node.get("type", "other"))


def _title_matches(info: mi.Type, node: Mapping[str, Any], components: Mapping[str, Any]) -> bool:
    target = node.get("$ref")
    cls = getattr(info, "cls", None)
    if not isinstance(target, str) or cls is None:
        return True
    comp = components.get(target.removeprefix(_REF_PREFIX), {})
    return bool(comp.get("title") == cls.__name__)


def _walk(
    info: mi.Type, node: Any, components: Mapping[str, Any], found: dict[str, ObjectInfo]
) -> None:
    if isinstance(info, mi.Metadata):
        _walk(info.type, node, components, found)
        return
    if not isinstance(node, dict):
        return
    if isinstance(info, mi.UnionType):
        options = node.get("anyOf") or node.get("oneOf")
        members = [t for t in info.types if not isinstance(t, mi.NoneType)]
        if options is None:
            for member in members:
                _walk(member, node, components, found)
            return
        for member in members:
            kind = _kind(member)
            for option in options:
                if (
                    isinstance(option, dict)
                    and _schema_kind(option, components) == kind
                    and _title_matches(member, option, components)
                ):
                    _walk(member, option, components, found)
        return
    if isinstance(info, _OBJECTS):
        target = node.get("$ref")
        component: Any = node
        if isinstance(target, str):
            name = target.removeprefix(_REF_PREFIX)
            if name in found or name not in components:
                return
            found[name] = info
            component = components[name]
        properties = component.get("properties", {})
        for field in info.fields:
            _walk(field.type, properties.get(field.encode_name), components, found)
        return
    if isinstance(info, mi.TupleType):
        for item, item_node in zip(info.item_types, node.get("prefixItems", ()), strict=False):
            _walk(item, item_node, components, found)
    elif isinstance(info, _SEQUENCES):
        _walk(info.item_type, node.get("items"), components, found)
    elif isinstance(info, mi.DictType):
        _walk(info.value_type, node.get("additionalProperties"), components, found)
    elif (
        isinstance(info, mi.DateTimeType) and info.tz is not False and node.get("type") == "string"
    ):
        node.setdefault("format", "date-time")

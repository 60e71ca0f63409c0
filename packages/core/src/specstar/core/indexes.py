"""Indexed fields: which data paths are extracted into ``ResourceMeta.indexed_data``.

The manager extracts the values of the declared paths from every current revision; stores keep
them next to the meta record so searches never decode revision data. The value kinds are
deliberately few so every store can hold them in typed columns:

========  ===========================================================
kind      Python values in ``indexed_data``
========  ===========================================================
str       ``str`` (enums of strings give their value)
int       ``int`` (``bool`` is not an int here)
float     ``float`` or ``int``; NaN is stored as null
bool      ``bool``
datetime  timezone-aware ``datetime`` in UTC (naive values are taken as UTC)
========  ===========================================================

A field with ``is_list=True`` holds a list of values of its kind. A path that does not resolve
(an intermediate value is null or absent) is *missing*: it is left out of ``indexed_data``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
import msgspec.inspect as mi

from ._normalizers import normalize_key
from .errors import FieldError, SpecStarError, ValidationError

__all__ = ["IndexSpec", "IndexedField", "Kind", "extract_indexed", "normalize_scalar"]

Kind = Literal["str", "int", "float", "bool", "datetime"]


class IndexedField(msgspec.Struct, frozen=True):
    """One indexed data path.

    Attributes:
        path: dotted path into the data (``"address.city"``).
        kind: scalar kind of the value (or of each element when ``is_list``).
        is_list: the value is a list of ``kind`` values.
        unique: non-null values must be unique among non-deleted resources (``Unique``).
        source: for a normalised key (``Unique(normalize=...)``), the data path whose value
            it is made from (``path`` is then ``<source>__<normalisers>``, not a data path).
        normalize: the normalisers that make the key from the value at ``source``.
    """

    path: str
    kind: Kind
    is_list: bool = False
    unique: bool = False
    source: str | None = None
    normalize: tuple[str, ...] = ()


class IndexSpec(msgspec.Struct, frozen=True):
    """The indexed fields of one resource type, as handed to ``Storage.setup``."""

    fields: tuple[IndexedField, ...] = ()

    def get(self, path: str) -> IndexedField | None:
        for f in self.fields:
            if f.path == path:
                return f
        return None

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.fields]

    @property
    def unique_fields(self) -> list[IndexedField]:
        return [f for f in self.fields if f.unique]

    def reported_field(self, path: str) -> str:
        """The data path a unique violation on ``path`` is about (the source of a key)."""
        f = self.get(path)
        return f.source if f is not None and f.source is not None else path


def normalize_scalar(kind: Kind, value: Any) -> Any:
    """Bring one value into the canonical form of its kind (``None`` stays ``None``).

    Raises:
        TypeError: the value cannot represent this kind.
    """
    if value is None:
        return None
    if isinstance(value, enum.Enum):
        value = value.value
    if kind == "str":
        if isinstance(value, str):
            return value
    elif kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return None if isinstance(value, float) and math.isnan(value) else value
    elif kind == "datetime":
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise TypeError(f"{value!r} is not an ISO 8601 datetime") from None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            try:
                return value.astimezone(UTC)
            except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
                shown = value.isoformat()
                raise TypeError(f"{shown} is outside the range of UTC datetimes") from None
    raise TypeError(f"{value!r} is not a {kind}")


_MISSING = object()


def _resolve(data: Mapping[str, Any], path: str) -> Any:
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def extract_indexed(data: Mapping[str, Any], spec: IndexSpec) -> dict[str, Any]:
    """Values of the indexed paths of ``data`` (its builtins form, datetimes kept as objects).

    Raises:
        ValidationError: a value fits the model but cannot be indexed (a datetime whose UTC
            form falls outside years 1-9999).
    """
    out: dict[str, Any] = {}
    for f in spec.fields:
        raw = _resolve(data, f.source or f.path)
        if raw is _MISSING:
            continue
        if f.normalize and isinstance(raw, str):
            raw = normalize_key(raw, f.normalize)
        try:
            if f.is_list and raw is not None:
                out[f.path] = [normalize_scalar(f.kind, v) for v in raw]
            else:
                out[f.path] = normalize_scalar(f.kind, raw)
        except TypeError as exc:
            loc = "/" + f.path.replace(".", "/")
            raise ValidationError(
                f"indexed field {f.path}: {exc}", [FieldError(loc, str(exc))]
            ) from None
    return out


# -- inference from the model -------------------------------------------------------------------

_SCALARS: dict[type[mi.Type], Kind] = {
    mi.StrType: "str",
    mi.IntType: "int",
    mi.FloatType: "float",
    mi.BoolType: "bool",
    mi.DateTimeType: "datetime",
}


def _strip(t: mi.Type) -> mi.Type:
    """Remove Optional[...] and metadata wrappers."""
    while True:
        if isinstance(t, mi.Metadata):
            t = t.type
        elif isinstance(t, mi.UnionType):
            rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
            if len(rest) != 1:
                return t
            t = rest[0]
        else:
            return t


def _scalar_kind(t: mi.Type) -> Kind | None:
    t = _strip(t)
    for cls, kind in _SCALARS.items():
        if isinstance(t, cls):
            return kind
    if isinstance(t, mi.EnumType):
        values = {type(m.value) for m in t.cls}
        if values <= {str}:
            return "str"
        if values <= {int}:
            return "int"
    if isinstance(t, mi.LiteralType):
        values = {type(v) for v in t.values}
        if values <= {str}:
            return "str"
        if values <= {int}:
            return "int"
    return None


def field_type(model: type, path: str) -> mi.Type:
    """The msgspec type description of the field at a dotted path (encode names)."""
    t: mi.Type = mi.type_info(model)
    for part in path.split("."):
        t = _strip(t)
        if isinstance(t, mi.StructType):
            match = [f for f in t.fields if f.encode_name == part]
            if not match:
                names = ", ".join(f.encode_name for f in t.fields)
                raise SpecStarError(
                    f"indexed field {path!r}: {t.cls.__name__} has no field {part!r} "
                    f"(fields: {names})"
                )
            t = match[0].type
        elif isinstance(t, mi.DictType | mi.AnyType):
            return mi.AnyType()
        else:
            raise SpecStarError(f"indexed field {path!r}: cannot descend into {t!r} at {part!r}")
    return t


def infer_field(model: type, path: str, unique: bool = False) -> IndexedField:
    """The :class:`IndexedField` for ``path`` from the model's annotations.

    Raises:
        SpecStarError: the path does not exist or its type cannot be indexed.
    """
    t = _strip(field_type(model, path))
    kind = _scalar_kind(t)
    if kind is not None:
        return IndexedField(path, kind, unique=unique)
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        kind = _scalar_kind(t.item_type)
        if kind is not None:
            if unique:
                raise SpecStarError(f"indexed field {path!r}: a list cannot be Unique")
            return IndexedField(path, kind, is_list=True)
    raise SpecStarError(
        f"indexed field {path!r} has type {t!r}; index str, int, float, bool, datetime, "
        "enums of those, or lists of them — or pass (path, type) explicitly"
    )


def kind_of_type(tp: Any) -> tuple[Kind, bool]:
    """Kind and list-ness for an explicitly given Python type (``(path, type)`` declarations)."""
    t = _strip(mi.type_info(tp))
    kind = _scalar_kind(t)
    if kind is not None:
        return kind, False
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        kind = _scalar_kind(t.item_type)
        if kind is not None:
            return kind, True
    raise SpecStarError(f"cannot index values of type {tp!r}")


def build_spec(
    model: type,
    declared: Iterable[str | tuple[str, Any] | IndexedField],
    unique_paths: Iterable[str] | Mapping[str, Sequence[str]] = (),
) -> IndexSpec:
    """Combine declared indexed fields and ``Unique`` fields into one :class:`IndexSpec`.

    ``unique_paths`` may map a path to the normalisers of its ``Unique(normalize=...)``: the
    field is then indexed as it is, and its normalised key as a unique field of its own.
    """
    normalizers: Mapping[str, Sequence[str]] = (
        unique_paths if isinstance(unique_paths, Mapping) else {}
    )
    unique = set(unique_paths)
    fields: dict[str, IndexedField] = {}
    for item in declared:
        if isinstance(item, IndexedField):
            f = item
        elif isinstance(item, str):
            f = infer_field(model, item)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            kind, is_list = kind_of_type(item[1])
            f = IndexedField(item[0], kind, is_list)
        else:
            raise TypeError(
                f"indexed_fields items must be a path, (path, type) or IndexedField, not {item!r}"
            )
        fields[f.path] = f
    for path in sorted(unique):
        base = fields.get(path) or infer_field(model, path)
        if base.is_list:
            raise SpecStarError(f"Unique field {path!r} is a list; only scalars can be unique")
        steps = tuple(normalizers.get(path, ()))
        if not steps:
            fields[path] = msgspec.structs.replace(base, unique=True)
            continue
        if base.kind != "str":
            raise SpecStarError(
                f"Unique field {path!r}: normalize applies to str fields, not {base.kind}"
            )
        fields[path] = base
        key = f"{path}__{'_'.join(steps)}"
        if key in fields or key in unique:
            raise SpecStarError(f"the key of Unique field {path!r} would clash with {key!r}")
        fields[key] = IndexedField(key, "str", unique=True, source=path, normalize=steps)
    from .query.ast import PATH_RE

    for path in fields:
        if not PATH_RE.fullmatch(path):
            raise SpecStarError(f"indexed field path {path!r} is not a dotted identifier path")
    return IndexSpec(tuple(fields.values()))

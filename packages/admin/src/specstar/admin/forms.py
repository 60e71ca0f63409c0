"""Forms generated from a model's msgspec schema: which input each field gets, the values a
form starts with, and the data a submitted form stands for.

Every field gets an input: text, number, a true/false choice, a date-time (UTC), a choice
among an enum's values, one line per item for a list of scalars, a fieldset for a nested
struct, and a JSON text area for everything else (optional structs, lists of structs, dicts,
``Binary`` values), so a form never drops data it cannot show.
"""

from __future__ import annotations

import enum
import json
import typing
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import msgspec.inspect as mi

from specstar.core import Binary, DisplayName
from specstar.core.spi import RefField

__all__ = ["FormField", "display_field", "form_fields", "initial_values", "parse_form"]

#: A text input instead of a text area up to this ``max_length``.
_SHORT_TEXT = 200


class FormField(msgspec.Struct, kw_only=True):
    """One input of a generated form.

    Attributes:
        name: the input name, the dotted path of the field (``address.city``).
        label: what the form shows.
        widget: ``text``, ``textarea``, ``number``, ``bool``, ``datetime``, ``date``,
            ``choice``, ``lines``, ``json``, ``file`` (a ``Binary``) or ``group``.
        required: the model has no default for it.
        optional: it accepts ``null`` (an empty input means ``null``).
        choices: the values of a ``choice``.
        number_kind: ``int`` or ``float`` for a ``number``.
        ref_target: the resource name a reference field names.
        children: the fields of a ``group`` (a nested struct).
    """

    name: str
    label: str
    widget: str
    required: bool = True
    optional: bool = False
    choices: list[str] = []
    values: list[Any] = []
    number_kind: str = ""
    ref_target: str = ""
    children: list[FormField] = []


def _unwrap(t: mi.Type) -> tuple[mi.Type, bool]:
    """The type without ``Metadata`` and ``None`` (and whether ``None`` was allowed)."""
    optional = False
    while True:
        if isinstance(t, mi.Metadata):
            t = t.type
        elif isinstance(t, mi.UnionType):
            rest = [u for u in t.types if not isinstance(u, mi.NoneType)]
            if len(rest) < len(t.types):
                optional = True
            if len(rest) != 1:
                return (mi.UnionType(tuple(rest)) if rest else mi.NoneType()), optional
            t = rest[0]
        else:
            return t, optional


def _scalar_widget(t: mi.Type) -> tuple[str, list[Any], str] | None:
    """``(widget, choice values, number_kind)`` of a scalar type, ``None`` for others."""
    if isinstance(t, mi.StrType):
        long = t.max_length is None or t.max_length > _SHORT_TEXT
        return ("textarea" if long else "text"), [], ""
    if isinstance(t, mi.BoolType):
        return "bool", [], ""
    if isinstance(t, mi.IntType):
        return "number", [], "int"
    if isinstance(t, mi.FloatType):
        return "number", [], "float"
    if isinstance(t, mi.DateTimeType):
        return "datetime", [], ""
    if isinstance(t, mi.DateType):
        return "date", [], ""
    if isinstance(t, mi.EnumType):
        return "choice", [m.value for m in t.cls], ""
    if isinstance(t, mi.LiteralType):
        return "choice", list(t.values), ""
    return None


def form_fields(
    model: type, refs: list[RefField] | tuple[RefField, ...] = (), prefix: str = ""
) -> list[FormField]:
    """The inputs of a form for ``model`` (a msgspec struct), in field order."""
    info = mi.type_info(model)
    assert isinstance(info, mi.StructType)
    by_path = {r.path: r for r in refs}
    out: list[FormField] = []
    for f in info.fields:
        name = prefix + f.encode_name
        inner, optional = _unwrap(f.type)
        label = f.encode_name.replace("_", " ")
        common: dict[str, Any] = {"name": name, "label": label, "required": f.required}
        ref = by_path.get(name)
        scalar = _scalar_widget(inner)
        if scalar is not None:
            widget, choices, kind = scalar
            out.append(
                FormField(
                    **common,
                    widget="text" if ref and not ref.is_list else widget,
                    optional=optional,
                    choices=[str(c) for c in choices],
                    values=choices,
                    number_kind=kind,
                    ref_target=ref.target if ref else "",
                )
            )
        elif isinstance(inner, mi.ListType | mi.SetType | mi.FrozenSetType) and (
            _scalar_widget(_unwrap(inner.item_type)[0]) is not None
        ):
            item, _ = _unwrap(inner.item_type)
            item_widget = _scalar_widget(item)
            assert item_widget is not None
            out.append(
                FormField(
                    **common,
                    widget="lines",
                    optional=optional,
                    choices=[str(c) for c in item_widget[1]],
                    values=item_widget[1],
                    number_kind=item_widget[2],
                    ref_target=ref.target if ref else "",
                )
            )
        elif isinstance(inner, mi.StructType) and inner.cls is Binary:
            out.append(FormField(**common, widget="file", optional=optional))
        elif isinstance(inner, mi.StructType) and not optional:
            children = form_fields(inner.cls, refs, prefix=name + ".")
            out.append(FormField(**common, widget="group", children=children))
        else:
            out.append(FormField(**common, widget="json", optional=optional))
    return out


def display_field(model: type) -> str | None:
    """The name of the field annotated with :class:`~specstar.core.DisplayName`, if any."""
    try:
        hints = typing.get_type_hints(model, include_extras=True)
    except (NameError, TypeError):
        return None
    info = mi.type_info(model)
    assert isinstance(info, mi.StructType)
    encode = {f.name: f.encode_name for f in info.fields}
    for name, hint in hints.items():
        if typing.get_origin(hint) is typing.Annotated and any(
            isinstance(m, DisplayName) for m in hint.__metadata__
        ):
            return encode.get(name, name)
    return None


# -- values shown in a form -----------------------------------------------------------------


def _text_of(given: Any, widget: str) -> str:
    value: object = given
    if value is None:
        return ""
    if widget == "datetime" and isinstance(given, str):
        try:
            value = datetime.fromisoformat(given)
        except ValueError:
            return given
    if widget == "datetime" and isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="seconds")
    if widget == "date" and isinstance(value, date):
        return value.isoformat()
    if widget == "bool":
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def initial_values(fields: list[FormField], data: Mapping[str, Any] | None) -> dict[str, str]:
    """The text of each input for ``data`` (the builtins form of a resource; ``None`` for an
    empty form, whose inputs then show nothing)."""
    out: dict[str, str] = {}
    for field in fields:
        key = field.name.rsplit(".", 1)[-1]
        present = data is not None and key in data
        value = data[key] if data is not None and present else None
        if field.widget == "group":
            out.update(initial_values(field.children, value if isinstance(value, dict) else None))
        elif not present:
            out[field.name] = ""
        elif field.widget == "lines":
            out[field.name] = "\n".join(_text_of(v, "") for v in (value or []))
        elif field.widget in ("json", "file"):
            out[field.name] = json.dumps(value, indent=2, ensure_ascii=False, default=str)
        else:
            out[field.name] = _text_of(value, field.widget)
    return out


# -- submitted values -------------------------------------------------------------------------


def _scalar(field: FormField, text: str) -> Any:
    """One scalar value from its text (raises ``ValueError`` with a message for the user)."""
    if field.widget == "number":
        try:
            return int(text) if field.number_kind == "int" else float(text)
        except ValueError:
            kind = "a whole number" if field.number_kind == "int" else "a number"
            raise ValueError(f"{text!r} is not {kind}") from None
    if field.widget == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"{text!r} is neither true nor false")
        return text == "true"
    if field.widget == "datetime":
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM:SS)") from None
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if field.widget == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if field.widget == "choice":
        if text not in field.choices:
            raise ValueError(f"{text!r} is not one of {', '.join(field.choices)}")
        return field.values[field.choices.index(text)]
    return text


def _one(field: FormField, text: str) -> Any:
    if field.widget == "file":  # the file kept: what the form was opened with
        if not text.strip():
            if field.optional:
                return None
            raise ValueError("a file is required")
        try:
            kept = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("the kept file's description is not valid JSON") from None
        if kept is not None and not isinstance(kept, dict):
            raise ValueError("the kept file's description must be an object")
        return kept
    if field.widget == "json":
        if not text.strip():
            if field.optional:
                return None
            raise ValueError("a JSON value is required")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if field.widget == "lines":
        items = [line.strip() for line in text.splitlines() if line.strip()]
        if not items and field.optional:
            return None
        item = FormField(
            name=field.name,
            label=field.label,
            widget="choice" if field.choices else ("number" if field.number_kind else "text"),
            choices=field.choices,
            values=field.values,
            number_kind=field.number_kind,
        )
        return [_scalar(item, line) for line in items]
    if field.widget in ("text", "textarea") and not field.optional:
        return text
    if not text.strip():
        if field.optional:
            return None
        raise ValueError("a value is required")
    return _scalar(field, text.strip())


def field_names(fields: list[FormField]) -> set[str]:
    """Every text input name of a form (the fields of nested groups included; a file field's
    ``.remove`` box too, its upload is in :func:`file_names`)."""
    out: set[str] = set()
    for field in fields:
        if field.widget == "group":
            out |= field_names(field.children)
        else:
            out.add(field.name)
            if field.widget == "file" and field.optional:
                out.add(field.name + REMOVE)
    return out


#: Suffixes of a file field's inputs: the upload, and the box that removes the file.
UPLOAD = ".upload"
REMOVE = ".remove"


def file_fields(fields: list[FormField]) -> list[FormField]:
    """The ``file`` fields of a form (nested ones included)."""
    out: list[FormField] = []
    for field in fields:
        if field.widget == "group":
            out += file_fields(field.children)
        elif field.widget == "file":
            out.append(field)
    return out


def parse_form(
    fields: list[FormField], form: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The data a submitted form stands for, and the errors of its inputs by name.

    Every input of the form must be present (a missing one is an error naming it); the
    caller refuses names the form does not have.
    """
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        key = field.name.rsplit(".", 1)[-1]
        if field.widget == "group":
            sub, sub_errors = parse_form(field.children, form)
            data[key] = sub
            errors.update(sub_errors)
            continue
        if field.name not in form:
            errors[field.name] = "missing from the submitted form"
            continue
        try:
            data[key] = _one(field, form[field.name])
        except ValueError as exc:
            errors[field.name] = str(exc)
    return data, errors


def error_name(loc: str) -> str:
    """The input name of a validation error location (``$.address.city``, ``/tags/0`` or
    ``address.city`` → ``address.city``; list indexes name the list)."""
    text = loc.removeprefix("$").lstrip("./")
    parts = [p for p in text.replace("/", ".").replace("[", ".").replace("]", "").split(".") if p]
    named = [p for p in parts if not p.isdigit()]
    if len(named) < len(parts):  # an item of a list: the list's input
        return ".".join(parts[: parts.index(next(p for p in parts if p.isdigit()))])
    return ".".join(named)

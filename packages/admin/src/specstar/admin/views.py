"""What the pages show of resource data: values rendered by type, and the difference between
two versions of a resource, field by field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import msgspec

from specstar.core.spi import RefField

__all__ = ["Change", "ValueView", "diff", "value_view"]


class ValueView(msgspec.Struct, kw_only=True):
    """One value as a page shows it.

    Attributes:
        kind: ``null``, ``text``, ``number``, ``bool``, ``datetime``, ``ref``, ``list``,
            ``struct`` or ``image`` / ``blob`` (a stored file).
        text: the value as text (the id for a ``ref``).
        href: the link of a ``ref`` or a stored file.
        items: the elements of a ``list``.
        fields: ``(name, view)`` of a ``struct``.
    """

    kind: str
    text: str = ""
    href: str = ""
    items: list[ValueView] = []
    fields: list[tuple[str, ValueView]] = []


def _is_datetime_text(value: str) -> bool:
    return len(value) >= 19 and value[4] == "-" and value[10] == "T" and value[:4].isdigit()


def value_view(
    value: Any,
    *,
    path: str = "",
    refs: Mapping[str, RefField] | None = None,
    base: str = "",
    blob_href: str = "",
) -> ValueView:
    """A view of ``value`` (builtins: the JSON form of resource data) at ``path``.

    Args:
        refs: the model's reference fields by path; their values link to
            ``{base}/{target}/{id}``.
        base: the admin's path prefix.
        blob_href: the link prefix of stored files (``{blob_href}/{file_id}``); a mapping with
            a ``file_id`` is shown as a stored file when given.
    """
    refs = refs or {}
    ref = refs.get(path)
    if value is None:
        return ValueView(kind="null", text="—")
    if isinstance(value, bool):
        return ValueView(kind="bool", text="true" if value else "false")
    if isinstance(value, int | float):
        return ValueView(kind="number", text=str(value))
    if isinstance(value, str):
        if ref is not None:
            return ValueView(kind="ref", text=value, href=f"{base}/{ref.target}/{quote(value)}")
        return ValueView(kind="datetime" if _is_datetime_text(value) else "text", text=value)
    if isinstance(value, list):
        return ValueView(
            kind="list",
            items=[
                value_view(v, path=path, refs=refs, base=base, blob_href=blob_href) for v in value
            ],
        )
    if isinstance(value, dict):
        file_id = value.get("file_id")
        if blob_href and isinstance(file_id, str) and "content_type" in value:
            content_type = str(value.get("content_type") or "")
            return ValueView(
                kind="image" if content_type.startswith("image/") else "blob",
                text=f"{file_id} ({content_type or 'unknown type'}, {value.get('size', '?')} B)",
                href=f"{blob_href}/{quote(file_id)}",
            )
        return ValueView(
            kind="struct",
            fields=[
                (
                    str(k),
                    value_view(
                        v,
                        path=f"{path}.{k}" if path else str(k),
                        refs=refs,
                        base=base,
                        blob_href=blob_href,
                    ),
                )
                for k, v in value.items()
            ],
        )
    return ValueView(kind="text", text=str(value))


class Change(msgspec.Struct, kw_only=True):
    """One difference between two versions: ``added``, ``removed`` or ``changed`` at ``path``
    (a JSON pointer), with the old and new value as JSON text."""

    path: str
    kind: str
    old: str = ""
    new: str = ""


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            key = str(k).replace("~", "~0").replace("/", "~1")
            _flatten(v, f"{path}/{key}", out)
    else:
        out[path or "/"] = value


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def diff(old: Any, new: Any) -> list[Change]:
    """The changes from ``old`` to ``new`` (builtins), by JSON pointer, in path order.

    Objects are compared member by member (recursively); lists and scalars as whole values.
    """
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    _flatten(old, "", before)
    _flatten(new, "", after)
    changes: list[Change] = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            changes.append(Change(path=path, kind="added", new=_text(after[path])))
        elif path not in after:
            changes.append(Change(path=path, kind="removed", old=_text(before[path])))
        elif before[path] != after[path]:
            changes.append(
                Change(path=path, kind="changed", old=_text(before[path]), new=_text(after[path]))
            )
    return changes

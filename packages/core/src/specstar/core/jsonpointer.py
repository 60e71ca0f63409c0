"""JSON Pointers (RFC 6901) over builtins documents, and partial reads (projections).

A pointer is either the empty string (the whole document) or a sequence of ``/``-prefixed
reference tokens in which ``~1`` stands for ``/`` and ``~0`` for ``~``::

    >>> parse_pointer("/a~1b/0")
    ['a/b', '0']
    >>> format_pointer(["a/b", "0"])
    '/a~1b/0'

Documents are the builtins form of data: mappings for JSON objects, lists (or tuples) for JSON
arrays, anything else is a leaf. An array element is addressed by its index written in canonical
decimal form (``"0"``, ``"12"``; never ``"01"`` or ``"+1"``); the ``"-"`` token (the position
after the last element) only has a meaning for JSON Patch ``add`` and never resolves on reads.

Every failure raises :class:`~specstar.core.errors.PatchError` with a single
:class:`~specstar.core.errors.FieldError` whose ``loc`` is the offending pointer.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import FieldError, PatchError

__all__ = [
    "format_pointer",
    "is_array_index",
    "parse_pointer",
    "project",
    "resolve",
    "to_pointer",
]

_INDEX_RE = re.compile(r"0|[1-9][0-9]*")
_BAD_ESCAPE_RE = re.compile(r"~(?![01])")
_SCALARS = (str, int, float, bool, type(None))


def _pointer_error(pointer: str, message: str) -> PatchError:
    return PatchError(message, [FieldError(pointer, message)])


def parse_pointer(text: str) -> list[str]:
    """Split an RFC 6901 JSON Pointer into its unescaped reference tokens.

    Args:
        text: the pointer; ``""`` is the whole document, anything else must start with ``/``.

    Returns:
        The reference tokens in order, with ``~1`` decoded to ``/`` and ``~0`` to ``~``
        (``"/a~1b/~01"`` gives ``["a/b", "~1"]``; ``"/"`` gives ``[""]``).

    Raises:
        PatchError: ``text`` is not a string, lacks the leading ``/`` or contains a ``~``
            that is not followed by ``0`` or ``1``.
    """
    if not isinstance(text, str):
        raise _pointer_error("", f"a JSON pointer must be a string, not {type(text).__name__}")
    if text == "":
        return []
    if not text.startswith("/"):
        raise _pointer_error(
            text, f'invalid JSON pointer "{text}": it must be empty or start with "/"'
        )
    if _BAD_ESCAPE_RE.search(text):
        raise _pointer_error(
            text, f'invalid JSON pointer "{text}": "~" must be followed by "0" or "1"'
        )
    return [token.replace("~1", "/").replace("~0", "~") for token in text[1:].split("/")]


def format_pointer(tokens: Iterable[str]) -> str:
    """Build the JSON Pointer text for a sequence of reference tokens.

    Args:
        tokens: unescaped reference tokens (array indices as decimal strings).

    Returns:
        ``""`` for no tokens, otherwise each token prefixed with ``/`` after escaping ``~`` as
        ``~0`` and ``/`` as ``~1``. The inverse of :func:`parse_pointer`.
    """
    return "".join("/" + token.replace("~", "~0").replace("/", "~1") for token in tokens)


def to_pointer(path: str) -> list[str]:
    """Reference tokens for either a JSON Pointer or a dotted path.

    A convenience for places where people write paths by hand: ``"/a/b"`` is parsed as a JSON
    Pointer (see :func:`parse_pointer`), ``"a.b"`` is split on dots (``"items.0.name"`` gives
    ``["items", "0", "name"]``). Dotted paths have no escapes, so names containing ``.`` or
    starting with ``/`` need the pointer form.

    Args:
        path: ``""`` (the whole document), a JSON Pointer, or a dotted path.

    Returns:
        The reference tokens.

    Raises:
        PatchError: ``path`` is not a string, is an invalid pointer, or is a dotted path with
            an empty segment (``"a..b"``, ``".a"``, ``"a."``).
    """
    if not isinstance(path, str):
        raise _pointer_error("", f"a path must be a string, not {type(path).__name__}")
    if path == "" or path.startswith("/"):
        return parse_pointer(path)
    tokens = path.split(".")
    if "" in tokens:
        raise _pointer_error(path, f'invalid dotted path "{path}": empty segment')
    return tokens


def is_array_index(token: str) -> bool:
    """Whether ``token`` is an array index in canonical decimal form (``"0"``, ``"12"``)."""
    return _INDEX_RE.fullmatch(token) is not None


def _is_array(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if _is_array(value):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


class _Unresolved(Exception):
    """Internal: a pointer does not resolve; ``reason`` explains why (may be empty)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _step(container: Any, token: str, tokens: Sequence[str], depth: int) -> Any:
    """The child of ``container`` named by ``token`` (``tokens[:depth]`` led to container)."""
    if isinstance(container, Mapping):
        if token in container:
            return container[token]
        raise _Unresolved("")
    if _is_array(container):
        if token == "-":
            raise _Unresolved('"-" refers to the position after the last array element')
        if not is_array_index(token):
            raise _Unresolved(f'"{token}" is not a valid array index')
        index = int(token)
        if index >= len(container):
            count = len(container)
            raise _Unresolved(f"the array has {count} element{'' if count == 1 else 's'}")
        return container[index]
    raise _Unresolved(f'"{format_pointer(tokens[:depth])}" is {_kind(container)}')


def _lookup(doc: Any, tokens: Sequence[str]) -> Any:
    current = doc
    for depth, token in enumerate(tokens):
        current = _step(current, token, tokens, depth)
    return current


def _not_found_message(pointer: str, reason: str) -> str:
    message = f'path "{pointer}" does not exist'
    return f"{message} ({reason})" if reason else message


def resolve(doc: Any, pointer: str | Sequence[str]) -> Any:
    """The value a JSON Pointer refers to.

    Args:
        doc: a builtins document.
        pointer: the pointer text, or its already parsed reference tokens.

    Returns:
        The referenced value itself (not a copy).

    Raises:
        PatchError: the pointer is invalid or does not resolve: a member is absent, an array
            token is not a canonical index (or is ``"-"``), an index is out of range, or a
            token descends into a leaf value. The error's ``loc`` is the whole pointer.
    """
    tokens = parse_pointer(pointer) if isinstance(pointer, str) else list(pointer)
    try:
        return _lookup(doc, tokens)
    except _Unresolved as exc:
        text = format_pointer(tokens)
        raise _pointer_error(text, _not_found_message(text, exc.reason)) from None


def _copy_json(value: Any) -> Any:
    """Deep copy of a builtins value: mappings become dicts, tuples become lists."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return {key: _copy_json(item) for key, item in value.items()}
    if _is_array(value):
        return [_copy_json(item) for item in value]
    return copy.deepcopy(value)


class _Selection:
    """Internal: a node of the projection tree; ``whole`` wins over ``children``."""

    __slots__ = ("children", "whole")

    def __init__(self) -> None:
        self.whole = False
        self.children: dict[str, _Selection] = {}


def _materialize(value: Any, selection: _Selection) -> Any:
    if selection.whole:
        return _copy_json(value)
    if isinstance(value, Mapping):
        return {
            token: _materialize(value[token], child) for token, child in selection.children.items()
        }
    ordered = sorted(selection.children.items(), key=lambda item: int(item[0]))
    return [_materialize(value[int(token)], child) for token, child in ordered]


def project(doc: Mapping[str, Any], pointers: Iterable[str]) -> dict[str, Any]:
    """A partial copy of ``doc`` holding only the values the pointers select.

    Objects keep their nesting: ``project(d, ["/a/b"])`` gives ``{"a": {"b": d["a"]["b"]}}``.
    A pointer that selects an object or array copies that whole subtree. When a pointer
    crosses an array index, the result holds an array with *only the selected elements, in
    index order* (so result indices need not match the document's):
    ``project({"xs": [10, 20, 30]}, ["/xs/2", "/xs/0"])`` gives ``{"xs": [10, 30]}``.
    Several pointers into the same element merge into one element of the result. The empty
    pointer selects the whole document.

    Args:
        doc: the builtins document (a JSON object).
        pointers: JSON Pointers (RFC 6901) of the values to keep.

    Returns:
        A new dict; it shares no mutable values with ``doc``.

    Raises:
        PatchError: a pointer is syntactically invalid. Pointers that are valid but do not
            resolve in this document (absent members, out-of-range or non-canonical array
            indices, ``"-"``, descending into a leaf) are silently left out, because data may
            legitimately lack optional nested values.
    """
    root = _Selection()
    for pointer in pointers:
        tokens = parse_pointer(pointer)
        try:
            _lookup(doc, tokens)
        except _Unresolved:
            continue
        node = root
        for token in tokens:
            if node.whole:
                break
            node = node.children.setdefault(token, _Selection())
        else:
            node.whole = True
            node.children.clear()
    result: dict[str, Any] = _materialize(doc, root)
    return result

"""JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386) over builtins documents.

Both functions work on the builtins form of data (mappings, lists, strings, numbers, booleans,
``None``) and never mutate their arguments: they return a new document that shares no mutable
values with the inputs.

:func:`apply_json_patch` is atomic: the operations are applied one after the other to a private
deep copy, and the copy is returned only if every operation succeeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from .errors import FieldError, PatchError, PatchTestFailedError
from .jsonpointer import (
    _copy_json,
    _is_array,
    _kind,
    _lookup,
    _not_found_message,
    _Unresolved,
    format_pointer,
    is_array_index,
    parse_pointer,
)

__all__ = [
    "MAX_PATCHED_BYTES",
    "MAX_PATCH_OPERATIONS",
    "JsonPatchOperation",
    "apply_json_patch",
    "apply_merge_patch",
    "json_equal",
]

#: Most operations one JSON Patch may hold.
MAX_PATCH_OPERATIONS = 1000
#: Largest a document may grow to while a JSON Patch applies (bytes of its compact JSON, the
#: request-body limit of the HTTP API): ``copy`` doubles a document per operation, so the size
#: is checked before each operation allocates anything.
MAX_PATCHED_BYTES = 16 * 1024 * 1024

OpName = Literal["add", "remove", "replace", "move", "copy", "test"]
_OPS: frozenset[str] = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_NEEDS_VALUE: frozenset[str] = frozenset({"add", "replace", "test"})
_NEEDS_FROM: frozenset[str] = frozenset({"move", "copy"})


class JsonPatchOperation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One typed JSON Patch operation (RFC 6902, section 4).

    Useful as a request body type: ``msgspec.json.decode(body, type=list[JsonPatchOperation])``
    checks the shape of every operation; an absent ``value`` stays :data:`~msgspec.UNSET` while
    JSON ``null`` decodes to ``None``. :func:`apply_json_patch` accepts instances directly.

    Attributes:
        op: the operation name.
        path: JSON Pointer of the target location.
        value: the value for ``add``, ``replace`` and ``test``.
        from_: JSON Pointer of the source location for ``move`` and ``copy`` (encoded as
            ``"from"``).
    """

    op: OpName
    path: str
    value: Any | UnsetType = UNSET
    from_: str | UnsetType = msgspec.field(default=UNSET, name="from")

    def to_dict(self) -> dict[str, Any]:
        """The operation as a plain mapping, with ``"from"`` as the key and unset members left out.

        Returns:
            E.g. ``{"op": "move", "path": "/b", "from": "/a"}``.
        """
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.value is not UNSET:
            out["value"] = self.value
        if self.from_ is not UNSET:
            out["from"] = self.from_
        return out


def json_equal(left: Any, right: Any) -> bool:
    """Equality of two builtins values under JSON semantics (as the ``test`` operation uses).

    Numbers are equal when numerically equal (``1 == 1.0``) but a boolean never equals a number
    (``True`` is not ``1``); strings compare by value; objects are equal when they have the same
    set of members with equal values (member order is irrelevant); arrays are equal when they
    have the same length and pairwise equal elements (lists and tuples both count as arrays).
    Values of other types fall back to ``==``.

    Args:
        left: a builtins value.
        right: a builtins value.

    Returns:
        Whether the two values are equal.
    """
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, Mapping) or isinstance(right, Mapping):
        if not (isinstance(left, Mapping) and isinstance(right, Mapping)):
            return False
        if len(left) != len(right):
            return False
        return all(key in right and json_equal(item, right[key]) for key, item in left.items())
    if _is_array(left) or _is_array(right):
        if not (_is_array(left) and _is_array(right)) or len(left) != len(right):
            return False
        return all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, str) or isinstance(right, str):
        return isinstance(left, str) and isinstance(right, str) and left == right
    if left is None or right is None:
        return left is None and right is None
    result: bool = left == right
    return result


class _OpFailure(Exception):
    """Internal: applying an operation failed; ``loc`` is the pointer to report."""

    def __init__(self, loc: str, reason: str) -> None:
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


def _fail_missing(tokens: Sequence[str], exc: _Unresolved) -> _OpFailure:
    pointer = format_pointer(tokens)
    return _OpFailure(pointer, _not_found_message(pointer, exc.reason))


def _get(doc: Any, tokens: Sequence[str]) -> Any:
    try:
        return _lookup(doc, tokens)
    except _Unresolved as exc:
        raise _fail_missing(tokens, exc) from None


def _parent(doc: Any, tokens: Sequence[str]) -> Any:
    """The container that holds (or would hold) the last token of a non-empty pointer."""
    parent_tokens = tokens[:-1]
    try:
        parent = _lookup(doc, parent_tokens)
    except _Unresolved as exc:
        pointer = format_pointer(tokens)
        detail = _not_found_message(format_pointer(parent_tokens), exc.reason)
        raise _OpFailure(pointer, f'parent of "{pointer}" does not exist: {detail}') from None
    if not isinstance(parent, dict | list):
        pointer = format_pointer(tokens)
        raise _OpFailure(
            pointer,
            f'cannot address "{pointer}": "{format_pointer(parent_tokens)}" is {_kind(parent)}',
        )
    return parent


def _add(doc: Any, tokens: Sequence[str], value: Any) -> Any:
    """Add ``value`` (already private) at ``tokens``; returns the (possibly new) document."""
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    key = tokens[-1]
    if isinstance(parent, dict):
        parent[key] = value
        return doc
    if key == "-":
        parent.append(value)
        return doc
    pointer = format_pointer(tokens)
    if not is_array_index(key):
        raise _OpFailure(pointer, f'cannot add at "{pointer}": "{key}" is not a valid array index')
    index = int(key)
    if index > len(parent):
        count = len(parent)
        raise _OpFailure(
            pointer,
            f'cannot add at "{pointer}": index {index} is beyond the end of the array '
            f"({count} element{'' if count == 1 else 's'})",
        )
    parent.insert(index, value)
    return doc


def _remove(doc: Any, tokens: Sequence[str]) -> Any:
    """Remove the value at ``tokens`` (which must exist) and return it."""
    if not tokens:
        raise _OpFailure("", "cannot remove the whole document")
    _get(doc, tokens)
    parent = _parent(doc, tokens)
    if isinstance(parent, dict):
        return parent.pop(tokens[-1])
    return parent.pop(int(tokens[-1]))


def _replace(doc: Any, tokens: Sequence[str], value: Any) -> Any:
    if not tokens:
        return value
    _get(doc, tokens)
    parent = _parent(doc, tokens)
    if isinstance(parent, dict):
        parent[tokens[-1]] = value
    else:
        parent[int(tokens[-1])] = value
    return doc


def _test(doc: Any, tokens: Sequence[str], expected: Any) -> None:
    pointer = format_pointer(tokens)
    try:
        actual = _lookup(doc, tokens)
    except _Unresolved as exc:
        error = PatchTestFailedError(pointer, expected, None)
        message = (
            f"patch test failed at {pointer!r}: expected {expected!r}, but "
            + _not_found_message(pointer, exc.reason)
        )
        error.message = message
        error.args = (message,)
        raise error from None
    if not json_equal(actual, expected):
        raise PatchTestFailedError(pointer, expected, actual)


def _member(operation: Mapping[str, Any], name: str, index: int, op: str, *, pointer: bool) -> Any:
    if name not in operation:
        message = f'operation {index} ({op}): missing "{name}"'
        raise PatchError(message, [FieldError(f"/{index}", message)])
    value = operation[name]
    if pointer and not isinstance(value, str):
        message = (
            f'operation {index} ({op}): "{name}" must be a string (a JSON pointer), '
            f"not {type(value).__name__}"
        )
        raise PatchError(message, [FieldError(f"/{index}", message)])
    return value


def _pointer_member(operation: Mapping[str, Any], name: str, index: int, op: str) -> list[str]:
    text = _member(operation, name, index, op, pointer=True)
    try:
        return parse_pointer(text)
    except PatchError as exc:
        message = f'operation {index} ({op}): "{name}": {exc.message}'
        raise PatchError(message, [FieldError(f"/{index}", message)]) from None


def _as_mapping(operation: Any, index: int) -> Mapping[str, Any]:
    if isinstance(operation, JsonPatchOperation):
        return operation.to_dict()
    if not isinstance(operation, Mapping):
        message = f"operation {index} must be an object, not {type(operation).__name__}"
        raise PatchError(message, [FieldError(f"/{index}", message)])
    return operation


class _ParsedOp(msgspec.Struct, frozen=True):
    """Internal: one validated operation."""

    index: int
    op: str
    path: list[str]
    value: Any
    source: list[str]


def _parse_op(operation: Mapping[str, Any], index: int) -> _ParsedOp:
    op = operation.get("op", UNSET)
    if op is UNSET:
        message = f'operation {index}: missing "op"'
        raise PatchError(message, [FieldError(f"/{index}", message)])
    if not isinstance(op, str) or op not in _OPS:
        message = (
            f"operation {index}: unknown op {op!r} "
            "(expected add, remove, replace, move, copy or test)"
        )
        raise PatchError(message, [FieldError(f"/{index}", message)])
    path = _pointer_member(operation, "path", index, op)
    value: Any = None
    if op in _NEEDS_VALUE:
        value = _member(operation, "value", index, op, pointer=False)
    source: list[str] = []
    if op in _NEEDS_FROM:
        source = _pointer_member(operation, "from", index, op)
    return _ParsedOp(index, op, path, value, source)


def _apply_one(doc: Any, parsed: _ParsedOp) -> Any:
    op, tokens, source = parsed.op, parsed.path, parsed.source
    try:
        if op == "add":
            return _add(doc, tokens, _copy_json(parsed.value))
        if op == "remove":
            _remove(doc, tokens)
            return doc
        if op == "replace":
            return _replace(doc, tokens, _copy_json(parsed.value))
        if op == "test":
            _test(doc, tokens, parsed.value)
            return doc
        if op == "copy":
            return _add(doc, tokens, _copy_json(_get(doc, source)))
        # move
        if source == tokens:
            _get(doc, source)
            return doc
        if tokens[: len(source)] == source:
            raise _OpFailure(
                format_pointer(tokens),
                f'cannot move "{format_pointer(source)}" into its own child '
                f'"{format_pointer(tokens)}"',
            )
        moved = _remove(doc, source)
        return _add(doc, tokens, moved)
    except _OpFailure as exc:
        message = f"operation {parsed.index} ({op}): {exc.reason}"
        raise PatchError(message, [FieldError(exc.loc, message)]) from None


def apply_json_patch(
    doc: Any,
    operations: Sequence[Mapping[str, Any] | JsonPatchOperation],
    *,
    max_operations: int = MAX_PATCH_OPERATIONS,
    max_bytes: int = MAX_PATCHED_BYTES,
) -> Any:
    """Apply a JSON Patch (RFC 6902) and return the patched document.

    The shape of every operation is checked first (so a malformed patch is reported as such
    whatever the document holds); then the operations run in order on a deep copy of ``doc``
    and the first failure aborts the whole patch, so either every operation is applied or
    none is. Neither ``doc`` nor the operations
    (including their ``value`` members) are ever mutated, and the result shares no mutable
    values with them.

    Semantics follow RFC 6902 exactly:

    * ``add``: on an object member, creates or replaces it; on an array, inserts before the
      given index (``0 <= index <= len``) or appends for ``"-"``; the parent must exist; the
      empty path replaces the whole document.
    * ``remove`` / ``replace``: the target must exist (removing the whole document is an
      error; replacing it is allowed).
    * ``move``: ``remove`` from ``from`` then ``add`` at ``path``; ``from`` must exist and
      must not be a proper prefix of ``path``. Moving a location onto itself is a no-op.
    * ``copy``: ``add`` of a deep copy of the value at ``from``.
    * ``test``: the target must equal ``value`` under :func:`json_equal` (``1`` equals
      ``1.0``, ``True`` does not equal ``1``, objects are unordered, arrays ordered).

    Members an operation does not define (and unknown extra members) are ignored.

    Args:
        doc: the builtins document to patch.
        operations: the patch: mappings with ``op``, ``path`` and, as the operation requires,
            ``value`` or ``from``; :class:`JsonPatchOperation` instances are accepted too.
        max_operations: most operations accepted (checked before anything else).
        max_bytes: largest size (compact JSON bytes) the document may reach; each operation's
            growth is measured before it runs, so a patch that would blow the document up
            stops at the first operation past the limit, before allocating it.

    Returns:
        The patched document (a new object, even if no operation changed anything; mappings
        in it are dicts and arrays are lists, also where the input held tuples).

    Raises:
        PatchError: the patch holds more than ``max_operations`` operations or would grow the
            document past ``max_bytes`` (the message names the limit); the patch is malformed
            (not an array, an operation that is not an object,
            a missing or unknown ``op``, a missing ``path``/``value``/``from``, a pointer that
            is not a string or is invalid) — ``loc`` is ``"/<operation index>"`` — or an
            operation cannot be applied (e.g. ``operation 2 (remove): path "/tags/9" does not
            exist``) — ``loc`` is the target pointer (the ``from`` pointer when the source of
            a ``move``/``copy`` is missing).
        PatchTestFailedError: a ``test`` operation did not match, or its path does not exist.
    """
    if isinstance(operations, str | bytes | bytearray | Mapping) or not isinstance(
        operations, Sequence
    ):
        message = f"a JSON patch must be an array of operations, not {type(operations).__name__}"
        raise PatchError(message, [FieldError("", message)])
    if len(operations) > max_operations:
        message = (
            f"a JSON patch may hold at most {max_operations} operations (max_patch_operations); "
            f"this one holds {len(operations)}"
        )
        raise PatchError(message, [FieldError("", message)])
    parsed = [
        _parse_op(_as_mapping(operation, index), index)
        for index, operation in enumerate(operations)
    ]
    result = _copy_json(doc)
    size = _size(result)
    for item in parsed:
        growth = _growth(result, item)
        size += growth
        if growth > 0 and size > max_bytes:
            message = (
                f"operation {item.index} ({item.op}): the patched document would grow to about "
                f"{size} bytes, past the limit of {max_bytes} (max_patched_bytes)"
            )
            raise PatchError(message, [FieldError(f"/{item.index}", message)])
        result = _apply_one(result, item)
    return result


def _size(value: Any) -> int:
    """Bytes of ``value``'s compact JSON."""
    return len(msgspec.json.encode(value))


def _growth(doc: Any, parsed: _ParsedOp) -> int:
    """About how many bytes the operation adds to the document (negative when it shrinks it),
    measured before it runs; an operation that cannot apply adds nothing (it fails next)."""
    op, tokens = parsed.op, parsed.path
    if op in ("test", "move"):
        return 0
    try:
        if op == "copy":
            added = _size(_lookup(doc, parsed.source))
        elif op == "remove":
            added = 0
        else:
            added = _size(parsed.value)
        if not tokens:  # the whole document
            return 0 if op == "remove" else added - _size(doc)
        parent = _lookup(doc, tokens[:-1])
        if isinstance(parent, dict):
            member = len(tokens[-1]) + 4  # the key, its quotes, the colon and a comma
            old = tokens[-1] in parent and _size(parent[tokens[-1]]) + member
            return (0 if op == "remove" else added + member) - int(old)
        if op in ("add", "copy"):  # an insertion into an array
            return added + 1
        old = _size(parent[int(tokens[-1])]) + 1
        return (0 if op == "remove" else added) - old
    except (_Unresolved, TypeError, ValueError, IndexError):
        return 0


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON Merge Patch (RFC 7386) and return the result.

    If ``patch`` is not an object it replaces ``target`` entirely. Otherwise the result is an
    object (``target`` itself if it is one, else an empty object) in which every patch member
    whose value is ``null`` is removed and every other member is set to the merge of the
    current member value with the patch member value, recursively. Arrays are replaced as a
    whole, never merged.

    Args:
        target: the builtins document to patch.
        patch: the merge patch document.

    Returns:
        A new document; neither argument is mutated and the result shares no mutable values
        with them.
    """
    if not isinstance(patch, Mapping):
        return _copy_json(patch)
    result: dict[Any, Any] = {}
    if isinstance(target, Mapping):
        for key, value in target.items():
            if key not in patch:
                result[key] = _copy_json(value)
            elif patch[key] is not None:
                result[key] = apply_merge_patch(value, patch[key])
    for key, value in patch.items():
        if value is not None and key not in result:
            result[key] = apply_merge_patch(None, value)
    return result

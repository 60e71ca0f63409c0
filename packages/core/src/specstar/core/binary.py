"""The :class:`Binary` field type: a file kept in the blob store, referenced from a model.

A model declares ``avatar: Binary`` (or ``Binary | None``, ``list[Binary]``, nested in other
Structs). On every write the manager (:func:`store_binaries`):

* moves inline ``data`` into the :class:`~specstar.core.blobs.BlobStore` and strips it, so
  revisions hold only ``file_id``, ``size`` and ``content_type`` (data over the manager's
  ``max_file_bytes`` is refused with a :class:`~specstar.core.errors.ContentTooLargeError`
  naming ``/avatar/data`` before anything is stored);
* checks that a given ``file_id`` exists (else a :class:`~specstar.core.errors.ValidationError`
  whose ``loc`` names the field, e.g. ``/avatar/file_id``) and fills in its size.

Reads return the reference only; :meth:`ResourceManager.load_blobs
<specstar.core.ResourceManager.load_blobs>` puts the bytes back on request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from .blobs import DEFAULT_CONTENT_TYPE, BlobStore, is_file_id
from .errors import ContentTooLargeError, FieldError, ValidationError

__all__ = ["Binary", "find_binaries", "has_binary_fields", "load_binaries", "store_binaries"]

T = TypeVar("T")


class Binary(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A file referenced by a model.

    Attributes:
        file_id: the SHA-256 hex digest of the content (the blob's id).
        size: the content's length in bytes (filled in by the manager).
        content_type: the MIME type (the stored blob's when not given).
        data: the content; accepted on write (moved to the blob store and stripped from
            the stored revision), present on read only when asked for.
    """

    file_id: str | UnsetType = UNSET
    size: int | UnsetType = UNSET
    content_type: str | UnsetType = UNSET
    data: bytes | UnsetType = UNSET


def has_binary_fields(model: type) -> bool:
    """Whether ``model`` can hold a :class:`Binary` anywhere (nested and in containers)."""
    seen: set[int] = set()

    def walk(t: msgspec.inspect.Type) -> bool:
        if isinstance(t, msgspec.inspect.StructType):
            if t.cls is Binary:
                return True
            if id(t.cls) in seen:
                return False
            seen.add(id(t.cls))
            return any(walk(f.type) for f in t.fields)
        for attr in ("item_type", "key_type", "value_type"):
            inner = getattr(t, attr, None)
            if inner is not None and walk(inner):
                return True
        for attr in ("types", "item_types"):
            if any(walk(x) for x in getattr(t, attr, ()) or ()):
                return True
        return False

    try:
        return walk(msgspec.inspect.type_info(model))
    except (TypeError, ValueError):
        return False


def _map(value: Any, loc: str, fn: Callable[[Binary, str], Binary]) -> Any:
    """``value`` with every :class:`Binary` in it replaced by ``fn(binary, loc)``."""
    if isinstance(value, Binary):
        return fn(value, loc)
    if isinstance(value, msgspec.Struct):
        changes = {}
        for name in value.__struct_fields__:
            old = getattr(value, name)
            new = _map(old, f"{loc}/{name}", fn)
            if new is not old:
                changes[name] = new
        return msgspec.structs.replace(value, **changes) if changes else value
    if isinstance(value, list | tuple):
        items = [_map(v, f"{loc}/{i}", fn) for i, v in enumerate(value)]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items) if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        mapped = {k: _map(v, f"{loc}/{k}", fn) for k, v in value.items()}
        return value if all(mapped[k] is value[k] for k in value) else mapped
    return value


def find_binaries(value: Any, loc: str = "") -> Iterator[tuple[str, Binary]]:
    """Every :class:`Binary` in ``value`` with its JSON Pointer."""
    found: list[tuple[str, Binary]] = []

    def collect(b: Binary, where: str) -> Binary:
        found.append((where, b))
        return b

    _map(value, loc, collect)
    return iter(found)


def _invalid(loc: str, message: str) -> ValidationError:
    return ValidationError(f"{loc}: {message}", [FieldError(loc, message)])


def store_binaries(value: T, blobs: BlobStore, *, max_bytes: int | None = None) -> T:
    """``value`` with inline data moved to ``blobs`` and every reference checked.

    Raises:
        ContentTooLargeError: inline data longer than ``max_bytes`` (``None``: no limit);
            ``loc`` names its ``data`` member. Every Binary is measured before any is stored.
        ValidationError: a ``file_id`` that names no blob (or disagrees with the inline
            data), a ``size`` that disagrees with the blob, or a Binary with neither
            ``file_id`` nor ``data``; ``loc`` names the member.
    """

    def store(b: Binary, loc: str) -> Binary:
        given_type = None if isinstance(b.content_type, UnsetType) else b.content_type
        if not isinstance(b.data, UnsetType):
            info = blobs.put_stream(b.data, given_type or DEFAULT_CONTENT_TYPE)
            if not isinstance(b.file_id, UnsetType) and b.file_id != info.file_id:
                raise _invalid(
                    f"{loc}/file_id", f"{b.file_id!r} is not the SHA-256 of the given data"
                )
        elif isinstance(b.file_id, UnsetType):
            raise _invalid(loc, "a Binary needs file_id (an uploaded file) or data")
        else:
            found = blobs.info(b.file_id) if is_file_id(b.file_id) else None
            if found is None:
                raise _invalid(f"{loc}/file_id", f"no uploaded file has the id {b.file_id!r}")
            info = found
        if not isinstance(b.size, UnsetType) and b.size != info.size:
            raise _invalid(f"{loc}/size", f"the file has {info.size} bytes, not {b.size}")
        return Binary(
            file_id=info.file_id, size=info.size, content_type=given_type or info.content_type
        )

    if max_bytes is not None:
        for loc, b in find_binaries(value):
            if not isinstance(b.data, UnsetType) and len(b.data) > max_bytes:
                raise ContentTooLargeError(max_bytes, size=len(b.data), field=f"{loc}/data")
    return _map(value, "", store)  # type: ignore[no-any-return]


def load_binaries(value: T, blobs: BlobStore) -> T:
    """``value`` with the content of every referenced file in its ``data``.

    Raises:
        NotFoundError: a referenced file is missing from the store.
    """

    def load(b: Binary, _loc: str) -> Binary:
        if isinstance(b.file_id, UnsetType):
            return b
        return msgspec.structs.replace(b, data=blobs.get(b.file_id)[1])

    return _map(value, "", load)  # type: ignore[no-any-return]

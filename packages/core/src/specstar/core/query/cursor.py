"""Opaque cursors for keyset pagination.

A cursor remembers where a page ended: the sort values and the ``resource_id`` of its last row.
The next page holds the rows strictly after that position in the query's total order (its
effective sorts, then ``resource_id`` ascending), so rows inserted or deleted between requests
never shift the pages the way an offset does.

The token is the URL-safe base64 (without padding) of the msgpack array
``[1, fingerprint, [sort values...], resource_id]``. The fingerprint is a short hash of the
query's filter, effective sorts and ``is_deleted`` (not of its limit), so a cursor is only
accepted by the query that produced it — with any page size. Cursors are not signed: they are
not secret and carry nothing a client could not ask for directly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from typing import Any

import msgspec

from ..errors import QueryError
from ..types import ResourceMeta
from .ast import Field, Query, Sort

__all__ = [
    "DEFAULT_SORT",
    "CursorPosition",
    "decode_cursor",
    "effective_sorts",
    "encode_cursor",
    "fingerprint",
    "sort_values",
]

#: The order used when a query has no sorts.
DEFAULT_SORT = Sort(Field("created_time", meta=True))

_VERSION = 1
#: A cursor carries the sort values of a row, and indexed text has no length limit; this
#: bound only keeps a hostile token from costing more to decode than a request body.
_MAX_TOKEN_LENGTH = 4 * 1024 * 1024
_BIG_INT_EXT = 1  # msgpack extension code for integers beyond 64 bits
_INT64_MIN = -(2**63)
_UINT64_END = 2**64


class CursorPosition(msgspec.Struct, frozen=True):
    """Where a page ended: the last row's sort values and its resource id.

    Attributes:
        values: one value per effective sort (``None`` for null or missing).
        resource_id: the final tie-breaker.
    """

    values: tuple[Any, ...]
    resource_id: str


def effective_sorts(query: Query) -> tuple[Sort, ...]:
    """The query's sorts, or ``($created_time ascending,)`` when it has none.

    ``resource_id`` ascending always follows as the implicit last tie-breaker.
    """
    return query.sorts or (DEFAULT_SORT,)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def sort_values(meta: ResourceMeta, sorts: tuple[Sort, ...]) -> tuple[Any, ...]:
    """The values ``meta`` sorts by: meta fields by attribute, data paths from ``indexed_data``.

    A missing path gives ``None``; naive datetimes are taken as UTC.
    """
    out: list[Any] = []
    for sort in sorts:
        if sort.field.meta:
            value = getattr(meta, sort.field.path, None)
        else:
            value = meta.indexed_data.get(sort.field.path)
        out.append(_utc(value))
    return tuple(out)


def fingerprint(query: Query) -> str:
    """A short hash of what defines a result order: filter, effective sorts, ``is_deleted``."""
    payload = msgspec.json.encode([query.where, effective_sorts(query), query.is_deleted])
    return hashlib.blake2b(payload, digest_size=8).hexdigest()


def _ext_hook(code: int, data: memoryview) -> Any:
    if code == _BIG_INT_EXT and len(data) <= 4300:
        return int(bytes(data).decode("ascii"))
    raise ValueError("unknown cursor extension")


def _pack_value(value: Any) -> Any:
    value = _utc(value)
    if isinstance(value, int) and not _INT64_MIN <= value < _UINT64_END:
        return msgspec.msgpack.Ext(_BIG_INT_EXT, str(value).encode())
    return value


def encode_cursor(query: Query, row: ResourceMeta) -> str:
    """The cursor that continues ``query`` after ``row``.

    Args:
        query: the (resolved) query that produced the page.
        row: the last row of the page.

    Returns:
        An opaque URL-safe token.
    """
    values = [_pack_value(v) for v in sort_values(row, effective_sorts(query))]
    payload = msgspec.msgpack.encode([_VERSION, fingerprint(query), values, row.resource_id])
    return base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")


_SCALARS = (str, int, float, bool, datetime)


def decode_cursor(query: Query, token: str) -> CursorPosition:
    """Read a cursor made by :func:`encode_cursor` for ``query``.

    Args:
        query: the (resolved) query the cursor is used with.
        token: the cursor text.

    Returns:
        The position after which the next page starts. Datetimes come back timezone-aware
        (UTC).

    Raises:
        QueryError: the token is malformed, or was made for a query with a different filter,
            order or ``is_deleted``.
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise QueryError("invalid cursor")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = msgspec.msgpack.decode(raw, ext_hook=_ext_hook)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise QueryError("invalid cursor") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 4
        or decoded[0] != _VERSION
        or not isinstance(decoded[1], str)
        or not isinstance(decoded[2], list)
        or not isinstance(decoded[3], str)
        or not all(v is None or isinstance(v, _SCALARS) for v in decoded[2])
    ):
        raise QueryError("invalid cursor")
    _, mark, values, resource_id = decoded
    if mark != fingerprint(query) or len(values) != len(effective_sorts(query)):
        raise QueryError(
            "the cursor belongs to a different query (filter, sorts or is_deleted changed); "
            "start again without a cursor"
        )
    return CursorPosition(tuple(values), resource_id)

"""Names and value rules shared by the SQL stores.

Nothing a user writes ever becomes SQL text: resource names are turned into validated table
names (a slug plus a hash), indexed paths into numbered columns (``ix_<n>``, ``p_<n>``), and every
value is a bound parameter. This module holds those mappings and the checks that keep values
inside what both databases store exactly.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from specstar.core import IndexedField
from specstar.core.spi import Kind

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "META_COLUMNS",
    "REV_COLUMNS",
    "IndexColumn",
    "MetaColumn",
    "float_int_problem",
    "ident",
    "index_value_problem",
    "rev_backfill",
    "revision_seq",
    "table_base",
    "text_problem",
    "to_utc",
]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: Integers in float fields must be exactly representable as a double to compare exactly.
FLOAT_EXACT_INT: Final = 2**53

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SLUG_STRIP = re.compile(r"[^a-z0-9]+")
_SEQ = re.compile(r"[1-9][0-9]{0,17}")
_MAX_RESOURCE_NAME = 200


def ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier, after checking it against a strict pattern.

    Raises:
        ValueError: the name is not lowercase ``[a-z_][a-z0-9_]*`` of at most 63 characters.
    """
    if not _IDENT.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid SQL identifier for SpecStar")
    return f'"{name}"'


def table_base(resource_name: str) -> str:
    """The table-name stem of a resource type: a readable slug and a hash of the exact name.

    Different names always give different stems (up to a 40-bit hash collision), whatever
    characters they hold; the stem is a valid identifier with room for suffixes within
    PostgreSQL's 63-character limit.

    Raises:
        ValueError: the name is empty, too long, or holds control characters or lone
            surrogates.
    """
    if (
        not isinstance(resource_name, str)
        or not resource_name
        or len(resource_name) > _MAX_RESOURCE_NAME
        or any(ord(c) < 32 or ord(c) == 127 for c in resource_name)
    ):
        raise ValueError(
            f"invalid resource name {resource_name!r}: use 1-{_MAX_RESOURCE_NAME} printable "
            "characters"
        )
    problem = text_problem(resource_name)
    if problem:
        raise ValueError(f"invalid resource name {resource_name!r}: {problem}")
    slug = _SLUG_STRIP.sub("_", resource_name.lower()).strip("_")[:24]
    digest = hashlib.sha256(resource_name.encode()).hexdigest()[:10]
    base = f"r_{slug}_{digest}" if slug else f"r_{digest}"
    ident(base)
    return base


def revision_seq(resource_id: str, revision_id: str) -> int | None:
    """The sequence number inside ``"{resource_id}:{seq}"``, or ``None`` when it is not one."""
    if not isinstance(revision_id, str) or not revision_id.startswith(resource_id + ":"):
        return None
    tail = revision_id[len(resource_id) + 1 :]
    return int(tail) if _SEQ.fullmatch(tail) else None


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime (naive values are taken as UTC, like the reference evaluator)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as SQL text (NUL characters, lone surrogates), or None."""
    if "\x00" in value:
        return "text with NUL characters cannot be stored"
    try:
        value.encode()
    except UnicodeEncodeError:
        return "text that is not valid Unicode (lone surrogates) cannot be stored"
    return None


def float_int_problem(value: int) -> str | None:
    """Why an ``int`` cannot be stored in a float field exactly, or None."""
    if -FLOAT_EXACT_INT <= value <= FLOAT_EXACT_INT:
        return None
    return f"integer {value} in a float field must be within ±2**53 to compare exactly"


def index_value_problem(kind: Kind, value: Any) -> str | None:
    """Why one (normalised, non-null) scalar of ``kind`` cannot be stored exactly, or None."""
    if kind == "str":
        return text_problem(value)
    if kind == "int" and not INT64_MIN <= value <= INT64_MAX:
        return f"integer {value} is outside the 64-bit range SQL stores hold"
    if kind == "float" and isinstance(value, int):
        return float_int_problem(value)
    return None


class IndexColumn(msgspec.Struct, frozen=True):
    """Where one indexed path lives in a meta table.

    Attributes:
        field: the indexed field (path, kind, list-ness, uniqueness).
        number: the column number allocated in the registry for (path, kind, list-ness).
    """

    field: IndexedField
    number: int

    @property
    def value(self) -> str:
        """Column holding the value (``NULL`` when null or missing)."""
        return f"ix_{self.number}"

    @property
    def presence(self) -> str:
        """Column telling whether the path is present in ``indexed_data`` (``exists``)."""
        return f"p_{self.number}"


class MetaColumn(msgspec.Struct, frozen=True):
    """A meta field as a column: its name, kind and whether it can be null."""

    name: str
    kind: Kind
    nullable: bool = False


#: Queryable meta fields (``query.ast.META_FIELDS``) and their columns.
META_COLUMNS: Final[dict[str, MetaColumn]] = {
    "resource_id": MetaColumn("resource_id", "str"),
    "current_revision_id": MetaColumn("current_revision_id", "str"),
    "schema_version": MetaColumn("schema_version", "str", nullable=True),
    "total_revision_count": MetaColumn("total_revision_count", "int"),
    "revision_seq": MetaColumn("revision_seq", "int"),
    "created_time": MetaColumn("created_time", "datetime"),
    "created_by": MetaColumn("created_by", "str"),
    "updated_time": MetaColumn("updated_time", "datetime"),
    "updated_by": MetaColumn("updated_by", "str"),
    "is_deleted": MetaColumn("is_deleted", "bool"),
    "rev_status": MetaColumn("rev_status", "str"),
    "rev_created_time": MetaColumn("rev_created_time", "datetime"),
    "rev_updated_time": MetaColumn("rev_updated_time", "datetime"),
}


#: The meta columns copied from the current revision, with the revision column each copies.
REV_COLUMNS: Final[dict[str, str]] = {
    "rev_status": "status",
    "rev_created_time": "created_time",
    "rev_updated_time": "updated_time",
}


def rev_backfill(meta: str, rev: str) -> str:
    """The statement that fills the ``rev_*`` columns of every meta row from its current
    revision (for tables created before those columns existed); ``meta`` and ``rev`` are the
    quoted table names."""
    sets = ", ".join(f"{name} = r.{column}" for name, column in REV_COLUMNS.items())
    return (
        f"UPDATE {meta} SET {sets} FROM {rev} r WHERE r.resource_id = {meta}.resource_id "
        f"AND {meta}.current_revision_id = r.resource_id || ':' || r.seq"
    )

"""Converting between table rows and the domain types (ResourceMeta, RevisionInfo)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from specstar.core import (
    FieldError,
    IndexedField,
    ResourceMeta,
    RevisionInfo,
    RevisionStatus,
    ValidationError,
)
from specstar.core.spi import Write, normalize_scalar

from ._backend import Backend
from ._layout import IndexColumn, index_value_problem, text_problem

__all__ = ["META_SELECT", "META_WIDTH", "REV_INFO_SELECT", "Rows", "check_texts", "qualified"]

META_SELECT = (
    "resource_id, current_revision_id, schema_version, total_revision_count, revision_seq, "
    "created_time, created_by, updated_time, updated_by, is_deleted, indexed_data, "
    "rev_status, rev_created_time, rev_updated_time"
)
REV_INFO_SELECT = (
    "resource_id, seq, parent_revision_id, schema_version, data_hash, status, "
    "created_time, created_by, updated_time, updated_by"
)

#: Columns of ``META_SELECT``: where a joined row's other columns begin.
META_WIDTH = len(META_SELECT.split(","))


@functools.cache
def qualified(columns: str, alias: str) -> str:
    """A column list (``META_SELECT``, ``REV_INFO_SELECT``) with each column qualified by
    ``alias``."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder()
_STATUS = {status.value: status for status in RevisionStatus}


def _same_or(
    decode: Callable[[Any], datetime], raw: Any, known_raw: Any, known: datetime
) -> datetime | None:
    """``raw`` decoded: ``None`` for ``NULL``, ``known`` when it is the same stored value as
    ``known_raw`` (which decoded to ``known``)."""
    if raw is None:
        return None
    return known if raw == known_raw else decode(raw)


class Rows:
    """Row conversions for one backend (its time, bool and bytes representations)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def meta(self, row: tuple[Any, ...]) -> ResourceMeta:
        """A ``META_SELECT`` row as a ResourceMeta."""
        time = self._backend.decode_time
        indexed = _DECODER.decode(self._backend.decode_blob(row[10]))
        created_raw, updated_raw, status = row[5], row[7], row[11]
        created, updated = time(created_raw), time(updated_raw)
        return ResourceMeta(
            resource_id=row[0],
            current_revision_id=row[1],
            schema_version=row[2],
            total_revision_count=int(row[3]),
            revision_seq=int(row[4]),
            created_time=created,
            created_by=row[6],
            updated_time=updated,
            updated_by=row[8],
            is_deleted=bool(row[9]),
            indexed_data=indexed,
            rev_status=None if status is None else _STATUS.get(status) or RevisionStatus(status),
            # the current revision's times are most often the resource's own: decoded once
            rev_created_time=_same_or(time, row[12], created_raw, created),
            rev_updated_time=_same_or(time, row[13], updated_raw, updated),
        )

    def meta_values(self, meta: ResourceMeta, indexed_blob: bytes | None = None) -> dict[str, Any]:
        """The base meta columns of a row (without the indexed columns).

        Args:
            meta: the meta record to store.
            indexed_blob: ``meta.indexed_data`` already encoded (by :meth:`normalize`), so
                that it is not encoded a second time; ``None`` encodes it here.
        """
        time = self._backend.encode_time
        if indexed_blob is None:
            indexed_blob = _ENCODER.encode(meta.indexed_data)
        return {
            "resource_id": meta.resource_id,
            "current_revision_id": meta.current_revision_id,
            "schema_version": meta.schema_version,
            "total_revision_count": meta.total_revision_count,
            "revision_seq": meta.revision_seq,
            "created_time": time(meta.created_time),
            "created_by": meta.created_by,
            "updated_time": time(meta.updated_time),
            "updated_by": meta.updated_by,
            "is_deleted": self._backend.dialect.encode("bool", meta.is_deleted),
            "indexed_data": indexed_blob,
            "rev_status": None if meta.rev_status is None else meta.rev_status.value,
            "rev_created_time": _time_or_none(time, meta.rev_created_time),
            "rev_updated_time": _time_or_none(time, meta.rev_updated_time),
        }

    def revision(self, row: tuple[Any, ...]) -> RevisionInfo:
        """A ``REV_INFO_SELECT`` row as a RevisionInfo."""
        time = self._backend.decode_time
        return RevisionInfo(
            resource_id=row[0],
            revision_id=f"{row[0]}:{row[1]}",
            parent_revision_id=row[2],
            schema_version=row[3],
            data_hash=row[4],
            status=RevisionStatus(row[5]),
            created_time=time(row[6]),
            created_by=row[7],
            updated_time=time(row[8]),
            updated_by=row[9],
        )

    def index_values(
        self, columns: Mapping[str, IndexColumn], data: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The ``ix_<n>``/``p_<n>`` column values for ``indexed_data``.

        Raises:
            ValidationError: a value does not fit its field's kind, or a SQL store cannot hold
                it exactly (see :func:`~._layout.index_value_problem`).
        """
        dialect = self._backend.dialect
        out: dict[str, Any] = {}
        for path, column in columns.items():
            f = column.field
            raw = data.get(path)
            out[column.presence] = dialect.encode("bool", path in data)
            if raw is None:
                out[column.value] = None
            elif f.is_list:
                if not isinstance(raw, list | tuple):
                    raise _invalid(path, f"a list of {f.kind} is expected, not {raw!r}")
                out[column.value] = dialect.encode_list(
                    f.kind, [None if v is None else _storable(f, v) for v in raw]
                )
            else:
                out[column.value] = dialect.encode(f.kind, _storable(f, raw))
        return out

    @staticmethod
    def normalize(indexed_data: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
        """``indexed_data`` exactly as it will read back (datetimes in UTC, lists as lists),
        and its encoding for the ``indexed_data`` column.

        The values are encoded once: the bytes returned are the ones the normalised dict is
        decoded from, and re-encoding that dict would give the same bytes (msgpack keeps the
        key order, and every value decodes to one that encodes as before).

        Raises:
            ValidationError: a value msgpack cannot hold (integers beyond 64 bits, ...).
        """
        data = {key: _aware(value) for key, value in indexed_data.items()}
        try:
            blob = _ENCODER.encode(data)
            out: dict[str, Any] = _DECODER.decode(blob)
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
            raise ValidationError(
                f"indexed data cannot be stored: {exc}", [FieldError("$", str(exc))]
            ) from None
        return out, blob


def _aware(value: Any) -> Any:
    """Naive datetimes (also inside lists) taken as UTC, as the reference evaluator does."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, list | tuple):
        return [_aware(v) for v in value]
    return value


def _invalid(path: str, message: str) -> ValidationError:
    loc = "/" + path.replace(".", "/")
    return ValidationError(f"indexed field {path}: {message}", [FieldError(loc, message)])


def _storable(field: IndexedField, value: Any) -> Any:
    """``value`` normalised to the field's kind, or ValidationError when a SQL store cannot
    hold it exactly."""
    try:
        out = normalize_scalar(field.kind, value)
    except (TypeError, OverflowError) as exc:
        raise _invalid(field.path, str(exc)) from None
    if out is None:
        return None
    problem = index_value_problem(field.kind, out)
    if problem:
        raise _invalid(field.path, problem)
    return out


def check_texts(write: Write) -> None:
    """Raise ValidationError when a text of the write cannot be stored (NUL, surrogates)."""
    texts: dict[str, Any] = {"resource_id": write.resource_id, "user": write.user}
    for name, part in (("append", write.append), ("rewrite", write.rewrite)):
        if part is not None:
            texts[f"{name}.schema_version"] = part.schema_version
    if write.adopt is not None:
        info = write.adopt.info
        texts.update(
            {
                "adopt.schema_version": info.schema_version,
                "adopt.parent_revision_id": info.parent_revision_id,
                "adopt.created_by": info.created_by,
                "adopt.updated_by": info.updated_by,
                "adopt.data_hash": info.data_hash,
            }
        )
    if isinstance(write.schema_version, str):
        texts["schema_version"] = write.schema_version
    for name, value in texts.items():
        problem = text_problem(value) if isinstance(value, str) else None
        if problem:
            raise ValidationError(f"{name}: {problem}", [FieldError(name, problem)])


def _time_or_none(encode: Callable[[datetime], Any], value: datetime | None) -> Any:
    return None if value is None else encode(value)

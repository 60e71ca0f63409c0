"""Binding between a model and its stored form: input coercion, encoding, hashing, indexing.

Each write encodes its data once (:meth:`Binding.encode`): one canonical JSON encoding is both
hashed and, with JSON storage, stored as it is; one builtins pass gives the indexed values,
which the write path reuses for the access-scope check of the result and the commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar, cast

import msgspec
from msgspec import UNSET, UnsetType

from .. import models
from ..codec import Codec, Encoding
from ..errors import FieldError, MigrationPathError, NotFoundError, ValidationError
from ..indexes import IndexSpec, extract_indexed
from ..ports import NewRevision, Storage, StoredRevision
from ..schema import Schema
from ..types import RevisionInfo, RevisionStatus

T = TypeVar("T")


class Encoded(NamedTuple):
    """The stored form of one piece of data, computed once per write.

    Attributes:
        data: the bytes to store.
        data_hash: ``"sha256:<hex>"`` of the canonical JSON.
        indexed: the values of the indexed fields.
    """

    data: bytes
    data_hash: str
    indexed: dict[str, Any]


class Binding(Generic[T]):
    """How the data of one model is read from input and storage and written to storage."""

    def __init__(
        self,
        model: type[T],
        *,
        encoding: Encoding,
        index_spec: IndexSpec,
        schema: Schema[T] | None,
        schema_version: str | None,
        default_status: RevisionStatus,
        allow_unknown_fields: bool = False,
        store_binaries: Callable[[Any], Any] | None = None,
    ) -> None:
        self.model = model
        #: Moves inline :class:`~specstar.core.binary.Binary` data to the blob store and
        #: checks file references (``None`` when the model has no Binary field).
        self.store_binaries = store_binaries
        self.codec: Codec[T] = Codec(model, encoding)
        self.index_spec = index_spec
        self.schema = schema
        self.schema_version = schema_version
        self.default_status = default_status
        self.allow_unknown_fields = allow_unknown_fields

    # == input ==================================================================================

    def coerce(self, data: Any) -> T:
        """``data`` (a model instance, a mapping, or a Pydantic instance) as the model.

        A member of a mapping that the model (or a nested Struct) does not declare is an
        error unless the model allows unknown fields. Inline ``Binary`` data goes to the blob
        store here, and file references are checked.

        Raises:
            ValidationError: it does not fit the model.
        """
        obj = models.decode_data(
            cast(Any, self.model), data, forbid_unknown=not self.allow_unknown_fields
        )
        if self.store_binaries is not None:
            obj = self.store_binaries(obj)
        return cast(T, obj)

    def patched(self, current: T, apply: Callable[[Any], Any]) -> T:
        """The model data ``apply`` makes of the JSON form of ``current``."""
        return self.coerce(apply(msgspec.to_builtins(current)))

    # == output =================================================================================

    def builtins(self, data: T) -> dict[str, Any]:
        """The builtins form (datetimes kept; sets and mappings in canonical order)."""
        out: dict[str, Any] = msgspec.to_builtins(data, builtin_types=(datetime,), order="sorted")
        return out

    def indexed(self, data: T) -> dict[str, Any]:
        """The values of the indexed fields of ``data``."""
        return extract_indexed(self.builtins(data), self.index_spec)

    def encode(self, data: T) -> Encoded:
        """The stored bytes, the content hash and the indexed values, each computed once.

        Raises:
            ValidationError: the data holds text that is not valid Unicode.
        """
        try:
            canonical = models.canonical_json(data)
        except UnicodeEncodeError as exc:
            raise ValidationError(
                "text must be valid Unicode: unpaired surrogate characters cannot be stored",
                [FieldError("", f"unpaired surrogate {exc.object[exc.start : exc.end]!r}")],
            ) from None
        digest = "sha256:" + hashlib.sha256(canonical).hexdigest()
        stored = canonical if self.codec.encoding == "json" else self.codec.encode(data)
        return Encoded(stored, digest, self.indexed(data))

    def new_revision(self, encoded: Encoded, status: RevisionStatus | None) -> NewRevision:
        """The revision to append for ``encoded`` data (the default status when ``None``)."""
        return NewRevision(
            data=encoded.data,
            data_hash=encoded.data_hash,
            schema_version=self.schema_version,
            status=self.status(status),
        )

    def status(self, status: RevisionStatus | None) -> RevisionStatus:
        """``status``, or the default status of new revisions."""
        return RevisionStatus(status) if status is not None else self.default_status

    # == storage reads ==========================================================================

    def load(
        self,
        storage: Storage,
        rid: str,
        revision_id: str,
        schema_version: str | UnsetType | None = UNSET,
    ) -> tuple[RevisionInfo, T]:
        """A revision and its data, migrated lazily to the current schema version.

        Raises:
            NotFoundError: the revision does not exist.
        """
        stored = storage.get_revision(rid, revision_id)
        if stored is None:
            raise missing_revision(rid, revision_id)
        return self.decode(stored, schema_version)

    def decode(
        self, stored: StoredRevision, schema_version: str | UnsetType | None = UNSET
    ) -> tuple[RevisionInfo, T]:
        """A stored revision's information and data, migrated lazily to the current schema
        version.

        Args:
            schema_version: the version to read the data as, instead of the one the revision
                records (``UNSET``); ``None`` is data written before versioning.

        Raises:
            MigrationPathError: no migration leads from that version to the current one.
        """
        info = stored.info
        source = info.schema_version if isinstance(schema_version, UnsetType) else schema_version
        if self.schema is not None and source != self.schema_version:
            return info, self.schema.migrate(stored.data, source)
        explicit = not isinstance(schema_version, UnsetType)
        if self.schema is None and explicit and schema_version != self.schema_version:
            target = str(self.schema_version)  # no Schema: nothing could migrate it
            raise MigrationPathError(source, target, [self.schema_version])
        return info, self.codec.decode(stored.data)

    def info(self, storage: Storage, rid: str, revision_id: str) -> RevisionInfo:
        """The information of one revision.

        Raises:
            NotFoundError: the revision does not exist.
        """
        info = storage.get_revision_info(rid, revision_id)
        if info is None:
            raise missing_revision(rid, revision_id)
        return info


def missing_revision(rid: str, revision_id: str) -> NotFoundError:
    """The error of a read naming a revision that does not exist."""
    return NotFoundError(
        f"revision {revision_id!r} of {rid!r} does not exist",
        resource_id=rid,
        revision_id=revision_id,
    )

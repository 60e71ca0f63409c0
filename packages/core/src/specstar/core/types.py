"""Domain value types: metadata, revision information and resources.

All of them are immutable ``msgspec.Struct`` values, so they encode to JSON/msgpack directly and
can be shared between threads without copying.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

T = TypeVar("T")

__all__ = [
    "UNSET",
    "Page",
    "Resource",
    "ResourceMeta",
    "RevisionInfo",
    "RevisionStatus",
    "SearchedResource",
    "UnsetType",
]


class RevisionStatus(enum.StrEnum):
    """Lifecycle of a revision: a ``draft`` may be modified in place, a ``stable`` one never."""

    draft = "draft"
    stable = "stable"


class RevisionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Everything about one revision except its data.

    Attributes:
        resource_id: the resource the revision belongs to.
        revision_id: unique id, ``"{resource_id}:{seq}"``; ``seq`` counts from 1 per resource.
        parent_revision_id: the revision that was current when this one was written.
        schema_version: version of the model schema the data was written with.
        data_hash: ``sha256:<hex>`` of the canonical JSON encoding of the data.
        status: ``draft`` or ``stable``.
    """

    resource_id: str
    revision_id: str
    parent_revision_id: str | None
    schema_version: str | None
    data_hash: str
    status: RevisionStatus
    created_time: datetime
    created_by: str
    updated_time: datetime
    updated_by: str


class ResourceMeta(msgspec.Struct, frozen=True, kw_only=True):
    """The one mutable record of a resource: its pointer to the current revision and search data.

    Attributes:
        current_revision_id: always names an existing revision of the resource.
        total_revision_count: number of revisions stored now (pruning lowers it).
        revision_seq: the highest revision sequence number ever allocated (never reused).
        indexed_data: values of the declared indexed fields, taken from the current revision.
            A path that does not resolve in the data is absent from the mapping.
        rev_status: the status of the current revision (``None`` only on rows that no store
            wrote, such as the hypothetical rows an access check evaluates).
        rev_created_time: the created time of the current revision.
        rev_updated_time: the updated time of the current revision (a draft modified in place
            moves it).
    """

    resource_id: str
    current_revision_id: str
    schema_version: str | None
    total_revision_count: int
    revision_seq: int
    created_time: datetime
    created_by: str
    updated_time: datetime
    updated_by: str
    is_deleted: bool = False
    indexed_data: dict[str, Any] = msgspec.field(default_factory=dict)
    rev_status: RevisionStatus | None = None
    rev_created_time: datetime | None = None
    rev_updated_time: datetime | None = None


class Resource(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One revision of a resource: its information and its decoded data."""

    info: RevisionInfo
    data: T


class SearchedResource(msgspec.Struct, Generic[T], frozen=True, kw_only=True, omit_defaults=True):
    """One item of a listing; parts not asked for (``returns``) are ``UNSET``.

    ``data`` is the model instance, or a ``dict`` holding only the requested ``partial`` paths.
    """

    data: T | dict[str, Any] | UnsetType = UNSET
    info: RevisionInfo | UnsetType = UNSET
    meta: ResourceMeta | UnsetType = UNSET


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """A page of results with the cursor that continues after it.

    Attributes:
        items: the rows of this page, in query order.
        next_cursor: pass as ``Query.cursor`` to get the following page; ``None`` when
            ``has_more`` is false.
        has_more: whether at least one more row follows this page.
    """

    items: list[T]
    next_cursor: str | None = None
    has_more: bool = False

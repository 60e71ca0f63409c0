"""What a load reports, and what it does with duplicates."""

from __future__ import annotations

import enum

import msgspec

__all__ = ["LoadFailure", "LoadStats", "OnDuplicate"]


class OnDuplicate(enum.StrEnum):
    """What a load does with a resource whose id exists in the target already."""

    #: Replace the existing resource, with its whole history, by the archived one.
    overwrite = "overwrite"
    #: Keep the existing resource; the archived one counts as skipped.
    skip = "skip"
    #: Stop the load with :class:`~specstar.core.errors.DuplicateResourceError`.
    raise_error = "raise_error"


class LoadFailure(msgspec.Struct, frozen=True, kw_only=True):
    """A record the load refused: which, and why."""

    model: str
    resource_id: str
    reason: str


class LoadStats(msgspec.Struct, kw_only=True):
    """What a load did for one model.

    Attributes:
        loaded: resources stored (created or overwritten).
        skipped: resources left alone because they existed (``on_duplicate="skip"``).
        failed: resources refused (see ``failures``).
        total: resources in the archive for this model.
        blobs: blobs the archive held for this model (stored, or present already).
        failures: each refused resource (or blob) with the reason.
    """

    loaded: int = 0
    skipped: int = 0
    failed: int = 0
    total: int = 0
    blobs: int = 0
    failures: list[LoadFailure] = msgspec.field(default_factory=list)

"""Conflicts that name other resources, reduced to the resources the acting user may see.

Integrity checks run without permission checks (they must see every row): a unique value is
taken by *some* resource, a delete is blocked by *every* live referrer. The refusal itself
is unavoidable, but the ids in it are data. A problem document names a resource only when
the user could read it anyway (its manager's ``exists`` as that user).
"""

from __future__ import annotations

from typing import Any

from msgspec import UnsetType

from specstar.core import (
    ReferenceRestrictedError,
    ResourceManager,
    SpecStarError,
    UniqueConstraintError,
)

__all__ = ["HiddenUniqueConstraintError", "RedactedReferenceError", "redact_conflict", "visible"]


def visible(manager: ResourceManager[Any], resource_id: str, user: str | UnsetType) -> bool:
    """Whether ``user`` may see the resource (soft-deleted ones included)."""
    try:
        return manager.exists(resource_id, include_deleted=True, user=user)
    except SpecStarError:  # denied outright, or anything else: treat as hidden
        return False


class HiddenUniqueConstraintError(UniqueConstraintError):
    """A unique value is taken by a resource the user may not see: the id is not named."""

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(field, value, None)
        self.message = f"{field}={value!r} is already used by another resource"
        self.args = (self.message,)


class RedactedReferenceError(ReferenceRestrictedError):
    """A delete blocked by referrers, listing only those the user may see."""

    def __init__(
        self, target: str, resource_id: str, shown: list[tuple[str, str, str]], hidden: int
    ) -> None:
        super().__init__(target, resource_id, shown)
        if hidden:
            named = ", ".join(f"{name} {rid} ({path})" for name, path, rid in shown[:5])
            if len(shown) > 5:
                named += f" and {len(shown) - 5} more"
            others = "resources you cannot see"
            by = f"{named} and by {others}" if named else others
            self.message = (
                f"{target} {resource_id!r} is still referenced by {by}; "
                "delete or change those first"
            )
            self.args = (self.message,)


def redact_conflict(
    manager: ResourceManager[Any], exc: SpecStarError, user: str | UnsetType
) -> SpecStarError:
    """``exc`` as ``user`` may see it (blocking: it may read the referring models)."""
    if isinstance(exc, UniqueConstraintError) and exc.conflicting_resource_id is not None:
        if not visible(manager, exc.conflicting_resource_id, user):
            return HiddenUniqueConstraintError(exc.field, exc.value)
        return exc
    if isinstance(exc, ReferenceRestrictedError) and not isinstance(exc, RedactedReferenceError):
        registry = manager.registry
        shown: list[tuple[str, str, str]] = []
        for name, path, rid in exc.referrers:
            if registry is not None and name in registry and visible(registry.get(name), rid, user):
                shown.append((name, path, rid))
        if len(shown) == len(exc.referrers):
            return exc
        hidden = len(exc.referrers) - len(shown)
        return RedactedReferenceError(exc.target, exc.resource_id, shown, hidden)
    return exc

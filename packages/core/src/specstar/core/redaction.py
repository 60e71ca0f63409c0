"""Conflicts that name other resources, reduced to the resources the acting user may see.

Integrity checks run without permission checks (they must see every row): a unique value is
taken by *some* resource, a delete is blocked by *every* live referrer. The refusal itself is
unavoidable, but the ids in it are data. :func:`redact_conflict` turns such an error into the
one the acting user may be shown: it names a resource only when that user could read it
anyway (its manager's ``exists`` as that user, soft-deleted resources included).

Example::

    try:
        gizmos.create(Gizmo(serial="S-1"), user="ann")
    except UniqueConstraintError as exc:
        raise redact_conflict(gizmos, exc, "ann") from exc
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET, UnsetType

from .errors import (
    HiddenUniqueConstraintError,
    RedactedReferenceError,
    ReferenceRestrictedError,
    SpecStarError,
    UniqueConstraintError,
)
from .manager import ResourceManager

__all__ = ["HiddenUniqueConstraintError", "RedactedReferenceError", "is_visible", "redact_conflict"]


def is_visible(
    manager: ResourceManager[Any], resource_id: str, user: str | UnsetType = UNSET
) -> bool:
    """Whether ``user`` may see a resource of ``manager`` (soft-deleted ones included).

    Args:
        manager: the manager of the resource's model.
        resource_id: the resource.
        user: the acting user (``UNSET``: the manager's default user).

    Returns:
        ``True`` when the user's ``exists`` finds it; ``False`` when it is missing, outside
        the user's access scope, or the user may not ask at all.
    """
    try:
        return manager.exists(resource_id, include_deleted=True, user=user)
    except SpecStarError:  # denied outright, or anything else: treat as hidden
        return False


def redact_conflict(
    manager: ResourceManager[Any], exc: SpecStarError, user: str | UnsetType = UNSET
) -> SpecStarError:
    """``exc`` as ``user`` may see it.

    A :class:`UniqueConstraintError` whose holder the user cannot see becomes a
    :class:`HiddenUniqueConstraintError`; a :class:`ReferenceRestrictedError` with referrers
    the user cannot see becomes a :class:`RedactedReferenceError` (referrers are looked up in
    ``manager.registry``, each with its own model's permissions). Any other error, and a
    conflict that names only visible resources, is returned unchanged.

    Args:
        manager: the manager whose operation raised ``exc``.
        exc: the error raised.
        user: the acting user (``UNSET``: the manager's default user).

    Returns:
        The error to show the user (``exc`` itself when nothing needs hiding). Blocking: it
        may read the referring models.
    """
    if isinstance(exc, UniqueConstraintError) and exc.conflicting_resource_id is not None:
        if not is_visible(manager, exc.conflicting_resource_id, user):
            return HiddenUniqueConstraintError(exc.field, exc.value)
        return exc
    if isinstance(exc, ReferenceRestrictedError) and not isinstance(exc, RedactedReferenceError):
        registry = manager.registry
        shown = [
            (name, path, rid)
            for name, path, rid in exc.referrers
            if registry is not None
            and name in registry
            and is_visible(registry.get(name), rid, user)
        ]
        if len(shown) == len(exc.referrers):
            return exc
        hidden = len(exc.referrers) - len(shown)
        return RedactedReferenceError(exc.target, exc.resource_id, shown, hidden)
    return exc

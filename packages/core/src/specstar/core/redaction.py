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

from .errors import SpecStarError, UniqueConstraintError
from .manager import ResourceManager
from .refs import ReferenceRestrictedError

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


class HiddenUniqueConstraintError(UniqueConstraintError):
    """A unique value is taken by a resource the user may not see: the id is not named.

    ``conflicting_resource_id`` is ``None``; ``field`` and ``value`` (the user's own input)
    are kept.
    """

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(field, value, None)
        self.message = f"{field}={value!r} is already used by another resource"
        self.args = (self.message,)


class RedactedReferenceError(ReferenceRestrictedError):
    """A delete blocked by referrers, listing only those the user may see.

    ``referrers`` holds the visible ``(resource name, field path, resource id)`` triples; the
    message says that resources the user cannot see refer to the target too, without
    naming or counting them.
    """

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

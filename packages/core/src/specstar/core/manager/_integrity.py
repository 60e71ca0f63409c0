"""Referential integrity on delete: ``restrict`` before it, ``cascade``/``set_null`` after it,
and the cascade undone by ``restore(cascade=True)``.

Other managers are reached through :class:`~specstar.core.refs.ReferenceSource` only: their
referrer scan, their ``set_null`` write, their cascading delete and restore.

The acting user's permission covers the target alone (its delete or restore is authorized as
usual). What integrity then does to referrers is a system step: it reaches every referrer,
whether or not that user may see it — otherwise a scoped user's delete would leave other
users' references dangling.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ..errors import GoneError, NotFoundError, ReferenceRestrictedError
from ..pipeline import OperationContext
from ..refs import OnDelete, ReferenceSource, RefField, Registry
from ..types import ResourceMeta

log = logging.getLogger("specstar.refs")


def guard_delete(
    registry: Registry[Any] | None, me: ReferenceSource, ctx: OperationContext, *, permanent: bool
) -> None:
    """Refuse the delete while ``restrict`` references to the resource exist.

    A soft delete counts live referrers; a permanent delete counts soft-deleted ones too (they
    could be restored and would then dangle).
    """
    if registry is None or ctx.resource_id is None:
        return
    blocking: list[tuple[str, str, str]] = []
    for source, ref in _refs_to(registry, me.name):
        if ref.on_delete is not OnDelete.restrict:
            continue
        for meta in source.referrer_metas(ref, ctx.resource_id, include_deleted=permanent):
            if meta.resource_id != ctx.resource_id or source.name != me.name:
                blocking.append((source.name, ref.path, meta.resource_id))
    if blocking:
        raise ReferenceRestrictedError(me.name, ctx.resource_id, blocking)


def apply_on_delete(
    registry: Registry[Any] | None, me: ReferenceSource, ctx: OperationContext, *, permanent: bool
) -> None:
    """Run ``cascade`` and ``set_null`` on the referrers of a resource that was just deleted.

    Each change goes through the referrer's own manager (its validators, events and
    history) as a system step recorded as the user who deleted the target: no permission
    check, every referrer. All ``set_null`` fields of one referrer change in one new
    revision.
    """
    target_id = ctx.resource_id
    if registry is None or target_id is None:
        return
    nulls: dict[tuple[str, str], tuple[ReferenceSource, list[RefField]]] = {}
    for source, ref in _refs_to(registry, me.name):
        if ref.on_delete is OnDelete.cascade:
            for meta in list(source.referrer_metas(ref, target_id, include_deleted=permanent)):
                if source.name == me.name and meta.resource_id == target_id:
                    continue
                cascade = partial(_cascade, source, meta, ctx, permanent)
                _quietly(source, meta.resource_id, ref, cascade)
        elif ref.on_delete is OnDelete.set_null:
            for meta in source.referrer_metas(ref, target_id, include_deleted=False):
                nulls.setdefault((source.name, meta.resource_id), (source, []))[1].append(ref)
    for (_, rid), (source, refs) in nulls.items():
        set_null = partial(source.apply_set_null, rid, refs, target_id, user=ctx.user, now=ctx.now)
        _quietly(source, rid, refs[0], set_null)


def restore_cascaded(
    registry: Registry[Any] | None,
    me: ReferenceSource,
    ctx: OperationContext,
    deleted: ResourceMeta,
) -> None:
    """Restore the referrers that the delete of ``deleted`` (its meta while deleted) cascaded
    to, recursively, through their own managers as a system step recorded as the user of
    ``ctx`` (every referrer the cascade reached, whoever may see it).

    A cascade deletes referrers with the user and the time of the target's delete, so those
    are the soft-deleted referrers (through a ``cascade`` reference) whose ``updated_by`` and
    ``updated_time`` equal the target's: writes on a deleted resource are refused, so both
    stay as the delete left them. A referrer deleted on its own before has another time.
    """
    target_id = deleted.resource_id
    if registry is None:
        return
    for source, ref in _refs_to(registry, me.name):
        if ref.on_delete is not OnDelete.cascade:
            continue
        for meta in list(source.referrer_metas(ref, target_id, include_deleted=True)):
            if source.name == me.name and meta.resource_id == target_id:
                continue
            if not (meta.is_deleted and cascaded_by(meta, deleted)):
                continue
            restore = partial(source.cascade_restore, meta.resource_id, user=ctx.user, now=ctx.now)
            _quietly(source, meta.resource_id, ref, restore)


def cascaded_by(referrer: ResourceMeta, deleted: ResourceMeta) -> bool:
    """Whether the soft-deleted ``referrer`` went with the delete that left ``deleted``."""
    return (
        referrer.updated_time == deleted.updated_time and referrer.updated_by == deleted.updated_by
    )


def without(doc: dict[str, Any], refs: Sequence[RefField], target_id: str) -> dict[str, Any]:
    """``doc`` (a builtins document) with none of ``refs`` naming ``target_id`` any more
    (changed in place): single references become ``None``, lists lose the id."""
    for ref in refs:
        parts = ref.path.split(".")
        parent: Any = doc
        for part in parts[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        leaf = parts[-1]
        value = parent.get(leaf)
        if ref.is_list and isinstance(value, list):
            parent[leaf] = [v for v in value if v != target_id]
        elif value == target_id:
            parent[leaf] = None
    return doc


def _refs_to(registry: Registry[Any], target: str) -> list[tuple[ReferenceSource, RefField]]:
    found: list[tuple[ReferenceSource, RefField]] = registry.refs_to(target)
    return found


def _cascade(
    source: ReferenceSource, meta: ResourceMeta, ctx: OperationContext, permanent: bool
) -> None:
    if permanent or not meta.is_deleted:
        source.cascade_delete(meta.resource_id, permanent=permanent, user=ctx.user, now=ctx.now)


def _quietly(source: ReferenceSource, rid: str, ref: RefField, action: Callable[[], Any]) -> None:
    """Run one integrity change; a referrer that vanished meanwhile needs nothing."""
    try:
        action()
    except (NotFoundError, GoneError):
        log.info("%s %s vanished while applying %s", source.name, rid, ref.on_delete)

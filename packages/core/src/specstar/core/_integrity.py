"""Referential integrity on delete: ``restrict`` before it, ``cascade``/``set_null`` after it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from .errors import GoneError, NotFoundError
from .pipeline import OperationContext
from .refs import OnDelete, ReferenceRestrictedError, RefField

if TYPE_CHECKING:
    from ._manager_core import ManagerCore

log = logging.getLogger("specstar.refs")


def guard_delete(manager: ManagerCore[Any], ctx: OperationContext, *, permanent: bool) -> None:
    """Refuse the delete while ``restrict`` references to the resource exist.

    A soft delete counts live referrers; a permanent delete counts soft-deleted ones too (they
    could be restored and would then dangle).
    """
    registry = manager.registry
    if registry is None or ctx.resource_id is None:
        return
    blocking: list[tuple[str, str, str]] = []
    for source, ref in registry.refs_to(manager.name):
        if ref.on_delete is not OnDelete.restrict:
            continue
        for meta in source._referrer_metas(ref, ctx.resource_id, include_deleted=permanent):
            if meta.resource_id != ctx.resource_id or source is not manager:
                blocking.append((source.name, ref.path, meta.resource_id))
    if blocking:
        raise ReferenceRestrictedError(manager.name, ctx.resource_id, blocking)


def _without(doc: dict[str, Any], refs: list[RefField], target_id: str) -> dict[str, Any]:
    """``doc`` with every one of ``refs`` no longer naming ``target_id`` (changed in place)."""
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


def _nulling(source: Any, refs: list[RefField], target_id: str) -> Callable[[Any], Any]:
    def make(data: Any) -> Any:
        return source._coerce(_without(msgspec.to_builtins(data), refs, target_id))

    return make


def apply_on_delete(manager: ManagerCore[Any], ctx: OperationContext, *, permanent: bool) -> None:
    """Run ``cascade`` and ``set_null`` on the referrers of a resource that was just deleted.

    Each change goes through the referrer's own manager (its pipeline, events and history),
    as the user who deleted the target. All ``set_null`` fields of one referrer change in one
    new revision.
    """
    registry = manager.registry
    target_id = ctx.resource_id
    if registry is None or target_id is None:
        return
    nulls: dict[tuple[str, str], tuple[Any, list[RefField]]] = {}
    for source, ref in registry.refs_to(manager.name):
        if ref.on_delete is OnDelete.cascade:
            for meta in list(source._referrer_metas(ref, target_id, include_deleted=permanent)):
                if source is manager and meta.resource_id == target_id:
                    continue
                _quietly(
                    source, meta.resource_id, ref, partial(_cascade, source, meta, ctx, permanent)
                )
        elif ref.on_delete is OnDelete.set_null:
            for meta in source._referrer_metas(ref, target_id, include_deleted=False):
                nulls.setdefault((source.name, meta.resource_id), (source, []))[1].append(ref)
    for (_, rid), (source, refs) in nulls.items():
        _quietly(source, rid, refs[0], partial(_set_null, source, rid, refs, target_id, ctx))


def _set_null(
    source: Any, rid: str, refs: list[RefField], target_id: str, ctx: OperationContext
) -> None:
    source._append(
        "set_null",
        rid,
        _nulling(source, refs, target_id),
        expected_revision_id=None,
        status=None,
        user=ctx.user,
        now=ctx.now,
        inputs={"fields": [ref.path for ref in refs], "target_id": target_id},
    )


def _cascade(source: Any, meta: Any, ctx: OperationContext, permanent: bool) -> None:
    if permanent:
        source.permanently_delete(meta.resource_id, user=ctx.user, now=ctx.now)
    elif not meta.is_deleted:
        source.delete(meta.resource_id, user=ctx.user, now=ctx.now)


def _quietly(source: Any, rid: str, ref: RefField, action: Callable[[], Any]) -> None:
    """Run one integrity change; a referrer that vanished meanwhile needs nothing."""
    try:
        action()
    except (NotFoundError, GoneError):
        log.info("%s %s vanished while applying %s", source.name, rid, ref.on_delete)

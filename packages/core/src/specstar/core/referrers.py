"""Who refers to a resource, as the acting user may see it, and the graph of ``Ref`` fields.

:meth:`Registry.referrers <specstar.core.refs.Registry.referrers>` serves integrity checks
and sees every row; :func:`find_referrers` is its permission-aware counterpart for users: each
referring model is counted and searched as the user, with its own checker and access scope.
:func:`relationships` describes the models (never their data).

Example::

    page, total = find_referrers(teams, team_id, user="ann", limit=20)
    for r in page:
        print(r.resource, r.field, r.resource_id)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from .errors import PermissionDeniedError, QueryError
from .manager import ResourceManager
from .query import Field, Query, Sort
from .refs import OnDelete, RefType, Registry

__all__ = ["Referrer", "Relationship", "find_referrers", "relationships"]

_BY_ID = (Sort(Field("resource_id", meta=True)),)


class Referrer(msgspec.Struct, kw_only=True):
    """A resource whose reference field names the resource asked about.

    Attributes:
        resource: the referring model's resource name.
        field: the reference field (dotted path) in that model.
        resource_id: the referring resource.
    """

    resource: str
    field: str
    resource_id: str


class Relationship(msgspec.Struct, kw_only=True):
    """One ``Ref`` field: an edge of the graph of references between models.

    Attributes:
        source: the referring model's resource name.
        field: the reference field (dotted path) in that model.
        target: the resource name referred to.
        on_delete: what deleting a target does to its referrers.
        ref_type: whether the field holds resource ids or (pinned) revision ids.
        is_list: the field holds a list of ids.
        nullable: the field accepts ``null``.
    """

    source: str
    field: str
    target: str
    on_delete: OnDelete
    ref_type: RefType
    is_list: bool
    nullable: bool


def find_referrers(
    manager: ResourceManager[Any],
    resource_id: str,
    *,
    user: str | UnsetType = UNSET,
    include_deleted: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Referrer], int]:
    """One page of the resources referring to ``resource_id`` that ``user`` may see.

    The target is read first, as ``user`` (the ``get`` permission of its model). Each
    referring model (through ``manager.registry``) is then counted and searched as ``user``,
    so its checker and access scope apply: rows the user may not see are neither listed nor
    counted, and a model the user may not search at all contributes nothing. Referrers are
    ordered by model (registration order), field, then id.

    Args:
        manager: the manager of the target's model.
        resource_id: the target.
        user: the acting user (``UNSET``: the manager's default user).
        include_deleted: read a soft-deleted target, and list soft-deleted referrers too.
        offset: visible referrers to skip.
        limit: page size, ``1`` to ``manager.max_limit``.

    Returns:
        The page and the number of visible referrers in all.

    Raises:
        QueryError: ``offset`` below 0, or ``limit`` outside ``1..manager.max_limit``.
        PermissionDeniedError: ``user`` may not ``get`` the target's model.
        NotFoundError: no such target, or it lies outside the user's scope.
        GoneError: the target is soft-deleted (without ``include_deleted``).
    """
    if offset < 0:
        raise QueryError(f"offset must be >= 0, got {offset}")
    if not 1 <= limit <= manager.max_limit:
        raise QueryError(f"limit must be 1..{manager.max_limit}, got {limit}")
    manager.get(resource_id, include_deleted=include_deleted, user=user)
    registry = manager.registry
    sources = registry.refs_to(manager.name) if registry is not None else []
    deleted = None if include_deleted else False
    items: list[Referrer] = []
    total = 0
    for source, source_ref in sources:
        base = Query(where=source_ref.names(resource_id), is_deleted=deleted)
        try:
            count = source.count(base, user=user)
        except PermissionDeniedError:
            continue  # no row of that model is visible to the user
        before, total = total, total + count
        skip = max(0, offset - before)
        while len(items) < limit and skip < count:
            size = min(limit - len(items), source.max_limit)
            query = base.replace(sorts=_BY_ID, offset=skip, limit=size)
            try:
                page = source.search_page(query, user=user)
            except PermissionDeniedError:
                break
            items.extend(
                Referrer(resource=source.name, field=source_ref.path, resource_id=m.resource_id)
                for m in page.items
            )
            if not page.items:
                break
            skip += len(page.items)
    return items, total


def relationships(
    managers: Mapping[str, ResourceManager[Any]] | Registry[ResourceManager[Any]],
) -> list[Relationship]:
    """Every ``Ref`` field of the given models, in their order and field order.

    Args:
        managers: managers by resource name, or a :class:`~specstar.core.refs.Registry`
            (keyed by each manager's ``name``).

    Returns:
        One :class:`Relationship` per reference field; no permission is asked (it describes
        the models, not their data).
    """
    named = {m.name: m for m in managers} if isinstance(managers, Registry) else managers
    return [
        Relationship(
            source=name,
            field=r.path,
            target=r.target,
            on_delete=r.on_delete,
            ref_type=r.ref_type,
            is_list=r.is_list,
            nullable=r.nullable,
        )
        for name, manager in named.items()
        for r in manager.refs
    ]

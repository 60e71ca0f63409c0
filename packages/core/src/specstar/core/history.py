"""A resource's revisions, selected: order, creation-time bounds, a starting revision, and
only the chain that leads to the current revision.

Revisions are a resource's history: a handful to a few thousand, all read in one storage call
(:meth:`ResourceManager.list_revision_infos_with_total`, authorized as ``list_revisions``),
then selected here; the same code serves every storage.

Example::

    page, total = select_revisions(
        docs, doc_id, RevisionSelection(descending=True, chain_only=True), limit=10
    )
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from .errors import QueryError
from .manager import ResourceManager
from .types import RevisionInfo

__all__ = ["RevisionSelection", "select_revisions"]


class RevisionSelection(msgspec.Struct, frozen=True, kw_only=True):
    """Which revisions of one resource, in which order.

    Attributes:
        descending: newest first (default: oldest first). Revisions are ordered by their
            sequence number, which is their creation order.
        created_time_start: only revisions created at or after this time.
        created_time_end: only revisions created before this time (``[start, end)``, as the
            time bounds of searches). A time without a zone is UTC.
        from_revision_id: start at this revision (included), in the chosen order.
        chain_only: only the current revision and its ancestors (``parent_revision_id``
            links), leaving out revisions that a switch left behind.
    """

    descending: bool = False
    created_time_start: datetime | None = None
    created_time_end: datetime | None = None
    from_revision_id: str | None = None
    chain_only: bool = False

    @property
    def is_default(self) -> bool:
        """Whether this selects every revision, oldest first."""
        return self == RevisionSelection()


def _seq(info: RevisionInfo) -> int:
    return int(info.revision_id.rpartition(":")[2])


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is UTC, as in queries."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _chain(infos: list[RevisionInfo], current: str) -> set[str]:
    parents = {i.revision_id: i.parent_revision_id for i in infos}
    chain: set[str] = set()
    at: str | None = current
    while at is not None and at in parents and at not in chain:
        chain.add(at)
        at = parents[at]
    return chain


def select_revisions(
    manager: ResourceManager[Any],
    resource_id: str,
    selection: RevisionSelection,
    *,
    offset: int = 0,
    limit: int | None = None,
    user: str | UnsetType = UNSET,
) -> tuple[list[RevisionInfo], int]:
    """The page ``[offset, offset + limit)`` of the revisions ``selection`` picks, and how
    many it picks in all (soft-deleted resources included, as their history stays).

    Raises:
        QueryError: ``from_revision_id`` is not a revision of the resource, or a bad page.
        NotFoundError, PermissionDeniedError: as ``list_revision_infos``.
    """
    if offset < 0 or (limit is not None and limit < 1):
        raise QueryError("offset must be >= 0 and limit >= 1")
    infos, _total = manager.list_revision_infos_with_total(resource_id, user=user)
    infos = sorted(infos, key=_seq, reverse=selection.descending)
    if selection.chain_only:
        meta = manager.get_meta(resource_id, include_deleted=True, user=user)
        chain = _chain(infos, meta.current_revision_id)
        infos = [i for i in infos if i.revision_id in chain]
    if selection.from_revision_id is not None:
        ids = [i.revision_id for i in infos]
        if selection.from_revision_id not in ids:
            raise QueryError(
                f"from_revision_id {selection.from_revision_id!r} is not one of the selected "
                f"revisions of {resource_id!r}",
                path="from_revision_id",
            )
        infos = infos[ids.index(selection.from_revision_id) :]
    start, end = _aware(selection.created_time_start), _aware(selection.created_time_end)
    if start is not None:
        infos = [i for i in infos if i.created_time >= start]
    if end is not None:
        infos = [i for i in infos if i.created_time < end]
    page = infos[offset:] if limit is None else infos[offset : offset + limit]
    return page, len(infos)

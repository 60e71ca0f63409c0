"""Read operations of the ResourceManager."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from . import jsonpointer
from ._manager_core import ManagerCore
from .errors import (
    QueryError,
)
from .types import (
    Resource,
    ResourceMeta,
    RevisionInfo,
)

T = TypeVar("T")


class ReadOps(ManagerCore[T]):
    """get, get_partial, get_meta, revision information, existence checks."""

    # == reads ==================================================================================

    def get(
        self,
        resource_id: str,
        *,
        revision_id: str | None = None,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> Resource[T]:
        """The current revision (or ``revision_id``) with its data.

        Raises:
            NotFoundError: no such resource or revision. GoneError: soft-deleted.
        """
        ctx = self._context("get", user, UNSET, write=False, resource_id=resource_id)
        meta = self._meta(ctx, include_deleted=include_deleted)
        info, data = self._load(resource_id, revision_id or meta.current_revision_id)
        return Resource(info=info, data=data)

    get_resource_revision = get

    def get_partial(
        self,
        resource_id: str,
        partial: Iterable[str],
        *,
        revision_id: str | None = None,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> dict[str, Any]:
        """Only the parts of the data named by JSON pointers (``"/a/b"``) or dotted paths."""
        pointers = [jsonpointer.format_pointer(jsonpointer.to_pointer(p)) for p in partial]
        res = self.get(
            resource_id, revision_id=revision_id, include_deleted=include_deleted, user=user
        )
        return jsonpointer.project(msgspec.to_builtins(res.data), pointers)

    def get_meta(
        self, resource_id: str, *, include_deleted: bool = False, user: str | UnsetType = UNSET
    ) -> ResourceMeta:
        """The meta record. Raises NotFoundError, or GoneError unless ``include_deleted``."""
        ctx = self._context("get_meta", user, UNSET, write=False, resource_id=resource_id)
        return self._meta(ctx, include_deleted=include_deleted)

    def get_revision_info(
        self,
        resource_id: str,
        revision_id: str | None = None,
        *,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Information about the current revision (or ``revision_id``)."""
        ctx = self._context("get_revision_info", user, UNSET, write=False, resource_id=resource_id)
        meta = self._meta(ctx, include_deleted=include_deleted)
        return self._info(resource_id, revision_id or meta.current_revision_id)

    def list_revisions(
        self, resource_id: str, *, include_deleted: bool = True, user: str | UnsetType = UNSET
    ) -> list[str]:
        """Ids of all stored revisions, oldest first."""
        return [
            i.revision_id
            for i in self.list_revision_infos(
                resource_id, limit=None, include_deleted=include_deleted, user=user
            )
        ]

    def list_revision_infos(
        self,
        resource_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        include_deleted: bool = True,
        user: str | UnsetType = UNSET,
    ) -> list[RevisionInfo]:
        """Revision information, oldest first, optionally paged."""
        if offset < 0 or (limit is not None and limit < 1):
            raise QueryError("offset must be >= 0 and limit >= 1")
        ctx = self._context("list_revisions", user, UNSET, write=False, resource_id=resource_id)
        self._meta(ctx, include_deleted=include_deleted)
        return self.storage.list_revisions(resource_id, offset=offset, limit=limit)

    def exists(
        self, resource_id: str, *, include_deleted: bool = False, user: str | UnsetType = UNSET
    ) -> bool:
        """Whether the resource exists (and is not soft-deleted, unless asked) for this user."""
        ctx = self._context("exists", user, UNSET, write=False, resource_id=resource_id)
        meta = self.storage.get_meta(resource_id)
        return (
            meta is not None
            and (include_deleted or not meta.is_deleted)
            and self._in_scope(ctx, meta)
        )

    def revision_exists(
        self, resource_id: str, revision_id: str, *, user: str | UnsetType = UNSET
    ) -> bool:
        """Whether this revision of the resource is stored (and visible to the user)."""
        ctx = self._context("revision_exists", user, UNSET, write=False, resource_id=resource_id)
        meta = self.storage.get_meta(resource_id)
        return (
            meta is not None
            and self._in_scope(ctx, meta)
            and self.storage.get_revision_info(resource_id, revision_id) is not None
        )

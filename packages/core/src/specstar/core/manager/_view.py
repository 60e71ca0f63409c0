"""The read verbs of a manager: single resources, their history, and the reads of integrity
(the search verbs are in :mod:`._search`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar, overload

import msgspec
from msgspec import UNSET, UnsetType

from ..actions import Action
from ..errors import PermissionDeniedError, QueryError, SpecStarError
from ..indexes import IndexSpec
from ..ports import StoredRevision
from ..refs import RefField
from ..types import Resource, ResourceMeta, RevisionInfo, SearchedResource
from ._partial import partial_struct
from ._reader import RETURNS_ALL, pointers_of, returns_set
from ._search import ResourceSearch

T = TypeVar("T")


class ResourceView(ResourceSearch[T]):
    """The reads of a :class:`~specstar.core.manager.ResourceManager`, which extends it with
    writes and builds the pieces declared here (and in :class:`ResourceSearch`)."""

    name: str
    index_spec: IndexSpec

    # == reads ==================================================================================

    def get(
        self,
        resource_id: str,
        revision_id: str | None = None,
        schema_version: str | UnsetType | None = UNSET,
        *,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> Resource[T]:
        """The current revision (or ``revision_id``) with its data.

        Args:
            schema_version: read the stored data as written at this schema version (``None``:
                before versioning) instead of the version its revision records, and migrate it
                from there to the model's version; for data stored with a wrong or missing
                version.

        Raises:
            NotFoundError: no such resource or revision. GoneError: soft-deleted.
            MigrationPathError: no migration leads from ``schema_version``.
        """
        ctx = self._guard.context(Action.GET, user, UNSET, resource_id=resource_id)
        current = self._guard.visible_current(ctx, self.storage, include_deleted=include_deleted)
        info, data = self._reader.revision(current, revision_id, schema_version)
        return Resource(info=info, data=data)

    def get_resource_revision(
        self,
        resource_id: str,
        revision_id: str,
        schema_version: str | UnsetType | None = UNSET,
        *,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> Resource[T]:
        """One given revision with its data: :meth:`get` with a required ``revision_id``."""
        return self.get(
            resource_id,
            revision_id,
            schema_version,
            include_deleted=include_deleted,
            user=user,
        )

    def get_resource(
        self,
        resource_id: str,
        *,
        returns: Iterable[str] = RETURNS_ALL,
        partial: Iterable[str] | None = None,
        revision_id: str | None = None,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> SearchedResource[T]:
        """One resource as a listing item: the ``returns`` parts, ``data`` narrowed by
        ``partial`` (like :meth:`list_page`).

        ``meta`` is read as ``get_meta``, ``data``/``info`` as ``get``; asking for ``meta``
        alone still checks that ``revision_id`` exists.

        Raises:
            QueryError: an unknown part in ``returns``, or ``partial`` without ``data``.
            NotFoundError, GoneError.
        """
        item, _ = self._read_resource(
            resource_id,
            returns=returns,
            partial=partial,
            revision_id=revision_id,
            include_deleted=include_deleted,
            user=user,
            with_info=False,
        )
        return item

    def get_resource_with_info(
        self,
        resource_id: str,
        *,
        returns: Iterable[str] = RETURNS_ALL,
        partial: Iterable[str] | None = None,
        revision_id: str | None = None,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> tuple[SearchedResource[T], RevisionInfo | None]:
        """:meth:`get_resource`, with the information of the revision read (whose
        :func:`~specstar.core.entity_tag` a conditional read compares), whatever ``returns``.

        When ``data`` or ``info`` is asked for, it is the revision they come from. For
        ``meta`` alone it is the revision ``revision_id`` or else the current one, read as
        :meth:`get_revision_info` (with ``include_deleted=True``); for the current one it is
        ``None`` when that read is refused (the user may read the meta but not the revision
        information).

        Raises:
            QueryError, NotFoundError, GoneError: as :meth:`get_resource`.
        """
        return self._read_resource(
            resource_id,
            returns=returns,
            partial=partial,
            revision_id=revision_id,
            include_deleted=include_deleted,
            user=user,
            with_info=True,
        )

    def _read_resource(
        self,
        resource_id: str,
        *,
        returns: Iterable[str],
        partial: Iterable[str] | None,
        revision_id: str | None,
        include_deleted: bool,
        user: str | UnsetType,
        with_info: bool,
    ) -> tuple[SearchedResource[T], RevisionInfo | None]:
        wanted = returns_set(returns)
        if partial is not None and "data" not in wanted:
            raise QueryError("partial narrows data: add 'data' to returns")
        pointers = pointers_of(partial, self.model)
        reads_revision = bool(wanted & {"data", "info"})
        current: tuple[ResourceMeta, StoredRevision] | None = None
        meta: ResourceMeta | None = None
        if "meta" in wanted:  # authorized as get_meta
            meta_ctx = self._guard.context(Action.GET_META, user, UNSET, resource_id=resource_id)
            if reads_revision:  # one storage call for the meta and the current revision
                current = self.storage.get_current(resource_id)
                meta = current[0] if current is not None else None
                self._guard.visible(meta_ctx, meta, include_deleted)
            else:
                meta = self._guard.visible_meta(
                    meta_ctx, self.storage, include_deleted=include_deleted
                )
        if reads_revision:  # authorized as get
            ctx = self._guard.context(Action.GET, user, UNSET, resource_id=resource_id)
            if current is None:
                current = self._guard.visible_current(
                    ctx, self.storage, include_deleted=include_deleted
                )
            else:
                self._guard.visible(ctx, current[0], include_deleted)
            revision = self._reader.revision(current, revision_id)
            return self._reader.item(current[0], revision, wanted, pointers), revision[0]
        info: RevisionInfo | None = None
        if revision_id is not None:  # meta alone: still checks that the revision exists
            info = self.get_revision_info(
                resource_id, revision_id, include_deleted=include_deleted, user=user
            )
        elif with_info:
            assert meta is not None  # returns is never empty
            try:
                info = self.get_revision_info(
                    resource_id, meta.current_revision_id, include_deleted=True, user=user
                )
            except SpecStarError:  # refused (or gone since): the meta is still the answer
                info = None
        item: SearchedResource[T] = (
            SearchedResource(meta=meta) if meta is not None else SearchedResource()
        )
        return item, info

    def partial_pointers(self, partial: Iterable[str]) -> list[str]:
        """JSON pointers for ``partial`` paths (JSON pointers or dotted paths) of the data.

        Raises:
            QueryError: a path names nothing the model declares.
            PatchError: a path is not a valid pointer or dotted path.
        """
        pointers = pointers_of(partial, self.model)
        assert pointers is not None
        return pointers

    @overload
    def get_partial(
        self,
        resource_id: str,
        revision_id: str,
        partial: Iterable[str],
        *,
        include_deleted: bool = ...,
        user: str | UnsetType = ...,
    ) -> msgspec.Struct: ...

    @overload
    def get_partial(
        self,
        resource_id: str,
        revision_id: str | None = ...,
        *,
        partial: Iterable[str],
        include_deleted: bool = ...,
        user: str | UnsetType = ...,
    ) -> msgspec.Struct: ...

    @overload
    def get_partial(
        self,
        resource_id: str,
        partial: Iterable[str],
        *,
        revision_id: str | None = ...,
        include_deleted: bool = ...,
        user: str | UnsetType = ...,
    ) -> dict[str, Any]: ...

    def get_partial(
        self,
        resource_id: str,
        *args: Any,
        revision_id: str | None = None,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
        **kwargs: Any,
    ) -> dict[str, Any] | msgspec.Struct:
        """Only the parts of the data named by JSON pointers (``"/a/b"``) or dotted paths.

        Two call forms:

        * ``get_partial(resource_id, partial, revision_id=None)`` returns a ``dict`` of the
          named parts;
        * ``get_partial(resource_id, revision_id, partial)`` (or with ``partial=`` by
          keyword, ``revision_id`` positional or by keyword) returns a *partial Struct*: an
          instance of a ``msgspec.Struct`` type holding only the named members (nested
          Structs of the model become partial Structs too).

        Raises:
            TypeError: arguments that fit neither form.
            QueryError: a path names nothing the model declares.
        """
        as_struct = True
        if "partial" in kwargs and len(kwargs) == 1 and len(args) <= 1:
            partial = kwargs["partial"]
            if args:  # (resource_id, revision_id, partial=...)
                if revision_id is not None:
                    raise TypeError("get_partial() got revision_id twice")
                revision_id = args[0]
        elif not kwargs and len(args) == 2:
            if revision_id is not None:
                raise TypeError("get_partial() got revision_id twice")
            revision_id, partial = args
            as_struct = True
        elif not kwargs and len(args) == 1:
            (partial,), as_struct = args, False
        else:
            raise TypeError(
                "get_partial() takes (resource_id, partial, *, revision_id=None) or "
                f"(resource_id, revision_id, partial); got {len(args) + 1} positional "
                f"argument(s) and keyword(s) {sorted(kwargs)}"
            )
        if isinstance(partial, str) or not isinstance(partial, Iterable):
            raise TypeError(f"partial must be a list of paths, not {partial!r}")
        if revision_id is not None and not isinstance(revision_id, str):
            raise TypeError(f"revision_id must be a str, not {revision_id!r}")
        item = self.get_resource(
            resource_id,
            returns=("data",),
            partial=list(partial),
            revision_id=revision_id,
            include_deleted=include_deleted,
            user=user,
        )
        assert isinstance(item.data, dict)
        return partial_struct(self.model, item.data) if as_struct else item.data

    def get_meta(
        self, resource_id: str, include_deleted: bool = False, *, user: str | UnsetType = UNSET
    ) -> ResourceMeta:
        """The meta record. Raises NotFoundError, or GoneError unless ``include_deleted``."""
        ctx = self._guard.context(Action.GET_META, user, UNSET, resource_id=resource_id)
        return self._guard.visible_meta(ctx, self.storage, include_deleted=include_deleted)

    def get_revision_info(
        self,
        resource_id: str,
        revision_id: str | None = None,
        *,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Information about the current revision (or ``revision_id``)."""
        ctx = self._guard.context(Action.GET_REVISION_INFO, user, UNSET, resource_id=resource_id)
        meta = self._guard.visible_meta(ctx, self.storage, include_deleted=include_deleted)
        return self._reader.info(resource_id, revision_id or meta.current_revision_id)

    def list_revisions(
        self, resource_id: str, *, include_deleted: bool = True, user: str | UnsetType = UNSET
    ) -> list[str]:
        """Ids of all stored revisions, oldest first."""
        ctx = self._guard.context(Action.LIST_REVISIONS, user, UNSET, resource_id=resource_id)
        history = self.storage.get_history(resource_id)  # one storage call for both
        self._guard.visible(ctx, None if history is None else history[0], include_deleted)
        assert history is not None
        return history[1]

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
        infos, _ = self.list_revision_infos_with_total(
            resource_id, offset=offset, limit=limit, include_deleted=include_deleted, user=user
        )
        return infos

    def list_revision_infos_with_total(
        self,
        resource_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        include_deleted: bool = True,
        user: str | UnsetType = UNSET,
    ) -> tuple[list[RevisionInfo], int]:
        """:meth:`list_revision_infos` and the number of revisions the resource has (its
        meta's ``total_revision_count``), both authorized as ``list_revisions``.

        Raises:
            QueryError: ``offset`` below 0 or ``limit`` below 1.
            NotFoundError, GoneError (only with ``include_deleted=False``).
        """
        if offset < 0 or (limit is not None and limit < 1):
            raise QueryError("offset must be >= 0 and limit >= 1")
        ctx = self._guard.context(Action.LIST_REVISIONS, user, UNSET, resource_id=resource_id)
        meta = self._guard.visible_meta(ctx, self.storage, include_deleted=include_deleted)
        infos = self.storage.list_revisions(resource_id, offset=offset, limit=limit)
        return infos, meta.total_revision_count

    def exists(
        self, resource_id: str, *, include_deleted: bool = False, user: str | UnsetType = UNSET
    ) -> bool:
        """Whether the resource exists (and is not soft-deleted, unless asked) for this user."""
        ctx = self._guard.context(Action.EXISTS, user, UNSET, resource_id=resource_id)
        meta = self.storage.get_meta(resource_id)
        return (
            meta is not None
            and (include_deleted or not meta.is_deleted)
            and self._guard.admits(ctx, meta)
        )

    def revision_exists(
        self, resource_id: str, revision_id: str, *, user: str | UnsetType = UNSET
    ) -> bool:
        """Whether this revision of the resource is stored (and visible to the user)."""
        ctx = self._guard.context(Action.REVISION_EXISTS, user, UNSET, resource_id=resource_id)
        meta = self.storage.get_meta(resource_id)
        return (
            meta is not None
            and self._guard.admits(ctx, meta)
            and self.storage.get_revision_info(resource_id, revision_id) is not None
        )

    # == integrity reads (see specstar.core.refs.ReferenceSource) =====================

    def referrer_metas(
        self, ref: RefField, target_id: str, *, include_deleted: bool
    ) -> Iterator[ResourceMeta]:
        """Metas whose reference field ``ref`` names ``target_id``.

        For integrity maintenance: no permission checks, every row is seen.
        """
        return self._reader.referrer_metas(ref, target_id, include_deleted=include_deleted)

    def is_live(self, resource_id: str) -> bool:
        """Whether the resource exists and is not soft-deleted (no permission checks)."""
        meta = self.storage.get_meta(resource_id)
        return meta is not None and not meta.is_deleted

    def is_visible(self, resource_id: str, user: str) -> bool:
        """Whether the resource is live and ``user`` may see it (:meth:`exists` as that
        user); a user the checker refuses outright sees nothing."""
        try:
            return self.exists(resource_id, user=user)
        except PermissionDeniedError:
            return False

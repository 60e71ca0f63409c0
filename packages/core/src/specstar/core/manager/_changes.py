"""What each write changes, as steps run by the write path.

A step gets the fresh meta of one attempt, reads the current data, computes the new state and
commits it; the :class:`~specstar.core.manager._write_path.WritePath` retries it on conflicts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from ..errors import (
    ConflictError,
    PreconditionFailedError,
    RevisionNotDraftError,
    RevisionNotMigratedError,
)
from ..etags import Precondition
from ..pipeline import OperationContext
from ..ports import RevisionRewrite, StoredRevision
from ..types import ResourceMeta, RevisionInfo, RevisionStatus
from ._binding import Binding
from ._write_path import WritePath

T = TypeVar("T")


class Changes(Generic[T]):
    """The writes of one manager, each one attempt step under the one retry skeleton."""

    def __init__(self, path: WritePath[T]) -> None:
        self.path = path
        self.binding: Binding[T] = path.binding
        self.storage = path.storage

    def create(self, ctx: OperationContext, data: T, status: RevisionStatus | None) -> RevisionInfo:
        """A new resource with ``data`` as its first revision."""
        encoded = self.binding.encode(data)

        def attempt() -> RevisionInfo:
            prepared = self.path.prepare(ctx, data, encoded.indexed, previous=None, meta=None)
            result = self.path.commit(
                prepared,
                None,
                append=self.binding.new_revision(encoded, status),
                indexed_data=encoded.indexed,
            )
            assert result.revision is not None
            return result.revision

        return self.path.run(ctx, None, attempt)

    def append(
        self,
        ctx: OperationContext,
        make: Callable[[T], T],
        *,
        expected: Precondition | None,
        status: RevisionStatus | None,
    ) -> RevisionInfo:
        """A new revision with the data ``make`` computes from the current data (none when
        data and status are unchanged)."""
        assert ctx.resource_id is not None

        def step(meta: ResourceMeta, stored: StoredRevision) -> RevisionInfo:
            current_info, current = self.binding.decode(stored)
            new = make(current)
            encoded = self.binding.encode(new)
            if encoded.data_hash == current_info.data_hash and (
                status is None or self.binding.status(status) == current_info.status
            ):
                return current_info  # identical data: no new revision
            prepared = self.path.prepare(ctx, new, encoded.indexed, previous=current, meta=meta)
            result = self.path.commit(
                prepared,
                meta.current_revision_id,
                current_info,
                append=self.binding.new_revision(encoded, status),
                indexed_data=encoded.indexed,
            )
            assert result.revision is not None
            return result.revision

        return self.path.run_on_current(ctx, expected, step)

    def modify(
        self,
        ctx: OperationContext,
        make: Callable[[T], T],
        status: RevisionStatus | None,
        *,
        expected: Precondition | None,
    ) -> RevisionInfo:
        """Rewrite the current revision in place while it is a draft."""
        assert ctx.resource_id is not None
        rid = ctx.resource_id

        def step(meta: ResourceMeta, stored: StoredRevision) -> RevisionInfo:
            info, current = self.binding.decode(stored)
            if info.status != RevisionStatus.draft:
                raise RevisionNotDraftError(rid, info.revision_id)
            new = make(current)
            new_status = info.status if status is None else RevisionStatus(status)
            encoded = self.binding.encode(new)
            if encoded.data_hash == info.data_hash and new_status == info.status:
                return info
            prepared = self.path.prepare(ctx, new, encoded.indexed, previous=current, meta=meta)
            result = self.path.commit(
                prepared,
                meta.current_revision_id,
                info,
                rewrite=RevisionRewrite(
                    data=encoded.data,
                    data_hash=encoded.data_hash,
                    schema_version=self.binding.schema_version,
                    status=new_status,
                ),
                indexed_data=encoded.indexed,
            )
            assert result.revision is not None
            return result.revision

        return self.path.run_on_current(ctx, expected, step)

    def switch(
        self, ctx: OperationContext, revision_id: str, *, expected: Precondition | None
    ) -> ResourceMeta:
        """Make an existing revision current again."""
        assert ctx.resource_id is not None
        rid = ctx.resource_id
        binding = self.binding

        def step(meta: ResourceMeta, stored: StoredRevision) -> ResourceMeta:
            if meta.current_revision_id == revision_id:
                return meta
            target_info, target = binding.load(self.storage, rid, revision_id)
            if binding.schema is not None and target_info.schema_version != binding.schema_version:
                raise RevisionNotMigratedError(
                    rid, revision_id, target_info.schema_version, binding.schema_version
                )
            _, current = binding.decode(stored)
            indexed = binding.indexed(target)
            prepared = self.path.prepare(ctx, target, indexed, previous=current, meta=meta)
            return self.path.commit(
                prepared, meta.current_revision_id, switch_to=revision_id, indexed_data=indexed
            ).meta

        return self.path.run_on_current(ctx, expected, step)

    def migrate(self, ctx: OperationContext, revision_id: str | None) -> ResourceMeta:
        """Store a revision (the current one by default) in the current schema version."""
        assert ctx.resource_id is not None
        rid = ctx.resource_id

        def step(meta: ResourceMeta, stored: StoredRevision) -> ResourceMeta:
            source = revision_id or meta.current_revision_id
            info, data = (
                self.binding.decode(stored)
                if source == meta.current_revision_id
                else self.binding.load(self.storage, rid, source)
            )
            if (
                source == meta.current_revision_id
                and info.schema_version == self.binding.schema_version
            ):
                return meta
            encoded = self.binding.encode(data)
            prepared = self.path.prepare(ctx, data, encoded.indexed, previous=None, meta=meta)
            return self.path.commit(
                prepared,
                meta.current_revision_id,
                stored.info,
                append=self.binding.new_revision(encoded, info.status),
                indexed_data=encoded.indexed,
            ).meta

        return self.path.run_on_current(ctx, None, step)

    def delete(
        self, ctx: OperationContext, *, expected: Precondition | None, guard: Callable[[], None]
    ) -> ResourceMeta:
        """Soft-delete; ``guard`` runs first in each attempt (``restrict`` references)."""

        def step(meta: ResourceMeta, read: RevisionInfo | None) -> ResourceMeta:
            guard()
            self.path.before(ctx)
            return self.path.commit(ctx, meta.current_revision_id, read, is_deleted=True).meta

        return self.path.run_on_meta(ctx, expected, step)

    def restore(
        self, ctx: OperationContext, *, expected: Precondition | None
    ) -> tuple[ResourceMeta, ResourceMeta | None]:
        """Undo a soft delete (a live resource is returned unchanged). Returns the meta after
        and the deleted meta it restored (``None`` when it was live)."""
        assert ctx.resource_id is not None

        def step(
            meta: ResourceMeta, stored: StoredRevision
        ) -> tuple[ResourceMeta, ResourceMeta | None]:
            if not meta.is_deleted:
                return meta, None
            info, current = self.binding.decode(stored)
            prepared = self.path.prepare(
                ctx, current, self.binding.indexed(current), previous=None, meta=meta
            )
            after = self.path.commit(prepared, meta.current_revision_id, info, is_deleted=False)
            return after.meta, meta

        return self.path.run_on_current(ctx, expected, step, include_deleted=True)

    def purge(
        self, ctx: OperationContext, *, expected: Precondition | None, guard: Callable[[], None]
    ) -> ResourceMeta:
        """Remove the resource and its history; ``guard`` runs first in each attempt."""
        assert ctx.resource_id is not None
        rid = ctx.resource_id

        def step(meta: ResourceMeta, _read: RevisionInfo | None) -> ResourceMeta:
            guard()
            self.path.before(ctx)
            return self.storage.purge(rid, meta.current_revision_id)

        return self.path.run_on_meta(ctx, expected, step, include_deleted=True)

    def prune(
        self, ctx: OperationContext, *, keep_last_n: int | None, before: datetime | None
    ) -> int:
        """Remove old revisions (never the current one); returns how many went."""
        assert ctx.resource_id is not None
        rid = ctx.resource_id

        def step(meta: ResourceMeta, _read: RevisionInfo | None) -> int:
            infos = self.storage.list_revisions(rid)
            candidates = (
                infos[: max(0, len(infos) - keep_last_n)] if keep_last_n is not None else infos
            )
            if before is not None:
                cutoff = before if before.tzinfo else before.astimezone()
                candidates = [i for i in candidates if i.created_time < cutoff]
            victims = [
                i.revision_id for i in candidates if i.revision_id != meta.current_revision_id
            ]
            if not victims:
                return 0
            self.path.before(ctx)
            try:
                return self.storage.prune(rid, victims)
            except ConflictError as exc:
                # the current revision moved into the victims meanwhile: recompute
                raise PreconditionFailedError(rid, meta.current_revision_id, None) from exc

        return self.path.run_on_meta(ctx, None, step, include_deleted=True)

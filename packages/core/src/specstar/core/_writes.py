"""Write operations of the ResourceManager: every one runs the full pipeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from ._integrity import apply_on_delete, guard_delete
from ._manager_core import ManagerCore
from .errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    PatchError,
    PreconditionFailedError,
    RevisionNotDraftError,
)
from .naming import check_resource_id
from .patch import apply_json_patch, apply_merge_patch
from .pipeline import (
    EventPhase,
)
from .ports import RevisionRewrite
from .schema import RevisionNotMigratedError
from .types import (
    ResourceMeta,
    RevisionInfo,
    RevisionStatus,
)

T = TypeVar("T")


class WriteOps(ManagerCore[T]):
    """create, update, patch, modify, switch, delete, restore, purge, prune."""

    # == create =================================================================================

    def create(
        self,
        data: T | Mapping[str, Any],
        *,
        resource_id: str | None = None,
        status: RevisionStatus | None = None,
        if_not_exists: bool = False,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Create a resource with its first revision.

        Args:
            resource_id: use this id instead of a generated one.
            if_not_exists: when the id exists already, return its current revision info
                instead of raising :class:`~specstar.core.errors.AlreadyExistsError`.

        Raises:
            ValidationError, AlreadyExistsError, UniqueConstraintError, PermissionDeniedError.
        """
        rid = check_resource_id(resource_id) if resource_id is not None else self.id_generator()
        ctx = self._context("create", user, now, write=True, resource_id=rid, status=status)
        obj = self._coerce(data)

        def attempt() -> RevisionInfo:
            prepared = self._prepare(ctx, obj, previous=None, meta=None)
            result = self._commit(
                prepared,
                None,
                append=self._new_revision(self._encode(obj), status),
                indexed_data=self._indexed(obj),
            )
            assert result.revision is not None
            return result.revision

        try:
            info: RevisionInfo = self._run_write(ctx, None, attempt)
        except AlreadyExistsError:
            if if_not_exists:
                meta = self._meta(ctx, include_deleted=True)
                return self._info(rid, meta.current_revision_id)
            raise
        return info

    # == changes that append a revision =========================================================

    def _append(
        self,
        action: str,
        resource_id: str,
        make: Callable[[T], T],
        *,
        expected_revision_id: str | None,
        status: RevisionStatus | None,
        user: str | UnsetType,
        now: datetime | UnsetType,
        inputs: dict[str, Any],
    ) -> RevisionInfo:
        ctx = self._context(action, user, now, write=True, resource_id=resource_id, **inputs)

        def attempt() -> RevisionInfo:
            meta = self._meta(ctx)
            self._check_expected(meta, expected_revision_id)
            current_info, current = self._load(resource_id, meta.current_revision_id)
            new = make(current)
            new_status = RevisionStatus(status) if status is not None else self.default_status
            encoded = self._encode(new)
            if encoded[1] == current_info.data_hash and (
                status is None or new_status == current_info.status
            ):
                return current_info  # identical data: no new revision
            prepared = self._prepare(ctx, new, previous=current, meta=meta)
            result = self._commit(
                prepared,
                meta.current_revision_id,
                append=self._new_revision(encoded, status),
                indexed_data=self._indexed(new),
            )
            assert result.revision is not None
            return result.revision

        info: RevisionInfo = self._run_write(ctx, expected_revision_id, attempt)
        return info

    def update(
        self,
        resource_id: str,
        data: T | Mapping[str, Any],
        *,
        expected_revision_id: str | None = None,
        status: RevisionStatus | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Replace the data with a new revision (no new revision when the data is identical)."""
        obj = self._coerce(data)
        return self._append(
            "update",
            resource_id,
            lambda _current: obj,
            expected_revision_id=expected_revision_id,
            status=status,
            user=user,
            now=now,
            inputs={},
        )

    def create_or_update(
        self,
        resource_id: str,
        data: T | Mapping[str, Any],
        *,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Create the resource with this id, or update it when it exists.

        Raises:
            NotFoundError: the id is taken by a resource outside the user's access scope
                (hidden resources stay indistinguishable from missing ones).
        """
        raced = False
        while True:
            try:
                return self.update(resource_id, data, user=user, now=now)
            except NotFoundError as exc:
                if exc.resource_id != resource_id or exc.revision_id is not None or raced:
                    raise
            try:
                return self.create(data, resource_id=resource_id, user=user, now=now)
            except AlreadyExistsError:
                raced = True  # created concurrently: update it (hidden from the user: give up)

    def _patched(self, current: T, apply: Callable[[Any], Any]) -> T:
        doc = msgspec.to_builtins(current)
        return self._coerce(apply(doc))

    def patch(
        self,
        resource_id: str,
        operations: Sequence[Mapping[str, Any]],
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Apply an RFC 6902 JSON Patch to the current data as a new revision.

        Without ``expected_revision_id`` a concurrent write makes the patch re-apply to the
        fresh data, so concurrent patches are never lost.
        """
        if isinstance(operations, Mapping) or not isinstance(operations, Sequence):
            raise PatchError("a JSON Patch is a list of operations")
        ops = list(operations)
        return self._append(
            "patch",
            resource_id,
            lambda cur: self._patched(cur, lambda doc: apply_json_patch(doc, ops)),
            expected_revision_id=expected_revision_id,
            status=None,
            user=user,
            now=now,
            inputs={"operations": ops},
        )

    def merge_patch(
        self,
        resource_id: str,
        document: Mapping[str, Any],
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Apply an RFC 7386 JSON merge patch to the current data as a new revision."""
        if not isinstance(document, Mapping):
            raise PatchError("a merge patch document must be a JSON object")
        doc = dict(document)
        return self._append(
            "merge_patch",
            resource_id,
            lambda cur: self._patched(cur, lambda d: apply_merge_patch(d, doc)),
            expected_revision_id=expected_revision_id,
            status=None,
            user=user,
            now=now,
            inputs={"document": doc},
        )

    # == in-place edit of drafts ================================================================

    def modify(
        self,
        resource_id: str,
        data: T | Mapping[str, Any] | Sequence[Mapping[str, Any]] | UnsetType = UNSET,
        status: RevisionStatus | UnsetType = UNSET,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Edit the current revision in place; allowed only while it is a draft.

        ``data`` is new data or a JSON Patch (list of operations); ``status`` may move the
        revision from draft to stable, after which it is immutable.

        Raises:
            RevisionNotDraftError: the current revision is stable.
        """
        ctx = self._context("modify", user, now, write=True, resource_id=resource_id)
        new_obj: T | None = None
        ops: list[Mapping[str, Any]] | None = None
        if isinstance(data, list | tuple):
            ops = list(data)
        elif data is not UNSET:
            new_obj = self._coerce(data)

        def attempt() -> RevisionInfo:
            meta = self._meta(ctx)
            self._check_expected(meta, expected_revision_id)
            info, current = self._load(resource_id, meta.current_revision_id)
            if info.status != RevisionStatus.draft:
                raise RevisionNotDraftError(resource_id, info.revision_id)
            if ops is not None:
                new = self._patched(current, lambda doc: apply_json_patch(doc, ops))
            else:
                new = new_obj if new_obj is not None else current
            new_status = info.status if status is UNSET else RevisionStatus(status)
            stored, digest = self._encode(new)
            if digest == info.data_hash and new_status == info.status:
                return info
            prepared = self._prepare(ctx, new, previous=current, meta=meta)
            result = self._commit(
                prepared,
                meta.current_revision_id,
                rewrite=RevisionRewrite(
                    data=stored,
                    data_hash=digest,
                    schema_version=self.schema_version,
                    status=new_status,
                ),
                indexed_data=self._indexed(new),
            )
            assert result.revision is not None
            return result.revision

        info: RevisionInfo = self._run_write(ctx, expected_revision_id, attempt)
        return info

    # == pointer and flag changes ===============================================================

    def switch(
        self,
        resource_id: str,
        revision_id: str,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Make an existing revision current again (no revision is written or changed)."""
        ctx = self._context(
            "switch", user, now, write=True, resource_id=resource_id, revision_id=revision_id
        )

        def attempt() -> ResourceMeta:
            meta = self._meta(ctx)
            self._check_expected(meta, expected_revision_id)
            if meta.current_revision_id == revision_id:
                return meta
            target_info, target = self._load(resource_id, revision_id)
            if self.schema is not None and target_info.schema_version != self.schema_version:
                raise RevisionNotMigratedError(
                    resource_id, revision_id, target_info.schema_version, self.schema_version
                )
            _, current = self._load(resource_id, meta.current_revision_id)
            prepared = self._prepare(ctx, target, previous=current, meta=meta)
            return self._commit(
                prepared,
                meta.current_revision_id,
                switch_to=revision_id,
                indexed_data=self._indexed(target),
            ).meta

        meta: ResourceMeta = self._run_write(ctx, expected_revision_id, attempt)
        return meta

    def migrate(
        self,
        resource_id: str,
        *,
        revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Persist a revision in the current schema version.

        The current revision (or ``revision_id``) is read through the migration path and
        stored as a new revision in the target version, which becomes current; the original
        revision stays in the history untouched. A current revision already in the target
        version is left as it is.
        """
        ctx = self._context(
            "migrate", user, now, write=True, resource_id=resource_id, revision_id=revision_id
        )

        def attempt() -> ResourceMeta:
            meta = self._meta(ctx)
            source = revision_id or meta.current_revision_id
            info, data = self._load(resource_id, source)
            if source == meta.current_revision_id and info.schema_version == self.schema_version:
                return meta
            prepared = self._prepare(ctx, data, previous=None, meta=meta)
            return self._commit(
                prepared,
                meta.current_revision_id,
                append=self._new_revision(self._encode(data), info.status),
                indexed_data=self._indexed(data),
            ).meta

        meta: ResourceMeta = self._run_write(ctx, None, attempt)
        return meta

    def delete(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Soft-delete: hidden from reads and searches, history kept, unique values released.

        Raises:
            GoneError: already deleted.
        """
        ctx = self._context("delete", user, now, write=True, resource_id=resource_id)

        def attempt() -> ResourceMeta:
            meta = self._meta(ctx)
            self._check_expected(meta, expected_revision_id)
            guard_delete(self, ctx, permanent=False)
            self.pipeline.emit(EventPhase.before, ctx)
            return self._commit(
                ctx,
                meta.current_revision_id,
                is_deleted=True,
            ).meta

        meta: ResourceMeta = self._run_write(ctx, expected_revision_id, attempt)
        apply_on_delete(self, ctx, permanent=False)
        return meta

    def restore(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Undo a soft delete (a live resource is returned unchanged).

        Raises:
            UniqueConstraintError: another resource took one of its unique values meanwhile.
        """
        ctx = self._context("restore", user, now, write=True, resource_id=resource_id)

        def attempt() -> ResourceMeta:
            meta = self._meta(ctx, include_deleted=True)
            self._check_expected(meta, expected_revision_id)
            if not meta.is_deleted:
                return meta
            _, current = self._load(resource_id, meta.current_revision_id)
            prepared = self._prepare(ctx, current, previous=None, meta=meta)
            return self._commit(
                prepared,
                meta.current_revision_id,
                is_deleted=False,
            ).meta

        meta: ResourceMeta = self._run_write(ctx, expected_revision_id, attempt)
        return meta

    def permanently_delete(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Remove the resource and its whole history for good. Returns the last meta."""
        ctx = self._context("permanently_delete", user, now, write=True, resource_id=resource_id)

        def attempt() -> ResourceMeta:
            meta = self._meta(ctx, include_deleted=True)
            self._check_expected(meta, expected_revision_id)
            guard_delete(self, ctx, permanent=True)
            self.pipeline.emit(EventPhase.before, ctx)
            return self.storage.purge(resource_id, meta.current_revision_id)

        meta: ResourceMeta = self._run_write(ctx, expected_revision_id, attempt)
        apply_on_delete(self, ctx, permanent=True)
        return meta

    def prune_revisions(
        self,
        resource_id: str,
        *,
        keep_last_n: int | None = None,
        before: datetime | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> int:
        """Remove old revisions; the current one is always kept. Returns how many went.

        Args:
            keep_last_n: keep the newest ``n`` revisions (by allocation order).
            before: only remove revisions created before this time.
            At least one of the two is required; with both, a revision goes only when it is
            outside the newest ``n`` *and* older than ``before``.
        """
        if keep_last_n is None and before is None:
            raise ValueError("prune_revisions needs keep_last_n and/or before")
        if keep_last_n is not None and keep_last_n < 0:
            raise ValueError("keep_last_n must be >= 0")
        ctx = self._context(
            "prune", user, now, write=True, resource_id=resource_id, keep_last_n=keep_last_n
        )

        def attempt() -> int:
            meta = self._meta(ctx, include_deleted=True)
            infos = self.storage.list_revisions(resource_id)
            if keep_last_n is not None:
                candidates = infos[: max(0, len(infos) - keep_last_n)]
            else:
                candidates = infos
            if before is not None:
                cutoff = before if before.tzinfo else before.astimezone()
                candidates = [i for i in candidates if i.created_time < cutoff]
            victims = [
                i.revision_id for i in candidates if i.revision_id != meta.current_revision_id
            ]
            if not victims:
                return 0
            self.pipeline.emit(EventPhase.before, ctx)
            try:
                return self.storage.prune(resource_id, victims)
            except ConflictError as exc:
                # the current revision moved into the victims meanwhile: recompute
                raise PreconditionFailedError(resource_id, meta.current_revision_id, None) from exc

        removed: int = self._run_write(ctx, None, attempt)
        return removed

"""The lifecycle verbs of a manager: which revision is current (switch, migrate), soft delete,
restore, purge and pruning; the same changes made for the framework on referrers (integrity);
and maintenance over every resource."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from msgspec import UNSET, UnsetType

from ..actions import Action
from ..etags import Precondition
from ..refs import RefField, Registry
from ..types import ResourceMeta, RevisionInfo
from ._binding import Binding
from ._changes import Changes
from ._integrity import apply_on_delete, guard_delete, restore_cascaded, without
from ._maintenance import Maintenance
from ._view import ResourceView

T = TypeVar("T")


class ResourceLifecycle(ResourceView[T]):
    """The lifecycle writes of a :class:`~specstar.core.manager.ResourceManager`, which builds
    the pieces declared here; every verb resolves its context through the guard and runs one
    step of :class:`~specstar.core.manager._changes.Changes` (or of
    :class:`~specstar.core.manager._maintenance.Maintenance`)."""

    registry: Registry[Any] | None
    refs: list[RefField]
    _binding: Binding[T]
    _changes: Changes[T]
    _maintenance: Maintenance[T]

    # == lifecycle ==============================================================================

    def switch(
        self,
        resource_id: str,
        revision_id: str,
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Make an existing revision current again (no revision is written or changed)."""
        expected = Precondition.of(expected_revision_id, expected_etag)
        ctx = self._guard.context(
            Action.SWITCH, user, now, resource_id=resource_id, revision_id=revision_id
        )
        return self._changes.switch(ctx, revision_id, expected=expected)

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
        ctx = self._guard.context(
            Action.MIGRATE, user, now, resource_id=resource_id, revision_id=revision_id
        )
        return self._changes.migrate(ctx, revision_id)

    def delete(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Soft-delete: hidden from reads and searches, history kept, unique values released.

        Raises:
            GoneError: already deleted.
            ReferenceRestrictedError: live ``restrict`` references to it exist.
        """
        expected = Precondition.of(expected_revision_id, expected_etag)
        ctx = self._guard.context(Action.DELETE, user, now, resource_id=resource_id)
        meta = self._changes.delete(
            ctx,
            expected=expected,
            guard=lambda: guard_delete(self.registry, self, ctx, permanent=False),
        )
        apply_on_delete(self.registry, self, ctx, permanent=False)
        return meta

    def restore(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        cascade: bool = False,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Undo a soft delete (a live resource is returned unchanged).

        Args:
            cascade: also restore, recursively, the referrers that the delete of this
                resource deleted through ``on_delete=cascade`` references. They are
                recognised by their own delete: a cascade deletes them as the same user at
                the same time as the target, so a referrer deleted on its own before stays
                deleted. Each is restored through its own manager as the restoring user
                (authorized, validated and with its events); the first error stops the
                cascade, and what was restored until then stays restored. Fields that
                ``set_null`` cleared are not put back (that change is a revision of the
                referrer, see :meth:`switch`).

        Raises:
            UniqueConstraintError: another resource took one of its unique values meanwhile.
        """
        expected = Precondition.of(expected_revision_id, expected_etag)
        ctx = self._guard.context(Action.RESTORE, user, now, resource_id=resource_id)
        meta, deleted = self._changes.restore(ctx, expected=expected)
        if cascade and deleted is not None:
            restore_cascaded(self.registry, self, ctx, deleted)
        return meta

    def permanently_delete(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Remove the resource and its whole history for good. Returns the last meta."""
        expected = Precondition.of(expected_revision_id, expected_etag)
        ctx = self._guard.context(Action.PERMANENTLY_DELETE, user, now, resource_id=resource_id)
        meta = self._changes.purge(
            ctx,
            expected=expected,
            guard=lambda: guard_delete(self.registry, self, ctx, permanent=True),
        )
        apply_on_delete(self.registry, self, ctx, permanent=True)
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
        ctx = self._guard.context(
            Action.PRUNE, user, now, resource_id=resource_id, keep_last_n=keep_last_n
        )
        return self._changes.prune(ctx, keep_last_n=keep_last_n, before=before)

    # == integrity (see specstar.core.refs.ReferenceSource) =====================================
    #
    # These run for the framework, on behalf of a delete or restore of another resource that
    # was authorized already: no permission check and no access scope (a cascade must reach
    # every referrer, whoever may see it), but the referrer's own pipeline otherwise —
    # validators, events, history — with the acting user recorded.

    def _for_system(self) -> ResourceLifecycle[T]:
        """This manager with a guard that asks no checker (see :meth:`Guard.for_system`)."""
        raise NotImplementedError

    def apply_set_null(
        self,
        resource_id: str,
        refs: Sequence[RefField],
        target_id: str,
        *,
        user: str,
        now: datetime,
    ) -> RevisionInfo:
        """Clear ``target_id`` from the ``refs`` fields of one resource, as a new revision
        written as ``user`` (the action ``set_null``): the ``on_delete=set_null`` effect.

        Integrity maintenance: no permission check (the delete of the target was authorized).
        """
        system = self._for_system()
        ctx = system._guard.context(
            Action.SET_NULL,
            user,
            now,
            resource_id=resource_id,
            fields=[ref.path for ref in refs],
            target_id=target_id,
        )
        return system._changes.append(
            ctx,
            lambda cur: self._binding.patched(cur, lambda doc: without(doc, refs, target_id)),
            expected=None,
            status=None,
        )

    def cascade_delete(
        self, resource_id: str, *, permanent: bool, user: str, now: datetime
    ) -> ResourceMeta:
        """Delete a referrer because its ``on_delete=cascade`` target went (soft or
        permanently, like the target), as ``user`` at ``now``; its own referrers follow.

        Integrity maintenance: no permission check (the delete of the target was authorized).
        """
        system = self._for_system()
        if permanent:
            return system.permanently_delete(resource_id, user=user, now=now)
        return system.delete(resource_id, user=user, now=now)

    def cascade_restore(self, resource_id: str, *, user: str, now: datetime) -> ResourceMeta:
        """Restore a referrer that a cascade deleted, and what its delete cascaded to.

        Integrity maintenance: no permission check (the restore of the target was authorized).
        """
        return self._for_system().restore(resource_id, cascade=True, user=user, now=now)

    # == maintenance ============================================================================

    def reindex(self, *, progress: Callable[[int, int], None] | None = None) -> int:
        """Recompute ``indexed_data`` of every resource (deleted ones too) from its current
        revision, then mark the indexed fields as backfilled. Returns how many metas changed.

        ``progress(done, total)`` is called every 500 resources and at the end; by default
        progress goes to the ``specstar.manager`` logger.
        """
        return self._maintenance.reindex(progress)

    def migrate_all(
        self,
        *,
        progress: Callable[[int, int], None] | None = None,
        user: str | UnsetType = UNSET,
        on_start: Callable[[int], None] | None = None,
    ) -> int:
        """Migrate every live resource whose current revision is not in the target schema
        version (see :meth:`migrate`). Returns how many were migrated.

        The user is authorized once for the action ``migrate`` before anything is read, and
        only the resources inside their ``migrate`` access scope are migrated (each one is
        authorized again by :meth:`migrate`).

        A resource whose data cannot be migrated does not stop the run: the others are
        migrated, then :class:`~specstar.core.errors.BulkMigrationError` lists the failures
        (their errors are logged). A permission refusal stops the run at once.

        Safe to interrupt and run again: each resource migrates in its own atomic write, and
        a rerun only finds the ones still left. ``on_start(total)`` is called once the
        resources to migrate are known, before the first is migrated; ``progress(done,
        total)`` is called every 100 resources and at the end (by default progress goes to
        the ``specstar.manager`` log).
        """
        ctx = self._guard.context(Action.MIGRATE, user, UNSET)
        return self._maintenance.migrate_all(ctx, user, progress, on_start)

"""The write verbs of a manager that change the data: create, update, put, patch and modify
(the lifecycle verbs, integrity and maintenance are in :mod:`._lifecycle`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from msgspec import UNSET, UnsetType

from ..actions import Action
from ..errors import AlreadyExistsError, ClientIdsDisabledError, NotFoundError, PatchError
from ..etags import Precondition
from ..naming import check_resource_id
from ..patch import apply_json_patch, apply_merge_patch
from ..types import RevisionInfo, RevisionStatus
from ._lifecycle import ResourceLifecycle

T = TypeVar("T")


class ResourceWriter(ResourceLifecycle[T]):
    """The data writes of a :class:`~specstar.core.manager.ResourceManager`, which builds the
    pieces declared here (and in :class:`ResourceLifecycle`); every verb resolves its context
    through the guard and runs one step of :class:`~specstar.core.manager._changes.Changes`."""

    client_ids: bool
    id_generator: Callable[[], str]

    # == writes =================================================================================

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
            resource_id: use this id instead of a generated one (by default the one bound
                by ``using(resource_id=...)``, if any; refused when the manager's
                ``client_ids`` is off).
            if_not_exists: when the id exists already, return its current revision info
                instead of raising :class:`~specstar.core.errors.AlreadyExistsError` (which
                is still raised when the user may not see that resource).

        Raises:
            ValidationError, AlreadyExistsError, UniqueConstraintError, PermissionDeniedError.
            ClientIdsDisabledError: ``resource_id`` given while ``client_ids`` is off.
        """
        if resource_id is None:
            resource_id = self._guard.bound_resource_id()
        if resource_id is not None and not self.client_ids:
            raise ClientIdsDisabledError(self.name)
        rid = check_resource_id(resource_id) if resource_id is not None else self.id_generator()
        ctx = self._guard.context(Action.CREATE, user, now, resource_id=rid, status=status)
        obj = self._binding.coerce(data)
        try:
            return self._changes.create(ctx, obj, status)
        except AlreadyExistsError as exc:
            if not if_not_exists:
                raise
            try:
                meta = self._guard.visible_meta(ctx, self.storage, include_deleted=True)
            except NotFoundError:  # taken by a resource the user may not see: say only that
                raise exc from None
            return self._reader.info(rid, meta.current_revision_id)

    def update(
        self,
        resource_id: str,
        data: T | Mapping[str, Any],
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        status: RevisionStatus | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Replace the data with a new revision (no new revision when the data is identical).

        Args:
            expected_revision_id: act only while this revision is current.
            expected_etag: act only while the current revision has this entity tag
                (:func:`~specstar.core.etags.entity_tag`; for a draft it names its content
                too). Every write verb takes these two, at most one of them.

        Raises:
            PreconditionFailedError: the expectation does not hold.
        """
        expected = Precondition.of(expected_revision_id, expected_etag)
        ctx = self._guard.context(Action.UPDATE, user, now, resource_id=resource_id)
        obj = self._binding.coerce(data)
        return self._changes.append(ctx, lambda _current: obj, expected=expected, status=status)

    def create_or_update(
        self,
        resource_id: str,
        data: T | Mapping[str, Any],
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        status: RevisionStatus | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Replace the data of the resource with this id, or create it when there is none.

        With ``expected_revision_id`` it is a conditional update only: the resource must
        exist and its current revision be the expected one. :meth:`put` does the same and
        also tells whether the resource was created.

        Raises:
            PreconditionFailedError: ``expected_revision_id`` is not the current revision.
            NotFoundError: ``expected_revision_id`` was given and the resource does not exist
                or lies outside the user's access scope.
            AlreadyExistsError: the id is taken by a resource the user may not see.
            ClientIdsDisabledError: the id names no resource the user may see, and the
                manager's ``client_ids`` is off.
        """
        info, _created = self.put(
            resource_id,
            data,
            expected_revision_id=expected_revision_id,
            expected_etag=expected_etag,
            status=status,
            user=user,
            now=now,
        )
        return info

    def put(
        self,
        resource_id: str,
        data: T | Mapping[str, Any],
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        status: RevisionStatus | None = None,
        create_only: bool = False,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> tuple[RevisionInfo, bool]:
        """Store ``data`` under ``resource_id``: replace the data of the resource, or create it
        when there is none (HTTP ``PUT``). Returns the revision info and whether the resource
        was created.

        An update runs as :meth:`update` (action ``update``; identical data writes no new
        revision), a creation as :meth:`create` (action ``create``). A resource created by
        someone else between the two is updated.

        Args:
            expected_revision_id: update only, and only when this is the current revision.
            create_only: create only; an existing id (soft-deleted too) raises
                :class:`~specstar.core.errors.AlreadyExistsError`.

        A client-chosen id tells whether it is taken, whoever may see the resource holding it:
        creating a taken id fails. So an id taken by a resource the user may not see answers
        exactly like any taken id (:class:`~specstar.core.errors.AlreadyExistsError`), never
        with more (its revision, its state); with the manager's ``client_ids`` off, an id
        the user may not update answers :class:`ClientIdsDisabledError` whether it is taken
        or not.

        Raises:
            ValueError: both ``expected_revision_id`` and ``create_only``.
            AlreadyExistsError: ``create_only`` and the id exists; or the id is taken by a
                resource outside the user's access scope.
            PreconditionFailedError: ``expected_revision_id`` is not the current revision.
            NotFoundError: ``expected_revision_id`` was given and the resource does not exist
                or lies outside the user's access scope.
            ClientIdsDisabledError: a create, while ``client_ids`` is off.
        """
        conditional = Precondition.of(expected_revision_id, expected_etag) is not None
        if create_only and not self.client_ids:
            raise ClientIdsDisabledError(self.name)
        if create_only:
            if conditional:
                raise ValueError("put: give an expected revision or create_only, not both")
            info = self.create(data, resource_id=resource_id, status=status, user=user, now=now)
            return info, True
        raced = False
        while True:
            try:
                info = self.update(
                    resource_id,
                    data,
                    expected_revision_id=expected_revision_id,
                    expected_etag=expected_etag,
                    status=status,
                    user=user,
                    now=now,
                )
                return info, False
            except NotFoundError as exc:
                if conditional or exc.resource_id != resource_id or exc.revision_id is not None:
                    raise
                if raced:  # the id is taken, by a resource the user may not see
                    raise AlreadyExistsError(resource_id) from None
                if not self.client_ids:
                    raise ClientIdsDisabledError(self.name) from None
            try:
                info = self.create(data, resource_id=resource_id, status=status, user=user, now=now)
                return info, True
            except AlreadyExistsError:
                raced = True  # taken: update it if the user may (else it is hidden: give up)

    def patch(
        self,
        resource_id: str,
        patch_data: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        *,
        operations: Sequence[Mapping[str, Any]] | None = None,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        status: RevisionStatus | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Apply a patch to the current data as a new revision.

        ``patch_data`` is an RFC 6902 JSON Patch (a list of operations, also accepted as
        ``operations=``) or an RFC 7386 merge patch (an object: the same as
        :meth:`merge_patch`). Without ``expected_revision_id`` a concurrent write makes the
        patch re-apply to the fresh data, so concurrent patches are never lost. ``status`` is
        the new revision's, as in :meth:`update`.

        Raises:
            TypeError: both ``patch_data`` and ``operations``, or neither.
            PatchError: a patch that is neither a list nor an object, or fails to apply.
        """
        if (patch_data is None) == (operations is None):
            raise TypeError("patch() takes a patch: patch_data or operations=, exactly one")
        if patch_data is None:
            patch_data = operations
        if isinstance(patch_data, Mapping):
            if operations is not None:
                raise PatchError("operations= is a JSON Patch: a list of operations")
            return self.merge_patch(
                resource_id,
                patch_data,
                expected_revision_id=expected_revision_id,
                expected_etag=expected_etag,
                status=status,
                user=user,
                now=now,
            )
        if not isinstance(patch_data, Sequence) or isinstance(patch_data, str | bytes):
            raise PatchError("a patch is a JSON Patch (a list) or a merge patch (an object)")
        ops = list(patch_data)
        expected = Precondition.of(expected_revision_id, expected_etag)
        ctx = self._guard.context(Action.PATCH, user, now, resource_id=resource_id, operations=ops)
        return self._changes.append(
            ctx,
            lambda cur: self._binding.patched(cur, lambda doc: apply_json_patch(doc, ops)),
            expected=expected,
            status=status,
        )

    def merge_patch(
        self,
        resource_id: str,
        document: Mapping[str, Any],
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        status: RevisionStatus | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Apply an RFC 7386 JSON merge patch to the current data as a new revision
        (``status``: the new revision's, as in :meth:`update`)."""
        if not isinstance(document, Mapping):
            raise PatchError("a merge patch document must be a JSON object")
        doc = dict(document)
        expected = Precondition.of(expected_revision_id, expected_etag)
        ctx = self._guard.context(
            Action.MERGE_PATCH, user, now, resource_id=resource_id, document=doc
        )
        return self._changes.append(
            ctx,
            lambda cur: self._binding.patched(cur, lambda d: apply_merge_patch(d, doc)),
            expected=expected,
            status=status,
        )

    def modify(
        self,
        resource_id: str,
        data: T | Mapping[str, Any] | Sequence[Mapping[str, Any]] | UnsetType = UNSET,
        status: RevisionStatus | UnsetType = UNSET,
        *,
        expected_revision_id: str | None = None,
        expected_etag: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Edit the current revision in place; allowed only while it is a draft.

        ``data`` is new data or a JSON Patch (list of operations); ``status`` may move the
        revision from draft to stable, after which it is immutable.

        The rewrite is a compare-and-swap on the draft's content: a concurrent ``modify`` in
        between makes it re-read and re-apply (or, with ``expected_etag``, fail), so no edit
        is lost.

        Raises:
            RevisionNotDraftError: the current revision is stable.
            PreconditionFailedError: ``expected_revision_id``/``expected_etag`` does not hold.
        """
        expected = Precondition.of(expected_revision_id, expected_etag)
        ctx = self._guard.context(Action.MODIFY, user, now, resource_id=resource_id)
        make: Callable[[T], T]
        if isinstance(data, list | tuple):
            ops = list(data)
            make = lambda cur: self._binding.patched(cur, lambda d: apply_json_patch(d, ops))  # noqa: E731
        elif data is not UNSET:
            obj = self._binding.coerce(data)
            make = lambda _cur: obj  # noqa: E731
        else:
            make = lambda cur: cur  # noqa: E731
        new_status = None if status is UNSET else status
        return self._changes.modify(ctx, make, new_status, expected=expected)

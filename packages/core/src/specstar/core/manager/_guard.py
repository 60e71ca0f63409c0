"""The guard: the only code that talks to the permission checker.

It resolves who acts and when, asks the checker (``check``, ``check_data``, ``access_scope``),
and decides whether a resource lies inside the user's access scope — before a read or write
and, for writes, for the row the write would produce.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from msgspec import UnsetType

from ..actions import READ_ACTIONS
from ..context import ContextDefaults, Scope, resolve_context, scope_var
from ..errors import GoneError, NotFoundError, PermissionDeniedError, PreconditionFailedError
from ..indexes import IndexSpec
from ..pipeline import (
    DataPermissionChecker,
    OperationContext,
    PermissionChecker,
    Pipeline,
    ScopedPermissionChecker,
    Unrestricted,
)
from ..ports import Storage
from ..query import evaluate
from ..query.ast import Expr
from ..query.resolve import resolve_query
from ..types import ResourceMeta


class Guard:
    """Context resolution and permission decisions for one manager (or one ``using()`` view).

    The checker is the one configured on the pipeline (``pipeline.permission_checker``, which
    an application may replace). Its optional methods are detected once per checker, from the
    protocols :class:`~specstar.core.pipeline.DataPermissionChecker` and
    :class:`~specstar.core.pipeline.ScopedPermissionChecker`, not looked up on every call.
    """

    def __init__(
        self,
        name: str,
        pipeline: Pipeline,
        defaults: ContextDefaults,
        index_spec: IndexSpec,
    ) -> None:
        self.name = name
        self.pipeline = pipeline
        self.checkers = _Checkers(pipeline.permission_checker)
        self.defaults = defaults
        self.index_spec = index_spec
        self.scopes = scope_var(name)
        self.bound: Scope | None = None
        self.active = True

    def bind(self, scope: Scope) -> Guard:
        """A guard for a ``using()`` view: the same checker, with ``scope`` bound first."""
        guard: Guard = Guard.__new__(Guard)
        guard.__dict__.update(self.__dict__)
        guard.bound = scope
        guard.active = True
        return guard

    # == who, when, may they =====================================================================

    def context(
        self,
        action: str,
        user: str | UnsetType,
        now: datetime | UnsetType,
        *,
        resource_id: str | None = None,
        **inputs: Any,
    ) -> OperationContext:
        """Resolve the user and time of ``action`` and ask the checker's ``check``.

        Raises:
            PermissionDeniedError: the checker denies it.
            MissingOperationContextError: a write without a user/time under strict context.
        """
        if not self.active:
            raise RuntimeError("this ResourceOps was used outside its using() block")
        scopes = self.scopes.get()
        if self.bound is not None:
            scopes = (self.bound, *scopes)
        u, n = resolve_context(
            action,
            user=user,
            now=now,
            scopes=scopes,
            defaults=self.defaults,
            write=action not in READ_ACTIONS,
        )
        ctx = OperationContext(
            action=action,
            resource_name=self.name,
            user=u,
            now=n,
            resource_id=resource_id,
            inputs=inputs,
        )
        self._current().checker.check(ctx)
        return ctx

    def _current(self) -> _Checkers:
        if self.checkers.checker is not self.pipeline.permission_checker:
            self.checkers = _Checkers(self.pipeline.permission_checker)
        return self.checkers

    def check_data(self, ctx: OperationContext) -> None:
        """Ask the checker about the new data of a write (``ctx.data``)."""
        data_checker = self._current().data_checker
        if data_checker is not None:
            data_checker.check_data(ctx)

    def scope(self, ctx: OperationContext) -> Expr | Unrestricted:
        """The user's row filter for this action.

        Raises:
            PermissionDeniedError: the user may not act on any row.
        """
        scoped_checker = self._current().scoped_checker
        if scoped_checker is None:
            return Unrestricted()
        scope = scoped_checker.access_scope(ctx)
        if scope is None:
            raise PermissionDeniedError(
                f"{ctx.user!r} may not access any {self.name}", user=ctx.user, action=ctx.action
            )
        return scope

    def admits(self, ctx: OperationContext, meta: ResourceMeta) -> bool:
        """Whether ``meta`` lies inside the user's access scope."""
        scope = self.scope(ctx)
        return isinstance(scope, Unrestricted) or evaluate.matches(
            resolve_query(scope, self.index_spec).where, meta
        )

    def visible_meta(
        self, ctx: OperationContext, storage: Storage, *, include_deleted: bool = False
    ) -> ResourceMeta:
        """The meta of ``ctx.resource_id`` as this user may see it.

        Raises:
            NotFoundError: it does not exist, or lies outside the user's access scope.
            GoneError: it is soft-deleted (unless ``include_deleted``).
            PermissionDeniedError: the user's access scope is empty.
        """
        rid = ctx.resource_id
        assert rid is not None
        meta = storage.get_meta(rid)
        if meta is None or not self.admits(ctx, meta):
            raise NotFoundError(f"{self.name} {rid!r} does not exist", resource_id=rid)
        if meta.is_deleted and not include_deleted:
            raise GoneError(rid)
        return meta

    def check_result(
        self,
        ctx: OperationContext,
        meta: ResourceMeta | None,
        indexed: dict[str, Any],
        schema_version: str | None,
    ) -> None:
        """Refuse a write whose resulting row would lie outside the user's access scope.

        ``meta`` is the row before the write (``None`` for a create); ``indexed`` the indexed
        values the write stores. So a write can neither create a row its author could not
        see nor move one out of their sight.
        """
        scope = self.scope(ctx)
        if isinstance(scope, Unrestricted):
            return
        assert ctx.resource_id is not None
        if meta is None:
            meta = ResourceMeta(
                resource_id=ctx.resource_id,
                current_revision_id="",
                schema_version=schema_version,
                total_revision_count=0,
                revision_seq=0,
                created_time=ctx.now,
                created_by=ctx.user,
                updated_time=ctx.now,
                updated_by=ctx.user,
            )
        after = msgspec.structs.replace(
            meta, indexed_data=indexed, updated_time=ctx.now, updated_by=ctx.user, is_deleted=False
        )
        if not evaluate.matches(resolve_query(scope, self.index_spec).where, after):
            raise PermissionDeniedError(
                f"{ctx.user!r} may not {ctx.action} {self.name} {ctx.resource_id!r} into this "
                "state: the result would lie outside their access scope",
                user=ctx.user,
                action=ctx.action,
            )


class _Checkers:
    """A permission checker and its optional parts, detected once."""

    def __init__(self, checker: PermissionChecker) -> None:
        self.checker = checker
        self.data_checker = checker if isinstance(checker, DataPermissionChecker) else None
        self.scoped_checker = checker if isinstance(checker, ScopedPermissionChecker) else None


def check_expected(meta: ResourceMeta, expected: str | None) -> None:
    """Raise :class:`PreconditionFailedError` unless ``expected`` is ``None`` or current."""
    if expected is not None and meta.current_revision_id != expected:
        raise PreconditionFailedError(meta.resource_id, expected, meta.current_revision_id)

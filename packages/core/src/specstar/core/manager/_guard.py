"""The guard: the only code that talks to the permission checker.

It resolves who acts and when, asks the checker (``check``, ``check_resource``, ``check_data``,
``access_scope``),
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
from ..errors import GoneError, NotFoundError, PermissionDeniedError
from ..indexes import IndexSpec
from ..pipeline import (
    UNRESTRICTED,
    OperationContext,
    Pipeline,
    Unrestricted,
)
from ..ports import Storage, StoredRevision
from ..query import evaluate
from ..query.ast import And, Condition, Expr, Not, Or
from ..query.resolve import resolve_query
from ..types import ResourceMeta

#: What an access scope may be besides ``None``: a filter expression or ``UNRESTRICTED``.
_SCOPES = (Condition, And, Or, Not, Unrestricted)

#: Distinct access scopes a guard keeps resolved (the cache starts over when full).
_SCOPE_CACHE_SIZE = 256

_encode_scope = msgspec.json.Encoder().encode


class Guard:
    """Context resolution and permission decisions for one manager (or one ``using()`` view).

    The checker is the one configured on the pipeline (``pipeline.permission_checker``, which
    an application may replace). What it needs is detected once per change of the pipeline
    (:attr:`~specstar.core.pipeline.Pipeline.stages`): :class:`~specstar.core.pipeline.AllowAll`
    is never called, and a checker without ``check_data``/``access_scope`` costs nothing
    there. Access scopes are resolved against the indexed fields once per distinct scope.
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
        self.defaults = defaults
        self.index_spec = index_spec
        self.scopes = scope_var(name)
        self.bound: Scope | None = None
        self.active = True
        self.system = False
        self.resolved_scopes: dict[bytes, Expr | None] = {}

    def bind(self, scope: Scope) -> Guard:
        """A guard for a ``using()`` view: the same checker, with ``scope`` bound first."""
        guard: Guard = Guard.__new__(Guard)
        guard.__dict__.update(self.__dict__)
        guard.bound = scope
        guard.active = True
        return guard

    def bound_resource_id(self) -> str | None:
        """The resource id bound by the innermost ``using(resource_id=...)``, if any."""
        scopes = self.scopes.get()
        if self.bound is not None:
            scopes = (self.bound, *scopes)
        for scope in scopes:
            if isinstance(scope.resource_id, str):
                return scope.resource_id
        return None

    def for_system(self) -> Guard:
        """A guard for the framework's own steps (referential integrity on behalf of a write
        that was authorized already): the user and time are resolved as usual and recorded
        on what is written, but the checker is never asked and no access scope applies."""
        guard: Guard = Guard.__new__(Guard)
        guard.__dict__.update(self.__dict__)
        guard.system = True
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
        stages = self.pipeline.stages
        if stages.check and not self.system:
            stages.checker.check(ctx)
        return ctx

    def check_data(self, ctx: OperationContext) -> None:
        """Ask the checker about the new data of a write (``ctx.data``)."""
        check_data = self.pipeline.stages.check_data
        if check_data is not None and not self.system:
            check_data(ctx)

    def scope(self, ctx: OperationContext) -> Expr | Unrestricted:
        """The user's row filter for this action.

        Raises:
            PermissionDeniedError: the user may not act on any row.
        """
        access_scope = self.pipeline.stages.access_scope
        if access_scope is None or self.system:
            return UNRESTRICTED
        scope = access_scope(ctx)
        if scope is None:
            raise PermissionDeniedError(
                f"{ctx.user!r} may not access any {self.name}", user=ctx.user, action=ctx.action
            )
        if not isinstance(scope, _SCOPES):
            # a whole query (its sort, limit or offset would be dropped silently) or anything
            # else: the checker's mistake, named here rather than failing deep in a search
            raise TypeError(
                f"{self.name}: the permission checker's access_scope must return a filter "
                f"expression (e.g. QB['owner'] == user), UNRESTRICTED or None; "
                f"it returned {type(scope).__name__}: {scope!r}"
            )
        return scope

    def admits(self, ctx: OperationContext, meta: ResourceMeta) -> bool:
        """Whether ``meta`` lies inside the user's access scope (after the checker's
        ``check_resource``, if it has one, allowed acting on it).

        Raises:
            PermissionDeniedError: ``check_resource`` denies it, or the scope is empty.
        """
        check_resource = self.pipeline.stages.check_resource
        if check_resource is not None:
            check_resource(msgspec.structs.replace(ctx, meta=meta))
        scope = self.scope(ctx)
        return isinstance(scope, Unrestricted) or evaluate.matches(self._resolved(scope), meta)

    def _resolved(self, scope: Expr) -> Expr | None:
        """``scope`` resolved against the indexed fields, cached by its encoded form (so
        values equal in Python but of another kind, ``1`` and ``True``, stay apart)."""
        try:
            key = _encode_scope(scope)
        except (TypeError, msgspec.EncodeError):
            return resolve_query(scope, self.index_spec).where
        cache = self.resolved_scopes
        if key in cache:
            try:
                return cache[key]
            except KeyError:  # another thread cleared the cache meanwhile
                pass
        where = resolve_query(scope, self.index_spec).where
        if len(cache) >= _SCOPE_CACHE_SIZE:
            cache.clear()
        cache[key] = where
        return where

    def visible_meta(
        self, ctx: OperationContext, storage: Storage, *, include_deleted: bool = False
    ) -> ResourceMeta:
        """The meta of ``ctx.resource_id`` as this user may see it.

        Raises:
            NotFoundError: it does not exist, or lies outside the user's access scope.
            GoneError: it is soft-deleted (unless ``include_deleted``).
            PermissionDeniedError: the user's access scope is empty.
        """
        assert ctx.resource_id is not None
        return self.visible(ctx, storage.get_meta(ctx.resource_id), include_deleted)

    def visible_current(
        self, ctx: OperationContext, storage: Storage, *, include_deleted: bool = False
    ) -> tuple[ResourceMeta, StoredRevision]:
        """Like :meth:`visible_meta`, with the current revision read in the same storage call.

        Raises:
            NotFoundError, GoneError, PermissionDeniedError: as :meth:`visible_meta`.
        """
        assert ctx.resource_id is not None
        current = storage.get_current(ctx.resource_id)
        self.visible(ctx, None if current is None else current[0], include_deleted)
        assert current is not None
        return current

    def visible(
        self, ctx: OperationContext, meta: ResourceMeta | None, include_deleted: bool
    ) -> ResourceMeta:
        """``meta`` (as read for ``ctx.resource_id``) if this user may see it.

        Raises:
            NotFoundError, GoneError, PermissionDeniedError: as :meth:`visible_meta`.
        """
        rid = ctx.resource_id
        if meta is None or not self.admits(ctx, meta):
            raise NotFoundError(f"{self.name} {rid!r} does not exist", resource_id=rid)
        if meta.is_deleted and not include_deleted:
            assert rid is not None
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
                total_revision_count=1,  # as the stored row (and ``row_admits``) carries
                revision_seq=1,
                created_time=ctx.now,
                created_by=ctx.user,
                updated_time=ctx.now,
                updated_by=ctx.user,
            )
        after = msgspec.structs.replace(
            meta, indexed_data=indexed, updated_time=ctx.now, updated_by=ctx.user, is_deleted=False
        )
        if not evaluate.matches(self._resolved(scope), after):
            raise PermissionDeniedError(
                f"{ctx.user!r} may not {ctx.action} {self.name} {ctx.resource_id!r} into this "
                "state: the result would lie outside their access scope",
                user=ctx.user,
                action=ctx.action,
            )

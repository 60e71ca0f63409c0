"""Resource-backed per-resource access lists (ACL); see :class:`ACLChecker`."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from ._access import COLLECTION_ACTIONS, ResourceSource, action_matches, denied
from ._rbac import Effect, Membership, Role, _fetch, _Lookups, _require
from .errors import PermissionDeniedError
from .pipeline import UNRESTRICTED, AccessScope, OperationContext
from .query.ast import Condition, Expr, Field, Op
from .query.builder import QB

__all__ = ["ACLChecker", "ACLEntry"]


class ACLEntry(msgspec.Struct, kw_only=True):
    """One access-list entry: ``principal`` may (not) do ``action`` on a resource.

    Attributes:
        principal: a user name, ``"role:<name>"`` (needs memberships), or ``"*"`` (everyone).
        resource_name: the resource type, or ``"*"``.
        resource_id: one resource, or ``"*"`` for every resource of the type.
        action: an action, a group (``"read"``, ``"write"``) or ``"*"``.
        effect: ``"allow"`` or ``"deny"``.
    """

    principal: str
    resource_name: str = "*"
    resource_id: str = "*"
    action: str = "*"
    effect: Effect = "allow"


# == ACL =========================================================================================


class ACLChecker:
    """Per-resource access lists from :class:`ACLEntry` resources.

    A user's principals are their name, ``"*"`` and ``"role:<name>"`` for each role (with
    ``memberships``; ancestors too with ``roles``). Among the entries of these principals that
    match the resource name and action:

    * for one resource (every action with a resource id, ``create`` included), entries for that
      id or ``"*"`` decide: a deny denies, otherwise an allow is needed. The decision depends
      only on the entries, never on whether the resource exists.
    * for ``search``/``count``, any allow lets the request through, and the access scope limits
      rows: everything with a ``"*"`` allow (minus ids denied one by one), else
      ``$resource_id in [ids with an allow entry]`` minus denied ids. At most
      ``max_scope_ids`` ids go into such a filter; a user with more per-resource grants is
      denied search with a message saying so (grant them through a role or ``"*"`` entry
      instead) rather than shown a silently truncated list.

    Granting access to a newly created resource (e.g. to its creator) is the application's
    job, e.g. an event handler that creates an :class:`ACLEntry`.

    Indexed fields required (checked at construction): ``ACLEntry.principal`` and
    ``ACLEntry.resource_name``; ``Membership.user`` when ``memberships`` is given.

    Args:
        entries: the manager holding the entries.
        memberships, roles: optional role resolution (as in :class:`RBACChecker`).
        root_user: a user allowed everything, without lookups.
        lookup_user: the user the lookups run as (default: ``root_user``).
        max_scope_ids: the bound described above.
        cache_ttl: seconds to keep a user's entries (default 0); see :meth:`invalidate`.
    """

    def __init__(
        self,
        entries: ResourceSource[ACLEntry],
        *,
        memberships: ResourceSource[Membership] | None = None,
        roles: ResourceSource[Role] | None = None,
        root_user: str | None = None,
        lookup_user: str | None = None,
        max_scope_ids: int = 1000,
        cache_ttl: float = 0.0,
    ) -> None:
        _require(entries, ACLEntry, ["principal", "resource_name"], "ACLChecker")
        if roles is not None and memberships is None:
            raise ValueError("ACLChecker: roles need memberships")
        if max_scope_ids < 1:
            raise ValueError("max_scope_ids must be >= 1")
        user: str | UnsetType = lookup_user or root_user or UNSET
        self._lookups = _Lookups(
            memberships,
            roles,
            lookup_user=user,
            cache_ttl=cache_ttl,
            who="ACLChecker",
            sources=[entries],
        )
        self.entries = entries
        self.root_user = root_user
        self.max_scope_ids = max_scope_ids

    def invalidate(self) -> None:
        """Forget cached entries and roles."""
        self._lookups.invalidate()

    def principals(self, user: str) -> frozenset[str]:
        """The principals ``user`` acts as."""
        with self._lookups.running():
            roles = self._lookups.roles_of(user)
        return frozenset({user, "*", *(f"role:{r}" for r in roles)})

    def _entries(self, ctx: OperationContext) -> list[ACLEntry]:
        def compute() -> tuple[ACLEntry, ...]:
            principals = sorted(
                {ctx.user, "*", *(f"role:{r}" for r in self._lookups.roles_of(ctx.user))}
            )
            where = QB["principal"].in_(principals) & QB["resource_name"].in_(
                [ctx.resource_name, "*"]
            )
            return tuple(_fetch(self.entries, where, self._lookups.lookup_user))

        found = self._lookups.cached(("acl", ctx.user, ctx.resource_name), compute)
        return [e for e in found if action_matches(e.action, ctx.action)]

    def _skip(self, ctx: OperationContext) -> bool:
        return ctx.user == self.root_user or self._lookups.own_read(ctx)

    @staticmethod
    def _collection(ctx: OperationContext) -> bool:
        return ctx.resource_id is None or ctx.action in COLLECTION_ACTIONS

    def check(self, ctx: OperationContext) -> None:
        """Deny unless an entry grants the action (and none denies it)."""
        if self._skip(ctx):
            return
        entries = self._entries(ctx)
        if self._collection(ctx):
            if any(e.effect == "deny" and e.resource_id == "*" for e in entries):
                raise denied(ctx, "an ACL entry denies it for every resource")
            if not any(e.effect == "allow" for e in entries):
                raise denied(ctx, "no ACL entry grants it")
            return
        relevant = [e for e in entries if e.resource_id in ("*", ctx.resource_id)]
        if any(e.effect == "deny" for e in relevant):
            raise denied(ctx, "an ACL entry denies it")
        if not any(e.effect == "allow" for e in relevant):
            raise denied(ctx, "no ACL entry grants it on this resource")

    def access_scope(self, ctx: OperationContext) -> AccessScope:
        """Single resources: decided by :meth:`check`; search/count: the granted ids."""
        if self._skip(ctx):
            return UNRESTRICTED
        if not self._collection(ctx):
            try:
                self.check(ctx)
            except PermissionDeniedError:
                return None
            return UNRESTRICTED
        entries = self._entries(ctx)
        if any(e.effect == "deny" and e.resource_id == "*" for e in entries):
            return None
        denied_ids = {e.resource_id for e in entries if e.effect == "deny"}
        if any(e.effect == "allow" and e.resource_id == "*" for e in entries):
            if not denied_ids:
                return UNRESTRICTED
            return self._ids(ctx, Op.not_in, denied_ids)
        ids = {e.resource_id for e in entries if e.effect == "allow"} - denied_ids
        return self._ids(ctx, Op.in_, ids) if ids else None

    def _ids(self, ctx: OperationContext, op: Op, ids: set[str]) -> Expr:
        if len(ids) > self.max_scope_ids:
            raise denied(
                ctx,
                f"{len(ids)} per-resource ACL entries apply, more than max_scope_ids="
                f"{self.max_scope_ids}; grant access through a role or a '*' entry",
            )
        return Condition(Field("resource_id", meta=True), op, tuple(sorted(ids)))

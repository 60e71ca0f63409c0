"""Resource-backed permissions: role-based rules (RBAC) and their shared lookup machinery.

Roles, memberships, rules and ACL entries are ordinary resources, so they are versioned,
searchable and editable through the same API as everything else. The checkers read them through
the public :class:`~specstar.core.manager.ResourceManager` API (``list_page`` with indexed
filters, cursor-paged), as ``lookup_user`` (default: the root user). Soft-deleted entries do not
count.

The reads a checker makes for its own lookups (read actions on its backing resources, while the
lookup runs) are allowed by that checker, so the same checker may also guard the managers
holding the roles and rules without recursing forever; everything else is decided normally.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, cast

import msgspec
from msgspec import UNSET, UnsetType

from ._access import (
    READ_ACTIONS,
    ResourceSource,
    action_matches,
    all_scopes,
    any_scope,
    denied,
    row_admits,
)
from .actions import Action
from .annotations import Unique
from .errors import QueryError
from .pipeline import UNRESTRICTED, AccessScope, OperationContext
from .query.ast import And, Condition, Expr, Not, Or, Query
from .query.builder import QB
from .query.grammar import parse_condition

__all__ = [
    "USER_PLACEHOLDER",
    "Membership",
    "PermissionRule",
    "RBACChecker",
    "Role",
    "compile_scope",
    "find_cycles",
]

log = logging.getLogger("specstar.permissions")
T = TypeVar("T")
Effect = Literal["allow", "deny"]

#: In a :class:`PermissionRule` scope, a string value equal to this is replaced by the user.
USER_PLACEHOLDER = "$user"

_CHUNK = 500  # values per ``in`` filter of a lookup


# == models ======================================================================================


class Role(msgspec.Struct, kw_only=True):
    """A named role; it has every permission of its ``parents`` (transitively).

    A cycle among parents is tolerated: every role on it gets the permissions of all of them,
    and a warning names the cycle (see :meth:`RBACChecker.find_role_cycles`). A role named by a
    membership or a rule needs no ``Role`` resource unless it has parents.
    """

    name: Annotated[str, Unique()]
    parents: list[str] = []
    description: str = ""


class Membership(msgspec.Struct, kw_only=True):
    """``user`` has ``role``."""

    user: str
    role: str


class PermissionRule(msgspec.Struct, kw_only=True):
    """What a role may (``allow``) or may not (``deny``) do.

    Attributes:
        role: the role it applies to; ``"*"`` applies to every user.
        resource: a resource name, or ``"*"`` for all.
        action: an action, a group (``"read"``, ``"write"``) or ``"*"``.
        effect: ``"allow"`` or ``"deny"``.
        scope: optional row filter in the query string form; a string value ``"$user"`` stands
            for the acting user, e.g. ``'$created_by == "$user"'`` or ``'owner == "$user"'``.
            The user is substituted into the parsed tree, never into the text, so no user name
            can change the filter's shape. Data paths must be indexed on the guarded model.
    """

    role: str
    resource: str = "*"
    action: str = "*"
    effect: Effect = "allow"
    scope: str | None = None

    def __post_init__(self) -> None:
        if self.effect not in ("allow", "deny"):
            raise ValueError(f"effect must be 'allow' or 'deny', not {self.effect!r}")
        if self.scope is not None:
            compile_scope(self.scope, "user")


# == helpers =====================================================================================


@functools.lru_cache(maxsize=512)
def _parse_scope(text: str) -> Expr:
    return parse_condition(text)


def _substitute_value(value: Any, user: str) -> Any:
    if isinstance(value, str) and value == USER_PLACEHOLDER:
        return user
    if isinstance(value, tuple | list):
        return tuple(_substitute_value(v, user) for v in value)
    return value


def _substitute(expr: Expr, user: str) -> Expr:
    if isinstance(expr, Condition):
        return Condition(expr.field, expr.op, _substitute_value(expr.value, user))
    if isinstance(expr, Not):
        return Not(_substitute(expr.item, user))
    items = tuple(_substitute(item, user) for item in expr.items)
    return And(items) if isinstance(expr, And) else Or(items)


def compile_scope(text: str, user: str) -> Expr:
    """Parse a rule scope and put ``user`` in place of every ``"$user"`` value.

    Raises:
        QueryError: the text does not follow the query string grammar.
    """
    return _substitute(_parse_scope(text), user)


def find_cycles(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Cycles of a ``{role: parents}`` graph, each once, starting at its smallest name."""
    gray, black = 1, 2
    color: dict[str, int] = {}
    found: dict[tuple[str, ...], None] = {}
    for start in sorted(graph):
        if start in color:
            continue
        path = [start]
        color[start] = gray
        stack: list[Iterator[str]] = [iter(graph.get(start, ()))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                color[path.pop()] = black
            elif color.get(child) == gray:
                cycle = path[path.index(child) :]
                i = cycle.index(min(cycle))
                found.setdefault(tuple(cycle[i:] + cycle[:i]))
            elif child not in color:
                color[child] = gray
                path.append(child)
                stack.append(iter(graph.get(child, ())))
    return [list(c) for c in found]


def _require(
    manager: ResourceSource[Any], model: type[Any], paths: Iterable[str], who: str
) -> None:
    if not (isinstance(manager.model, type) and issubclass(manager.model, model)):
        raise TypeError(
            f"{who} needs a ResourceManager of {model.__name__}, not of {manager.model}"
        )
    missing = [p for p in paths if manager.index_spec.get(p) is None]
    if missing:
        raise ValueError(
            f"{who} searches {manager.name!r} by {', '.join(missing)}: create that manager with "
            f"indexed_fields including {missing!r}"
        )


def _fetch(manager: ResourceSource[T], where: Expr | None, user: str | UnsetType) -> list[T]:
    """Every live resource matching ``where`` (all pages)."""
    out: list[T] = []
    query = Query(where=where, limit=manager.max_limit)
    while True:
        page = manager.list_page(query, returns=("data",), user=user)
        out.extend(cast(T, item.data) for item in page.items if item.data is not UNSET)
        if not page.has_more:
            return out
        query = query.replace(cursor=page.next_cursor)


def _fetch_in(
    manager: ResourceSource[T], path: str, values: Iterable[str], user: str | UnsetType
) -> list[T]:
    ordered = sorted(set(values))
    out: list[T] = []
    for i in range(0, len(ordered), _CHUNK):
        out.extend(_fetch(manager, QB[path].in_(ordered[i : i + _CHUNK]), user))
    return out


#: Ids of the checkers whose own lookups are running in this context.
_LOOKING_UP: ContextVar[frozenset[int]] = ContextVar(
    "specstar-permission-lookup", default=frozenset()
)


class _Lookups:
    """Role resolution and caching shared by the RBAC and ACL checkers."""

    def __init__(
        self,
        memberships: ResourceSource[Membership] | None,
        roles: ResourceSource[Role] | None,
        *,
        lookup_user: str | UnsetType,
        cache_ttl: float,
        who: str,
        sources: Iterable[ResourceSource[Any]] = (),
    ) -> None:
        if memberships is not None:
            _require(memberships, Membership, ["user"], who)
        if roles is not None:
            _require(roles, Role, ["name"], who)
        self.memberships = memberships
        self.roles = roles
        self.lookup_user = lookup_user
        self.cache_ttl = cache_ttl
        self._cache: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._reported: set[tuple[str, ...]] = set()
        backing = [memberships, roles, *sources]
        self.source_names = frozenset(m.name for m in backing if m is not None)

    @contextmanager
    def running(self) -> Iterator[None]:
        token = _LOOKING_UP.set(_LOOKING_UP.get() | {id(self)})
        try:
            yield
        finally:
            _LOOKING_UP.reset(token)

    def own_read(self, ctx: OperationContext) -> bool:
        """Whether ``ctx`` is one of this checker's own lookups (a read of its resources)."""
        return (
            ctx.action in READ_ACTIONS
            and ctx.resource_name in self.source_names
            and id(self) in _LOOKING_UP.get()
        )

    def cached(self, key: Any, compute: Callable[[], T]) -> T:
        if self.cache_ttl <= 0:
            with self.running():
                return compute()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return cast(T, hit[1])
        with self.running():
            value = compute()
        with self._lock:
            self._cache[key] = (now + self.cache_ttl, value)
        return value

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def roles_of(self, user: str) -> frozenset[str]:
        if self.memberships is None:
            return frozenset()
        direct = {m.role for m in _fetch(self.memberships, QB["user"] == user, self.lookup_user)}
        return self.expand(direct)

    def expand(self, names: Iterable[str]) -> frozenset[str]:
        """``names`` and all their ancestors; terminates on cycles (and reports them)."""
        seen = set(names)
        if self.roles is None or not seen:
            return frozenset(seen)
        graph: dict[str, list[str]] = {}
        frontier = set(seen)
        while frontier:
            level: dict[str, list[str]] = {name: [] for name in frontier}
            for role in _fetch_in(self.roles, "name", frontier, self.lookup_user):
                level.setdefault(role.name, []).extend(role.parents)
            graph.update(level)
            frontier = {p for parents in level.values() for p in parents} - seen
            seen |= frontier
        self.report_cycles(graph)
        return frozenset(seen)

    def report_cycles(self, graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
        cycles = find_cycles(graph)
        for cycle in cycles:
            key = tuple(cycle)
            if key not in self._reported:
                self._reported.add(key)
                log.warning(
                    "role inheritance cycle %s ignored: each of these roles has the "
                    "permissions of all of them",
                    " -> ".join([*cycle, cycle[0]]),
                )
        return cycles


class _Decision(NamedTuple):
    allowed: bool
    scope: AccessScope
    reason: str


_ALLOW_ALL = _Decision(True, UNRESTRICTED, "")


# == RBAC ========================================================================================


class RBACChecker:
    """Role-based access control from :class:`Role`, :class:`Membership` and
    :class:`PermissionRule` resources.

    A user's roles are their memberships plus every ancestor role. The rules of those roles
    (and of role ``"*"``) that match the resource name and action decide:

    * an unscoped ``deny`` denies (explicit deny beats any allow);
    * without a matching ``allow`` the action is denied;
    * otherwise the rows allowed are the OR of the allow scopes (an unscoped allow: all rows),
      minus the rows any scoped ``deny`` matches. Rows where a deny scope is *unknown* (a null
      value) stay hidden: the checker fails closed.

    A create must produce a row inside the allowed scope (``check_data``), so a scoped user
    cannot create resources for someone else. A rule whose scope no longer parses grants
    nothing (allow) or denies everything (deny), and is logged.

    Indexed fields required (checked at construction): ``Membership.user``, ``PermissionRule.role``
    (``Role.name`` is unique, hence indexed).

    Args:
        roles, memberships, rules: the managers holding the three resource types.
        root_user: a user allowed everything, without lookups.
        lookup_user: the user the lookups run as (default: ``root_user``, else the managers'
            default user).
        cache_ttl: seconds to keep a user's roles and rules (default 0: always read fresh);
            :meth:`invalidate` empties the cache.
    """

    def __init__(
        self,
        roles: ResourceSource[Role],
        memberships: ResourceSource[Membership],
        rules: ResourceSource[PermissionRule],
        *,
        root_user: str | None = None,
        lookup_user: str | None = None,
        cache_ttl: float = 0.0,
    ) -> None:
        _require(rules, PermissionRule, ["role"], "RBACChecker")
        user: str | UnsetType = lookup_user or root_user or UNSET
        self._lookups = _Lookups(
            memberships,
            roles,
            lookup_user=user,
            cache_ttl=cache_ttl,
            who="RBACChecker",
            sources=[rules],
        )
        self.rules = rules
        self.root_user = root_user

    def invalidate(self) -> None:
        """Forget cached roles and rules (after changing them, when ``cache_ttl`` > 0)."""
        self._lookups.invalidate()

    def effective_roles(self, user: str) -> frozenset[str]:
        """The user's roles, inherited ones included."""
        return self._load(user)[0]

    def find_role_cycles(self) -> list[list[str]]:
        """Every cycle among the stored roles' parents (for diagnostics)."""
        assert self._lookups.roles is not None
        with self._lookups.running():
            roles = _fetch(self._lookups.roles, None, self._lookups.lookup_user)
        graph: dict[str, list[str]] = {}
        for role in roles:
            graph.setdefault(role.name, []).extend(role.parents)
        return find_cycles(graph)

    def _load(self, user: str) -> tuple[frozenset[str], tuple[PermissionRule, ...]]:
        def compute() -> tuple[frozenset[str], tuple[PermissionRule, ...]]:
            roles = self._lookups.roles_of(user)
            found = _fetch_in(self.rules, "role", roles | {"*"}, self._lookups.lookup_user)
            return roles, tuple(found)

        return self._lookups.cached(("rbac", user), compute)

    def _decide(self, ctx: OperationContext) -> _Decision:
        if ctx.user == self.root_user or self._lookups.own_read(ctx):
            return _ALLOW_ALL
        roles, rules = self._load(ctx.user)
        matching = [
            r
            for r in rules
            if r.resource in ("*", ctx.resource_name) and action_matches(r.action, ctx.action)
        ]
        deny_scopes: list[Expr] = []
        allow_scopes: list[AccessScope] = []
        for rule in matching:
            try:
                scope = None if rule.scope is None else compile_scope(rule.scope, ctx.user)
            except QueryError as exc:
                log.error("permission rule %r has an invalid scope: %s", rule, exc)
                if rule.effect == "deny":
                    return _Decision(False, None, f"a deny rule of role {rule.role!r} applies")
                continue
            if rule.effect == "deny":
                if scope is None:
                    reason = f"a rule of role {rule.role!r} denies {rule.action!r}"
                    return _Decision(False, None, reason)
                deny_scopes.append(scope)
            else:
                allow_scopes.append(UNRESTRICTED if scope is None else scope)
        if not allow_scopes:
            shown = f"role(s) {', '.join(sorted(roles))}" if roles else "the user (no roles)"
            return _Decision(False, None, f"no rule allows it for {shown}")
        rows = any_scope(allow_scopes)
        if deny_scopes:
            hidden = deny_scopes[0] if len(deny_scopes) == 1 else Or(tuple(deny_scopes))
            rows = all_scopes([rows, Not(hidden)])
        return _Decision(True, rows, "")

    def check(self, ctx: OperationContext) -> None:
        """Deny when no rule allows the action or an unscoped rule denies it."""
        decision = self._decide(ctx)
        if not decision.allowed:
            raise denied(ctx, decision.reason)

    def access_scope(self, ctx: OperationContext) -> AccessScope:
        """The rows the user's rules allow for ``ctx.action``."""
        decision = self._decide(ctx)
        return decision.scope if decision.allowed else None

    def check_data(self, ctx: OperationContext) -> None:
        """A create must write a row inside the user's scope."""
        if ctx.action != Action.CREATE or ctx.data is None:
            return
        scope = self.access_scope(ctx)
        if isinstance(scope, Condition | And | Or | Not) and not row_admits(scope, ctx):
            raise denied(ctx, "the new resource would lie outside the rows the user's rules allow")

"""Permission checkers: who may do what, to which rows, and to which fields.

Every checker implements the :class:`~specstar.core.pipeline.PermissionChecker` protocol:

* ``check(ctx)`` runs before anything else of a request and raises
  :class:`~specstar.core.errors.PermissionDeniedError` to deny;
* ``check_data(ctx)`` (optional) runs once the new data of a write is known;
* ``access_scope(ctx)`` (optional) returns the rows the user may touch: a query expression, or
  :data:`~specstar.core.pipeline.UNRESTRICTED`, or ``None`` for none at all. The manager ANDs
  it into every search/count/list and reports a single resource outside it as not found, so a
  hidden resource is indistinguishable from a missing one.

Actions are the manager's action names (``create``, ``update``, ``patch``, ``merge_patch``,
``modify``, ``switch``, ``delete``, ``restore``, ``permanently_delete``, ``prune``, ``get``,
``get_meta``, ``get_revision_info``, ``list_revisions``, ``exists``, ``revision_exists``,
``search``, ``count``, and the maintenance writes ``migrate`` and ``set_null``), the members
of :class:`~specstar.core.actions.Action`; wherever an action is expected the groups
``"read"`` (:data:`READ_ACTIONS`), ``"write"`` (:data:`WRITE_ACTIONS`, every change),
``"maintenance"`` (``migrate``, ``prune``, ``set_null``) and ``"*"`` work too.

Checkers compose with :class:`CompositeChecker` (every checker must allow; scopes are ANDed).
The resource-backed :class:`RBACChecker` and :class:`ACLChecker` live in
:mod:`specstar.core._rbac` and :mod:`specstar.core._acl` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import msgspec

from ._access import (
    ACTION_GROUPS,
    MISSING,
    READ_ACTIONS,
    WRITE_ACTIONS,
    action_matches,
    all_scopes,
    any_scope,
    data_value,
    denied,
    model_defaults,
    to_doc,
    user_predicate,
)
from ._acl import ACLChecker, ACLEntry
from ._rbac import Membership, PermissionRule, RBACChecker, Role
from .actions import Action
from .context import ANONYMOUS
from .pipeline import (
    UNRESTRICTED,
    AccessScope,
    AllowAll,
    DataPermissionChecker,
    OperationContext,
    PermissionChecker,
    ScopedPermissionChecker,
    Unrestricted,
)
from .query import evaluate
from .query.ast import PATH_RE, Condition, Field, Op
from .types import ResourceMeta

__all__ = [
    "ACTION_GROUPS",
    "READ_ACTIONS",
    "UNRESTRICTED",
    "WRITE_ACTIONS",
    "ACLChecker",
    "ACLEntry",
    "AccessScope",
    "ActionBasedChecker",
    "AllowAll",
    "CompositeChecker",
    "FieldLevelChecker",
    "Membership",
    "OwnershipChecker",
    "PermissionRule",
    "RBACChecker",
    "Role",
    "RootOnly",
    "Rule",
    "RuleLike",
    "action_matches",
    "admin_only",
    "any_user",
    "as_rule",
    "authenticated",
    "deny_all",
    "owner",
]


# == rules =======================================================================================


class Rule:
    """A decision about one operation, plus the rows it admits.

    Rules combine with ``|`` (either allows; the scope is the OR of the scopes of the rules
    that allow) and ``&`` (both must allow; the scopes are ANDed). A plain callable
    ``(ctx) -> bool`` becomes a rule through :func:`as_rule`.
    """

    #: Whether the rule restricts rows to the user's own (see :data:`owner`).
    requires_ownership = False

    def __init__(self, name: str) -> None:
        """Name the rule (the name appears in denial messages)."""
        self.name = name

    def allows(self, ctx: OperationContext) -> bool:
        """Whether the operation may go ahead (subject to :meth:`scope`)."""
        raise NotImplementedError

    def scope(self, ctx: OperationContext) -> AccessScope:
        """The rows an allowed operation may touch (default: all of them)."""
        return UNRESTRICTED

    def __call__(self, ctx: OperationContext) -> bool:
        """Same as :meth:`allows`, so a rule is also a plain predicate."""
        return self.allows(ctx)

    def __or__(self, other: RuleLike) -> Rule:
        return _AnyOf((self, as_rule(other)))

    def __ror__(self, other: RuleLike) -> Rule:
        return _AnyOf((as_rule(other), self))

    def __and__(self, other: RuleLike) -> Rule:
        return _AllOf((self, as_rule(other)))

    def __rand__(self, other: RuleLike) -> Rule:
        return _AllOf((as_rule(other), self))

    def __repr__(self) -> str:
        return self.name


#: A :class:`Rule` or a predicate over the operation context.
RuleLike = Rule | Callable[[OperationContext], bool]


class _Predicate(Rule):
    def __init__(self, fn: Callable[[OperationContext], bool]) -> None:
        super().__init__(getattr(fn, "__name__", "predicate"))
        self.fn = fn

    def allows(self, ctx: OperationContext) -> bool:
        return bool(self.fn(ctx))


class _Const(Rule):
    def __init__(self, name: str, value: bool) -> None:
        super().__init__(name)
        self.value = value

    def allows(self, ctx: OperationContext) -> bool:
        return self.value


class _Authenticated(Rule):
    def allows(self, ctx: OperationContext) -> bool:
        return ctx.user != ANONYMOUS


class _Admins(Rule):
    def __init__(self, admins: frozenset[str]) -> None:
        super().__init__(f"admin_only({sorted(admins)!r})")
        self.admins = admins

    def allows(self, ctx: OperationContext) -> bool:
        return ctx.user in self.admins


class _Owner(Rule):
    requires_ownership = True

    def allows(self, ctx: OperationContext) -> bool:
        return ctx.user != ANONYMOUS

    def scope(self, ctx: OperationContext) -> AccessScope:
        return Condition(Field("created_by", meta=True), Op.eq, ctx.user)


class _AnyOf(Rule):
    def __init__(self, rules: tuple[Rule, ...]) -> None:
        super().__init__(" | ".join(map(repr, rules)))
        self.rules = rules
        self.requires_ownership = any(r.requires_ownership for r in rules)

    def allows(self, ctx: OperationContext) -> bool:
        return any(r.allows(ctx) for r in self.rules)

    def scope(self, ctx: OperationContext) -> AccessScope:
        return any_scope(r.scope(ctx) for r in self.rules if r.allows(ctx))


class _AllOf(Rule):
    def __init__(self, rules: tuple[Rule, ...]) -> None:
        super().__init__("(" + " & ".join(map(repr, rules)) + ")")
        self.rules = rules
        self.requires_ownership = any(r.requires_ownership for r in rules)

    def allows(self, ctx: OperationContext) -> bool:
        return all(r.allows(ctx) for r in self.rules)

    def scope(self, ctx: OperationContext) -> AccessScope:
        return all_scopes(r.scope(ctx) for r in self.rules)


def as_rule(rule: RuleLike) -> Rule:
    """``rule`` itself when it is a :class:`Rule`, else the predicate wrapped in one.

    Raises:
        TypeError: ``rule`` is neither a rule nor callable.
    """
    if isinstance(rule, Rule):
        return rule
    if not callable(rule):
        raise TypeError(f"a permission rule is a Rule or a callable (ctx) -> bool, not {rule!r}")
    return _Predicate(rule)


#: Everyone, the anonymous user included.
any_user: Rule = _Const("any_user", True)
#: No one (the default of :class:`ActionBasedChecker`).
deny_all: Rule = _Const("deny_all", False)
#: Every user except ``"anonymous"``.
authenticated: Rule = _Authenticated("authenticated")
#: Authenticated users, limited to the resources they created (``$created_by == user``).
#: For one resource the manager applies the scope (someone else's resource is "not found");
#: for search/count it filters the rows; a create is always allowed (the creator owns it).
owner: Rule = _Owner("owner")


def admin_only(admins: str | Iterable[str]) -> Rule:
    """A rule allowing only the named user(s)."""
    names = frozenset([admins] if isinstance(admins, str) else admins)
    if not names:
        raise ValueError("admin_only() needs at least one user")
    return _Admins(names)


# == simple checkers =============================================================================


class RootOnly:
    """Only ``root_user`` may do anything; everyone else is denied every action.

    Args:
        root_user: the one user allowed.
    """

    def __init__(self, root_user: str = "root") -> None:
        self.root_user = root_user

    def check(self, ctx: OperationContext) -> None:
        """Deny everyone but the root user."""
        if ctx.user != self.root_user:
            raise denied(ctx, "only the root user may")


class ActionBasedChecker:
    """A rule per action or action group.

    The rule of an action is the first found among: the action itself, the group containing it
    (``"read"`` or ``"write"``), ``"*"``, then ``default`` (deny). ``check`` raises when the rule
    does not allow the operation; ``access_scope`` is the rule's scope, so :data:`owner` limits
    rows to the user's own.

    Example::

        ActionBasedChecker({"read": any_user, "write": owner | admin_only("root")})

    Args:
        rules: ``{action, group or "*": rule}``; rules are :class:`Rule` objects or callables
            ``(ctx) -> bool``.
        default: the rule for actions not in ``rules`` (default: :data:`deny_all`).
        meta_lookup: optional ``resource_id -> ResourceMeta | None`` without permission checks
            (e.g. ``manager.storage.get_meta``; it may be set after construction). With it, a
            user who may *read* a resource but whose ownership-scoped rule does not cover it
            gets a precise :class:`PermissionDeniedError` instead of "not found". A resource the
            user may not read stays "not found", so nothing about it leaks.
    """

    def __init__(
        self,
        rules: Mapping[str, RuleLike],
        *,
        default: RuleLike | None = None,
        meta_lookup: Callable[[str], ResourceMeta | None] | None = None,
    ) -> None:
        self.rules: dict[str, Rule] = {key: as_rule(rule) for key, rule in rules.items()}
        self.default = deny_all if default is None else as_rule(default)
        self.meta_lookup = meta_lookup

    def rule_for(self, action: str) -> tuple[str, Rule]:
        """The key that applies to ``action`` and its rule (``"default"`` for the default)."""
        if action in self.rules:
            return action, self.rules[action]
        for group, actions in ACTION_GROUPS.items():
            if action in actions and group in self.rules:
                return group, self.rules[group]
        if "*" in self.rules:
            return "*", self.rules["*"]
        return "default", self.default

    def check(self, ctx: OperationContext) -> None:
        """Deny when the rule of ``ctx.action`` does not allow it."""
        key, rule = self.rule_for(ctx.action)
        if not rule.allows(ctx):
            raise denied(ctx, f"the {key!r} rule ({rule!r}) does not allow it")
        if (
            self.meta_lookup is not None
            and rule.requires_ownership
            and ctx.resource_id is not None
            and ctx.action != Action.CREATE
        ):
            self._check_visible_owner(ctx, key, rule)

    def _check_visible_owner(self, ctx: OperationContext, key: str, rule: Rule) -> None:
        assert self.meta_lookup is not None
        scope = rule.scope(ctx)
        if isinstance(scope, Unrestricted):
            return
        meta = self.meta_lookup(ctx.resource_id or "")
        if meta is None or (scope is not None and evaluate.matches(scope, meta)):
            return  # missing (the manager says so) or covered by the rule
        read_ctx = msgspec.structs.replace(ctx, action=Action.GET)
        _, read_rule = self.rule_for(Action.GET)
        if not read_rule.allows(read_ctx):
            return
        read_scope = read_rule.scope(read_ctx)
        if isinstance(read_scope, Unrestricted) or (
            read_scope is not None and evaluate.matches(read_scope, meta)
        ):
            raise denied(ctx, f"the {key!r} rule ({rule!r}) covers only the user's own resources")

    def access_scope(self, ctx: OperationContext) -> AccessScope:
        """The scope of the rule of ``ctx.action`` (``None`` when the rule denies)."""
        _, rule = self.rule_for(ctx.action)
        return rule.scope(ctx) if rule.allows(ctx) else None


class CompositeChecker:
    """Several checkers at once: every one must allow (a single deny wins).

    ``check`` and ``check_data`` run each checker's method in order (checkers without
    ``check_data`` are skipped); ``access_scope`` ANDs the scopes of the checkers that have one
    (``None`` from any gives ``None``; :data:`UNRESTRICTED` changes nothing).

    Args:
        *checkers: the checkers, run in this order (at least one).
    """

    def __init__(self, *checkers: PermissionChecker) -> None:
        if not checkers:
            raise ValueError("CompositeChecker needs at least one checker")
        self.checkers: tuple[PermissionChecker, ...] = checkers
        # the optional methods, found once (typed protocols, not a lookup per call)
        self._data_checkers = [c for c in checkers if isinstance(c, DataPermissionChecker)]
        self._scoped_checkers = [c for c in checkers if isinstance(c, ScopedPermissionChecker)]

    def check(self, ctx: OperationContext) -> None:
        """Run every checker's ``check``."""
        for checker in self.checkers:
            checker.check(ctx)

    def check_data(self, ctx: OperationContext) -> None:
        """Run every checker's ``check_data``, where there is one."""
        for checker in self._data_checkers:
            checker.check_data(ctx)

    def access_scope(self, ctx: OperationContext) -> AccessScope:
        """The AND of the checkers' scopes."""
        scopes: list[AccessScope] = []
        for checker in self._scoped_checkers:
            scope: AccessScope = checker.access_scope(ctx)
            if scope is None:
                return None
            scopes.append(scope)
        return all_scopes(scopes)


class OwnershipChecker:
    """Users see and change only the resources they own; admins see and change everything.

    Ownership is the meta field ``$created_by`` (the default) or a data path such as
    ``"owner"`` or ``"team.lead"``, which must then be an indexed field of the model (querying
    an unindexed path raises ``QueryError``). With a data path, ``check_data`` also requires
    every non-admin write to leave the user as the owner, so nobody can create resources for
    someone else or give theirs away (only admins can). ``restore`` does not change data and is
    not checked.

    Args:
        owner_field: ``"$created_by"`` or a dotted data path.
        admins: users exempt from the restriction.
        deny_anonymous: deny the anonymous user everything (the default), since all anonymous
            callers would otherwise share the same rows.
    """

    def __init__(
        self,
        owner_field: str = "$created_by",
        *,
        admins: Iterable[str] = (),
        deny_anonymous: bool = True,
    ) -> None:
        if owner_field.startswith("$"):
            if owner_field != "$created_by":
                raise ValueError(
                    f"ownership by meta field needs '$created_by', not {owner_field!r}"
                )
            self.field = Field("created_by", meta=True)
        elif PATH_RE.fullmatch(owner_field):
            self.field = Field(owner_field)
        else:
            raise ValueError(f"{owner_field!r} is not a dotted data path or '$created_by'")
        self.admins = frozenset(admins)
        self.deny_anonymous = deny_anonymous

    def check(self, ctx: OperationContext) -> None:
        """Deny the anonymous user (when ``deny_anonymous``); scopes do the rest."""
        if self.deny_anonymous and ctx.user == ANONYMOUS and ctx.user not in self.admins:
            raise denied(ctx, "anonymous users own nothing")

    def access_scope(self, ctx: OperationContext) -> AccessScope:
        """Everything for admins; otherwise the rows whose owner is the user."""
        if ctx.user in self.admins:
            return UNRESTRICTED
        return Condition(self.field, Op.eq, ctx.user)

    def check_data(self, ctx: OperationContext) -> None:
        """With a data owner field: the written data must name the user as its owner."""
        if self.field.meta or ctx.user in self.admins or ctx.data is None:
            return
        if ctx.action == Action.RESTORE:
            return
        value = data_value(to_doc(ctx.data), self.field.path)
        if value != ctx.user:
            shown = "nothing" if value is MISSING else repr(value)
            raise denied(ctx, f"{self.field.path} must be the user, not {shown}")


class FieldLevelChecker:
    """Who may change which fields, checked on the data of every write.

    Fields are dotted paths over the builtins (encoded) form of the data; a path covers
    everything below it. ``check_data`` compares ``ctx.previous`` with ``ctx.data`` and denies,
    naming the fields, when the user changes a field they may not change. On a create (no
    previous data) a field counts as changed when it differs from the model's default; a
    required field (no default) always counts as set. ``restore`` is not checked (it brings
    back the data as it was). Fields not listed are free; ``check`` allows everything, so
    combine it with other checkers through :class:`CompositeChecker`.

    Example::

        FieldLevelChecker({"salary": {"hr"}, "owner": lambda ctx: ctx.user == "root"})

    Args:
        fields: ``{path: allowed}``, where ``allowed`` is a user name, a collection of user
            names, or a predicate ``(ctx) -> bool``.
    """

    def __init__(self, fields: Mapping[str, str | Iterable[str] | Callable[..., bool]]) -> None:
        self.fields: dict[str, Callable[[OperationContext], bool]] = {}
        for path, allowed in fields.items():
            if not PATH_RE.fullmatch(path):
                raise ValueError(f"{path!r} is not a dotted field path")
            self.fields[path] = user_predicate(allowed)

    def check(self, ctx: OperationContext) -> None:
        """Allow: the decision needs the data (see :meth:`check_data`)."""
        return None

    def check_data(self, ctx: OperationContext) -> None:
        """Deny a change of a field the user may not change."""
        if ctx.data is None or ctx.action == Action.RESTORE:
            return
        new = to_doc(ctx.data)
        old = to_doc(ctx.previous) if ctx.previous is not None else model_defaults(type(ctx.data))
        forbidden = [
            path
            for path, allowed in self.fields.items()
            if data_value(old, path) != data_value(new, path) and not allowed(ctx)
        ]
        if forbidden:
            names = ", ".join(repr(p) for p in forbidden)
            raise denied(ctx, f"the user may not change field(s) {names}")

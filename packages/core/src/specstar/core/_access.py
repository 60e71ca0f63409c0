"""Shared helpers of the permission checkers: action groups, denial errors, scope algebra.

Kept apart from :mod:`specstar.core.permissions` so the resource-backed checkers
(:mod:`specstar.core._rbac`, :mod:`specstar.core._acl`) can use them without an import cycle;
they reach the managers holding their resources through :class:`ResourceSource`, never
through the manager module above them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import msgspec

from .actions import COLLECTION_ACTIONS, MAINTENANCE_ACTIONS, READ_ACTIONS, WRITE_ACTIONS
from .errors import PermissionDeniedError
from .indexes import IndexSpec
from .pipeline import UNRESTRICTED, AccessScope, OperationContext, Unrestricted
from .query import evaluate
from .query.ast import And, Condition, Expr, Field, Not, Or, Query
from .types import Page, ResourceMeta, SearchedResource, UnsetType

__all__ = [
    "ACTION_GROUPS",
    "COLLECTION_ACTIONS",
    "MAINTENANCE_ACTIONS",
    "MISSING",
    "READ_ACTIONS",
    "WRITE_ACTIONS",
    "ResourceSource",
    "action_matches",
    "all_scopes",
    "any_scope",
    "data_value",
    "denied",
    "describe_target",
    "model_defaults",
    "row_admits",
    "to_doc",
    "user_predicate",
]

#: Group names usable wherever an action is expected; ``"*"`` matches every action, including
#: actions added later (custom actions, export, ...).
ACTION_GROUPS: dict[str, frozenset[str]] = {
    "read": frozenset(READ_ACTIONS),
    "write": frozenset(WRITE_ACTIONS),
    "maintenance": frozenset(MAINTENANCE_ACTIONS),
}

T = TypeVar("T")


class ResourceSource(Protocol[T]):
    """What a resource-backed checker needs of the manager holding its resources.

    A :class:`~specstar.core.ResourceManager` satisfies it; the checkers read through
    ``list_page`` like any other caller, so their lookups pass the manager's own checker.
    """

    @property
    def name(self) -> str:
        """The resource name."""

    @property
    def model(self) -> type[Any]:
        """The model (a ``msgspec.Struct`` type)."""

    @property
    def index_spec(self) -> IndexSpec:
        """The indexed fields."""

    @property
    def max_limit(self) -> int:
        """The largest page size."""

    def list_page(
        self,
        query: Query | Expr | None = None,
        *,
        returns: Iterable[str] = ...,
        partial: Iterable[str] | None = None,
        user: str | UnsetType = ...,
    ) -> Page[SearchedResource[T]]:
        """One page of matching resources."""


#: What :func:`data_value` returns for a path that does not resolve.
MISSING: Any = object()


def action_matches(pattern: str, action: str) -> bool:
    """Whether ``pattern`` (an action, a group name or ``"*"``) covers ``action``."""
    if pattern in ("*", action):
        return True
    group = ACTION_GROUPS.get(pattern)
    return group is not None and action in group


def describe_target(ctx: OperationContext) -> str:
    """``"note 'note:1'"`` for one resource, ``"note"`` for the collection."""
    if ctx.resource_id is None or ctx.action in COLLECTION_ACTIONS:
        return ctx.resource_name
    return f"{ctx.resource_name} {ctx.resource_id!r}"


def denied(ctx: OperationContext, reason: str) -> PermissionDeniedError:
    """A :class:`PermissionDeniedError` naming the user, the action and the target.

    The message is built from the context and the checker's configuration only, never from
    stored data, so it cannot reveal whether a hidden resource exists.
    """
    return PermissionDeniedError(
        f"{ctx.user!r} may not {ctx.action} {describe_target(ctx)}: {reason}",
        user=ctx.user,
        action=ctx.action,
    )


def all_scopes(scopes: Iterable[AccessScope]) -> AccessScope:
    """AND of access scopes: ``None`` (no rows) absorbs, :data:`UNRESTRICTED` is the identity."""
    exprs: list[Expr] = []
    for scope in scopes:
        if scope is None:
            return None
        if not isinstance(scope, Unrestricted):
            exprs.append(scope)
    if not exprs:
        return UNRESTRICTED
    return exprs[0] if len(exprs) == 1 else And(tuple(exprs))


def any_scope(scopes: Iterable[AccessScope]) -> AccessScope:
    """OR of access scopes: :data:`UNRESTRICTED` absorbs, ``None`` is the identity."""
    exprs: list[Expr] = []
    for scope in scopes:
        if isinstance(scope, Unrestricted):
            return UNRESTRICTED
        if scope is not None:
            exprs.append(scope)
    if not exprs:
        return None
    return exprs[0] if len(exprs) == 1 else Or(tuple(exprs))


def to_doc(data: Any) -> Any:
    """The builtins form of model data (encoded field names, datetimes kept as datetimes)."""
    return msgspec.to_builtins(data, builtin_types=(datetime,))


def data_value(doc: Any, path: str) -> Any:
    """The value at a dotted ``path`` of a builtins document, or ``MISSING``."""
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def _data_paths(expr: Expr) -> set[str]:
    paths: set[str] = set()
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Condition):
            field: Field = node.field
            if not field.meta:
                paths.add(field.path)
        elif isinstance(node, Not):
            stack.append(node.item)
        else:
            stack.extend(node.items)
    return paths


def row_admits(scope: Expr, ctx: OperationContext) -> bool:
    """Whether the resource a *create* is about to write lies inside ``scope``.

    The row is predicted from the context: ``created_by``/``updated_by`` are the user, the
    times are ``ctx.now``, and data paths are read from ``ctx.data`` (a missing path is
    missing, so conditions on it are *unknown* and the row is not admitted).
    """
    doc = to_doc(ctx.data)
    indexed: dict[str, Any] = {}
    for path in _data_paths(scope):
        value = data_value(doc, path)
        if value is not MISSING:
            indexed[path] = value
    row = ResourceMeta(
        resource_id=ctx.resource_id or "",
        current_revision_id="",
        schema_version=None,
        total_revision_count=1,
        revision_seq=1,
        created_time=ctx.now,
        created_by=ctx.user,
        updated_time=ctx.now,
        updated_by=ctx.user,
        indexed_data=indexed,
    )
    return evaluate.matches(scope, row)


def user_predicate(
    allowed: str | Iterable[str] | Callable[..., bool],
) -> Callable[[OperationContext], bool]:
    """A predicate from a user name, a collection of user names or a predicate."""
    if isinstance(allowed, str):
        return lambda ctx: ctx.user == allowed
    if callable(allowed):
        fn = allowed
        return lambda ctx: bool(fn(ctx))
    users = frozenset(allowed)
    return lambda ctx: ctx.user in users


def model_defaults(model: type[Any]) -> dict[str, Any]:
    """The builtins form of a Struct type's default values (fields without one are absent)."""
    out: dict[str, Any] = {}
    try:
        fields = msgspec.structs.fields(model)
    except TypeError:
        return out
    for f in fields:
        if f.default is not msgspec.NODEFAULT:
            out[f.encode_name] = to_doc(f.default)
        elif f.default_factory is not msgspec.NODEFAULT:
            out[f.encode_name] = to_doc(f.default_factory())
    return out

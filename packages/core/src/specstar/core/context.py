"""Resolution of the operation context (who and when) for manager calls.

Sources, first match wins: explicit keyword arguments → the innermost ``using()`` scope (or the
``ResourceOps`` the call is made on) → the manager's ``default_user``/``default_now`` → built-in
fallbacks (``"anonymous"`` and the current UTC time) unless ``strict_operation_context`` is on,
in which case writes raise :class:`~specstar.core.errors.MissingOperationContextError`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

import msgspec
from msgspec import UNSET, UnsetType

from .errors import MissingOperationContextError

__all__ = ["ANONYMOUS", "ContextDefaults", "Scope", "resolve_context"]

ANONYMOUS = "anonymous"

UserSource = str | Callable[[], str]
NowSource = Callable[[], datetime]


class Scope(msgspec.Struct, frozen=True):
    """User, time and the id for the next create bound by ``using()``; ``UNSET`` parts fall
    through to the next source."""

    user: str | UnsetType = UNSET
    now: datetime | UnsetType = UNSET
    resource_id: str | UnsetType = UNSET


class ContextDefaults(msgspec.Struct, frozen=True, kw_only=True):
    """A manager's defaults and strictness."""

    user: UserSource | UnsetType = UNSET
    now: NowSource | UnsetType = UNSET
    strict: bool = False


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def resolve_context(
    method: str,
    *,
    user: str | UnsetType,
    now: datetime | UnsetType,
    scopes: tuple[Scope, ...],
    defaults: ContextDefaults,
    write: bool,
) -> tuple[str, datetime]:
    """The effective ``(user, now)`` of one call (see the module docstring for the order)."""
    for scope in scopes:
        if user is UNSET:
            user = scope.user
        if now is UNSET:
            now = scope.now
    if user is UNSET and defaults.user is not UNSET:
        user = defaults.user() if callable(defaults.user) else defaults.user
    if now is UNSET and defaults.now is not UNSET:
        now = defaults.now()
    if write and defaults.strict and (user is UNSET or now is UNSET):
        missing = [n for n, v in (("user", user), ("now", now)) if v is UNSET]
        raise MissingOperationContextError(method, missing)
    resolved_user = ANONYMOUS if user is UNSET else user
    resolved_now = datetime.now(UTC) if now is UNSET else _aware(now)
    return resolved_user, resolved_now


def scope_var(name: str) -> ContextVar[tuple[Scope, ...]]:
    """A context variable holding the stack of ``using()`` scopes of one manager."""
    return ContextVar(f"specstar-scopes-{name}", default=())

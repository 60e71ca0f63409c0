"""Permission checkers written to the decision protocol: ``check_permission(ctx)`` returns a
:class:`PermissionResult` instead of raising.

:func:`as_permission_checker` is called once, when a checker is given to a pipeline. A
checker with ``check`` is used as it is; one with ``check_permission`` is wrapped so the guard
sees a :class:`~specstar.core.pipeline.PermissionChecker`; anything else is a ``TypeError``.

``required_resource_parts`` (optional, a collection of ``"meta"`` and ``"data"``) says what the
checker looks at, and so when it is asked — once per operation (once per attempt of a write
that retries a compare-and-swap conflict):

* nothing required: when the operation is authorized, before anything is read;
* ``"meta"``: for the manager's operations on an existing resource, once its meta is read
  (``ctx.meta``); for the others (``create``, ``search``, ``count``, an application's own
  actions), when the operation is authorized;
* ``"data"``: for a write that produces new data (``create``, ``update``, ``patch``,
  ``merge_patch``, ``modify``, ``switch``, ``restore``, ``migrate``), once that data is known
  (``ctx.data``, the replaced data in ``ctx.previous``, the meta before the write in
  ``ctx.meta``); for the other operations as for ``"meta"`` (reads do not load data for the
  checker: use ``access_scope`` to limit which resources a user reads).

``not_applicable`` from the only checker asked denies (fail closed); combine checkers to fall
through to another one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any

from .actions import Action
from .errors import PermissionDeniedError

#: ``specstar.core.pipeline.OperationContext`` (that module builds on this one).
OperationContext = Any

__all__ = ["PermissionResult", "as_permission_checker"]


class PermissionResult(enum.StrEnum):
    """What ``check_permission`` decides."""

    allow = "allow"
    deny = "deny"
    not_applicable = "not_applicable"


_PARTS = frozenset({"meta", "data"})

#: Writes whose new data reaches the checker's ``check_data``.
_DATA_WRITES = frozenset(
    {
        Action.CREATE,
        Action.UPDATE,
        Action.PATCH,
        Action.MERGE_PATCH,
        Action.MODIFY,
        Action.SWITCH,
        Action.RESTORE,
        Action.MIGRATE,
    }
)

#: The manager's actions on one existing resource: each reads its meta through the guard.
_ON_META = frozenset(Action) - {Action.CREATE, Action.SEARCH, Action.COUNT}


def as_permission_checker(checker: Any) -> Any:
    """``checker`` as the guard calls it.

    Raises:
        TypeError: it has neither ``check(ctx)`` nor ``check_permission(ctx)``, or its
            ``required_resource_parts`` names something other than ``"meta"``/``"data"``.
    """
    if callable(getattr(checker, "check", None)):
        return checker
    decide = getattr(checker, "check_permission", None)
    if not callable(decide):
        raise TypeError(
            f"permission checker {checker!r} has neither check(ctx) (raise to deny) nor "
            "check_permission(ctx) (return allow / deny / not_applicable)"
        )
    parts = getattr(checker, "required_resource_parts", None) or ()
    if isinstance(parts, str) or not isinstance(parts, Iterable):
        raise TypeError(f"required_resource_parts must be a collection, not {parts!r}")
    wanted = frozenset(str(getattr(p, "value", p)) for p in parts)
    if wanted - _PARTS:
        raise TypeError(
            f"required_resource_parts of {checker!r} names {sorted(wanted - _PARTS)}; "
            "only 'meta' and 'data' exist"
        )
    if "data" in wanted:
        return _DataDecision(checker, decide)
    if "meta" in wanted:
        return _MetaDecision(checker, decide)
    return _Decision(checker, decide)


class _Decision:
    """A ``check_permission`` checker asked when the operation is authorized."""

    def __init__(self, checker: Any, decide: Callable[[OperationContext], Any]) -> None:
        self.checker = checker
        self._decide = decide

    def decide(self, ctx: OperationContext) -> None:
        result = self._decide(ctx)
        try:
            verdict = PermissionResult(getattr(result, "value", result))
        except ValueError:
            raise TypeError(
                f"check_permission of {self.checker!r} returned {result!r}; return "
                "PermissionResult.allow, .deny or .not_applicable"
            ) from None
        if verdict is not PermissionResult.allow:
            target = f" {ctx.resource_id!r}" if ctx.resource_id else ""
            raise PermissionDeniedError(
                f"{ctx.user!r} may not {ctx.action} {ctx.resource_name}{target} "
                f"(the permission checker answered {verdict.value})",
                user=ctx.user,
                action=ctx.action,
            )

    def check(self, ctx: OperationContext) -> None:
        self.decide(ctx)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.checker!r})"


class _MetaDecision(_Decision):
    """Asked once the meta of the resource is read (see the module)."""

    def check(self, ctx: OperationContext) -> None:
        if ctx.action not in _ON_META or ctx.resource_id is None:
            self.decide(ctx)

    def check_resource(self, ctx: OperationContext) -> None:
        if ctx.action in _ON_META:
            self.decide(ctx)


class _DataDecision(_MetaDecision):
    """Asked once the new data of a write is known (see the module)."""

    def check(self, ctx: OperationContext) -> None:
        if ctx.action not in _DATA_WRITES and (
            ctx.action not in _ON_META or ctx.resource_id is None
        ):
            self.decide(ctx)

    def check_resource(self, ctx: OperationContext) -> None:
        if ctx.action in _ON_META and ctx.action not in _DATA_WRITES:
            self.decide(ctx)

    def check_data(self, ctx: OperationContext) -> None:
        if ctx.action in _DATA_WRITES:
            self.decide(ctx)

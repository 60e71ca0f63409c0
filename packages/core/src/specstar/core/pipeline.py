"""The stages of the write pipeline and their ports.

Every write runs: resolve context → **authorize** → **validate** → **constraints** →
**before** events → atomic storage commit → **after** / **on_success** / **on_failure** events.
When the commit loses a compare-and-swap race and the write retries (no expected revision was
given), the stages from validation to the commit run again on the fresh data, ``before``
handlers included. Reads run authorize → fetch and emit no events. The defaults here are
permissive (everyone may do everything, no validators, no handlers); applications plug in their
own implementations.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import msgspec

from .errors import FieldError, SpecStarError, ValidationError
from .query.ast import Expr

__all__ = [
    "UNRESTRICTED",
    "AccessScope",
    "AllowAll",
    "ConstraintChecker",
    "DataPermissionChecker",
    "Event",
    "EventHandler",
    "EventPhase",
    "IConstraintChecker",
    "IValidator",
    "OperationContext",
    "PermissionChecker",
    "Pipeline",
    "ScopedPermissionChecker",
    "Unrestricted",
]

log = logging.getLogger("specstar.events")


class OperationContext(msgspec.Struct, frozen=True, kw_only=True):
    """Who does what to which resource, and when.

    Attributes:
        action: a :class:`~specstar.core.actions.Action` (``create``, ``update``, ``get``,
            ``search``, ``migrate``, ...; a ``str``), or the name of an application's own action.
        inputs: the operation's other arguments (patch operations, status, query, ...).
        data: the new data of a write (after patches are applied), when there is one.
        previous: the data the write replaces (``None`` for creates).
    """

    action: str
    resource_name: str
    user: str
    now: datetime
    resource_id: str | None = None
    revision_id: str | None = None
    data: Any = None
    previous: Any = None
    inputs: dict[str, Any] = msgspec.field(default_factory=dict)


class Unrestricted:
    """The type of :data:`UNRESTRICTED`: an access scope that hides nothing."""

    _instance: Unrestricted | None = None

    def __new__(cls) -> Unrestricted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNRESTRICTED"


#: Access scope meaning "every row".
UNRESTRICTED = Unrestricted()

#: What ``access_scope`` returns: a filter the user's rows match, ``None`` for no access at
#: all, or :data:`UNRESTRICTED`.
AccessScope = Expr | None | Unrestricted


@runtime_checkable
class PermissionChecker(Protocol):
    """Decides whether ``ctx.user`` may perform ``ctx.action``.

    Two optional methods refine the decision; a checker has them when it also satisfies
    :class:`DataPermissionChecker` or :class:`ScopedPermissionChecker` (the manager looks once,
    when it is built):

    * ``check_data(ctx)`` runs once the new data of a write is known (``ctx.data``, with the
      replaced data in ``ctx.previous``) — e.g. which fields a user may change.
    * ``access_scope(ctx) -> AccessScope`` limits the rows a user sees: the filter is ANDed into
      every search, count and list, and every single-resource read and write checks the
      resource against it (a resource outside the scope is reported as not found).
    """

    def check(self, ctx: OperationContext) -> None:
        """Return to allow; raise :class:`~specstar.core.errors.PermissionDeniedError` to deny."""


@runtime_checkable
class DataPermissionChecker(Protocol):
    """A checker that also decides on the new data of a write."""

    def check_data(self, ctx: OperationContext) -> None:
        """Return to allow ``ctx.data`` (replacing ``ctx.previous``); raise to deny."""


@runtime_checkable
class ScopedPermissionChecker(Protocol):
    """A checker that also limits the rows a user may see and act on."""

    def access_scope(self, ctx: OperationContext) -> AccessScope:
        """The user's rows for ``ctx.action``: a filter, ``UNRESTRICTED``, or ``None``."""


class AllowAll:
    """The permissive default checker."""

    def check(self, ctx: OperationContext) -> None:
        return None


class EventPhase(enum.StrEnum):
    """When a handler runs.

    ``before`` runs before the commit and may abort it by raising. It runs once per
    compare-and-swap *attempt*: a write without ``expected_revision_id`` that loses a race
    re-reads the resource, and ``before`` handlers run again with the data that attempt will
    commit (``ctx.data``/``ctx.previous`` are the fresh ones), so they must be idempotent and
    must not assume the write already happened. ``on_success`` and ``on_failure`` run once,
    after the outcome is known; ``after`` runs last, once, in both cases.
    """

    before = "before"
    after = "after"
    on_success = "on_success"
    on_failure = "on_failure"


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """What an event handler receives."""

    phase: EventPhase
    context: OperationContext
    result: Any = None
    error: BaseException | None = None


@runtime_checkable
class EventHandler(Protocol):
    """Receives events; return to continue, raise in ``before`` to abort the write.

    A ``before`` event may arrive more than once for one write (once per compare-and-swap
    attempt, see :class:`EventPhase`); the other phases arrive once per write.
    """

    def handle(self, event: Event) -> None: ...


class IValidator(abc.ABC):
    """Reusable validator: raise ``ValueError`` (or ``ValidationError``) to reject data."""

    @abc.abstractmethod
    def validate(self, data: Any) -> None: ...


class ConstraintChecker(abc.ABC):
    """Cross-resource constraint run on create/update/patch/modify/switch/restore."""

    @abc.abstractmethod
    def check(self, data: Any, *, exclude_resource_id: str | None = None) -> None:
        """Raise ``ValueError``/``SpecStarError`` when ``data`` violates the constraint."""

    def data_relevant_changed(self, current_data: Any, new_data: Any) -> bool:
        """Whether the fields this constraint looks at changed (default: always re-check)."""
        return True


IConstraintChecker = ConstraintChecker

ValidatorLike = Callable[[Any], Any] | IValidator | type


def _as_validation_error(exc: ValueError) -> ValidationError:
    if isinstance(exc, ValidationError):
        return exc
    return ValidationError(str(exc) or type(exc).__name__, [FieldError("", str(exc))])


class Pipeline:
    """The pluggable stages for one resource type.

    The permission checker is kept here as configured; only the manager's guard calls it.
    """

    def __init__(
        self,
        *,
        permission_checker: PermissionChecker | None = None,
        validators: Sequence[ValidatorLike] = (),
        constraint_checkers: Sequence[ConstraintChecker] = (),
        event_handlers: Iterable[EventHandler | Callable[[Event], Any]] = (),
    ) -> None:
        self.permission_checker: PermissionChecker = permission_checker or AllowAll()
        self.validators = list(validators)
        self.constraint_checkers = list(constraint_checkers)
        self.event_handlers = list(event_handlers)

    def validate(self, data: Any) -> None:
        for validator in self.validators:
            try:
                if isinstance(validator, IValidator):
                    validator.validate(data)
                else:
                    validator(data)
            except ValueError as exc:
                raise _as_validation_error(exc) from exc

    def check_constraints(
        self, data: Any, *, resource_id: str | None, previous: Any = None
    ) -> None:
        for checker in self.constraint_checkers:
            if previous is not None and not checker.data_relevant_changed(previous, data):
                continue
            try:
                checker.check(data, exclude_resource_id=resource_id)
            except SpecStarError:
                raise
            except ValueError as exc:
                raise _as_validation_error(exc) from exc

    def emit(
        self,
        phase: EventPhase,
        ctx: OperationContext,
        *,
        result: Any = None,
        error: BaseException | None = None,
    ) -> None:
        """Run handlers. ``before`` errors propagate (aborting the write); errors of later
        phases are logged, because the outcome they observe has already happened."""
        if not self.event_handlers:
            return
        event = Event(phase=phase, context=ctx, result=result, error=error)
        for handler in self.event_handlers:
            try:
                if isinstance(handler, EventHandler):
                    handler.handle(event)
                else:
                    handler(event)
            except Exception:
                if phase is EventPhase.before:
                    raise
                log.exception("%s handler failed for %s", phase, ctx.action)

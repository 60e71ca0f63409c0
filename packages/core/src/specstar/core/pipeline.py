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

from ._result_checker import as_permission_checker
from .errors import FieldError, SpecStarError, ValidationError
from .query.ast import Expr

__all__ = [
    "UNRESTRICTED",
    "AccessScope",
    "AllowAll",
    "CheckerLike",
    "ConstraintChecker",
    "DataPermissionChecker",
    "DecidingPermissionChecker",
    "Event",
    "EventHandler",
    "EventPhase",
    "FilteringEventHandler",
    "HandlerLike",
    "IConstraintChecker",
    "IValidator",
    "OperationContext",
    "PermissionChecker",
    "Pipeline",
    "ResourcePermissionChecker",
    "ScopedPermissionChecker",
    "Stages",
    "Unrestricted",
    "event_callback",
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
        meta: the resource's meta, for ``check_resource`` (as read) and ``check_data`` (before
            the write; ``None`` for creates).
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
    meta: Any = None


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
    :class:`DataPermissionChecker` or :class:`ScopedPermissionChecker` (the manager looks once
    per checker, and again only when the pipeline's checker is replaced):

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


@runtime_checkable
class ResourcePermissionChecker(Protocol):
    """A checker that also decides once the meta of the resource acted on is read."""

    def check_resource(self, ctx: OperationContext) -> None:
        """Return to allow acting on ``ctx.meta``; raise to deny. Called for every
        single-resource read and write, on each attempt of a write that retries."""


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

    @property
    def action(self) -> str:
        """``context.action``."""
        return self.context.action

    @property
    def resource_name(self) -> str:
        """``context.resource_name``."""
        return self.context.resource_name

    @property
    def resource_id(self) -> str | None:
        """``context.resource_id``."""
        return self.context.resource_id

    @property
    def user(self) -> str:
        """``context.user``."""
        return self.context.user

    @property
    def now(self) -> datetime:
        """``context.now``."""
        return self.context.now

    @property
    def data(self) -> Any:
        """``context.data``: the new data of a write (in ``before`` events)."""
        return self.context.data


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


class _StageList(list[Any]):
    """A list of pipeline stages that tells its pipeline when it changes."""

    def __init__(self, items: Iterable[Any], changed: Callable[[], None]) -> None:
        super().__init__(items)
        self._changed = changed


def _notifying(name: str) -> Any:
    method = getattr(list, name)

    def wrapper(self: _StageList, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self._changed()
        return result

    wrapper.__name__ = name
    wrapper.__doc__ = method.__doc__
    return wrapper


for _name in (
    "append",
    "extend",
    "insert",
    "remove",
    "pop",
    "clear",
    "sort",
    "reverse",
    "__setitem__",
    "__delitem__",
    "__iadd__",
    "__imul__",
):
    setattr(_StageList, _name, _notifying(_name))


@runtime_checkable
class DecidingPermissionChecker(Protocol):
    """A checker that returns its decision (see :mod:`specstar.core._result_checker`)."""

    def check_permission(self, ctx: OperationContext) -> Any:
        """``PermissionResult.allow``, ``.deny`` or ``.not_applicable``."""


@runtime_checkable
class FilteringEventHandler(Protocol):
    """A handler that picks its events (see :func:`event_callback`)."""

    def is_supported(self, event: Event) -> bool: ...

    def handle_event(self, event: Event) -> Any: ...


#: What a permission checker may be given as.
CheckerLike = PermissionChecker | DecidingPermissionChecker
#: What an event handler may be given as.
HandlerLike = EventHandler | FilteringEventHandler | Callable[[Event], Any]


def event_callback(handler: Any) -> Callable[[Event], Any]:
    """The callable that delivers an :class:`~specstar.core.pipeline.Event` to ``handler``.

    A handler is one of (looked for in this order): an object with ``handle(event)``; an
    object with ``is_supported(event) -> bool`` and ``handle_event(event)`` (the event reaches
    ``handle_event`` only when ``is_supported`` says so); a callable taking the event. The
    event carries ``phase``, ``context`` and, as shortcuts to the context, ``action``,
    ``resource_name``, ``resource_id``, ``user``, ``now`` and ``data``.

    Raises:
        TypeError: ``handler`` is none of these; the message names what is missing.
    """
    if isinstance(handler, EventHandler) and callable(handler.handle):
        return handler.handle
    supported = getattr(handler, "is_supported", None)
    handle_event = getattr(handler, "handle_event", None)
    if callable(supported) and callable(handle_event):

        def deliver(event: Event) -> Any:
            if supported(event):
                return handle_event(event)
            return None

        return deliver
    if supported is not None or handle_event is not None:
        pairs = (("is_supported(event)", supported), ("handle_event(event)", handle_event))
        missing = [name for name, found in pairs if not callable(found)]
        raise TypeError(f"event handler {handler!r} has no callable {' and '.join(missing)}")
    if callable(handler):
        return handler  # type: ignore[no-any-return]
    raise TypeError(
        f"event handler {handler!r} is not callable and has neither handle(event) nor "
        "is_supported(event) with handle_event(event)"
    )


class Stages:
    """What a :class:`Pipeline` will actually run, detected once per change of the pipeline.

    A stage that is a known no-op is absent, so the manager skips it (and builds nothing for
    it): ``check`` is ``False`` for :class:`AllowAll`; ``check_data``/``access_scope`` are
    ``None`` when the checker lacks them; the tuples are empty when nothing is configured.

    Attributes:
        checker: the permission checker.
        check: whether ``checker.check`` must run (it is not :class:`AllowAll`'s).
        check_data: the checker's ``check_data``, or ``None``.
        check_resource: the checker's ``check_resource``, or ``None``.
        access_scope: the checker's ``access_scope``, or ``None``.
        validators: callables taking the data.
        constraint_checkers: the constraint checkers.
        handlers: callables taking an :class:`Event`.
        sees_data: whether anything looks at ``OperationContext.data``/``previous`` (a
            ``check_data`` or an event handler), so the context must carry them.
    """

    __slots__ = (
        "access_scope",
        "check",
        "check_data",
        "check_resource",
        "checker",
        "constraint_checkers",
        "handlers",
        "sees_data",
        "validators",
    )

    def __init__(self, pipeline: Pipeline) -> None:
        checker = pipeline.permission_checker
        self.checker = checker
        self.check = type(checker).check is not AllowAll.check
        self.check_data: Callable[[OperationContext], None] | None = (
            checker.check_data if isinstance(checker, DataPermissionChecker) else None
        )
        self.access_scope: Callable[[OperationContext], AccessScope] | None = (
            checker.access_scope if isinstance(checker, ScopedPermissionChecker) else None
        )
        self.check_resource: Callable[[OperationContext], None] | None = (
            checker.check_resource if isinstance(checker, ResourcePermissionChecker) else None
        )
        self.validators: tuple[Callable[[Any], Any], ...] = tuple(
            v.validate if isinstance(v, IValidator) else v for v in pipeline.validators
        )
        self.constraint_checkers: tuple[ConstraintChecker, ...] = tuple(
            pipeline.constraint_checkers
        )
        self.handlers: tuple[Callable[[Event], Any], ...] = tuple(
            event_callback(h) for h in pipeline.event_handlers
        )
        self.sees_data = self.check_data is not None or bool(self.handlers)


class Pipeline:
    """The pluggable stages for one resource type.

    The permission checker is kept here (one written to the ``check_permission`` protocol
    wrapped, see :mod:`specstar.core._result_checker`); only the manager's guard calls it.
    Event handlers may have ``handle(event)``, ``is_supported(event)`` with
    ``handle_event(event)``, or be callables (see :func:`~specstar.core.events.event_callback`).
    A checker or handler that fits none of these is a ``TypeError`` when it is set or added.
    The attributes may be replaced and the lists changed in place at any time; what will run
    is worked out again on the next call after a change (see :attr:`stages`).
    """

    def __init__(
        self,
        *,
        permission_checker: CheckerLike | None = None,
        validators: Sequence[ValidatorLike] = (),
        constraint_checkers: Sequence[ConstraintChecker] = (),
        event_handlers: Iterable[HandlerLike] = (),
    ) -> None:
        self._stages: Stages | None = None
        self.permission_checker: PermissionChecker = as_permission_checker(
            permission_checker or AllowAll()
        )
        self.validators = list(validators)
        self.constraint_checkers = list(constraint_checkers)
        self.event_handlers = list(event_handlers)

    def _changed(self) -> None:
        self._stages = None

    def _handlers_changed(self) -> None:
        self._stages = None
        for handler in self.event_handlers:
            event_callback(handler)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "permission_checker":
            value = as_permission_checker(value)
        if name == "event_handlers":
            value = _StageList(value, self._handlers_changed)
            for handler in value:
                event_callback(handler)
        elif name in ("validators", "constraint_checkers"):
            value = _StageList(value, self._changed)
        object.__setattr__(self, name, value)
        if name != "_stages":
            self._changed()

    @property
    def stages(self) -> Stages:
        """The stages that will run, detected once per change of the pipeline."""
        stages = self._stages
        if stages is None or stages.checker is not self.permission_checker:
            stages = self._stages = Stages(self)
        return stages

    def validate(self, data: Any) -> None:
        for validator in self.stages.validators:
            try:
                validator(data)
            except ValueError as exc:
                raise _as_validation_error(exc) from exc

    def check_constraints(
        self, data: Any, *, resource_id: str | None, previous: Any = None
    ) -> None:
        for checker in self.stages.constraint_checkers:
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
        handlers = self.stages.handlers
        if not handlers:
            return
        event = Event(phase=phase, context=ctx, result=result, error=error)
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                if phase is EventPhase.before:
                    raise
                log.exception("%s handler failed for %s", phase, ctx.action)

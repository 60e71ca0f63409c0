"""Custom actions: what ``SpecStar.create_action`` / ``update_action`` record, and how an action
runs (read the target, call the handler, write what it returns with compare-and-swap).

An action is a handler written as an ordinary FastAPI endpoint. What it returns decides the
write: an instance of the resource's model is created (create actions) or becomes the new
data of the target (update actions, by ``update`` or ``modify``); ``None`` writes nothing.

Each action is authorised as its own permission action, ``action:{path}`` (e.g.
``action:level-up``), before anything else runs; the write it performs then goes through the
resource manager's pipeline as the user, like any other write (its ``create``, ``update`` or
``modify`` permission, validation, constraints, events).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UnsetType
from starlette.responses import Response

from specstar.core import (
    FieldError,
    NotFoundError,
    PreconditionFailedError,
    Resource,
    ResourceManager,
    ResourceMeta,
    RevisionInfo,
    ValidationError,
    entity_tag,
)
from specstar.core.spi import Unrestricted, evaluate, resolve_query

from .errors import ActionConflictError
from .pydantic_models import struct_to_pydantic

__all__ = [
    "ActionConflictError",
    "ActionOutcome",
    "CustomAction",
    "action_extensions",
    "endpoint_annotation",
    "is_pydantic_model",
    "make_action",
    "optional_of",
    "perform",
    "read_target",
    "split_annotated",
    "to_struct",
]

AsyncMode = Literal["job", "background"] | None
Blocking = Callable[..., Awaitable[Any]]

_PATH_RE = re.compile(r"[a-z0-9][a-z0-9_.~-]*")
#: Segments the generated routes use after ``/m/``: an action path must not take them.
RESERVED_CREATE_PATHS = frozenset({"count", "batch", "_migrate", "export", "import"})
#: Segments the generated routes use after ``/m/{id}/``.
RESERVED_UPDATE_PATHS = frozenset(
    {
        "revisions",
        "switch",
        "restore",
        "permanently",
        "modify",
        "rerun",
        "cancel",
        "logs",
        "blobs",
        "referrers",
        "migrate",
    }
)


@dataclass
class CustomAction:
    """One registered action (see ``SpecStar.create_action`` / ``update_action``)."""

    kind: Literal["create", "update"]
    resource_name: str
    handler: Callable[..., Any]
    path: str
    label: str
    mode: Literal["update", "modify"] = "update"
    existing_param: str = "existing"
    info_param: str = "info"
    meta_param: str = "meta"
    async_mode: AsyncMode = None
    job_name: str | None = None
    retry_on_conflict: int = 0
    #: The handler's parameters FastAPI reads (those the action injects left out).
    params: list[inspect.Parameter] = field(default_factory=list)
    #: The generated job model and its payload (``async_mode="job"``).
    job_model: type | None = None
    payload_model: type | None = None

    @property
    def permission(self) -> str:
        """The permission action name the checker is asked about."""
        return f"action:{self.path}"

    @property
    def injected(self) -> tuple[str, ...]:
        if self.kind == "create":
            return ()
        return (self.existing_param, self.info_param, self.meta_param)

    def describe(self) -> dict[str, Any]:
        """The ``x-specstar-*-action`` description of the action."""
        out: dict[str, Any] = {
            "resource": self.resource_name,
            "path": self.path,
            "label": self.label,
            "async_mode": self.async_mode,
            "permission": self.permission,
        }
        if self.kind == "update":
            out["mode"] = self.mode
        if self.job_name is not None and self.async_mode == "job":
            out["job_resource_name"] = self.job_name
        return out


def make_action(
    kind: Literal["create", "update"],
    resource_name: str,
    handler: Callable[..., Any],
    *,
    path: str | None,
    label: str | None,
    async_mode: Any,
    job_name: str | None,
    mode: Any = "update",
    existing_param: str = "existing",
    info_param: str = "info",
    meta_param: str = "meta",
    retry_on_conflict: int = 0,
) -> CustomAction:
    """Check the decorator's arguments and the handler's signature; the action they describe.

    Raises:
        ValueError: an argument with an invalid value (named in the message).
        TypeError: a handler that is not a function, or parameters a job cannot carry.
    """
    if not callable(handler):
        raise TypeError(f"an action handler must be callable, not {handler!r}")
    if not isinstance(resource_name, str) or not resource_name:
        raise ValueError(f"resource_name must be a non-empty string, not {resource_name!r}")
    name = getattr(handler, "__name__", "")
    action_path = path if path is not None else name.replace("_", "-").lower()
    if not _PATH_RE.fullmatch(action_path):
        raise ValueError(f"action path {action_path!r} is not a lower-case URL path segment")
    reserved = RESERVED_CREATE_PATHS if kind == "create" else RESERVED_UPDATE_PATHS
    if action_path in reserved:
        raise ValueError(f"action path {action_path!r} is taken by a generated route")
    if async_mode not in (None, "job", "background"):
        raise ValueError(f"async_mode must be None, 'job' or 'background', not {async_mode!r}")
    if job_name is not None and async_mode != "job":
        raise ValueError("job_name is only meaningful with async_mode='job'")
    if mode not in ("update", "modify"):
        raise ValueError(f"mode must be 'update' or 'modify', not {mode!r}")
    if isinstance(retry_on_conflict, bool) or not isinstance(retry_on_conflict, int):
        raise TypeError("retry_on_conflict must be an int (re-runs of the handler)")
    if retry_on_conflict < 0:
        raise ValueError(f"retry_on_conflict must be >= 0, not {retry_on_conflict}")
    if retry_on_conflict and kind == "create":
        raise ValueError("retry_on_conflict is for update actions (a create has no conflict)")
    spec = CustomAction(
        kind=kind,
        resource_name=resource_name,
        handler=handler,
        path=action_path,
        label=label if label is not None else action_path.replace("-", " ").title(),
        mode=mode,
        existing_param=existing_param,
        info_param=info_param,
        meta_param=meta_param,
        async_mode=async_mode,
        job_name=job_name,
        retry_on_conflict=retry_on_conflict,
    )
    spec.params = _handler_params(spec)
    if async_mode == "job":
        spec.job_name = job_name or f"{resource_name}-{action_path}-job"
    return spec


def _handler_params(spec: CustomAction) -> list[inspect.Parameter]:
    """The handler's parameters with resolved annotations, the injected ones left out."""
    sig = inspect.signature(spec.handler)
    try:
        hints = typing.get_type_hints(spec.handler, include_extras=True)
    except Exception as exc:
        raise TypeError(f"cannot resolve the annotations of {spec.handler!r}: {exc}") from exc
    out = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"action handler {spec.handler!r} may not take *{p.name}")
        if p.name in spec.injected:
            continue
        out.append(p.replace(annotation=hints.get(p.name, p.annotation)))
    return out


# == request values <-> handler arguments ========================================================


def split_annotated(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    if typing.get_origin(tp) is Annotated:
        inner, *meta = typing.get_args(tp)
        return inner, tuple(meta)
    return tp, ()


def optional_of(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def is_pydantic_model(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "model_validate") and hasattr(tp, "model_fields")


def endpoint_annotation(tp: Any) -> tuple[Any, Callable[[Any], Any] | None]:
    """The annotation FastAPI gets for a handler parameter of type ``tp``, and how to turn
    what FastAPI parsed back into the handler's type: a ``msgspec.Struct`` is read as its
    Pydantic twin and converted (with the Struct's own constraints) before the call."""
    inner, meta = split_annotated(tp)
    base, optional = optional_of(inner)
    if not is_struct(base):
        return tp, None
    twin: Any = struct_to_pydantic(base, forbid_extra=True)
    if optional:
        twin = twin | None
    annotated: Any = Annotated[(twin, *meta)] if meta else twin

    def convert(value: Any) -> Any:
        if value is None:
            return None
        return to_struct(value.model_dump(by_alias=True), base)

    return annotated, convert


def to_struct(value: Any, tp: type) -> Any:
    """``value`` as the Struct ``tp``; a mismatch is a :class:`ValidationError` (422)."""
    try:
        return msgspec.convert(value, tp, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationError(
            f"invalid {tp.__name__}: {exc}", [FieldError("body", str(exc))]
        ) from None


# == running an action ===========================================================================


@dataclass
class ActionOutcome:
    """What an action did: the revision it wrote (``None``: nothing), and whether it created."""

    info: RevisionInfo | None
    created: bool = False
    response: Response | None = None


async def call_handler(handler: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    """Run the handler: ``async def`` on the loop, ``def`` in the thread pool."""
    if inspect.iscoroutinefunction(handler):
        return await handler(**kwargs)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(handler, **kwargs)


def _resource_of(manager: ResourceManager[Any], result: Any) -> Any | None:
    """The data to write for a handler result (``None``: no write).

    Raises:
        TypeError: a result that is neither the model, a mapping, a response nor ``None``.
    """
    if result is None:
        return None
    if isinstance(result, manager.model | manager.source_model | Mapping):
        return result
    raise TypeError(
        f"an action of {manager.name} returned {type(result).__name__}: return a "
        f"{manager.model.__name__}, a mapping of its fields, a Response or None"
    )


def read_target(
    spec: CustomAction, manager: ResourceManager[Any], rid: str, user: str | UnsetType
) -> tuple[Resource[Any], ResourceMeta]:
    """Authorise ``spec`` on ``rid`` for ``user`` and read the target (blocking).

    Raises:
        PermissionDeniedError: the checker denies the action (403).
        NotFoundError: no such resource, or outside the user's scope for the action (404).
        GoneError: the resource is soft-deleted (410).
    """
    scope = manager.authorize(spec.permission, user=user, resource_id=rid)
    meta = manager.get_meta(rid, user=user)
    if not isinstance(scope, Unrestricted):
        where = resolve_query(scope, manager.index_spec).where
        if not evaluate.matches(where, meta):
            raise NotFoundError(f"{manager.name} {rid!r} does not exist", resource_id=rid)
    current = manager.get(rid, user=user)
    return current, meta


async def perform(
    spec: CustomAction,
    manager: ResourceManager[Any],
    kwargs: dict[str, Any],
    *,
    resource_id: str | None,
    expected_etag: str | None,
    user: str | UnsetType,
    now: datetime | UnsetType,
    blocking: Blocking,
) -> ActionOutcome:
    """Run an action to the end: (read the target,) call the handler, write its result.

    An update action commits under the entity tag of the revision it read: a change in
    between is a :class:`PreconditionFailedError` when the caller gave ``expected_etag``
    (412), otherwise the handler runs again on the fresh data up to
    ``spec.retry_on_conflict`` times, and then a :class:`ConflictError` (409).
    ``blocking`` runs blocking manager calls (e.g. in the thread pool).
    """
    if spec.kind == "create":
        await blocking(manager.authorize, spec.permission, user=user)
        result = await call_handler(spec.handler, kwargs)
        if isinstance(result, Response):
            return ActionOutcome(None, response=result)
        data = _resource_of(manager, result)
        if data is None:
            return ActionOutcome(None)
        info = await blocking(manager.create, data, user=user, now=now)
        return ActionOutcome(info, created=True)
    assert resource_id is not None
    for attempt in range(spec.retry_on_conflict + 1):
        current, meta = await blocking(read_target, spec, manager, resource_id, user)
        tag = entity_tag(current.info)
        if expected_etag is not None and expected_etag != tag:
            raise PreconditionFailedError(resource_id, expected_etag, tag)
        given = dict(kwargs)
        names = set(inspect.signature(spec.handler).parameters)
        for name, value in (
            (spec.existing_param, current.data),
            (spec.info_param, current.info),
            (spec.meta_param, meta),
        ):
            if name in names:
                given[name] = value
        result = await call_handler(spec.handler, given)
        if isinstance(result, Response):
            return ActionOutcome(None, response=result)
        data = _resource_of(manager, result)
        if data is None:
            return ActionOutcome(None)
        verb = manager.update if spec.mode == "update" else manager.modify
        try:
            info = await blocking(verb, resource_id, data, expected_etag=tag, user=user, now=now)
        except PreconditionFailedError as exc:
            if expected_etag is not None:
                raise
            if attempt < spec.retry_on_conflict:
                continue
            raise ActionConflictError(
                f"{manager.name} {resource_id!r} changed while the action {spec.path!r} ran "
                "(its result was not written); run it again on the current data"
            ) from exc
        return ActionOutcome(info)
    raise AssertionError("unreachable")  # pragma: no cover


def action_extensions(actions: Sequence[CustomAction]) -> dict[str, Any]:
    """The document-level lists of custom actions, by resource, for generated UIs."""
    out: dict[str, Any] = {
        "x-specstar-custom-create-actions": {},
        "x-specstar-custom-update-actions": {},
        "x-specstar-async-create-jobs": {},
        "x-specstar-async-update-jobs": {},
    }
    for spec in actions:
        kind = "create" if spec.kind == "create" else "update"
        out[f"x-specstar-custom-{kind}-actions"].setdefault(spec.resource_name, []).append(
            spec.describe()
        )
        if spec.async_mode == "job":
            out[f"x-specstar-async-{kind}-jobs"].setdefault(spec.resource_name, []).append(
                {"path": spec.path, "label": spec.label, "job_resource_name": spec.job_name}
            )
    return out

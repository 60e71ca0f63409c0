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

import asyncio
import inspect
import io
import re
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType
from starlette.datastructures import Headers, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from fastapi import BackgroundTasks
from fastapi.params import Depends as DependsParam
from specstar.core import (
    Binary,
    ConflictError,
    FieldError,
    Job,
    JobContext,
    NoRetry,
    NotFoundError,
    PreconditionFailedError,
    Resource,
    ResourceManager,
    ResourceMeta,
    RevisionInfo,
    SpecStarError,
    ValidationError,
    entity_tag,
)
from specstar.core.spi import Unrestricted, evaluate, resolve_query

from .pydantic_models import struct_to_pydantic

__all__ = [
    "ActionConflictError",
    "ActionFile",
    "ActionOutcome",
    "CustomAction",
    "make_action",
    "make_job_handler",
    "make_job_model",
    "perform",
]

AsyncMode = Literal["job", "background"] | None
Blocking = Callable[..., Awaitable[Any]]

_PATH_RE = re.compile(r"[a-z0-9][a-z0-9_.~-]*")
#: Segments the generated routes use after ``/m/``: an action path must not take them.
RESERVED_CREATE_PATHS = frozenset({"count", "batch", "_migrate"})
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
#: Parameter names a job action's payload uses for itself.
_PAYLOAD_OWN = ("resource_id", "expected_etag")


class ActionFile(msgspec.Struct, kw_only=True):
    """An ``UploadFile`` parameter of a job action, kept in the job's payload: the file in
    the blob store and its name."""

    file: Binary
    filename: str | None = None


class ActionConflictError(ConflictError):
    """The target changed while an update action ran; its result was not written (409)."""

    code = "concurrent_change"


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
        payload_fields(spec)  # refuse what a job cannot carry now, not at apply()
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


def _strip(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    if typing.get_origin(tp) is Annotated:
        inner, *meta = typing.get_args(tp)
        return inner, tuple(meta)
    return tp, ()


def _optional_of(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _is_pydantic(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "model_validate") and hasattr(tp, "model_fields")


def endpoint_annotation(tp: Any) -> tuple[Any, Callable[[Any], Any] | None]:
    """The annotation FastAPI gets for a handler parameter of type ``tp``, and how to turn
    what FastAPI parsed back into the handler's type: a ``msgspec.Struct`` is read as its
    Pydantic twin and converted (with the Struct's own constraints) before the call."""
    inner, meta = _strip(tp)
    base, optional = _optional_of(inner)
    if not _is_struct(base):
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


def payload_fields(spec: CustomAction) -> list[tuple[str, Any]]:
    """The fields of a job action's payload: one per handler parameter FastAPI reads.

    Raises:
        TypeError: a parameter a job cannot carry (a dependency, the request, ...).
    """
    fields: list[tuple[str, Any]] = []
    for p in spec.params:
        if p.name in _PAYLOAD_OWN and not (p.name == "resource_id" and spec.kind == "update"):
            raise TypeError(f"job action {spec.path!r}: parameter name {p.name!r} is reserved")
        inner, meta = _strip(p.annotation)
        if isinstance(p.default, DependsParam) or any(isinstance(m, DependsParam) for m in meta):
            raise TypeError(
                f"job action {spec.path!r}: parameter {p.name!r} is a dependency; a job runs "
                "in a worker, away from the request: take plain values"
            )
        base, optional = _optional_of(inner)
        if base in (Request, BackgroundTasks, Response) or p.annotation is inspect.Parameter.empty:
            raise TypeError(
                f"job action {spec.path!r}: parameter {p.name!r} cannot be stored in a job "
                "(give it a type, and no request objects)"
            )
        if isinstance(base, type) and issubclass(base, UploadFile):
            fields.append((p.name, ActionFile | None if optional else ActionFile))
        elif _is_pydantic(base):
            fields.append((p.name, dict[str, Any] | None if optional else dict[str, Any]))
        else:
            try:
                msgspec.inspect.type_info(inner)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"job action {spec.path!r}: parameter {p.name!r} has a type a job cannot "
                    f"store: {exc}"
                ) from None
            fields.append((p.name, inner))
    names = {n for n, _ in fields}
    if spec.kind == "update":
        if "resource_id" not in names:
            fields.append(("resource_id", str))
        fields.append(("expected_etag", str | None))
    return fields


def _pascal(text: str) -> str:
    return "".join(w.capitalize() for w in re.split(r"[^A-Za-z0-9]+", text) if w)


def make_job_model(spec: CustomAction) -> type:
    """The job model of a job action: ``Job[payload, RevisionInfo]``."""
    stem = _pascal(spec.resource_name) + _pascal(spec.path)
    payload = msgspec.defstruct(f"{stem}ActionPayload", payload_fields(spec), kw_only=True)
    base: Any = Job[payload, RevisionInfo]  # type: ignore[valid-type]
    model = types.new_class(f"{stem}ActionJob", (base,))
    model.__doc__ = f"Runs of the action {spec.label!r} of {spec.resource_name}."
    spec.payload_model = payload
    spec.job_model = model
    return model


async def file_payload(upload: UploadFile) -> ActionFile:
    """An uploaded file as a payload field (its bytes go to the blob store with the job)."""
    data = await upload.read()
    return ActionFile(
        file=Binary(data=data, content_type=upload.content_type or "application/octet-stream"),
        filename=upload.filename,
    )


def upload_of(data: bytes, filename: str | None, content_type: str | None) -> UploadFile:
    """A fresh ``UploadFile`` over ``data`` (for a handler running after the request)."""
    headers = Headers({"content-type": content_type or "application/octet-stream"})
    return UploadFile(io.BytesIO(data), size=len(data), filename=filename, headers=headers)


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


# == the worker side of a job action =============================================================


def make_job_handler(
    spec: CustomAction,
    resource_managers: Mapping[str, ResourceManager[Any]],
) -> Callable[[Resource[Any], JobContext[Any, Any]], None]:
    """The job handler of a job action: runs the action as the user who created the job
    (re-authorised: the payload is only what a client sent), and stores the revision info
    it wrote as the job's artifact.

    Errors that a retry cannot mend (permission, not found, validation, a failed
    ``If-Match``) fail the job at once; others are retried as the job manager says.
    """

    def handle(job: Resource[Any], ctx: JobContext[Any, Any]) -> None:
        manager = resource_managers[spec.resource_name]
        jobs = resource_managers[spec.job_name or ""]
        user = jobs.system.get_meta(ctx.job_id).created_by  # type: ignore[attr-defined]
        payload = jobs.load_blobs(job.data).payload
        kwargs: dict[str, Any] = {}
        for p in spec.params:
            value = getattr(payload, p.name)
            base, _ = _optional_of(_strip(p.annotation)[0])
            if isinstance(value, ActionFile):
                data = value.file.data if isinstance(value.file.data, bytes) else b""
                ct = value.file.content_type
                value = upload_of(data, value.filename, ct if isinstance(ct, str) else None)
            elif value is not None and _is_pydantic(base):
                value = base.model_validate(value)
            kwargs[p.name] = value
        rid = getattr(payload, "resource_id", None) if spec.kind == "update" else None
        etag = getattr(payload, "expected_etag", None)

        async def blocking(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
            return fn(*args, **kw)

        try:
            outcome = asyncio.run(
                perform(
                    spec,
                    manager,
                    kwargs,
                    resource_id=rid,
                    expected_etag=etag,
                    user=user,
                    now=UNSET,
                    blocking=blocking,
                )
            )
        except ActionConflictError:
            raise  # a concurrent change: the next attempt runs on fresh data
        except SpecStarError as exc:
            raise NoRetry(f"{type(exc).__name__}: {exc}") from exc
        if outcome.info is not None:
            ctx.set_artifact(outcome.info)
            ctx.logger.info("wrote %s", outcome.info.revision_id)
        else:
            ctx.logger.info("the action wrote nothing")

    return handle

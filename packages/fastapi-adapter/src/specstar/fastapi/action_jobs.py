"""The job side of custom actions (``async_mode="job"``): the generated job model, whose
payload carries the handler's parameters, and the job handler a worker runs."""

from __future__ import annotations

import asyncio
import inspect
import io
import re
import types
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from msgspec import UNSET
from starlette.datastructures import Headers, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from fastapi import BackgroundTasks
from fastapi.params import Depends as DependsParam
from specstar.core import (
    Binary,
    Job,
    JobContext,
    NoRetry,
    Resource,
    ResourceManager,
    RevisionInfo,
    SpecStarError,
)

from .custom_actions import (
    ActionConflictError,
    CustomAction,
    is_pydantic_model,
    optional_of,
    perform,
    split_annotated,
)

__all__ = [
    "ActionFile",
    "file_payload",
    "make_job_handler",
    "make_job_model",
    "payload_fields",
    "upload_of",
]

#: Parameter names a job action's payload uses for itself.
_PAYLOAD_OWN = ("resource_id", "expected_etag")


class ActionFile(msgspec.Struct, kw_only=True):
    """An ``UploadFile`` parameter of a job action, kept in the job's payload: the file in
    the blob store and its name."""

    file: Binary
    filename: str | None = None


def payload_fields(spec: CustomAction) -> list[tuple[str, Any]]:
    """The fields of a job action's payload: one per handler parameter FastAPI reads.

    Raises:
        TypeError: a parameter a job cannot carry (a dependency, the request, ...).
    """
    fields: list[tuple[str, Any]] = []
    for p in spec.params:
        if p.name in _PAYLOAD_OWN and not (p.name == "resource_id" and spec.kind == "update"):
            raise TypeError(f"job action {spec.path!r}: parameter name {p.name!r} is reserved")
        inner, meta = split_annotated(p.annotation)
        if isinstance(p.default, DependsParam) or any(isinstance(m, DependsParam) for m in meta):
            raise TypeError(
                f"job action {spec.path!r}: parameter {p.name!r} is a dependency; a job runs "
                "in a worker, away from the request: take plain values"
            )
        base, optional = optional_of(inner)
        if base in (Request, BackgroundTasks, Response) or p.annotation is inspect.Parameter.empty:
            raise TypeError(
                f"job action {spec.path!r}: parameter {p.name!r} cannot be stored in a job "
                "(give it a type, and no request objects)"
            )
        if isinstance(base, type) and issubclass(base, UploadFile):
            fields.append((p.name, ActionFile | None if optional else ActionFile))
        elif is_pydantic_model(base):
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
            base, _ = optional_of(split_annotated(p.annotation)[0])
            if isinstance(value, ActionFile):
                data = value.file.data if isinstance(value.file.data, bytes) else b""
                ct = value.file.content_type
                value = upload_of(data, value.filename, ct if isinstance(ct, str) else None)
            elif value is not None and is_pydantic_model(base):
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

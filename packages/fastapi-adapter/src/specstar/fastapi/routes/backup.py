"""Backup and restore over HTTP: ``GET /_backup/export`` and ``POST /_backup/import`` for
every model, ``GET /m/export`` and ``POST /m/import`` for one.

Exports stream the archive as it is written (``application/octet-stream``); imports
stream the request body to the loader (which checks the whole archive before storing
anything). Both run in worker threads, never on the event loop, and are authorized as the
actions ``dump`` and ``load``: permissions of their own, outside the ``read`` and ``write``
groups, so only a rule naming them (or ``*``, an admin's) grants them. Every refusal is a
problem document: a denied action 403, an unknown model or a damaged archive 422, a
duplicate with ``on_duplicate=raise_error`` 409. A failure after an export started cannot
change its status any more: the stream stops, and the archive's missing trailer tells a
reader it is incomplete.
"""

import contextlib
import io
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Annotated, Any

import msgspec
from msgspec import UnsetType
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fastapi import APIRouter, Depends
from fastapi import Query as QueryParam
from specstar.core import (
    AllowAll,
    FieldError,
    LoadStats,
    OnDuplicate,
    PermissionDeniedError,
    ResourceManager,
    dump,
    load,
    parse_condition,
)

from .._http import media_type_of
from ..dependencies import DependencyProvider
from ..errors import (
    BadRequestError,
    ExportCancelledError,
    ParameterError,
    UnsupportedMediaTypeError,
)
from ..openapi import json_content, problem_responses
from ..responses import MsgspecResponse, json_response
from ._base import BaseRouteTemplate, self_doc
from ._bodies import into_thread

__all__ = ["ARCHIVE_MEDIA_TYPE", "BackupRouteTemplate"]

log = logging.getLogger("specstar.fastapi")

#: The media type of backup archives.
ARCHIVE_MEDIA_TYPE = "application/octet-stream"
_ACCEPTED = (ARCHIVE_MEDIA_TYPE, "application/vnd.specstar.backup")
#: Bytes gathered before a piece of an export is sent.
_PIECE = 256 * 1024
#: Pieces an export may buffer ahead of a slow client.
_AHEAD = 8
#: The default largest archive an import route accepts (the archive is spooled to a
#: temporary file and verified whole before anything loads).
DEFAULT_MAX_ARCHIVE_BYTES = 10 * 1024**3

_ON_DUPLICATE_DOC = (
    "What to do with a resource whose id exists: `overwrite` (default: replaced, with its "
    "history), `skip`, or `raise_error` (409, the load stops)."
)


class _Pipe(io.RawIOBase):
    """The writable end of an export: pieces handed to the response through a bounded
    queue (the dump waits while the client is slow)."""

    def __init__(self) -> None:
        self.pieces: queue.Queue[bytes | BaseException | None] = queue.Queue(_AHEAD)
        self.buffer = bytearray()
        self.cancelled = threading.Event()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.buffer += data
        if len(self.buffer) >= _PIECE:
            self.flush_piece()
        return len(data)

    def flush_piece(self) -> None:
        if self.buffer:
            self.put(bytes(self.buffer))
            self.buffer.clear()

    def put(self, item: bytes | BaseException | None) -> None:
        while True:
            if self.cancelled.is_set():
                raise ExportCancelledError
            with contextlib.suppress(queue.Full):
                self.pieces.put(item, timeout=0.5)
                return


def _stream(run: Any) -> _Pipe:
    pipe = _Pipe()

    def work() -> None:
        try:
            run(pipe)
            pipe.flush_piece()
            pipe.put(None)
        except ExportCancelledError:
            pass
        except BaseException as exc:  # handed to the response, which raises or logs it
            with contextlib.suppress(ExportCancelledError):
                pipe.put(exc)

    thread = threading.Thread(target=work, name="specstar-export", daemon=True)
    thread.start()
    return pipe


async def _export(run: Any, filename: str) -> Response:
    """Run ``run(out)`` in a thread and stream what it writes; an error before the first
    byte is raised here (a problem response), a later one ends the stream."""
    pipe = _stream(run)
    first = await run_in_threadpool(pipe.pieces.get)
    if isinstance(first, BaseException):
        raise first

    async def pieces() -> AsyncIterator[bytes]:
        item: bytes | BaseException | None = first
        try:
            while isinstance(item, bytes):
                yield item
                item = await run_in_threadpool(pipe.pieces.get)
            if isinstance(item, BaseException):
                log.error("export stopped part way: %s", item, exc_info=item)
        finally:
            pipe.cancelled.set()

    return StreamingResponse(
        pieces(),
        media_type=ARCHIVE_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _too_large(limit: int) -> BadRequestError:
    return BadRequestError(
        f"the archive is larger than this server accepts ({limit} bytes, max_archive_bytes)",
        code="content_too_large",
        status=413,
    )


def _check_media_type(request: Request) -> None:
    media_type = media_type_of(request)
    if media_type not in _ACCEPTED:
        raise UnsupportedMediaTypeError(media_type, _ACCEPTED)


def _stats_doc(stats: Mapping[str, LoadStats]) -> dict[str, Any]:
    return {name: msgspec.to_builtins(s) for name, s in stats.items()}


def _qb(qb: str | None) -> Any:
    if qb is None or not qb.strip():
        return None
    return parse_condition(qb)  # a QueryError is a 400 invalid_query, as on the list routes


class BackupRouteTemplate(BaseRouteTemplate):
    """``GET /_backup/export?models=…`` streams an archive of the listed models (default:
    all); ``POST /_backup/import?on_duplicate=…`` loads one and answers the per-model
    statistics (`loaded`, `skipped`, `failed`, `total`, `blobs`, `failures` with the
    model, resource id and reason of each refused record). ``GET /m/export?qb=…`` and
    ``POST /m/import`` do the same for one model. Authorized as the actions ``dump`` and
    ``load``, which the ``read``/``write`` groups do not include. An archive larger than
    ``max_archive_bytes`` (default 10 GiB) is refused with 413 and loads nothing.
    """

    order = 60

    def __init__(
        self, *, max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES, **options: Any
    ) -> None:
        """``max_archive_bytes``: the largest archive an import accepts (an import is
        spooled to a temporary file while it is verified, so this bounds the disk it takes);
        ``options`` as :class:`BaseRouteTemplate`."""
        if isinstance(max_archive_bytes, bool) or not isinstance(max_archive_bytes, int):
            raise TypeError(f"max_archive_bytes must be an int, got {max_archive_bytes!r}")
        if max_archive_bytes < 1:
            raise ValueError(f"max_archive_bytes must be at least 1, got {max_archive_bytes}")
        super().__init__(**options)
        self.max_archive_bytes = max_archive_bytes

    def _archive(self, request: Request, chunks: Iterator[bytes]) -> io.BufferedReader:
        """The request body as a stream, refused (413) once it passes ``max_archive_bytes``
        (at once when its ``Content-Length`` says so)."""
        limit = self.max_archive_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)

        def bounded() -> Iterator[bytes]:
            size = 0
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                yield chunk

        return io.BufferedReader(_Chunks(bounded()))

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        async def export_model(
            qb: Annotated[
                str | None,
                QueryParam(description="Export only the resources this filter matches."),
            ] = None,
            user: Any = m.user,
        ) -> Response:
            where = _qb(qb)
            u = _user(user)
            _require_checker([manager], "dump")
            return await _export(
                lambda out: dump([manager], out, model_queries={model_name: where}, user=u),
                f"{model_name}.specstar-backup",
            )

        async def import_model(
            request: Request,
            on_duplicate: Annotated[
                OnDuplicate, QueryParam(description=_ON_DUPLICATE_DOC)
            ] = OnDuplicate.overwrite,
            user: Any = m.user,
        ) -> Response:
            _check_media_type(request)
            u = _user(user)
            _require_checker([manager], "load")
            stats = await into_thread(
                request,
                lambda chunks: load(
                    [manager],
                    self._archive(request, chunks),
                    on_duplicate=on_duplicate,
                    user=u,
                ),
            )
            return json_response(_stats_doc(stats))

        m.add(
            "/export",
            export_model,
            method="GET",
            action="export",
            summary=f"Export every {model_name} as a backup archive",
            description="Authorized as the action `dump`.",
            response_class=StreamingResponse,
            responses={
                200: {
                    "description": "The archive",
                    "content": {
                        ARCHIVE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                **problem_responses(401, 403, 422),
            },
        )
        m.add(
            "/import",
            import_model,
            method="POST",
            action="import",
            summary=f"Import {model_name} resources from a backup archive",
            description="Authorized as the action `load`.",
            request_body=_archive_body(),
            responses={
                200: {
                    "description": "Load statistics",
                    "content": json_content({"type": "object"}),
                },
                **problem_responses(401, 403, 409, 413, 415, 422),
            },
        )

    def apply_global(
        self, resource_managers: Mapping[str, ResourceManager[Any]], router: APIRouter
    ) -> None:
        managers = list(resource_managers.values())
        get_user = self.deps.get_user

        async def export_all(
            models: Annotated[
                str | None,
                QueryParam(description="Comma-separated model names (default: every model)."),
            ] = None,
            user: Annotated[Any, Depends(get_user)] = None,
        ) -> Response:
            u = _user(user)
            _require_checker(managers, "dump")
            queries = None if models is None else _model_names(models, resource_managers)
            return await _export(
                lambda out: dump(managers, out, model_queries=queries, user=u),
                "specstar.specstar-backup",
            )

        async def import_all(
            request: Request,
            on_duplicate: Annotated[
                OnDuplicate, QueryParam(description=_ON_DUPLICATE_DOC)
            ] = OnDuplicate.overwrite,
            user: Annotated[Any, Depends(get_user)] = None,
        ) -> Response:
            _check_media_type(request)
            u = _user(user)
            _require_checker(managers, "load")
            stats = await into_thread(
                request,
                lambda chunks: load(
                    managers,
                    self._archive(request, chunks),
                    on_duplicate=on_duplicate,
                    user=u,
                ),
            )
            return json_response(_stats_doc(stats))

        # two apps mounted under different prefixes of one FastAPI app keep distinct ids
        prefix = getattr(router, "prefix", "") or ""
        suffix = "".join(c if c.isalnum() else "_" for c in prefix).strip("_")
        suffix = f"_{suffix}" if suffix else ""
        common: dict[str, Any] = {
            "tags": list(self.tags) if self.tags is not None else ["backup"],
            "route_class_override": self.route_class,
        }
        router.add_api_route(
            "/_backup/export",
            export_all,
            methods=["GET"],
            name="backup:export",
            operation_id="backup_export" + suffix,
            summary="Export models as a backup archive",
            description=self_doc(BackupRouteTemplate),
            response_class=StreamingResponse,
            responses={
                200: {
                    "description": "The archive",
                    "content": {
                        ARCHIVE_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                **problem_responses(400, 401, 403, 422),
            },
            **common,
        )
        router.add_api_route(
            "/_backup/import",
            import_all,
            methods=["POST"],
            name="backup:import",
            operation_id="backup_import" + suffix,
            summary="Import a backup archive",
            description=self_doc(BackupRouteTemplate),
            response_class=MsgspecResponse,
            openapi_extra={"requestBody": _archive_body()},
            responses={
                200: {
                    "description": "Load statistics per model",
                    "content": json_content({"type": "object"}),
                },
                **problem_responses(400, 401, 403, 409, 413, 415, 422),
            },
            **common,
        )


def _require_checker(managers: Sequence[ResourceManager[Any]], action: str) -> None:
    """Backup routes read or replace every resource: with no permission checker configured (the
    permissive default), they are refused to everyone rather than open to anyone."""
    for manager in managers:
        if isinstance(manager.pipeline.permission_checker, AllowAll):
            raise PermissionDeniedError(
                f"the {action} route of model {manager.name!r} needs a permission checker that "
                f"grants {action!r} (e.g. SpecStar(admin=...)); with the permissive default "
                "checker backup routes are refused to everyone",
                action=action,
            )


def _user(value: Any) -> str | UnsetType:
    return DependencyProvider.user_of(value)


def _model_names(
    models: str, resource_managers: Mapping[str, ResourceManager[Any]]
) -> dict[str, None]:
    names = [n.strip() for n in models.split(",")]
    unknown = [n for n in names if n not in resource_managers]
    if unknown or not all(names):
        message = (
            f"unknown model(s) {', '.join(unknown)}; known: {', '.join(sorted(resource_managers))}"
            if unknown
            else "models holds an empty name"
        )
        raise ParameterError(message, [FieldError("models", message)], source="query")
    return dict.fromkeys(names)


def _archive_body() -> dict[str, Any]:
    schema = {"type": "string", "format": "binary"}
    return {
        "required": True,
        "content": {ARCHIVE_MEDIA_TYPE: {"schema": schema}},
    }


class _Chunks(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (the request body)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.rest:
            self.rest = next(self.chunks, b"")
        n = min(len(buffer), len(self.rest))
        buffer[:n] = self.rest[:n]
        self.rest = self.rest[n:]
        return n

"""Schema migration over HTTP (opt-in): ``POST /m/_migrate`` and ``POST /m/{id}/migrate``."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection, Iterable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UnsetType
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fastapi import APIRouter
from fastapi import Query as QueryParam
from specstar.core import ResourceManager, ResourceMeta, SpecStarError

from ..dependencies import DependencyProvider
from ..openapi import MigrationProgress, json_content, problem_responses, ref
from ..problems import problem_for
from ..responses import internal_error, json_response
from ._base import REVISION_ID_PATTERN, BaseRouteTemplate, ResourceIdPath, etag_header

__all__ = ["NDJSON_MEDIA_TYPE", "MigrateRouteTemplate", "NDJSONResponse"]

NDJSON_MEDIA_TYPE = "application/x-ndjson"

_ENCODER = msgspec.json.Encoder()

_BULK_DOC = (
    "Migrates every resource whose current revision is not in the target schema version, each "
    'in its own atomic write, and streams progress as NDJSON: `{"done": 0, "total": n}`, '
    '`{"done": d, "total": n}` every 100 resources, then `{"migrated": n}` — or '
    '`{"error": {…problem…}}` when the run stopped (start it again: what was migrated stays '
    "migrated). Authorized as the action `migrate`; only resources inside the user's `migrate` "
    "access scope are migrated. A refusal before the run starts is a problem response."
)


class NDJSONResponse(StreamingResponse):
    """A stream of JSON documents, one per line (``application/x-ndjson``)."""

    media_type = NDJSON_MEDIA_TYPE


class _Failure:
    """The error that stopped a bulk migration, passed from its thread to the stream."""

    def __init__(self, error: SpecStarError) -> None:
        self.error = error


_Item = MigrationProgress | _Failure | None  # None: the run is over


class MigrateRouteTemplate(BaseRouteTemplate):
    """``POST /m/_migrate`` migrates every resource; ``POST /m/{id}/migrate`` one resource.

    Both are authorized as the action `migrate` (a permission of its own: grant it, or `*`).
    The bulk route answers `200` with an `application/x-ndjson` stream as soon as the
    resources to migrate are known: `{"done": 0, "total": n}`, then `{"done": d, "total": n}`
    every 100 resources, then `{"migrated": n}` — or `{"error": {…problem…}}` when the run
    stopped (it is safe to start again: what was migrated stays migrated). A refusal before the
    run starts is an ordinary problem response (403, 401). Only resources inside the user's
    `migrate` access scope are migrated. The run goes on in a worker thread, never on the
    event loop, even when the client goes away.

    Args:
        models: resource names to serve the routes for (default: every model with a schema
            version).
        dependency_provider: where routes get the acting user and time.
        tags: OpenAPI tags for the routes (default: the model name).
        strict_query_parameters: refuse query parameters a route does not read (``None``:
            the app's setting).
    """

    order = 50

    def __init__(
        self,
        *,
        models: Iterable[str] | None = None,
        dependency_provider: DependencyProvider | None = None,
        tags: list[str] | None = None,
        strict_query_parameters: bool | None = None,
    ) -> None:
        super().__init__(
            dependency_provider=dependency_provider,
            tags=tags,
            strict_query_parameters=strict_query_parameters,
        )
        self.models: Collection[str] | None = None if models is None else frozenset(models)

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        if self.models is not None and model_name not in self.models:
            return
        if resource_manager.schema_version is None:
            return
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager

        async def migrate_all(request: Request, user: Any = m.user, now: Any = m.now) -> Response:
            u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[_Item] = asyncio.Queue()

            def post(item: _Item) -> None:
                # RuntimeError: the event loop is gone (shutdown), nobody listens any more
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(queue.put_nowait, item)

            def progress(done: int, total: int) -> None:
                post(MigrationProgress(done=done, total=total))

            def work() -> None:
                try:
                    with manager.using(now=n):  # the request's time for every write of the run
                        migrated = manager.migrate_all(
                            user=u, on_start=lambda total: progress(0, total), progress=progress
                        )
                except SpecStarError as exc:
                    post(_Failure(exc))
                except Exception as exc:  # logged by problem_for, never shown
                    post(_Failure(internal_error(exc)))
                else:
                    post(MigrationProgress(migrated=migrated))
                finally:
                    post(None)

            running = loop.run_in_executor(None, work)  # work() never raises
            first = await queue.get()
            if isinstance(first, _Failure):  # refused (or failed) before the run started
                raise first.error
            instance = request.url.path

            async def lines() -> AsyncIterator[bytes]:
                item: _Item = first
                while item is not None:
                    if isinstance(item, _Failure):  # the whole problem, extension members too
                        yield _ENCODER.encode({"error": problem_for(item.error, instance)})
                    else:
                        yield _ENCODER.encode(item)
                    yield b"\n"
                    item = await queue.get()
                await running

            return NDJSONResponse(lines(), media_type=NDJSON_MEDIA_TYPE)

        def migrate_one(
            resource_id: str,
            revision_id: str | None,
            user: str | UnsetType,
            now: datetime | UnsetType,
        ) -> tuple[ResourceMeta, str | None]:
            meta = manager.migrate(resource_id, revision_id=revision_id, user=user, now=now)
            return meta, m.current_etag(resource_id, meta.current_revision_id, user)

        async def migrate(
            resource_id: ResourceIdPath,
            revision_id: Annotated[
                str | None,
                QueryParam(
                    pattern=REVISION_ID_PATTERN,
                    description=(
                        "Migrate this revision (it becomes current, as a new revision in the "
                        "target version) instead of the current one."
                    ),
                ),
            ] = None,
            user: Any = m.user,
            now: Any = m.now,
        ) -> Response:
            u, n = DependencyProvider.user_of(user), DependencyProvider.now_of(now)
            meta, etag = await m.call_as(u, migrate_one, resource_id, revision_id, u, n)
            return json_response(meta, etag=etag)

        m.add(
            "/_migrate",
            migrate_all,
            method="POST",
            action="migrate_all",
            summary=f"Migrate every {model_name} to the current schema version",
            description=_BULK_DOC,
            response_class=StreamingResponse,  # no media type: the content is documented below
            responses={
                200: {
                    "description": (
                        "Progress, one JSON object per line: `{done, total}` lines, then "
                        "`{migrated}` or `{error}`"
                    ),
                    "content": {
                        NDJSON_MEDIA_TYPE: {
                            "schema": {
                                "type": "string",
                                "description": "One `MigrationProgress` document per line",
                            },
                            "x-item-schema": ref("MigrationProgress"),
                        }
                    },
                },
                **problem_responses(401, 403, 422),
            },
        )
        m.add(
            "/{resource_id}/migrate",
            migrate,
            method="POST",
            action="migrate",
            summary=f"Migrate a {model_name} to the current schema version",
            description=(
                "Stores the current revision (or `revision_id`), read through the migration "
                "steps, as a new revision in the target version, which becomes current; the "
                "history is untouched. A current revision already in the target version is "
                "left as it is. Authorized as the action `migrate`."
            ),
            responses={
                200: {
                    "description": "The resource's meta afterwards",
                    "content": json_content(ref("ResourceMeta")),
                    "headers": {"ETag": etag_header(required=False)},
                },
                **problem_responses(400, 401, 403, 404, 409, 410, 422),
            },
        )

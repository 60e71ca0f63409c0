"""Files over HTTP: uploads, upload sessions and downloads.

========================================================  =====================================
route                                                     does
========================================================  =====================================
``POST /blobs/upload``                                    store one file (``multipart/form-data``
                                                          field ``file``, or the raw body)
``POST /blobs/upload-sessions``                           start a session
``GET /blobs/upload-sessions/{upload_id}``                the session and its progress
``PUT /blobs/upload-sessions/{upload_id}/content``        one part (``?part_number=``)
``POST /blobs/upload-sessions/{upload_id}/finalize``      join and check the parts
``POST /blobs/upload-sessions/{upload_id}/abort``         drop the parts
``GET /blobs/{file_id}``                                  download a file you uploaded
``GET /m/{resource_id}/blobs/{file_id}``                  download a file the resource references
========================================================  =====================================

Bodies are streamed to the blob store and downloads streamed from it: a request holds a
bounded buffer whatever the file's size. Downloads carry ``Content-Length``, ``ETag`` (the
file id: content never changes under an id), ``Accept-Ranges`` and answer ``Range`` with 206
(416 for a range outside the file); with ``redirect=True`` and a store that presigns URLs they
answer 307 to a short-lived direct URL instead.

No file may be larger than the uploads' ``max_file_bytes`` (``SpecStar.configure
(max_file_bytes=...)``, 5 GiB by default): a ``Content-Length`` over it is refused at once with
413 ``content_too_large``, a chunked body as soon as it passes it (a form may add
:data:`FORM_OVERHEAD_BYTES` of its own), and nothing is kept. A session declaring a larger
``size`` gets the same 413 (see :mod:`specstar.core.uploads` for parts and finalize).

Who may read a file: the user who uploaded it (``GET /blobs/{file_id}``), and whoever may read
a resource whose revision references it (``GET /m/{id}/blobs/{file_id}``, checked by the
model's permission checker). Others get 404, the same answer as for a file that does not exist.

Every route first asks the permission checker (the app's, or the model's for the per-model
route) about an action of its own, with the resource name ``blob`` on the global routes:
``blob_upload`` for the upload and every upload-session route, ``blob_read`` for the downloads
(the per-model one also passes the resource id, so a checker's ``check_resource`` sees the
resource's meta; the read of the resource is then checked as ``get``, as before). A denial is a
403 problem. The two actions belong to neither the ``read`` nor the ``write`` group: a rule
table needs them (or ``"*"``) to allow them.
"""

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, TypeVar

import anyio.from_thread
import msgspec
from msgspec import UNSET, UnsetType
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.types import Message

from fastapi import APIRouter, Depends, Header, Path
from fastapi import Query as QueryParam
from specstar.core import (
    Binary,
    BlobInfo,
    BlobStore,
    BlobUploads,
    BlobUploadSession,
    CheckerLike,
    ContentTooLargeError,
    FieldError,
    MemoryStorage,
    NotFoundError,
    ResourceManager,
    ValidationError,
)
from specstar.core.spi import DEFAULT_CONTENT_TYPE, MAX_PARTS, decode_data, find_binaries

from .._http import media_type_of, read_json
from ..dependencies import DependencyProvider
from ..errors import BadRequestError
from ..openapi import json_content, problem_responses, ref
from ..problems import problem_for, problem_response
from ..responses import MsgspecResponse, json_response
from ._base import BaseRouteTemplate, ResourceIdPath, RevisionIdPath

__all__ = ["BLOB_READ", "BLOB_RESOURCE", "BLOB_UPLOAD", "FORM_OVERHEAD_BYTES", "BlobRouteTemplate"]

#: The action of the upload and upload-session routes.
BLOB_UPLOAD = "blob_upload"
#: The action of the download routes.
BLOB_READ = "blob_read"
#: The resource name the global blob routes are checked under.
BLOB_RESOURCE = "blob"
#: What a ``multipart/form-data`` upload may add to the file's size (boundaries, part
#: headers) before its body is refused; the file itself is held to ``max_file_bytes``.
FORM_OVERHEAD_BYTES = 64 * 1024

R = TypeVar("R")

FileIdPath = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="The file id (its SHA-256, hex).")
]
UploadIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The upload session id.")]
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class SessionRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /blobs/upload-sessions``."""

    content_type: str = DEFAULT_CONTENT_TYPE
    size: int | None = None
    total_parts: int | None = None
    sha256: str | None = None
    upload_method: str = "proxy"


class FinalizeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The optional body of ``POST /blobs/upload-sessions/{upload_id}/finalize``."""

    sha256: str | None = None


async def _into_thread(request: Request, fn: Callable[[Iterator[bytes]], R]) -> R:
    """Run ``fn`` in a worker thread with the request body as an iterator of chunks, pulled
    from the event loop one at a time (the body is never held whole)."""
    stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    def chunks() -> Iterator[bytes]:
        while True:
            chunk = anyio.from_thread.run(next_chunk)
            if chunk is None:
                return
            if chunk:
                yield chunk

    return await run_in_threadpool(fn, chunks())


def _bounded(request: Request, limit: int, overhead: int = 0) -> Request:
    """``request`` with its body refused (:class:`ContentTooLargeError`) once it is longer
    than ``limit + overhead`` bytes: at once when its ``Content-Length`` says so, else as soon
    as the bytes received pass it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + overhead:
        raise ContentTooLargeError(limit)
    receive = request.receive
    received = 0

    async def bounded() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit + overhead:
                raise ContentTooLargeError(limit)
        return message

    return Request(request.scope, bounded)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The ``[start, stop)`` a ``Range`` header asks for, ``None`` for the whole file.

    Raises:
        BadRequestError: a malformed header (400) or a range outside the file (416).
    """
    if header is None:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        if header.strip().startswith("bytes=") and "," in header:
            return None  # several ranges: the whole file (RFC 9110 §14.2 allows it)
        raise BadRequestError(
            f"Range {header!r} is not 'bytes=start-end', 'bytes=start-' or 'bytes=-suffix'",
            code="invalid_range",
        )
    first, last = match.groups()
    if not first and not last:
        raise BadRequestError(f"Range {header!r} names no bytes", code="invalid_range")
    if not first:  # the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return max(0, size - n), size
    start = int(first)
    stop = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        raise BadRequestError(f"Range {header!r} ends before it starts", code="invalid_range")
    if start >= size:
        raise _unsatisfiable(header, size)
    return start, stop


def _unsatisfiable(header: str, size: int) -> BadRequestError:
    return BadRequestError(
        f"Range {header!r} lies outside the file's {size} bytes",
        code="range_not_satisfiable",
        status=416,
    )


class _Wanted(msgspec.Struct, frozen=True):
    """The request headers a download answers to."""

    range: str | None = None
    if_range: str | None = None
    if_none_match: str | None = None


async def _download(
    store: BlobStore,
    info: BlobInfo,
    content_type: str,
    wanted: _Wanted,
    *,
    redirect: bool,
    expires_in: int,
) -> Response:
    range_header, if_range, if_none_match = wanted.range, wanted.if_range, wanted.if_none_match
    etag = f'"{info.file_id}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",
    }
    if if_none_match is not None and (
        if_none_match.strip() == "*" or etag in [t.strip() for t in if_none_match.split(",")]
    ):
        return Response(status_code=304, headers=headers)
    if redirect:
        url = await run_in_threadpool(store.presign_get, info.file_id, expires_in)
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    span = None
    if if_range is None or if_range.strip() == etag:
        try:
            span = _byte_range(range_header, info.size)
        except BadRequestError as exc:
            if exc.status != 416:
                raise
            return problem_response(
                problem_for(exc, None), headers={"Content-Range": f"bytes */{info.size}"}
            )
    start, stop = span if span is not None else (0, info.size)
    chunks = await run_in_threadpool(store.open, info.file_id, start, stop)
    headers["Content-Length"] = str(stop - start)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"
    return StreamingResponse(chunks, status_code=status, headers=headers, media_type=content_type)


class BlobRouteTemplate(BaseRouteTemplate):
    """Upload and download files (see :mod:`specstar.fastapi.routes.blobs`).

    Args:
        uploads: the uploads service (``SpecStar.apply`` gives the app's).
        permission_checker: the checker of the global routes (``SpecStar.apply`` gives the
            app's; ``None``: everyone may upload and read their uploads).
        prefix: path of the global routes.
        redirect: answer downloads with 307 to a presigned URL when the store has them.
        url_expires_in: seconds such a URL stays valid.
        always: add the routes even when no registered model has a ``Binary`` field.
    """

    order = 60

    def __init__(
        self,
        *,
        uploads: BlobUploads | None = None,
        permission_checker: CheckerLike | UnsetType | None = UNSET,
        prefix: str = "/blobs",
        redirect: bool = False,
        url_expires_in: int = 300,
        always: bool = False,
        dependency_provider: DependencyProvider | None = None,
        tags: list[str] | None = None,
        strict_query_parameters: bool | None = None,
    ) -> None:
        super().__init__(
            dependency_provider=dependency_provider,
            tags=tags,
            strict_query_parameters=strict_query_parameters,
        )
        self.uploads = uploads
        #: ``UNSET`` until ``SpecStar.apply`` gives the app's checker (or ``None``).
        self.permission_checker = permission_checker
        self.prefix = prefix
        self.redirect = redirect
        self.url_expires_in = url_expires_in
        self.always = always

    # -- per model ------------------------------------------------------------------------------

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        if not resource_manager.has_binary_fields:
            return
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager
        template = self

        def referenced(
            resource_id: str, revision_id: str | None, file_id: str, user: Any
        ) -> tuple[BlobInfo, str]:
            resource = manager.get(resource_id, revision_id, user=DependencyProvider.user_of(user))
            for _, binary in find_binaries(resource.data):
                if binary.file_id == file_id:
                    info = manager.blob_store.info(file_id)
                    if info is None:
                        break
                    ct = binary.content_type
                    return info, ct if isinstance(ct, str) else info.content_type
            raise NotFoundError(
                f"{resource_id!r} does not reference the file {file_id!r}", resource_id=resource_id
            )

        async def get_resource_blob(
            *,
            resource_id: ResourceIdPath,
            file_id: FileIdPath,
            revision_id: Annotated[
                RevisionIdPath | None,
                QueryParam(description="Look in this revision instead of the current one."),
            ] = None,
            range_header: Annotated[str | None, Header(alias="Range")] = None,
            if_range: Annotated[str | None, Header(alias="If-Range")] = None,
            if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
            user: Any = m.user,
        ) -> Response:
            who = DependencyProvider.user_of(user)
            await m.call(manager.authorize, BLOB_READ, user=who, resource_id=resource_id)
            info, content_type = await m.call(referenced, resource_id, revision_id, file_id, user)
            return await _download(
                manager.blob_store,
                info,
                content_type,
                _Wanted(range_header, if_range, if_none_match),
                redirect=template.redirect,
                expires_in=template.url_expires_in,
            )

        m.add(
            "/{resource_id}/blobs/{file_id}",
            get_resource_blob,
            method="GET",
            action="get_blob",
            summary=f"Download a file a {model_name} references",
            description=(
                "The file, if the resource's current revision (or `revision_id`) references "
                "it and the user may read the resource. Streams with `Content-Length` and "
                "`ETag`; `Range` gives 206 (416 outside the file)."
            ),
            responses=_download_responses(),
            response_class=Response,
        )

    # -- global ---------------------------------------------------------------------------------

    def apply_global(
        self, resource_managers: Mapping[str, ResourceManager[Any]], router: APIRouter
    ) -> None:
        if not self.always and not any(m.has_binary_fields for m in resource_managers.values()):
            return
        uploads = self.uploads
        if uploads is None:
            raise ValueError("BlobRouteTemplate needs uploads= (SpecStar.apply gives its own)")
        checker = self.permission_checker
        # the checker answers through a manager, so both checker protocols, scopes and the
        # strict operation context work as on every other route; it keeps no records
        gate: ResourceManager[BlobUploadSession] = ResourceManager(
            BlobUploadSession,
            name=BLOB_RESOURCE,
            storage=MemoryStorage(),
            permission_checker=None if isinstance(checker, UnsetType) else checker,
        )

        def allowed(action: str, user: Any) -> Any:
            """The uploader ``user`` acts as, once the checker allows ``action``."""
            who = DependencyProvider.user_of(user)
            gate.authorize(action, user=uploads.user_of(who))
            return who

        get_user = self.deps.get_user
        User = Annotated[Any, Depends(get_user)]
        template = self
        tags: list[str | Any] = list(self.tags) if self.tags is not None else ["blobs"]

        def add(path: str, endpoint: Any, method: str, name: str, summary: str, **kw: Any) -> None:
            router.add_api_route(
                self.prefix + path,
                endpoint,
                methods=[method],
                name=f"blobs:{name}",
                operation_id=f"{name}_blobs",
                summary=summary,
                tags=tags,
                route_class_override=self.route_class,
                response_class=kw.pop("response_class", MsgspecResponse),
                **kw,
            )

        async def upload(request: Request, user: User) -> Response:
            who = allowed(BLOB_UPLOAD, user)
            media_type = media_type_of(request)
            limit = uploads.max_file_bytes
            if media_type == "multipart/form-data":
                bounded = _bounded(request, limit, FORM_OVERHEAD_BYTES)
                form = await bounded.form(max_files=1, max_fields=16)
                try:
                    unknown = sorted(k for k in form if k != "file")
                    if unknown:
                        raise ValidationError(
                            f"unknown form fields {unknown}: send the file as 'file'",
                            [FieldError(k, "unknown form field") for k in unknown],
                        )
                    file = form.get("file")
                    if not isinstance(file, UploadFile):
                        raise ValidationError(
                            "the form needs a file field 'file'", [FieldError("file", "missing")]
                        )
                    content_type = file.content_type or DEFAULT_CONTENT_TYPE
                    session = await run_in_threadpool(
                        uploads.upload, file.file, content_type, user=who
                    )
                finally:
                    await form.close()
            else:
                content_type = request.headers.get("content-type") or DEFAULT_CONTENT_TYPE
                session = await _into_thread(
                    _bounded(request, limit),
                    lambda chunks: uploads.upload(chunks, content_type, user=who),
                )
            binary = Binary(
                file_id=session.file_id,
                size=session.size if session.size is not None else 0,
                content_type=content_type,
            )
            return json_response(binary, status_code=201)

        add(
            "/upload",
            upload,
            "POST",
            "upload",
            "Upload a file",
            description=(
                "Stores the file (a `multipart/form-data` field `file`, or the raw body with "
                "its `Content-Type`) and answers the `Binary` to put in a model. The uploader "
                "may read it through `GET /blobs/{file_id}`. A file over the server's "
                "`max_file_bytes` is refused with 413 and not kept."
            ),
            status_code=201,
            responses={
                201: {"description": "The stored file", "content": json_content(ref("Binary"))},
                **problem_responses(400, 401, 403, 413, 422),
            },
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                                "required": ["file"],
                            }
                        },
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        },
                    },
                }
            },
        )

        async def create_session(request: Request, user: User) -> Response:
            who = allowed(BLOB_UPLOAD, user)
            body = await read_json(request)
            options = decode_data(SessionRequest, body, forbid_unknown=True)
            session = await run_in_threadpool(
                lambda: uploads.create_session(
                    content_type=options.content_type,
                    size=options.size,
                    total_parts=options.total_parts,
                    sha256=options.sha256,
                    upload_method=options.upload_method,  # type: ignore[arg-type]
                    user=who,
                )
            )
            return json_response(session, status_code=201)

        session_response = {
            "description": "The session",
            "content": json_content(ref("BlobUploadSession")),
        }
        add(
            "/upload-sessions",
            create_session,
            "POST",
            "create_upload_session",
            "Start an upload session",
            description=(
                "`upload_method` `proxy` (send the content, or numbered parts in parallel, to "
                "`PUT …/content`), `single_put` (`PUT` the whole content to `upload_url`) or "
                "`presigned_parts` (with `total_parts`: `PUT` part n to `part_urls[n-1]`, in "
                "parallel, straight to the blob store). "
                "`size`, `total_parts` and `sha256` are checked when the session is finalized; "
                "a `size` over the server's `max_file_bytes` is refused at once with 413."
            ),
            status_code=201,
            responses={201: session_response, **problem_responses(400, 401, 403, 413, 415, 422)},
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "content_type": {"type": "string"},
                                "size": {"type": ["integer", "null"], "minimum": 0},
                                "total_parts": {
                                    "type": ["integer", "null"],
                                    "minimum": 1,
                                    "maximum": MAX_PARTS,
                                },
                                "sha256": {"type": ["string", "null"]},
                                "upload_method": {
                                    "type": "string",
                                    "enum": ["proxy", "single_put", "presigned_parts"],
                                },
                            },
                        }
                    ),
                }
            },
        )

        async def get_session(upload_id: UploadIdPath, user: User) -> Response:
            who = allowed(BLOB_UPLOAD, user)
            session = await run_in_threadpool(lambda: uploads.get_session(upload_id, user=who))
            return json_response(session)

        add(
            "/upload-sessions/{upload_id}",
            get_session,
            "GET",
            "get_upload_session",
            "An upload session and its progress",
            responses={200: session_response, **problem_responses(400, 401, 403, 404, 410, 422)},
        )

        async def put_content(
            request: Request,
            upload_id: UploadIdPath,
            user: User,
            part_number: Annotated[
                int | None,
                QueryParam(
                    ge=1,
                    le=MAX_PARTS,
                    description="The part (1-based); default: the one after the highest sent.",
                ),
            ] = None,
        ) -> Response:
            who = allowed(BLOB_UPLOAD, user)
            session = await _into_thread(
                _bounded(request, uploads.max_file_bytes),
                lambda chunks: uploads.put_content(
                    upload_id, chunks, part_number=part_number, user=who
                ),
            )
            return json_response(session)

        add(
            "/upload-sessions/{upload_id}/content",
            put_content,
            "PUT",
            "put_upload_content",
            "Send content (one part) of an upload session",
            description=(
                "A part taking the session's total past the server's `max_file_bytes` is "
                "refused with 413 (past the declared `size`: 422 naming `size`) and not kept."
            ),
            responses={
                200: session_response,
                **problem_responses(400, 401, 403, 404, 410, 413, 422),
            },
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                }
            },
        )

        async def finalize(request: Request, upload_id: UploadIdPath, user: User) -> Response:
            who = allowed(BLOB_UPLOAD, user)
            body = await request.body() if request.headers.get("content-length") != "0" else b""
            sha256 = None
            if body.strip():
                if len(body) > 4096:
                    raise BadRequestError("the finalize body is too large", code="invalid_json")
                try:
                    raw = msgspec.json.decode(body)
                except msgspec.DecodeError as exc:
                    raise BadRequestError(
                        f"the body is not valid JSON: {exc}", code="invalid_json"
                    ) from None
                sha256 = decode_data(FinalizeRequest, raw, forbid_unknown=True).sha256
            session = await run_in_threadpool(
                lambda: uploads.finalize(upload_id, sha256=sha256, user=who)
            )
            return json_response(session)

        add(
            "/upload-sessions/{upload_id}/finalize",
            finalize,
            "POST",
            "finalize_upload_session",
            "Finalize an upload session",
            description=(
                "Joins the parts into the file after checking the part count, the size and "
                'the SHA-256 (declared at creation, or `{"sha256": …}` here); a failed check '
                "is a 422 naming it and leaves the session open. Parts over the server's "
                "`max_file_bytes` (sent to presigned URLs) are dropped, the session aborted "
                "and the answer is 413."
            ),
            responses={
                200: session_response,
                **problem_responses(400, 401, 403, 404, 410, 413, 422),
            },
        )

        async def abort(upload_id: UploadIdPath, user: User) -> Response:
            who = allowed(BLOB_UPLOAD, user)
            session = await run_in_threadpool(lambda: uploads.abort(upload_id, user=who))
            return json_response(session)

        add(
            "/upload-sessions/{upload_id}/abort",
            abort,
            "POST",
            "abort_upload_session",
            "Abort an upload session",
            responses={200: session_response, **problem_responses(400, 401, 403, 404, 410, 422)},
        )

        async def download(
            file_id: FileIdPath,
            user: User,
            range_header: Annotated[str | None, Header(alias="Range")] = None,
            if_range: Annotated[str | None, Header(alias="If-Range")] = None,
            if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
        ) -> Response:
            who = allowed(BLOB_READ, user)

            def readable() -> BlobInfo:
                info = uploads.blob_store.info(file_id)
                if info is None or not uploads.is_uploader(file_id, who):
                    raise NotFoundError(f"blob {file_id!r} does not exist")
                return info

            info = await run_in_threadpool(readable)
            return await _download(
                uploads.blob_store,
                info,
                info.content_type,
                _Wanted(range_header, if_range, if_none_match),
                redirect=template.redirect,
                expires_in=template.url_expires_in,
            )

        add(
            "/{file_id}",
            download,
            "GET",
            "download",
            "Download a file you uploaded",
            description=(
                "Streams the file to its uploader (others: 404; they read it through a "
                "resource that references it, `GET /m/{id}/blobs/{file_id}`)."
            ),
            responses=_download_responses(),
            response_class=Response,
        )


def _download_responses() -> dict[int | str, Any]:
    binary = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    return {
        200: {"description": "The file", "content": binary},
        206: {"description": "The requested byte range", "content": binary},
        304: {"description": "Not modified (`If-None-Match`)"},
        307: {"description": "Redirect to a presigned URL (when configured)"},
        **problem_responses(400, 401, 403, 404, 410, 416, 422),
    }

"""Upload sessions: ``/blobs/upload-sessions`` to start one, then read, send content
(parts), finalize or abort it (see :mod:`specstar.core.uploads`)."""

from typing import Annotated, Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fastapi import Depends, Path
from fastapi import Query as QueryParam
from specstar.core.spi import DEFAULT_CONTENT_TYPE, MAX_PARTS, decode_data

from .._http import read_json
from ..errors import BadRequestError
from ..openapi import json_content, problem_responses, ref
from ..responses import json_response
from ._blob_router import BLOB_UPLOAD, BlobRouter
from ._bodies import bounded_request, into_thread

__all__ = ["FinalizeRequest", "SessionRequest", "add_session_routes"]

UploadIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The upload session id.")]


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


def add_session_routes(r: BlobRouter) -> None:
    """Add the upload-session routes to ``r``."""
    uploads = r.uploads
    User = Annotated[Any, Depends(r.get_user)]

    async def create_session(request: Request, user: User) -> Response:
        who = r.allowed(BLOB_UPLOAD, user)
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
    r.add(
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
        who = r.allowed(BLOB_UPLOAD, user)
        session = await run_in_threadpool(lambda: uploads.get_session(upload_id, user=who))
        return json_response(session)

    r.add(
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
        who = r.allowed(BLOB_UPLOAD, user)
        session = await into_thread(
            bounded_request(request, uploads.max_file_bytes),
            lambda chunks: uploads.put_content(
                upload_id, chunks, part_number=part_number, user=who
            ),
        )
        return json_response(session)

    r.add(
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
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )

    async def finalize(request: Request, upload_id: UploadIdPath, user: User) -> Response:
        who = r.allowed(BLOB_UPLOAD, user)
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

    r.add(
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
        who = r.allowed(BLOB_UPLOAD, user)
        session = await run_in_threadpool(lambda: uploads.abort(upload_id, user=who))
        return json_response(session)

    r.add(
        "/upload-sessions/{upload_id}/abort",
        abort,
        "POST",
        "abort_upload_session",
        "Abort an upload session",
        responses={200: session_response, **problem_responses(400, 401, 403, 404, 410, 422)},
    )

"""Direct uploads: ``POST /blobs/upload`` stores one file, sent as ``multipart/form-data``
field ``file`` or as the raw body."""

from typing import Annotated, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from fastapi import Depends
from specstar.core import Binary, FieldError, ValidationError
from specstar.core.spi import DEFAULT_CONTENT_TYPE

from .._http import media_type_of
from ..openapi import json_content, problem_responses, ref
from ..responses import json_response
from ._blob_router import BLOB_UPLOAD, BlobRouter
from ._bodies import bounded_request, into_thread

__all__ = ["FORM_OVERHEAD_BYTES", "add_upload_route"]

#: What a ``multipart/form-data`` upload may add to the file's size (boundaries, part
#: headers) before its body is refused; the file itself is held to ``max_file_bytes``.
FORM_OVERHEAD_BYTES = 64 * 1024


def add_upload_route(r: BlobRouter) -> None:
    """Add ``POST {prefix}/upload`` to ``r``."""
    uploads = r.uploads
    User = Annotated[Any, Depends(r.get_user)]

    async def upload(request: Request, user: User) -> Response:
        who = r.allowed(BLOB_UPLOAD, user)
        media_type = media_type_of(request)
        limit = uploads.max_file_bytes
        if media_type == "multipart/form-data":
            bounded = bounded_request(request, limit, FORM_OVERHEAD_BYTES)
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
                session = await run_in_threadpool(uploads.upload, file.file, content_type, user=who)
            finally:
                await form.close()
        else:
            content_type = request.headers.get("content-type") or DEFAULT_CONTENT_TYPE
            session = await into_thread(
                bounded_request(request, limit),
                lambda chunks: uploads.upload(chunks, content_type, user=who),
            )
        binary = Binary(
            file_id=session.file_id,
            size=session.size if session.size is not None else 0,
            content_type=content_type,
        )
        return json_response(binary, status_code=201)

    r.add(
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
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                },
            }
        },
    )

"""Downloads of files: ``Range`` (206, 416), ``If-Range``, ``If-None-Match`` (304) and
redirects to presigned URLs (307), streamed from the blob store."""

import re
from typing import Annotated, Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response, StreamingResponse

from fastapi import Path
from specstar.core import BlobInfo, BlobStore

from ..errors import BadRequestError
from ..openapi import problem_responses
from ..problems import problem_for, problem_response

__all__ = ["FileIdPath", "Wanted", "download_responses", "file_response"]

FileIdPath = Annotated[
    str, Path(pattern=r"^[0-9a-f]{64}$", description="The file id (its SHA-256, hex).")
]
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


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


class Wanted(msgspec.Struct, frozen=True):
    """The request headers a download answers to."""

    range: str | None = None
    if_range: str | None = None
    if_none_match: str | None = None


async def file_response(
    store: BlobStore,
    info: BlobInfo,
    content_type: str,
    wanted: Wanted,
    *,
    redirect: bool,
    expires_in: int,
) -> Response:
    """The answer to a download of ``info`` (served as ``content_type``) given the request
    headers ``wanted``: 304, a 307 to a presigned URL (``redirect``, when the store makes
    them, valid ``expires_in`` seconds), a 416 problem, or the file (206 for a range)."""
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


def download_responses() -> dict[int | str, Any]:
    """The OpenAPI responses of a download route."""
    binary = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    return {
        200: {"description": "The file", "content": binary},
        206: {"description": "The requested byte range", "content": binary},
        304: {"description": "Not modified (`If-None-Match`)"},
        307: {"description": "Redirect to a presigned URL (when configured)"},
        **problem_responses(400, 401, 403, 404, 410, 416, 422),
    }

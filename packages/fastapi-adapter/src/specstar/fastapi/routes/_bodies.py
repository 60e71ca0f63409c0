"""Request bodies as they arrive: read in a worker thread, and bounded in size."""

from collections.abc import Callable, Iterator
from typing import TypeVar

import anyio.from_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Message

from specstar.core import ContentTooLargeError

__all__ = ["bounded_request", "into_thread"]

R = TypeVar("R")


async def into_thread(request: Request, fn: Callable[[Iterator[bytes]], R]) -> R:
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


def bounded_request(request: Request, limit: int, overhead: int = 0) -> Request:
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

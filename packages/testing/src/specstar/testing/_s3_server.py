"""The S3 server of the tests: moto's, with its conditional writes made atomic.

moto checks ``If-None-Match: *`` (or ``If-Match``) and then stores the object, in two steps,
while its server answers requests on several threads: two concurrent conditional creates of one
key can then both succeed, the second silently replacing the first. Real S3 decides a
conditional write atomically, and the S3 backends rely on it (a commit-log entry created with
``If-None-Match: *`` is how a writer wins the next sequence number), so under moto a lost race
would look like a lost write of SpecStar's. This server runs moto's application behind a lock
that serialises the requests carrying a condition (nothing else waits on it).

``python -m specstar.testing._s3_server -H HOST -p PORT`` (what :func:`.services.moto_server`
starts).
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ["AtomicConditionalWrites", "main"]

#: The WSGI environ keys of the request headers that make a write conditional.
_CONDITIONS = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH")
_WRITES = frozenset({"PUT", "POST", "DELETE"})

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AtomicConditionalWrites:
    """WSGI middleware: one conditional write at a time, its response body produced (so the
    object stored) before the next one is checked."""

    def __init__(self, app: Wsgi) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        conditional = environ.get("REQUEST_METHOD") in _WRITES and any(
            key in environ for key in _CONDITIONS
        )
        if not conditional:
            return self._app(environ, start_response)
        with self._lock:
            body = self._app(environ, start_response)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m specstar.testing._s3_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    app = AtomicConditionalWrites(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

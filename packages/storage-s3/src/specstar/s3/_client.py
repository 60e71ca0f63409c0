"""The S3 client the stores share: how it is built, and what its errors mean."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError

from specstar.core import StorageUnavailableError

__all__ = [
    "S3_ERRORS",
    "ClientSpec",
    "confirm_bucket",
    "is_missing",
    "is_precondition_failed",
    "key_part",
    "read_object",
    "translated",
    "translating",
    "unavailable",
]

#: S3 refuses keys longer than this many UTF-8 bytes.
MAX_KEY_BYTES = 1024
#: Request bodies up to this size go out with their headers at once (see
#: :func:`send_small_bodies_at_once`); larger ones keep ``Expect: 100-continue``.
SMALL_BODY_BYTES = 1024 * 1024


class ClientSpec:
    """How to build a boto3 S3 client: either one given by the caller, or the arguments to make
    one (an endpoint and any ``boto3.client`` options). A spec that makes its own client can be
    pickled (a process rebuilds the client from the arguments); a given client cannot."""

    def __init__(
        self, client: Any | None, endpoint_url: str | None, options: Mapping[str, Any]
    ) -> None:
        if client is not None and (endpoint_url is not None or options):
            raise TypeError("pass either client= or endpoint_url=/client options, not both")
        self.given = client
        self.endpoint_url = endpoint_url
        self.options = dict(options)

    def make(self) -> Any:
        """The client: the given one, or a new thread-safe boto3 client."""
        if self.given is not None:
            return self.given
        import boto3
        from botocore.config import Config

        options = dict(self.options)
        config = Config(
            max_pool_connections=32,
            retries={"mode": "standard", "max_attempts": 4},
            connect_timeout=5,
            read_timeout=30,
        )
        if "config" in options:
            config = config.merge(options.pop("config"))
        client = boto3.client("s3", endpoint_url=self.endpoint_url, config=config, **options)
        client.meta.events.register("before-send.s3", send_small_bodies_at_once)
        return client

    def __getstate__(self) -> dict[str, Any]:
        if self.given is not None:
            raise TypeError(
                "a store built with client= cannot be pickled; pass endpoint_url= and client "
                "options instead so another process can build its own client"
            )
        return {"endpoint_url": self.endpoint_url, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.given = None
        self.endpoint_url = state["endpoint_url"]
        self.options = state["options"]


def send_small_bodies_at_once(request: Any, **_: Any) -> None:
    """A ``before-send`` hook of the clients the stores build: a request body of at most
    :data:`SMALL_BODY_BYTES` is sent without ``Expect: 100-continue``.

    botocore asks for ``100 Continue`` before the body of every ``PUT`` whatever its size, so
    each payload and log-entry put waits one more round trip (the headers out, the server's
    ``100`` back) before the body leaves — a third of a put's time against a loopback server,
    a whole network round trip against S3. The header only saves uploading a large body the
    server would refuse; S3 reads a small one in full anyway (a refused conditional put still
    answers 412). ``Expect`` is never signed, so dropping it after signing is allowed.
    Clients passed in with ``client=`` are left as they are.
    """
    headers = request.headers
    if headers.get("Expect") is None:
        return
    length = headers.get("Content-Length")
    try:
        size = int(length) if length is not None else None
    except ValueError:
        size = None
    if size is not None and size <= SMALL_BODY_BYTES:
        del headers["Expect"]


def key_part(text: str) -> str:
    """``text`` as one segment of an object key: percent-encoded (``/`` included), so distinct
    texts give distinct segments and a segment never contains ``/``. Lone surrogates are kept
    (encoded), so any Python string has a segment."""
    return quote(text, safe="", errors="surrogatepass")


def check_key(key: str, what: str) -> str:
    """``key`` unless it is longer than S3 allows (``ValueError`` naming ``what``)."""
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ValueError(f"{what} makes an object key longer than {MAX_KEY_BYTES} bytes")
    return key


def _code(exc: BaseException) -> tuple[str, int]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", 0
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    return str(error.get("Code", "")), int(meta.get("HTTPStatusCode") or 0)


def is_precondition_failed(exc: BaseException) -> bool:
    """Whether a conditional request was refused (412: ``If-None-Match``/``If-Match``)."""
    code, status = _code(exc)
    return code in ("PreconditionFailed", "412") or status == 412


def is_conflicting_write(exc: BaseException) -> bool:
    """Whether S3 refused a conditional write because another one on the key was in flight
    (409 ``ConditionalRequestConflict``): the caller retries as after a 412."""
    code, status = _code(exc)
    return code == "ConditionalRequestConflict" or status == 409


def is_missing(exc: BaseException) -> bool:
    """Whether the request failed because the object does not exist (404) — not because the
    bucket does not (also a 404, with the code ``NoSuchBucket``: an error, never "nothing
    there")."""
    code, status = _code(exc)
    if code == "NoSuchBucket":
        return False
    return code in ("NoSuchKey", "404", "NotFound") or status == 404


def read_object(client: Any, bucket: str, key: str, *, action: str = "") -> bytes | None:
    """The bytes of one object (``None``: it does not exist); ``action`` names the request in
    the error when S3 does not answer (default: ``read of <key>``)."""
    try:
        body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise unavailable(exc, action or f"read of {key!r}") from exc
    except BotoCoreError as exc:
        raise unavailable(exc, action or f"read of {key!r}") from exc
    return body


def unavailable(
    exc: BaseException, action: str, *, unchanged: bool = True
) -> StorageUnavailableError:
    """The error for a request S3 did not answer as it should (the cause is chained by the
    caller with ``raise ... from exc``)."""
    code, status = _code(exc)
    detail = f" ({code or type(exc).__name__}{f', HTTP {status}' if status else ''})"
    if code == "NoSuchBucket":
        error = getattr(exc, "response", {}).get("Error") or {}
        name = error.get("BucketName")
        detail += f": the bucket{f' {name!r}' if name else ''} does not exist"
    claim = "; nothing was changed" if unchanged else ""
    return StorageUnavailableError(f"S3 {action} failed{detail}{claim}")


def confirm_bucket(client: Any, bucket: str, action: str) -> None:
    """Return when ``bucket`` exists; else raise :class:`StorageUnavailableError` naming it.

    For after a ``HEAD`` answered 404: that 404 does not say whether the object or the bucket
    is missing (a ``GET`` says, a ``HEAD`` has no body). One more request, on a miss only; it
    needs the permission the 404 already proves (without ``s3:ListBucket`` S3 answers 403)."""
    try:
        client.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        code, status = _code(exc)
        if status == 404 or code in ("404", "NoSuchBucket", "NotFound"):
            raise StorageUnavailableError(
                f"S3 {action} failed (NoSuchBucket, HTTP 404): the bucket {bucket!r} does not "
                "exist; nothing was changed"
            ) from exc
        raise unavailable(exc, action) from exc


#: What boto3 raises when S3 refuses or does not answer a request (its transfers included).
S3_ERRORS = (ClientError, BotoCoreError, Boto3Error)
P = ParamSpec("P")
R = TypeVar("R")


def translated(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A decorator for the methods of a store with a ``bucket``: an S3 failure escaping the
    method is raised as :class:`~specstar.core.errors.StorageUnavailableError` naming ``what``,
    the method and the bucket (a store's errors are the storage contract's, never boto3's)."""

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(*args, **kwargs)
            except S3_ERRORS as exc:
                bucket = getattr(args[0] if args else None, "bucket", "?")
                action = f"{what} {method.__name__.replace('_', ' ')} in bucket {bucket!r}"
                # a call of several requests may have applied some: no claim either way
                raise unavailable(exc, action, unchanged=False) from exc

        return call

    return decorate


def translating(chunks: Iterator[bytes], action: str) -> Iterator[bytes]:
    """``chunks``, with an S3 failure while they are read raised as by :func:`translated`."""
    try:
        yield from chunks
    except S3_ERRORS as exc:
        raise unavailable(exc, action) from exc

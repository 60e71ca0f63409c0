"""Revision payloads as immutable S3 objects (the :class:`~specstar.core.payloads.PayloadStore`
port on S3).

Object keys are ``<prefix><type>/<resource id>/<payload key>`` (type and resource id
percent-encoded, so any id is one key segment). Every object is created with
``If-None-Match: *``: an existing key is never overwritten, so an object, once read, keeps its
bytes forever. A storage composing these payloads with SQL meta (``SQLiteStorageFactory`` or
``PostgresStorageFactory`` with ``payloads=S3PayloadStoreFactory(...)``) puts each revision's
object before the transaction that names it, deletes it again when the transaction is refused,
and collects what a crash left behind with ``collect_orphan_payloads(older_than)``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from specstar.core import ConflictError
from specstar.core.spi import (
    PayloadEntry,
    PayloadStore,
    PayloadStoreFactory,
    check_payload_key,
    is_payload_key,
)

from ._cache import ObjectCache
from ._client import (
    ClientSpec,
    check_key,
    confirm_bucket,
    is_conflicting_write,
    is_missing,
    is_precondition_failed,
    key_part,
    read_object,
    unavailable,
)

__all__ = ["S3PayloadStore", "S3PayloadStoreFactory"]

#: Objects fetched at once by ``get_many``.
_PARALLEL_GETS = 16
#: Default byte budget of the cache of payloads read or written by one store.
CACHE_BYTES = 32 * 1024 * 1024
#: Attempts of a put refused because another conditional write on the key was in flight.
_PUT_ATTEMPTS = 5


class S3PayloadStore(PayloadStore):
    """Payloads of one resource type under one key prefix of a bucket.

    Args:
        client: a boto3 S3 client (thread-safe; shared by the stores of a factory).
        bucket: the bucket, which must exist.
        prefix: the key prefix of this type's objects (ends with ``/`` or is empty).
        cache_bytes: budget of the in-process cache of payloads read or written (objects
            never change under a key, so a cached payload is never stale); 0 disables it.
    """

    def __init__(
        self, client: Any, bucket: str, prefix: str, *, cache_bytes: int = CACHE_BYTES
    ) -> None:
        self._cache = ObjectCache(cache_bytes)
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def object_key(self, resource_id: str, key: str) -> str:
        """The S3 key of one payload."""
        check_payload_key(key)
        return check_key(f"{self.prefix}{key_part(resource_id)}/{key}", "the resource id")

    def put(self, resource_id: str, key: str, data: bytes) -> None:
        object_key = self.object_key(resource_id, key)
        for _ in range(_PUT_ATTEMPTS):
            try:
                self._client.put_object(
                    Bucket=self.bucket, Key=object_key, Body=bytes(data), IfNoneMatch="*"
                )
                self._cache.put((resource_id, key), bytes(data))
                return
            except ClientError as exc:
                if is_conflicting_write(exc):
                    continue
                if not is_precondition_failed(exc):
                    raise unavailable(exc, f"put of payload {key!r}") from exc
            except BotoCoreError as exc:
                raise unavailable(exc, f"put of payload {key!r}") from exc
            # the key exists: a retried put of the same bytes succeeds, anything else conflicts
            if self.get(resource_id, key) == data:
                return
            raise ConflictError(f"payload {key!r} of {resource_id!r} already holds other bytes")
        raise unavailable(RuntimeError("conflicting writes"), f"put of payload {key!r}")

    def put_many(self, items: Sequence[tuple[str, str, bytes]]) -> None:
        """:meth:`put` each ``(resource_id, key, data)``, concurrently (up to 16 requests in
        flight); raises the first error once every put has ended."""
        if len(items) <= 1:
            for item in items:
                self.put(*item)
            return
        futures = [self._executor().submit(self.put, *item) for item in items]
        for future in futures:
            future.result()

    def get(self, resource_id: str, key: str) -> bytes | None:
        if not is_payload_key(key):
            return None
        cached = self._cache.get((resource_id, key))
        if cached is not None:
            return cached
        body = read_object(
            self._client,
            self.bucket,
            self.object_key(resource_id, key),
            action=f"get of payload {key!r}",
        )
        if body is None:
            return None
        self._cache.put((resource_id, key), body)
        return body

    def get_many(self, refs: Sequence[tuple[str, str]]) -> list[bytes | None]:
        """Fetch the objects concurrently (up to 16 requests in flight)."""
        if len(refs) <= 1:
            return [self.get(rid, key) for rid, key in refs]
        pool = self._executor()
        return list(pool.map(lambda ref: self.get(*ref), refs))

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_PARALLEL_GETS, thread_name_prefix="s3-payloads")
            return self._pool

    def delete(self, resource_id: str, key: str) -> bool:
        if not is_payload_key(key):
            return False
        self._cache.discard((resource_id, key))
        object_key = self.object_key(resource_id, key)
        try:  # S3's DELETE does not say whether the object existed: ask first
            self._client.head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if is_missing(exc):  # the object, or the bucket: a HEAD's 404 does not say
                confirm_bucket(self._client, self.bucket, f"head of payload {key!r}")
                return False
            raise unavailable(exc, f"head of payload {key!r}") from exc
        except BotoCoreError as exc:
            raise unavailable(exc, f"head of payload {key!r}") from exc
        try:
            self._client.delete_object(Bucket=self.bucket, Key=object_key)
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"delete of payload {key!r}") from exc
        return True

    def remember(self, resource_id: str, key: str, data: bytes) -> None:
        """Cache the bytes of an object known to be stored under ``key`` (learnt elsewhere,
        e.g. from a log entry that repeats them)."""
        self._cache.put((resource_id, key), data)

    def discard(self, resource_id: str, key: str) -> None:
        """Delete one object without asking whether it exists (one request, where
        :meth:`delete` needs two)."""
        self._cache.discard((resource_id, key))
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self.object_key(resource_id, key))
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, f"delete of payload {key!r}") from exc

    def list(self, resource_id: str | None = None) -> Iterator[PayloadEntry]:
        prefix = self.prefix if resource_id is None else f"{self.prefix}{key_part(resource_id)}/"
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", ()):
                    rest = str(obj["Key"])[len(self.prefix) :]
                    encoded_id, _, key = rest.rpartition("/")
                    if "/" in encoded_id or not is_payload_key(key):
                        continue  # not an object of this store
                    stored: datetime = obj["LastModified"]
                    yield PayloadEntry(
                        resource_id=unquote(encoded_id, errors="surrogatepass"),
                        key=key,
                        size=int(obj["Size"]),
                        stored_time=stored.astimezone(UTC),
                    )
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "listing of payloads") from exc

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


class S3PayloadStoreFactory(PayloadStoreFactory):
    """Payload stores of every resource type in one bucket, under ``prefix``.

    Hand it to a SQL storage factory to keep meta in SQLite or PostgreSQL and revision data in
    S3::

        SQLiteStorageFactory("data", payloads=S3PayloadStoreFactory("my-bucket", "app/"))

    Args:
        bucket: the bucket (it must exist).
        prefix: key prefix of every object (e.g. ``"app/"``); each type gets
            ``<prefix><type>/``.
        client: a boto3 S3 client to use (then the factory cannot be pickled).
        endpoint_url: the S3 endpoint when not AWS (MinIO, R2, a test server).
        **client_options: further ``boto3.client("s3", ...)`` arguments (``region_name``,
            credentials, ``config``).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any | None = None,
        endpoint_url: str | None = None,
        **client_options: Any,
    ) -> None:
        if not isinstance(bucket, str) or len(bucket) < 3:
            raise ValueError(f"{bucket!r} is not a bucket name (3 or more characters)")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, not {type(prefix).__name__}")
        self.bucket = bucket
        self.prefix = prefix
        self._spec = ClientSpec(client, endpoint_url, client_options)
        self._client: Any | None = None
        self._lock = threading.Lock()
        self._stores: dict[str, S3PayloadStore] = {}

    @property
    def client(self) -> Any:
        """The boto3 client (built on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._spec.make()
            return self._client

    def build(self, resource_name: str) -> S3PayloadStore:
        client = self.client
        with self._lock:
            store = self._stores.get(resource_name)
            if store is None:
                prefix = f"{self.prefix}{key_part(resource_name)}/"
                store = self._stores[resource_name] = S3PayloadStore(client, self.bucket, prefix)
            return store

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "prefix": self.prefix, "spec": self._spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["bucket"], state["prefix"])  # type: ignore[misc]
        self._spec = state["spec"]

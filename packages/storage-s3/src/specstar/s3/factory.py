"""The factory of the database-free S3 storage: one :class:`~.storage.S3Storage` per resource
type, all in one bucket under one prefix, sharing one boto3 client."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from specstar.core.spi import (
    DEFAULT_QUERY_TIMEOUT,
    BlobStore,
    CachingStorageFactory,
    check_timeout,
)

from ._client import ClientSpec, key_part, unavailable
from .blobs import S3BlobStore
from .compaction import DEFAULT_RETENTION, Compaction, check_retention
from .replica import check_staleness
from .storage import S3Storage

__all__ = ["S3StorageFactory"]


class S3StorageFactory(CachingStorageFactory[S3Storage]):
    """Database-free storage of every resource type in one bucket, under ``prefix``.

    Any number of processes on any number of hosts may use the same bucket and prefix at once;
    every storage invariant holds across them (see the module docstring and docs/storage.md
    for the requests each operation costs and the collection sizes it suits).

    Args:
        bucket: the bucket (it must exist).
        prefix: key prefix of every object (e.g. ``"app/"``); each type gets
            ``<prefix><type>/``.
        client: a boto3 S3 client to use instead of building one.
        endpoint_url: the S3 endpoint when not AWS (MinIO, R2, a test server).
        checkpoint_every: a checkpoint of a type's state is written after every this many log
            entries, so a starting process reads at most that many entries after it.
        query_timeout: seconds one search or count may run (``None``: no budget).
        max_staleness: seconds a read may serve the replica without asking S3 for newer log
            entries (0, the default: every read and search first makes one request, so it
            sees every write acknowledged before it started; ``s`` > 0: at most one such
            request per ``s`` seconds, and reads may miss other processes' writes of the last
            ``s`` seconds; a process always sees its own writes, and writes are checked
            against the whole log either way).
        log_retention: seconds a checkpoint must have existed before :meth:`compact` may
            delete the log entries it covers (one hour by default). Every process of a bucket
            and prefix must use the same value (or a lower one): a replica that last caught up
            more than half of it ago lists the checkpoints before it trusts a 404 probe (one
            ``LIST``), so a compaction can never leave it serving a stale state. ``0`` makes
            every such probe list, and is only safe when no other process writes while
            :meth:`compact` runs (tests, maintenance).
        blobs: the blob store :meth:`blob_store` hands out (default: an :class:`S3BlobStore`
            in the same bucket, under ``<prefix>_blobs/``, sharing this factory's client).
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
        checkpoint_every: int = 256,
        query_timeout: float | None = DEFAULT_QUERY_TIMEOUT,
        max_staleness: float = 0.0,
        log_retention: float = DEFAULT_RETENTION,
        blobs: BlobStore | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__()
        if not isinstance(bucket, str) or len(bucket) < 3:
            raise ValueError(f"{bucket!r} is not a bucket name (3 or more characters)")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a string, not {type(prefix).__name__}")
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int):
            raise TypeError(f"checkpoint_every must be an int, not {checkpoint_every!r}")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, not {checkpoint_every}")
        self.bucket = bucket
        self.prefix = prefix
        self._checkpoint_every = checkpoint_every
        self._timeout = check_timeout(query_timeout)
        self._staleness = check_staleness(max_staleness)
        self._retention = check_retention(log_retention)
        self._blobs = blobs
        self._client_spec = ClientSpec(client, endpoint_url, client_options)
        self._client_lock = threading.Lock()
        self._client: Any | None = None

    @property
    def client(self) -> Any:
        """The boto3 client (built on first use)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._client_spec.make()
            return self._client

    def create(self, resource_name: str) -> S3Storage:
        base = f"{self.prefix}{key_part(resource_name)}/"
        return S3Storage(
            self.client,
            self.bucket,
            base,
            checkpoint_every=self._checkpoint_every,
            query_timeout=self._timeout,
            max_staleness=self._staleness,
            log_retention=self._retention,
        )

    def resource_names(self) -> list[str]:
        """The resource types stored under this factory's prefix (those with a log or a
        checkpoint), found by listing the bucket."""
        names: list[str] = []
        try:
            for sub in self._children(self.prefix):
                if {f"{sub}log/", f"{sub}checkpoint/"} & set(self._children(sub)):
                    names.append(unquote(sub[len(self.prefix) : -1], errors="surrogatepass"))
        except (ClientError, BotoCoreError) as exc:
            raise unavailable(exc, "listing of resource types") from exc
        return names

    def _children(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/"
        )
        return [str(p["Prefix"]) for page in pages for p in page.get("CommonPrefixes", ())]

    def compact(self, *, keep_seconds: float | None = None) -> dict[str, Compaction]:
        """:meth:`S3Storage.compact` every resource type of the bucket and prefix (the types
        this process never built too), e.g. from a scheduled job; returns what was done per
        type. ``keep_seconds`` defaults to ``log_retention`` and may not be lower."""
        return {
            name: self.build(name).compact(keep_seconds=keep_seconds)
            for name in self.resource_names()
        }

    def blob_store(self) -> BlobStore:
        with self._client_lock:
            blobs = self._blobs
        if blobs is None:
            blobs = S3BlobStore(self.bucket, prefix=f"{self.prefix}_blobs/", client=self.client)
            with self._client_lock:
                if self._blobs is None:
                    self._blobs = blobs
                blobs = self._blobs
        return blobs

    def close(self) -> None:
        with self._stores_lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            store.close()

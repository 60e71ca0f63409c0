"""PostgreSQL storage: the scale-out store.

Meta records and revisions live in per-resource-type tables of one schema; any number of
processes on any number of hosts share them. Every write is one transaction on a pooled
connection: ``SELECT ... FOR UPDATE`` of the meta row, the compare-and-swap check, the revision
insert with ``seq = revision_seq + 1``, the meta update, and the unique check — with partial
unique indexes (``WHERE NOT is_deleted``) as the final word when transactions race.

This module holds the store and its factory; the backend they run on (the schema, its tables
and sessions) is :mod:`._postgres_backend`, its connections :mod:`._postgres_pool`, and the
SQL spellings :mod:`._postgres_dialect`.
"""

from __future__ import annotations

from specstar.core import PayloadStoreFactory
from specstar.core.spi import DEFAULT_QUERY_TIMEOUT, CachingStorageFactory, check_timeout

from ._layout import ident
from ._postgres_backend import PostgresBackend
from ._store import SQLStorage
from .postgres_blobs import PostgresBlobStore

__all__ = ["PostgresStorage", "PostgresStorageFactory"]


class PostgresStorage(SQLStorage):
    """Meta records and revisions of one resource type in the factory's PostgreSQL schema."""


class PostgresStorageFactory(CachingStorageFactory[PostgresStorage]):
    """Storage in one PostgreSQL schema, shared by any number of processes and hosts.

    Tables, indexes and the schema itself are created at start-up, idempotently and safely
    when several processes start at once (DDL runs under a transaction-scoped advisory lock).

    Args:
        dsn: libpq connection string or URL.
        schema: the schema holding every table (created when missing).
        pool_size: most connections the pool opens.
        timeout: seconds to wait for a connection (at start-up and from the pool).
        query_timeout: seconds one statement may run (``statement_timeout`` of every pooled
            connection) before PostgreSQL cancels it and it fails with
            :class:`~specstar.core.errors.QueryTimeoutError`; ``None`` for no budget. Schema
            changes at start-up run without it.
        payloads: where revision data lives; ``None`` (default) keeps it in the revision rows.
            With a payload store (S3, say) each revision's bytes are put there before the
            transaction that commits the revision row naming them.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "specstar",
        pool_size: int = 10,
        timeout: float = 30.0,
        query_timeout: float | None = DEFAULT_QUERY_TIMEOUT,
        payloads: PayloadStoreFactory | None = None,
    ) -> None:
        super().__init__()
        query_timeout = check_timeout(query_timeout)
        ident(schema)
        self.schema = schema
        self._backend = PostgresBackend(
            dsn,
            schema=schema,
            pool_size=pool_size,
            timeout=timeout,
            query_timeout=query_timeout,
        )
        self._blobs = PostgresBlobStore(self._backend, f"{ident(schema)}.")
        self._payloads = payloads

    def create(self, resource_name: str) -> PostgresStorage:
        store = None if self._payloads is None else self._payloads.build(resource_name)
        return PostgresStorage(self._backend, resource_name, store)

    def blob_store(self) -> PostgresBlobStore:
        return self._blobs

    def close(self) -> None:
        self._backend.close()
        if self._payloads is not None:
            self._payloads.close()

    def __repr__(self) -> str:
        return f"PostgresStorageFactory(schema={self.schema!r})"

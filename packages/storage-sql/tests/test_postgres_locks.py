"""PostgreSQL lease locks run the lock suite: threads, processes, expiry on the server's clock.

Each test gets a schema of its own (dropped after), so runs and reruns never share leases.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from specstar.core import LockNotOwnedError, StorageUnavailableError
from specstar.sql import PostgresLockBackend
from specstar.testing import LockRecipe, LockSuite
from specstar.testing.services import drop_postgres_schema


@pytest.fixture
def lock_schema(postgres_dsn: str) -> Iterator[str]:
    schema = f"specstar_locks_{uuid.uuid4().hex[:10]}"
    yield schema
    drop_postgres_schema(postgres_dsn, schema)


class TestPostgresLocks(LockSuite):
    @pytest.fixture
    def lock_backend(self, postgres_dsn: str, lock_schema: str) -> Iterator[PostgresLockBackend]:
        backend = PostgresLockBackend(postgres_dsn, schema=lock_schema, pool_size=8)
        yield backend
        backend.close()

    @pytest.fixture
    def lock_recipe(self, postgres_dsn: str, lock_schema: str) -> LockRecipe:
        kwargs = {"dsn": postgres_dsn, "schema": lock_schema, "pool_size": 2}
        return ("specstar.sql.postgres_locks:PostgresLockBackend", kwargs)


def test_leases_follow_the_server_clock(postgres_dsn: str, lock_schema: str) -> None:
    """A lease ends when the server's clock passes it, whatever the client believes."""
    backend = PostgresLockBackend(postgres_dsn, schema=lock_schema)
    try:
        held = backend.try_lock("clock", 3600)
        assert held is not None
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:  # the server's time moves on
            conn.execute(
                f'UPDATE "{lock_schema}".specstar_locks '
                "SET lease_until = clock_timestamp() - interval '1 second' WHERE key = 'clock'"
            )
        with pytest.raises(LockNotOwnedError):
            backend.renew(held, 60)
        successor = backend.try_lock("clock", 60)
        assert successor is not None
        assert successor.token == held.token + 1
        backend.release(successor)
    finally:
        backend.close()


def test_two_backends_on_one_schema_share_the_table(postgres_dsn: str, lock_schema: str) -> None:
    first = PostgresLockBackend(postgres_dsn, schema=lock_schema)
    second = PostgresLockBackend(postgres_dsn, schema=lock_schema)
    try:
        held = first.try_lock("shared", 60)
        assert held is not None
        assert second.try_lock("shared", 60) is None
        second.release(held)  # the handle is valid on any backend of the same table
        assert first.try_lock("shared", 60) is not None
    finally:
        first.close()
        second.close()


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="pool_size"):  # refused before any connection
        PostgresLockBackend("postgresql://postgres@127.0.0.1:1/postgres", pool_size=0)


def test_unreachable_server_is_reported() -> None:
    with pytest.raises(StorageUnavailableError):
        PostgresLockBackend("postgresql://postgres@127.0.0.1:1/postgres", timeout=0.5)

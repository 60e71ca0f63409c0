"""Fixtures of the SQL storage tests: one PostgreSQL schema per test run, dropped at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from specstar.core import StorageFactory
from specstar.sql import PostgresStorageFactory, SQLiteStorageFactory
from specstar.testing.services import drop_postgres_schema


@pytest.fixture(scope="session")
def pg_schema(postgres_dsn: str, specstar_run_id: str) -> Iterator[str]:
    schema = f"specstar_test_{specstar_run_id}"
    yield schema
    drop_postgres_schema(postgres_dsn, schema)


@pytest.fixture(scope="session")
def pg_factory(postgres_dsn: str, pg_schema: str) -> Iterator[PostgresStorageFactory]:
    factory = PostgresStorageFactory(postgres_dsn, schema=pg_schema, pool_size=20)
    yield factory
    factory.close()


@pytest.fixture(params=["sqlite", "postgres"])
def sql_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageFactory]:
    """Each SQL storage factory in turn (PostgreSQL skips when the server is missing)."""
    if request.param == "sqlite":
        factory = SQLiteStorageFactory(tmp_path / "sqlite")
        yield factory
        factory.close()
    else:
        yield request.getfixturevalue("pg_factory")

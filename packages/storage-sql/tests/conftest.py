"""Fixtures of the SQL storage tests: one PostgreSQL schema per test run (dropped at the end),
and a fresh, empty store of each kind per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from specstar.core import StorageFactory
from specstar.core.memory import MemoryStorageFactory
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


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageFactory]:
    """A fresh, empty store of each kind (PostgreSQL: a schema of its own, dropped after)."""
    if request.param == "memory":
        yield MemoryStorageFactory()
    elif request.param == "sqlite":
        sqlite = SQLiteStorageFactory(tmp_path / "db")
        yield sqlite
        sqlite.close()
    else:
        dsn: str = request.getfixturevalue("postgres_dsn")
        schema = f"specstar_fresh_{uuid.uuid4().hex[:10]}"
        pg = PostgresStorageFactory(dsn, schema=schema, pool_size=8)
        yield pg
        pg.close()
        drop_postgres_schema(dsn, schema)

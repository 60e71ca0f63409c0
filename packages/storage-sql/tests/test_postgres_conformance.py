"""The PostgreSQL adapter runs the full conformance suites, across threads and processes."""

from __future__ import annotations

import pytest

from specstar.sql import PostgresBlobStore, PostgresStorageFactory
from specstar.testing import BlobStoreSuite, FactoryRecipe, ProcessSuite, StorageSuite


class TestPostgresStorage(StorageSuite):
    @pytest.fixture
    def storage_factory(self, pg_factory: PostgresStorageFactory) -> PostgresStorageFactory:
        return pg_factory


class TestPostgresProcesses(ProcessSuite):
    @pytest.fixture
    def storage_factory(self, pg_factory: PostgresStorageFactory) -> PostgresStorageFactory:
        return pg_factory

    @pytest.fixture
    def factory_recipe(self, postgres_dsn: str, pg_schema: str) -> FactoryRecipe:
        kwargs = {"dsn": postgres_dsn, "schema": pg_schema, "pool_size": 4}
        return ("specstar.sql.postgres:PostgresStorageFactory", kwargs)


class TestPostgresBlobStore(BlobStoreSuite):
    @pytest.fixture
    def blob_store(self, pg_factory: PostgresStorageFactory) -> PostgresBlobStore:
        return pg_factory.blob_store()

"""Job state lives in the resource storage: the in-process queue's whole MessageQueueSuite
runs with the job resources in SQLite and in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from specstar.core import MemoryMessageQueueFactory, StorageFactory
from specstar.sql import PostgresMessageQueueFactory, SQLiteMessageQueueFactory
from specstar.testing import MessageQueueSuite


class TestMemoryQueueOnSQLStorage(MessageQueueSuite):
    @pytest.fixture
    def message_queue_factory(self) -> MemoryMessageQueueFactory:
        return MemoryMessageQueueFactory()

    @pytest.fixture
    def storage_factory(self, sql_factory: StorageFactory) -> StorageFactory:
        return sql_factory


class TestSQLiteQueue(MessageQueueSuite):
    @pytest.fixture
    def message_queue_factory(self, tmp_path: Path) -> Iterator[SQLiteMessageQueueFactory]:
        factory = SQLiteMessageQueueFactory(tmp_path / "queue.db")
        yield factory
        factory.close()

    @pytest.fixture
    def storage_factory(self, sql_factory: StorageFactory) -> StorageFactory:
        return sql_factory


class TestPostgresQueue(MessageQueueSuite):
    @pytest.fixture
    def message_queue_factory(
        self, postgres_dsn: str, pg_schema: str
    ) -> Iterator[PostgresMessageQueueFactory]:
        factory = PostgresMessageQueueFactory(postgres_dsn, schema=pg_schema)
        yield factory
        factory.close()

    @pytest.fixture
    def storage_factory(self, sql_factory: StorageFactory) -> StorageFactory:
        return sql_factory

"""SQL meta with revision data in S3: the payload store's own suite, then the full storage and
process suites on SQLite + S3 and PostgreSQL + S3 (the two documented compositions)."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from specstar.s3 import S3PayloadStoreFactory
from specstar.sql import PostgresStorageFactory, SQLiteStorageFactory
from specstar.testing import (
    FactoryRecipe,
    PayloadStoreSuite,
    ProcessSuite,
    StorageSuite,
    budget,
)
from specstar.testing.services import count_s3_requests, drop_postgres_schema

#: the suite's table-driven query and access-scope cases: on a composition the filter and the
#: scope are decided by the SQL meta store alone, which the SQLite and PostgreSQL suites run
#: with every case; here every ``SQL_CASE_SHARE``-th case (a fixed choice) runs in ``make test``
#: and every case under ``make test-deep``, so the payload store still meets each kind of case
SQL_CASES = frozenset(
    {
        "test_operator",
        "test_filter_semantics",
        "test_scope_unknown_row_is_not_found",
        "test_scope_unknown_deleted_row_is_not_found",
    }
)
SQL_CASE_SHARE = 4


class SampledSqlCases:
    @pytest.fixture(autouse=True)
    def _sample_sql_cases(self, request: pytest.FixtureRequest) -> None:
        node = request.node
        if node.originalname not in SQL_CASES or budget(100) > 100:  # deep: every case
            return
        if zlib.crc32(node.callspec.id.encode()) % SQL_CASE_SHARE:
            pytest.skip(
                f"one case in {SQL_CASE_SHARE} on a composition (SQL checks every case on "
                "its own adapter suite); make test-deep runs it"
            )


class TestS3PayloadStore(PayloadStoreSuite):
    @pytest.fixture
    def payload_store_factory(
        self, bucket: str, s3: dict[str, Any]
    ) -> Iterator[S3PayloadStoreFactory]:
        factory = S3PayloadStoreFactory(bucket, "revs/", **s3)
        yield factory
        factory.close()


class TestSQLiteWithS3(SampledSqlCases, StorageSuite):
    # every write is an S3 round trip (moto over HTTP here): a smaller but still contended
    # patch race, and fewer random examples (the queries run on SQL or the reference evaluator)
    patch_threads = 8
    patches_per_thread = 25
    # the queries run on SQL, which the SQLite and PostgreSQL suites check with the full budget
    # (``make test-deep`` raises these five times like every property)
    differential_examples = 10
    state_machine_examples = 5

    @pytest.fixture
    def storage_factory(
        self, tmp_path: Path, bucket: str, s3: dict[str, Any]
    ) -> Iterator[SQLiteStorageFactory]:
        payloads = S3PayloadStoreFactory(bucket, "revs/", **s3)
        factory = SQLiteStorageFactory(tmp_path / "meta", payloads=payloads)
        yield factory
        factory.close()


class TestSQLiteWithS3Processes(ProcessSuite):
    # every write is an S3 round trip: the same four processes with fewer writes each and fewer
    # kills (the SQL adapters run the full counts; ``make test-deep`` runs them here too)
    appends_per_process = 20
    unique_creates = 40
    kill_rounds = 8

    @pytest.fixture
    def storage_factory(
        self, tmp_path: Path, bucket: str, s3: dict[str, Any]
    ) -> Iterator[SQLiteStorageFactory]:
        payloads = S3PayloadStoreFactory(bucket, "revs/", **s3)
        factory = SQLiteStorageFactory(tmp_path / "meta", payloads=payloads)
        yield factory
        factory.close()

    @pytest.fixture
    def factory_recipe(self, tmp_path: Path, bucket: str, s3: dict[str, Any]) -> FactoryRecipe:
        # the payload factory pickles its bucket, prefix and client options, not its client
        payloads = S3PayloadStoreFactory(bucket, "revs/", **s3)
        kwargs = {"path": str(tmp_path / "meta"), "payloads": payloads}
        return ("specstar.sql.sqlite:SQLiteStorageFactory", kwargs)


@pytest.fixture
def pg_schema(postgres_dsn: str) -> Iterator[str]:
    schema = f"specstar_s3_{uuid.uuid4().hex[:10]}"
    yield schema
    drop_postgres_schema(postgres_dsn, schema)


class TestPostgresWithS3(SampledSqlCases, StorageSuite):
    # every write is an S3 round trip (moto over HTTP here): a smaller but still contended
    # patch race, and fewer random examples (the queries run on SQL or the reference evaluator)
    patch_threads = 8
    patches_per_thread = 25
    # the queries run on SQL, which the SQLite and PostgreSQL suites check with the full budget
    # (``make test-deep`` raises these five times like every property)
    differential_examples = 10
    state_machine_examples = 5

    @pytest.fixture
    def storage_factory(
        self, postgres_dsn: str, pg_schema: str, bucket: str, s3: dict[str, Any]
    ) -> Iterator[PostgresStorageFactory]:
        payloads = S3PayloadStoreFactory(bucket, "revs/", **s3)
        factory = PostgresStorageFactory(
            postgres_dsn, schema=pg_schema, pool_size=8, payloads=payloads
        )
        yield factory
        factory.close()


class TestPostgresWithS3Processes(ProcessSuite):
    # every write is an S3 round trip: the same four processes with fewer writes each and fewer
    # kills (the SQL adapters run the full counts; ``make test-deep`` runs them here too)
    appends_per_process = 20
    unique_creates = 40
    kill_rounds = 8

    @pytest.fixture
    def storage_factory(
        self, postgres_dsn: str, pg_schema: str, bucket: str, s3: dict[str, Any]
    ) -> Iterator[PostgresStorageFactory]:
        payloads = S3PayloadStoreFactory(bucket, "revs/", **s3)
        factory = PostgresStorageFactory(
            postgres_dsn, schema=pg_schema, pool_size=8, payloads=payloads
        )
        yield factory
        factory.close()

    @pytest.fixture
    def factory_recipe(
        self, postgres_dsn: str, pg_schema: str, bucket: str, s3: dict[str, Any]
    ) -> FactoryRecipe:
        payloads = S3PayloadStoreFactory(bucket, "revs/", **s3)
        kwargs = {"dsn": postgres_dsn, "schema": pg_schema, "pool_size": 4, "payloads": payloads}
        return ("specstar.sql.postgres:PostgresStorageFactory", kwargs)


@pytest.mark.parametrize("meta", ["sqlite", "postgres"])
def test_requests_per_operation_with_sql_meta(
    meta: str, request: pytest.FixtureRequest, tmp_path: Path, bucket: str, s3: dict[str, Any]
) -> None:
    """S3 requests of each manager call when SQLite or PostgreSQL holds the meta
    (docs/storage.md): searches and counts are SQL only, whatever their filter and sort."""

    from specstar.core import QB, Query, ResourceManager
    from specstar.testing import ITEM_INDEXES, Item

    payloads = S3PayloadStoreFactory(bucket, "revs/", **s3)
    factory: SQLiteStorageFactory | PostgresStorageFactory
    if meta == "sqlite":
        factory = SQLiteStorageFactory(tmp_path / "meta", payloads=payloads)
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        schema = request.getfixturevalue("pg_schema")
        factory = PostgresStorageFactory(dsn, schema=schema, pool_size=2, payloads=payloads)
    try:
        items = ResourceManager(
            Item, storage_factory=factory, indexed_fields=ITEM_INDEXES, default_user="u"
        )
        counted = count_s3_requests(payloads.client)
        figures: dict[str, dict[str, int]] = {}

        def measure(label: str, call: Any) -> None:
            counted.clear()
            call()
            figures[label] = dict(counted)

        rid = ""

        def create() -> None:
            nonlocal rid
            rid = items.create(Item(name="c", age=30, active=True)).resource_id

        # the benchmark's search: a range, an equality, a sort on another field, one page
        ranged = (QB["age"] >= 20) & (QB["age"] < 40) & (QB["active"] == True)  # noqa: E712
        measure("create", create)
        measure("update", lambda: items.update(rid, Item(name="u", age=31, active=True)))
        measure("get", lambda: items.get(rid))
        measure("search", lambda: items.search(QB["name"] == "u"))
        measure(
            "range search",
            lambda: items.search(Query(where=ranged, sorts=(QB["score"].desc(),), limit=20)),
        )
        measure("count", lambda: items.count(ranged))
        print(f"S3 requests per call ({meta} meta):", figures)
        assert figures == {
            "create": {"PutObject": 1},
            "update": {"PutObject": 1},  # the current revision it read was cached
            "get": {},  # cached: written by this process
            "search": {},
            "range search": {},
            "count": {},
        }
    finally:
        factory.close()

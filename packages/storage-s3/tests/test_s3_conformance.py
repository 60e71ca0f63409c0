"""The database-free S3 storage runs the full conformance suites, across threads and processes,
against a moto server (real HTTP S3 with conditional writes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from specstar.s3 import S3StorageFactory
from specstar.testing import FactoryRecipe, ProcessSuite, StorageSuite


class TestS3Storage(StorageSuite):
    # every write is an S3 round trip (moto over HTTP here): a smaller but still contended
    # patch race, and fewer random examples (the queries run on SQL or the reference evaluator)
    patch_threads = 8
    patches_per_thread = 25
    differential_examples = 20
    state_machine_examples = 10

    @pytest.fixture
    def storage_factory(self, bucket: str, s3: dict[str, Any]) -> Iterator[S3StorageFactory]:
        factory = S3StorageFactory(bucket, "app/", **s3)
        yield factory
        factory.close()


class TestS3Processes(ProcessSuite):
    # every write is an S3 round trip: the same four processes with fewer writes each and fewer
    # kills (the SQL adapters run the full counts; ``make test-deep`` runs them here too)
    appends_per_process = 20
    unique_creates = 40
    kill_rounds = 8

    @pytest.fixture
    def storage_factory(self, bucket: str, s3: dict[str, Any]) -> Iterator[S3StorageFactory]:
        factory = S3StorageFactory(bucket, "app/", **s3)
        yield factory
        factory.close()

    @pytest.fixture
    def factory_recipe(self, bucket: str, s3: dict[str, Any]) -> FactoryRecipe:
        return ("specstar.s3:S3StorageFactory", {"bucket": bucket, "prefix": "app/", **s3})

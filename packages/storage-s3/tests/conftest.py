"""Fixtures of the S3 tests: one moto server per session (``s3_endpoint``, from the
specstar.testing plugin), a fresh bucket per test, and the client options that reach it."""

from __future__ import annotations

from typing import Any

import pytest

from specstar.testing.services import fresh_bucket, s3_options


@pytest.fixture
def s3(s3_endpoint: str) -> dict[str, Any]:
    """``boto3.client`` options reaching the test server (picklable, for process recipes)."""
    return s3_options(s3_endpoint)


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    return fresh_bucket(s3_endpoint)

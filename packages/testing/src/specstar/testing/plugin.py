"""pytest plugin (entry point ``pytest11``): service fixtures shared by every package's tests.

Fixtures:
    postgres_dsn: DSN of the test PostgreSQL (``SPECSTAR_TEST_PG_DSN``).
    redis_url: URL of the test Redis (``SPECSTAR_TEST_REDIS_URL``).
    amqp_url: URL of the test RabbitMQ (``SPECSTAR_TEST_AMQP_URL``).
    s3_endpoint: endpoint URL of a moto S3 server started on a free loopback port.
    specstar_run_id: a short id unique to this test run, for schema/queue/bucket names.

Each skips its test when the service is missing, or fails it when ``SPECSTAR_REQUIRE_SERVICES=1``.

Hypothesis profiles (``pytest --hypothesis-profile=NAME``):
    deep: five times the examples of every property (``make test-deep``); properties with an
        explicit budget scale it with :func:`specstar.testing.budget`.
    mutation: no shrinking and no example database, so a failing property fails fast and a run
        never replays what another run found (mutation testing, planted-bug checks).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from hypothesis import Phase, settings

from . import services
from ._budget import DEEP_FACTOR

settings.register_profile("deep", max_examples=100 * DEEP_FACTOR)
settings.register_profile(
    "mutation", database=None, phases=(Phase.explicit, Phase.generate), print_blob=False
)


def pytest_report_header(config: pytest.Config) -> str:
    mode = "required (fail if missing)" if services.services_required() else "optional (skip)"
    return f"specstar services: {mode}"


@pytest.fixture(scope="session")
def specstar_run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    return services.require("postgres")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return services.require("redis")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return services.require("rabbitmq")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        message = "S3 tests need moto[server] (pip install 'moto[server]')"
        if services.services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()

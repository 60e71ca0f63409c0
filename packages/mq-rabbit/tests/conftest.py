"""Fixtures of the RabbitMQ queue tests: a factory whose queues have names of their own per
test (a unique prefix), deleted from the broker afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from specstar.rabbit import RabbitMessageQueueFactory


@pytest.fixture
def rabbit_prefix(specstar_run_id: str) -> str:
    return f"specstar-test-{specstar_run_id}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def rabbit_factory(amqp_url: str, rabbit_prefix: str) -> Iterator[RabbitMessageQueueFactory]:
    factory = RabbitMessageQueueFactory(amqp_url, prefix=rabbit_prefix, reconnect_seconds=10)
    yield factory
    factory.delete_queues()
    factory.close()

"""The toolkit itself: service probing, strategies that always resolve, the clock."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given, settings

from specstar.core import Query, ResourceManager
from specstar.core.memory import MemoryStorage
from specstar.testing import ITEM_INDEXES, Item, services
from specstar.testing.strategies import conditions, item_data, queries
from specstar.testing.suites.base import Clock

_items = ResourceManager(Item, storage=MemoryStorage(), indexed_fields=ITEM_INDEXES)


@settings(max_examples=200, deadline=None)
@given(query=queries())
def test_generated_queries_are_valid_for_the_model(query: Query) -> None:
    resolved = _items.resolve(query)
    assert resolved.limit == query.limit


@settings(max_examples=50, deadline=None)
@given(data=item_data(), where=conditions())
def test_generated_items_round_trip(data: Item, where: object) -> None:
    info = _items.create(data)
    assert _items.get(info.resource_id).data == data
    _items.count(Query(where=where))  # type: ignore[arg-type]


def test_clock_is_strictly_increasing() -> None:
    clock = Clock()
    first, second = clock(), clock()
    assert second > first
    assert first.tzinfo is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_missing_service_skips_or_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there
    monkeypatch.setenv("SPECSTAR_TEST_REDIS_URL", url)
    monkeypatch.delenv("SPECSTAR_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis unavailable"):
        services.require("redis")
    monkeypatch.setenv("SPECSTAR_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="SPECSTAR_REQUIRE_SERVICES"):
        services.require("redis")


def test_services_only_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECSTAR_TEST_PG_DSN", "postgresql://postgres@192.0.2.1:5432/x")
    monkeypatch.delenv("SPECSTAR_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="loopback"):
        services.require("postgres")


def test_listening_service_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"amqp://guest:guest@127.0.0.1:{server.getsockname()[1]}/%2F"
        monkeypatch.setenv("SPECSTAR_TEST_AMQP_URL", url)
        assert services.require("rabbitmq") == url

"""Shared plumbing of the storage suites."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from specstar.core import Capabilities, ResourceManager, StorageFactory

from ..models import ITEM_INDEXES, Item

__all__ = ["Clock", "SuiteBase"]


class Clock:
    """A deterministic, strictly increasing ``now`` source (one millisecond per call)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._ticks = itertools.count()

    def __call__(self) -> datetime:
        return self._start + timedelta(milliseconds=next(self._ticks))


class SuiteBase:
    """Base of every storage suite.

    An adapter's test module subclasses a suite and defines one fixture::

        class TestMyStore(StorageSuite):
            @pytest.fixture
            def storage_factory(self) -> Iterator[StorageFactory]:
                factory = MyStorageFactory(...)
                yield factory
                factory.close()

    The factory may be shared between tests: every manager gets a fresh resource name.
    """

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        raise NotImplementedError("the adapter's test class must define storage_factory")

    @pytest.fixture
    def capabilities(self, storage_factory: StorageFactory) -> Capabilities:
        store = storage_factory.build(f"caps-{uuid.uuid4().hex[:8]}")
        return store.capabilities

    @pytest.fixture
    def make_manager(self, storage_factory: StorageFactory) -> Callable[..., ResourceManager[Any]]:
        def make(model: type = Item, **kwargs: Any) -> ResourceManager[Any]:
            kwargs.setdefault("name", f"t-{uuid.uuid4().hex[:10]}")
            if model is Item:
                kwargs.setdefault("indexed_fields", ITEM_INDEXES)
            kwargs.setdefault("default_now", Clock())
            kwargs.setdefault("default_user", "tester")
            return ResourceManager(model, storage_factory=storage_factory, **kwargs)

        return make

    @pytest.fixture
    def items(self, make_manager: Callable[..., ResourceManager[Any]]) -> ResourceManager[Item]:
        return make_manager(Item)

    @staticmethod
    def require(capabilities: Capabilities, flag: str) -> None:
        """Skip the test unless the adapter declares the capability."""
        if not getattr(capabilities, flag):
            pytest.skip(f"adapter does not declare capability {flag!r}")

"""SpecStar testing: conformance suites, hypothesis strategies and a pytest plugin.

Adapters prove they keep the port contracts by subclassing the suites::

    from specstar.testing import StorageSuite

    class TestMyStorage(StorageSuite):
        @pytest.fixture
        def storage_factory(self):
            return MyStorageFactory()
"""

try:  # name the distribution when a dependency is missing (installed with --no-deps, or removed)
    import hypothesis as _hypothesis  # noqa: F401
    import pytest as _pytest  # noqa: F401, PT013
except ModuleNotFoundError as _missing:
    raise ModuleNotFoundError(
        f"specstar.testing needs {_missing.name!r}, a dependency of the specstar-testing "
        f"distribution that is not installed: pip install {_missing.name}",
        name=_missing.name,
    ) from _missing

from typing import Any as _Any

from ._budget import budget
from ._lock_workers import LockRecipe
from ._workers import FactoryRecipe
from .models import ITEM_INDEXES, OWNED_INDEXES, Address, Item, Owned
from .stateful import storage_state_machine
from .suites import (
    BlobStoreSuite,
    LockSuite,
    PayloadStoreSuite,
    ProcessSuite,
    StorageSuite,
    SuiteBase,
)

__all__ = [
    "ITEM_INDEXES",
    "OWNED_INDEXES",
    "Address",
    "BlobStoreSuite",
    "FactoryRecipe",
    "Item",
    "LockRecipe",
    "LockSuite",
    "MessageQueueSuite",
    "Owned",
    "PayloadStoreSuite",
    "ProcessSuite",
    "StorageSuite",
    "SuiteBase",
    "budget",
    "storage_state_machine",
]


def __getattr__(name: str) -> _Any:
    """``MessageQueueSuite`` is imported on first use (only job queue adapters need it)."""
    if name == "MessageQueueSuite":
        from .suites import _messages

        return _messages.MessageQueueSuite
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""SpecStar testing: conformance suites, hypothesis strategies and a pytest plugin.

Adapters prove they keep the port contracts by subclassing the suites::

    from specstar.testing import StorageSuite

    class TestMyStorage(StorageSuite):
        @pytest.fixture
        def storage_factory(self):
            return MyStorageFactory()
"""

from ._workers import FactoryRecipe
from .models import ITEM_INDEXES, Address, Item
from .stateful import storage_state_machine
from .suites import BlobStoreSuite, PayloadStoreSuite, ProcessSuite, StorageSuite, SuiteBase

__all__ = [
    "ITEM_INDEXES",
    "Address",
    "BlobStoreSuite",
    "FactoryRecipe",
    "Item",
    "PayloadStoreSuite",
    "ProcessSuite",
    "StorageSuite",
    "SuiteBase",
    "storage_state_machine",
]

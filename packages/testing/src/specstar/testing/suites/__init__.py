"""Conformance suites: subclass one and provide the adapter fixture."""

from .base import SuiteBase
from .blobs import BlobStoreSuite
from .payloads import PayloadStoreSuite
from .processes import ProcessSuite
from .storage import StorageSuite

__all__ = ["BlobStoreSuite", "PayloadStoreSuite", "ProcessSuite", "StorageSuite", "SuiteBase"]

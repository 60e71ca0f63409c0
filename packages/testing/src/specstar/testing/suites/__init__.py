"""Conformance suites: subclass one and provide the adapter fixture."""

from .base import SuiteBase
from .blobs import BlobStoreSuite
from .storage import StorageSuite

__all__ = ["BlobStoreSuite", "StorageSuite", "SuiteBase"]

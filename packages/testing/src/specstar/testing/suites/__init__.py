"""Conformance suites: subclass one and provide the adapter fixture."""

from typing import Any

from .base import SuiteBase
from .blobs import BlobStoreSuite
from .locks import LockSuite
from .payloads import PayloadStoreSuite
from .processes import ProcessSuite
from .storage import StorageSuite

__all__ = [
    "BlobStoreSuite",
    "JobTests",
    "LockSuite",
    "MessageQueueSuite",
    "PayloadStoreSuite",
    "ProcessSuite",
    "QueuePortTests",
    "StorageSuite",
    "SuiteBase",
]


def __getattr__(name: str) -> Any:
    """Import the job suites on first use (only job queue adapters need them)."""
    if name in ("JobTests", "MessageQueueSuite", "QueuePortTests"):
        from . import _messages

        return getattr(_messages, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

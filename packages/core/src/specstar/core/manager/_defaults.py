"""The composition point for what a manager uses when the application names nothing.

The manager never constructs an adapter itself: the package ``specstar.core`` sets the default
storage (a new in-memory store per manager) when it is imported, and an application or a test
may set another one.
"""

from __future__ import annotations

from collections.abc import Callable

from ..blobs import BlobStore
from ..ports import Storage

__all__ = [
    "default_blob_store",
    "default_storage",
    "set_default_blob_store",
    "set_default_storage",
]


class _Defaults:
    storage: Callable[[str], Storage] | None = None
    blob_store: Callable[[], BlobStore] | None = None


def set_default_storage(factory: Callable[[str], Storage] | None) -> None:
    """Set what builds a manager's storage when neither ``storage`` nor ``storage_factory``
    is given; called with the resource name. ``None`` makes such a manager an error."""
    _Defaults.storage = factory


def default_storage(name: str) -> Storage:
    """The default storage for the resource ``name``.

    Raises:
        RuntimeError: no default is set.
    """
    factory = _Defaults.storage
    if factory is None:
        raise RuntimeError(f"no default storage is set: pass storage= to the {name!r} manager")
    return factory(name)


def set_default_blob_store(factory: Callable[[], BlobStore] | None) -> None:
    """Set what gives the blob store of a manager built with neither ``blob_store`` nor
    ``storage_factory``. ``None`` makes such a manager's blob calls an error."""
    _Defaults.blob_store = factory


def default_blob_store(name: str) -> BlobStore:
    """The default blob store (for the manager of resource ``name``).

    Raises:
        RuntimeError: no default is set.
    """
    factory = _Defaults.blob_store
    if factory is None:
        raise RuntimeError(
            f"no default blob store is set: pass blob_store= to the {name!r} manager"
        )
    return factory()

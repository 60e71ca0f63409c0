"""The composition point for what a manager uses when the application names nothing.

The manager never constructs an adapter itself: the package ``specstar.core`` sets the default
storage (a new in-memory store per manager) when it is imported, and an application or a test
may set another one.
"""

from __future__ import annotations

from collections.abc import Callable

from ..ports import Storage

__all__ = ["default_storage", "set_default_storage"]


class _Defaults:
    storage: Callable[[str], Storage] | None = None


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

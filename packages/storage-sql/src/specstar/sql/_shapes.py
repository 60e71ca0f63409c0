"""What a query compiles to that depends only on its shape, kept per resource type.

The column a field names and the ``ORDER BY`` list of a tuple of sorts do not depend on the
query's values, only on the fields, directions and the table's columns, so a storage compiles
them once per distinct shape and reuses them for every query of that shape. Values are always
bound afresh (they never enter a key), and a change of the columns (``setup``) starts over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TypeVar

__all__ = ["SHAPE_CACHE_SIZE", "ShapeCache"]

#: Most shapes one cache keeps; it starts over when full (shapes are few in practice).
SHAPE_CACHE_SIZE = 512

V = TypeVar("V")


class ShapeCache:
    """A bounded map from a shape key to its compiled form; safe to share between threads."""

    def __init__(self, size: int = SHAPE_CACHE_SIZE) -> None:
        self._size = size
        self._items: dict[Hashable, object] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value of ``key``, made by ``make`` (and kept) the first time.

        ``make`` may raise; nothing is kept then.
        """
        try:
            return self._items[key]  # type: ignore[return-value]
        except KeyError:
            pass
        value = make()
        with self._lock:
            if len(self._items) >= self._size:
                self._items.clear()
            self._items[key] = value
        return value

    def clear(self) -> None:
        """Forget every shape (the columns changed)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

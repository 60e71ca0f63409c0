"""A byte-bounded LRU cache of immutable objects (payloads never change under a key)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["ObjectCache"]


class ObjectCache:
    """Least recently used objects up to ``max_bytes`` in total (thread-safe).

    Only for objects that never change under their key: a hit is the object's bytes forever.
    Objects larger than a quarter of the budget are not kept.
    """

    def __init__(self, max_bytes: int) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"cache size must be a non-negative int of bytes, not {max_bytes!r}")
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: Hashable, data: bytes) -> None:
        if len(data) * 4 > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._size += len(data) - (0 if old is None else len(old))
            self._items[key] = data
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def discard(self, key: Hashable) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= len(old)

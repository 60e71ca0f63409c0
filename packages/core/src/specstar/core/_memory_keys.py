"""The two kinds of memory index: the sorted keys of a scalar field, the members of a list
field.

Both are plain in-memory structures kept by :class:`~specstar.core._memory_index.IndexSet`
(under the store's lock); they know nothing of queries.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Any

__all__ = ["ListMembers", "SortedKeys"]


class SortedKeys:
    """Non-null values as sorted ``(value, resource_id)`` keys, and the null ids sorted."""

    def __init__(self) -> None:
        self.keys: list[tuple[Any, str]] = []
        self.nulls: list[str] = []

    def add(self, rid: str, value: Any) -> None:
        if value is None:
            bisect.insort(self.nulls, rid)
        else:
            bisect.insort(self.keys, (value, rid))

    def remove(self, rid: str, value: Any) -> None:
        seq: list[Any] = self.nulls if value is None else self.keys
        key: Any = rid if value is None else (value, rid)
        i = bisect.bisect_left(seq, key)
        if i < len(seq) and seq[i] == key:
            del seq[i]

    def span(
        self, low: Any, low_inclusive: bool, high: Any, high_inclusive: bool
    ) -> tuple[int, int]:
        """Positions ``[start, end)`` of the keys whose value lies in the interval
        (``None`` bounds are open ends)."""
        keys = self.keys
        if low is None:
            start = 0
        elif low_inclusive:
            start = bisect.bisect_left(keys, (low,))
        else:
            start = _after_value(keys, low)
        if high is None:
            end = len(keys)
        elif high_inclusive:
            end = _after_value(keys, high)
        else:
            end = bisect.bisect_left(keys, (high,))
        return start, max(start, end)

    def ids(self, start: int, end: int) -> Iterator[str]:
        keys = self.keys
        for i in range(start, end):
            yield keys[i][1]

    def walk(self, descending: bool, after: tuple[Any, str] | None) -> Iterator[str]:
        """Ids in sort order (nulls last ascending, first descending; ties by id ascending),
        strictly after the ``(value, resource_id)`` position ``after`` when given."""
        if not descending:
            yield from self._ascending(after)
        else:
            yield from self._descending(after)

    def _ascending(self, after: tuple[Any, str] | None) -> Iterator[str]:
        keys, start, null_start = self.keys, 0, 0
        if after is not None:
            value, rid = after
            if value is None:
                start = len(keys)
                null_start = bisect.bisect_right(self.nulls, rid)
            else:
                start = bisect.bisect_right(keys, (value, rid))
        yield from self.ids(start, len(keys))
        nulls = self.nulls
        for i in range(null_start, len(nulls)):
            yield nulls[i]

    def _descending(self, after: tuple[Any, str] | None) -> Iterator[str]:
        keys, end = self.keys, len(self.keys)
        if after is None or after[0] is None:
            nulls = self.nulls
            first = 0 if after is None else bisect.bisect_right(nulls, after[1])
            for i in range(first, len(nulls)):
                yield nulls[i]
        else:
            value, rid = after
            # the rest of the cursor's own value group (ids ascending), then lower values
            group_start = bisect.bisect_left(keys, (value,))
            group_end = _after_value(keys, value)
            yield from self.ids(bisect.bisect_right(keys, (value, rid)), group_end)
            end = group_start
        while end > 0:  # value groups from high to low, ids ascending inside each
            value = keys[end - 1][0]
            start = bisect.bisect_left(keys, (value,), 0, end)
            yield from self.ids(start, end)
            end = start


def _after_value(keys: list[tuple[Any, str]], value: Any) -> int:
    """Index of the first key whose value is greater than ``value``."""
    lo, hi = bisect.bisect_left(keys, (value,)), len(keys)
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid][0] > value:
            hi = mid
        else:
            lo = mid + 1
    return lo


class ListMembers:
    """Inverted index of a list field: element → ids holding it."""

    def __init__(self) -> None:
        self.ids: dict[Any, set[str]] = {}

    def add(self, rid: str, value: Any) -> None:
        for element in value or ():
            if element is not None:
                self.ids.setdefault(element, set()).add(rid)

    def remove(self, rid: str, value: Any) -> None:
        for element in value or ():
            holders = self.ids.get(element)
            if holders is not None:
                holders.discard(rid)
                if not holders:
                    del self.ids[element]

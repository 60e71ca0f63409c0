"""``list_batches``: the page of ``list_page``, its revisions read batch by batch on demand."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from specstar.core import (
    QB,
    MemoryStorage,
    PermissionDeniedError,
    Query,
    QueryError,
    ResourceManager,
    Sort,
)
from specstar.core.pipeline import OperationContext


class Note(msgspec.Struct, kw_only=True):
    title: str
    owner: str = "a"


class CountingStorage(MemoryStorage):
    """Memory storage counting how many revisions were read, and in how many calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def get_revisions(self, refs: Any) -> Any:
        self.calls.append(len(refs))
        return super().get_revisions(refs)


def _notes(**kwargs: Any) -> tuple[ResourceManager[Note], CountingStorage]:
    storage = CountingStorage()
    notes = ResourceManager(
        Note, storage=storage, indexed_fields=["title", "owner"], default_user="u", **kwargs
    )
    for i in range(23):
        notes.create(Note(title=f"n{i:02}", owner="a" if i % 2 else "b"))
    return notes, storage


def test_batches_are_read_as_they_are_iterated() -> None:
    notes, storage = _notes()
    query = Query(sorts=(Sort.parse("title"),), limit=100)
    page, batches = notes.list_batches(query, batch_size=10)
    assert [m.indexed_data["title"] for m in page.items] == [f"n{i:02}" for i in range(23)]
    assert storage.calls == []  # nothing read before the first batch is asked for
    first = next(batches)
    assert storage.calls == [10]
    rest = [item for batch in batches for item in batch]
    assert storage.calls == [10, 10, 3]
    expected = notes.list_page(query).items
    assert [*first, *rest] == expected


def test_a_row_purged_before_its_batch_is_left_out() -> None:
    notes, _ = _notes()
    page, batches = notes.list_batches(Query(sorts=(Sort.parse("title"),)), batch_size=5)
    first = next(batches)
    gone = page.items[7].resource_id
    notes.delete(gone)
    notes.permanently_delete(gone)
    rest = [item.meta.resource_id for batch in batches for item in batch if item.meta]
    assert len(first) + len(rest) == 22
    assert gone not in rest


def test_errors_are_raised_before_any_batch() -> None:
    notes, _ = _notes()
    with pytest.raises(QueryError):
        notes.list_batches(QB["nope"] == 1)
    with pytest.raises(QueryError):
        notes.list_batches(returns=["everything"])
    with pytest.raises(ValueError, match="batch_size"):
        notes.list_batches(batch_size=0)

    class NotNobody:
        def check(self, ctx: OperationContext) -> None:
            if ctx.user == "nobody":
                raise PermissionDeniedError("no")

    guarded, _ = _notes(permission_checker=NotNobody())
    with pytest.raises(PermissionDeniedError):
        guarded.list_batches(user="nobody")
    page, batches = guarded.list_batches(user="u")
    assert sum(len(b) for b in batches) == len(page.items) == 23

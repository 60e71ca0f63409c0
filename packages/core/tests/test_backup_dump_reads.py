"""How a dump reads the store: a page of resources per batched read, and a resource changed
between the page's two reads read again alone (the archive is the one a dump after the change
writes)."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from specstar.core import ResourceManager, dump
from specstar.core.memory import MemoryStorageFactory


class Note(msgspec.Struct, kw_only=True):
    text: str


def _notes(count: int, revisions: int = 3) -> ResourceManager[Note]:
    notes = ResourceManager(
        Note, storage_factory=MemoryStorageFactory(), default_limit=4, max_limit=4
    )
    for i in range(count):
        notes.create(Note(text="v0"), resource_id=f"n{i:02}", user="u")
        for k in range(1, revisions):
            notes.update(f"n{i:02}", Note(text=f"v{k}"), user="u")
    return notes


def _archive(manager: ResourceManager[Any]) -> bytes:
    out = io.BytesIO()
    dump([manager], out)
    return out.getvalue()


def _calls(manager: ResourceManager[Any], monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the storage reads a dump makes (on the manager's storage instance)."""
    calls: Counter[str] = Counter()
    store = manager.storage
    for name in ("get_history", "get_histories", "get_revisions"):
        original = getattr(store, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(store, name, counted)
    return calls


def test_a_page_is_read_in_two_batched_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    notes = _notes(10)
    calls = _calls(notes, monkeypatch)
    data = _archive(notes)
    pages = 3  # 10 resources, 4 per page
    assert calls["get_histories"] == calls["get_revisions"] == pages
    # the memory store's get_histories is the default: one get_history per resource, none
    # from the dump itself
    assert calls["get_history"] == 10
    assert b"n09:3" in data


def _between(
    notes: ResourceManager[Note], monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]
) -> None:
    """Runs ``change`` once, right after the first page's histories are read."""
    store = notes.storage
    original = store.get_histories
    pending = [change]

    def histories(ids: Any) -> Any:
        found = original(ids)
        while pending:
            pending.pop()()
        return found

    monkeypatch.setattr(store, "get_histories", histories)


def test_a_resource_pruned_between_the_reads_is_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    notes = _notes(6)
    _between(notes, monkeypatch, lambda: notes.prune_revisions("n01", keep_last_n=1))
    calls = _calls(notes, monkeypatch)
    data = _archive(notes)
    monkeypatch.undo()
    assert data == _archive(notes)
    assert b"n01:1" not in data
    assert b"n01:3" in data
    # the page's batched reads, then n01 alone: its history and its revisions
    assert calls["get_revisions"] == 2 + 1


def test_a_resource_purged_between_the_reads_is_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    notes = _notes(6)

    def purge() -> None:
        notes.storage.purge("n02", notes.delete("n02", user="u").current_revision_id)

    _between(notes, monkeypatch, purge)
    data = _archive(notes)
    monkeypatch.undo()
    assert data == _archive(notes)
    assert b"n02" not in data
    assert b"n03:3" in data

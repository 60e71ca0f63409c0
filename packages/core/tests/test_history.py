"""Selecting a resource's revisions: order, time bounds, a starting revision, the chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from specstar.core import (
    NotFoundError,
    QueryError,
    ResourceManager,
    RevisionInfo,
    RevisionSelection,
    select_revisions,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Doc(msgspec.Struct):
    title: str


@pytest.fixture
def docs() -> tuple[ResourceManager[Doc], str]:
    """Revisions 1..4 one minute apart, switched back to 2, then 5 (a child of 2)."""
    manager = ResourceManager(Doc)
    rid = manager.create(Doc("1"), resource_id="d", now=T0).resource_id
    for i in (2, 3, 4):
        manager.update(rid, Doc(str(i)), now=T0 + timedelta(minutes=i - 1))
    manager.switch(rid, f"{rid}:2")
    manager.update(rid, Doc("5"), now=T0 + timedelta(minutes=4))
    return manager, rid


def _seqs(page: list[RevisionInfo]) -> list[int]:
    return [int(i.revision_id.rpartition(":")[2]) for i in page]


def test_default_is_every_revision_oldest_first(docs: tuple[ResourceManager[Doc], str]) -> None:
    manager, rid = docs
    page, total = select_revisions(manager, rid, RevisionSelection())
    assert (_seqs(page), total) == ([1, 2, 3, 4, 5], 5)
    assert RevisionSelection().is_default
    assert not RevisionSelection(chain_only=True).is_default


def test_order_chain_start_and_paging(docs: tuple[ResourceManager[Doc], str]) -> None:
    manager, rid = docs
    newest = RevisionSelection(descending=True)
    assert _seqs(select_revisions(manager, rid, newest)[0]) == [5, 4, 3, 2, 1]
    chain = RevisionSelection(descending=True, chain_only=True)
    assert select_revisions(manager, rid, chain) == select_revisions(manager, rid, chain)
    page, total = select_revisions(manager, rid, chain)
    assert (_seqs(page), total) == ([5, 2, 1], 3)
    start = RevisionSelection(descending=True, from_revision_id=f"{rid}:4")
    page, total = select_revisions(manager, rid, start, offset=1, limit=2)
    assert (_seqs(page), total) == ([3, 2], 4)
    with pytest.raises(QueryError, match="from_revision_id"):
        select_revisions(manager, rid, RevisionSelection(chain_only=True, from_revision_id="d:3"))
    with pytest.raises(QueryError):
        select_revisions(manager, rid, RevisionSelection(), limit=0)


def test_time_bounds_are_half_open(docs: tuple[ResourceManager[Doc], str]) -> None:
    manager, rid = docs
    bounded = RevisionSelection(
        created_time_start=T0 + timedelta(minutes=1), created_time_end=T0 + timedelta(minutes=3)
    )
    assert _seqs(select_revisions(manager, rid, bounded)[0]) == [2, 3]
    naive = RevisionSelection(created_time_start=datetime(2026, 1, 1, 0, 3))
    assert _seqs(select_revisions(manager, rid, naive)[0]) == [4, 5]


def test_a_missing_resource(docs: tuple[ResourceManager[Doc], str]) -> None:
    manager, _ = docs
    with pytest.raises(NotFoundError):
        select_revisions(manager, "nothing", RevisionSelection())

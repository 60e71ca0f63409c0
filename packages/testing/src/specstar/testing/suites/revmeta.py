"""The ``$rev_*`` meta fields: the status and times of the current revision, kept by the store
on every write that moves or changes that revision, and searchable like the other meta
fields."""

from __future__ import annotations

from datetime import timedelta

import pytest

from specstar.core import (
    QB,
    Query,
    ResourceManager,
    ResourceMeta,
    ResourceMetaSearchQuery,
    RevisionStatus,
    Sort,
    parse_condition,
)

from ..models import Item
from .base import SuiteBase

__all__ = ["RevMetaTests"]


def _agrees(items: ResourceManager[Item], rid: str) -> ResourceMeta:
    """The meta of ``rid`` after checking its ``rev_*`` fields against its current revision."""
    meta = items.get_meta(rid)
    info = items.get_revision_info(rid, meta.current_revision_id)
    assert (meta.rev_status, meta.rev_created_time, meta.rev_updated_time) == (
        info.status,
        info.created_time,
        info.updated_time,
    )
    return meta


def _ids(metas: list[ResourceMeta]) -> set[str]:
    return {m.resource_id for m in metas}


class RevMetaTests(SuiteBase):
    """``$rev_status``, ``$rev_created_time`` and ``$rev_updated_time``."""

    def test_rev_fields_follow_the_current_revision(self, items: ResourceManager[Item]) -> None:
        r1 = items.create(Item(name="a"), status=RevisionStatus.draft)
        rid = r1.resource_id
        created = _agrees(items, rid)
        assert created.rev_status == RevisionStatus.draft
        assert created.rev_created_time == created.rev_updated_time == r1.created_time
        items.modify(rid, Item(name="a2"))  # the draft is rewritten in place
        modified = _agrees(items, rid)
        assert modified.rev_created_time == r1.created_time
        assert modified.rev_updated_time is not None
        assert created.rev_updated_time is not None
        assert modified.rev_updated_time > created.rev_updated_time
        items.modify(rid, status=RevisionStatus.stable)
        assert _agrees(items, rid).rev_status == RevisionStatus.stable
        r2 = items.update(rid, Item(name="b"), status=RevisionStatus.draft)
        updated = _agrees(items, rid)
        assert updated.rev_status == RevisionStatus.draft
        assert updated.rev_created_time == r2.created_time
        items.merge_patch(rid, {"age": 3}, status=RevisionStatus.stable)
        assert _agrees(items, rid).rev_status == RevisionStatus.stable
        items.switch(rid, r1.revision_id)
        switched = _agrees(items, rid)
        assert (switched.rev_status, switched.rev_created_time) == (
            RevisionStatus.stable,
            r1.created_time,
        )
        items.delete(rid)
        deleted = items.get_meta(rid, include_deleted=True)
        rev = (switched.rev_status, switched.rev_created_time, switched.rev_updated_time)
        assert (deleted.rev_status, deleted.rev_created_time, deleted.rev_updated_time) == rev
        items.restore(rid)
        assert _agrees(items, rid).rev_created_time == r1.created_time

    def test_search_by_rev_status(self, items: ResourceManager[Item]) -> None:
        stable = items.create(Item(name="s")).resource_id
        draft = items.create(Item(name="d"), status=RevisionStatus.draft).resource_id
        back = items.create(Item(name="b")).resource_id
        items.update(back, Item(name="b2"), status=RevisionStatus.draft)
        items.switch(back, f"{back}:1")  # current again the stable first revision
        drafts = {draft}
        assert _ids(items.search(QB.rev_status() == "draft")) == drafts
        assert _ids(items.search(parse_condition('$rev_status == "stable"'))) == {stable, back}
        assert _ids(items.search(ResourceMetaSearchQuery(rev_statuses=["draft"]))) == drafts
        both = ResourceMetaSearchQuery(rev_statuses=["draft", "stable"])
        assert _ids(items.search(both)) == {stable, draft, back}
        assert items.count(QB.meta("rev_status").in_(["draft"])) == 1
        items.modify(draft, status=RevisionStatus.stable)
        assert items.count(QB.rev_status() == "draft") == 0
        with pytest.raises(ValueError, match="rev_statuses"):
            items.search(ResourceMetaSearchQuery(rev_statuses=["published"]))

    def test_rev_time_bounds_are_inclusive(self, items: ResourceManager[Item]) -> None:
        first = items.create(Item(name="1"), status=RevisionStatus.draft)
        second = items.create(Item(name="2"))
        a, b = first.resource_id, second.resource_id
        t1, t2 = first.created_time, second.created_time
        assert t1 < t2
        start_end = ResourceMetaSearchQuery(rev_created_time_start=t1, rev_created_time_end=t1)
        assert _ids(items.search(start_end)) == {a}
        upto = ResourceMetaSearchQuery(rev_created_time_end=t2)
        assert _ids(items.search(upto)) == {a, b}
        assert _ids(items.search(ResourceMetaSearchQuery(rev_created_time_start=t2))) == {b}
        items.modify(a, Item(name="1b"))  # moves the revision's updated time, not its creation
        moved = items.get_meta(a).rev_updated_time
        assert moved is not None
        assert moved > t2
        late = ResourceMetaSearchQuery(rev_updated_time_start=moved, rev_updated_time_end=moved)
        assert _ids(items.search(late)) == {a}
        early = ResourceMetaSearchQuery(rev_updated_time_end=moved - timedelta(microseconds=1))
        assert _ids(items.search(early)) == {b}
        assert _ids(items.search(QB.rev_created_time() <= t1)) == {a}
        assert _ids(items.search(QB.rev_updated_time() > t2)) == {a}
        by_rev = items.search(Query(sorts=(Sort.parse("-$rev_updated_time"),)))
        assert [m.resource_id for m in by_rev] == [a, b]
        by_created = items.search(Query(sorts=(Sort.parse("$rev_created_time"),)))
        assert [m.resource_id for m in by_created] == [a, b]
        items.update(a, Item(name="1c"))  # a new revision: created after b's
        assert [m.resource_id for m in items.search(QB.rev_created_time() > t2)] == [a]

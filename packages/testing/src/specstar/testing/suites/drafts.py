"""Drafts are rewritten in place: their entity tag follows their content, and a rewrite is a
compare-and-swap on that content (``Write.expected_draft_hash``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from specstar.core import (
    PreconditionFailedError,
    ResourceManager,
    RevisionStatus,
    StorageFactory,
    entity_tag,
)
from specstar.core.spi import IndexSpec, NewRevision, RevisionRewrite, Write

from ..models import Item
from .base import SuiteBase
from .concurrency import THREADS, _run_together

__all__ = ["DraftTests"]

_NOW = datetime(2024, 1, 1, tzinfo=UTC)
EDITS_PER_THREAD = 10


def _draft(tag: str) -> NewRevision:
    return NewRevision(
        data=b'{"name":"' + tag.encode() + b'"}',
        data_hash=f"sha256:{tag}",
        schema_version=None,
        status=RevisionStatus.draft,
    )


def _rewrite(tag: str) -> RevisionRewrite:
    return RevisionRewrite(
        data=b'{"name":"' + tag.encode() + b'"}',
        data_hash=f"sha256:{tag}",
        schema_version=None,
        status=RevisionStatus.draft,
    )


class DraftTests(SuiteBase):
    def test_port_rewrite_is_a_compare_and_swap(self, storage_factory: StorageFactory) -> None:
        store = storage_factory.build(f"dr-{uuid.uuid4().hex[:10]}")
        store.setup(IndexSpec())
        store.commit(
            Write(
                resource_id="d", expected_revision_id=None, time=_NOW, user="u", append=_draft("a")
            )
        )

        def rewrite(tag: str, seen: str) -> Write:
            return Write(
                resource_id="d",
                expected_revision_id="d:1",
                time=_NOW,
                user="u",
                rewrite=_rewrite(tag),
                expected_draft_hash=f"sha256:{seen}",
            )

        result = store.commit(rewrite("b", "a"))
        assert result.revision is not None
        assert result.revision.data_hash == "sha256:b"
        with pytest.raises(PreconditionFailedError) as err:  # stale: "a" is no longer there
            store.commit(rewrite("c", "a"))
        assert err.value.actual == entity_tag(result.revision)
        with pytest.raises(PreconditionFailedError):  # an append on top of it compares too
            store.commit(
                Write(
                    resource_id="d",
                    expected_revision_id="d:1",
                    time=_NOW,
                    user="u",
                    append=_draft("c"),
                    expected_draft_hash="sha256:a",
                )
            )
        with pytest.raises(PreconditionFailedError):  # and so does a flag change
            store.commit(
                Write(
                    resource_id="d",
                    expected_revision_id="d:1",
                    time=_NOW,
                    user="u",
                    is_deleted=True,
                    expected_draft_hash="sha256:a",
                )
            )
        stored = store.get_revision("d", "d:1")
        assert stored is not None
        assert stored.info.data_hash == "sha256:b"
        meta = store.get_meta("d")
        assert meta is not None
        assert not meta.is_deleted
        assert meta.current_revision_id == "d:1"

    def test_port_concurrent_rewrites_one_winner(self, storage_factory: StorageFactory) -> None:
        store = storage_factory.build(f"dr-{uuid.uuid4().hex[:10]}")
        store.setup(IndexSpec())
        store.commit(
            Write(
                resource_id="d", expected_revision_id=None, time=_NOW, user="u", append=_draft("0")
            )
        )
        results = _run_together(
            THREADS,
            lambda i: store.commit(
                Write(
                    resource_id="d",
                    expected_revision_id="d:1",
                    time=_NOW,
                    user="u",
                    rewrite=_rewrite(f"t{i}"),
                    expected_draft_hash="sha256:0",
                )
            ),
        )
        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 1
        assert all(isinstance(e, PreconditionFailedError) for e in losers), losers
        stored = store.get_revision("d", "d:1")
        assert stored is not None
        assert stored.info == winners[0].revision

    def test_draft_etag_follows_its_content(self, items: ResourceManager[Item]) -> None:
        info = items.create(Item(name="a"), status=RevisionStatus.draft)
        first = entity_tag(info)
        assert first.startswith(f"{info.revision_id}~")
        edited = items.modify(info.resource_id, Item(name="b"), expected_etag=first)
        assert edited.revision_id == info.revision_id
        assert entity_tag(edited) != first
        with pytest.raises(PreconditionFailedError):  # the same stale tag a second time
            items.modify(info.resource_id, Item(name="c"), expected_etag=first)
        with pytest.raises(PreconditionFailedError):
            items.update(info.resource_id, Item(name="c"), expected_etag=first)
        with pytest.raises(PreconditionFailedError):
            items.delete(info.resource_id, expected_etag=first)
        with pytest.raises(PreconditionFailedError):  # a draft's tag is not its bare id
            items.modify(info.resource_id, Item(name="c"), expected_etag=info.revision_id)
        assert items.get(info.resource_id).data.name == "b"
        stable = items.modify(
            info.resource_id, status=RevisionStatus.stable, expected_etag=entity_tag(edited)
        )
        assert entity_tag(stable) == stable.revision_id  # a status change changes it too
        with pytest.raises(PreconditionFailedError):
            items.update(info.resource_id, Item(name="d"), expected_etag=entity_tag(edited))
        assert items.update(info.resource_id, Item(name="d"), expected_etag=stable.revision_id)
        with pytest.raises(ValueError, match="not both"):
            items.update(
                info.resource_id, Item(name="e"), expected_revision_id="x", expected_etag="x"
            )

    def test_no_lost_draft_edits(self, items: ResourceManager[Item]) -> None:
        rid = items.create(Item(name="draft"), status=RevisionStatus.draft).resource_id

        def worker(t: int) -> None:
            for j in range(EDITS_PER_THREAD):
                items.modify(rid, [{"op": "add", "path": "/tags/-", "value": f"{t}-{j}"}])

        results = _run_together(THREADS, worker)
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, errors[:3]
        tags = items.get(rid).data.tags
        expected = {f"{t}-{j}" for t in range(THREADS) for j in range(EDITS_PER_THREAD)}
        assert len(tags) == len(expected), f"{len(expected) - len(tags)} draft edits were lost"
        assert set(tags) == expected
        assert items.list_revisions(rid) == [f"{rid}:1"]

"""Backups on every store: the ``adopt`` write that restores a revision as it was,
``adopt_resource``/``adopt_resources`` that store a whole resource atomically, and
dump → load → dump giving the same archive whichever store holds the data (the memory
reference on one side, the adapter on the other)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace as msgspec_replace

from specstar.core import (
    QB,
    AlreadyExistsError,
    ConflictError,
    ResourceManager,
    ResourceMeta,
    RevisionStatus,
    StorageFactory,
    UniqueConstraintError,
    dump,
    load,
)
from specstar.core.spi import AdoptedRevision, Adoption, StoredRevision, Write

from ..models import ITEM_INDEXES, Item
from .base import Clock, SuiteBase

__all__ = ["BackupTests"]

T0 = datetime(2024, 3, 1, tzinfo=UTC)

#: One step of a random history: (verb, resource number, value).
_steps = st.lists(
    st.tuples(
        st.sampled_from(["create", "draft", "update", "switch", "delete", "restore", "modify"]),
        st.integers(0, 3),
        st.integers(0, 5),
    ),
    max_size=14,
)


def _apply(m: ResourceManager[Item], steps: list[tuple[str, int, int]]) -> None:
    """Run the steps that make sense on the current state, ignoring the others."""
    for n, (verb, which, value) in enumerate(steps):
        rid = f"r{which}"
        now = T0 + timedelta(seconds=n)
        meta = m.storage.get_meta(rid)
        user = f"user{value}"
        item = Item(name=f"{verb}{value}", age=value, email=f"{rid}-{value}@x")
        if meta is None:
            if verb in ("create", "draft"):
                status = RevisionStatus.draft if verb == "draft" else None
                m.create(item, resource_id=rid, status=status, user=user, now=now)
            continue
        if meta.is_deleted:
            if verb == "restore":
                m.restore(rid, user=user, now=now)
            continue
        if verb == "update":
            m.update(rid, item, user=user, now=now)
        elif verb == "switch":
            ids = m.storage.list_revision_ids(rid)
            m.switch(rid, ids[value % len(ids)], user=user, now=now)
        elif verb == "delete":
            m.delete(rid, user=user, now=now)
        elif verb == "modify" and meta.rev_status == RevisionStatus.draft:
            m.modify(rid, item, user=user, now=now)


def _history(m: ResourceManager[Any], rid: str) -> tuple[ResourceMeta, list[StoredRevision]]:
    """The meta and every stored revision of a resource, as the store holds them."""
    history = m.storage.get_history(rid)
    assert history is not None
    meta, ids = history
    found = m.storage.get_revisions([(rid, i) for i in ids])
    assert all(r is not None for r in found)
    return meta, [r for r in found if r is not None]


def _source(name: str, rid: str, emails: list[str], *, current: int | None = None) -> Adoption:
    """A resource with one revision per email, made in a fresh in-memory store (current: the
    revision number switched back to, else the last), as an :class:`Adoption`."""
    m = ResourceManager(Item, name=name, indexed_fields=ITEM_INDEXES, default_now=Clock())
    for n, email in enumerate(emails):
        item = Item(name=f"{rid}-{n}", age=n, email=email, tags=["t", str(n)])
        m.create_or_update(rid, item, user=f"u{n}")
    if current is not None:
        m.switch(rid, f"{rid}:{current}", user="switcher")
    meta, revisions = _history(m, rid)
    return Adoption(meta=meta, revisions=revisions, indexed_data=meta.indexed_data)


def _unchanged(
    m: ResourceManager[Any], rid: str, before: tuple[ResourceMeta, list[StoredRevision]]
) -> None:
    assert _history(m, rid) == before


def _archive(m: ResourceManager[Any]) -> bytes:
    out = io.BytesIO()
    dump([m], out)
    return out.getvalue()


class BackupTests(SuiteBase):
    """``Write.adopt`` and the portability of backups."""

    def test_adopt_keeps_the_revision_as_described(self, items: ResourceManager[Item]) -> None:
        source = items.create(Item(name="a"), user="ann", now=T0)
        stored = items.storage.get_revision(source.resource_id, source.revision_id)
        assert stored is not None
        info = stored.info.__class__(
            **{
                **{f: getattr(stored.info, f) for f in stored.info.__struct_fields__},
                "resource_id": "copy",
                "revision_id": "copy:7",
                "parent_revision_id": "copy:3",
                "created_by": "someone",
            }
        )
        adopted = AdoptedRevision(info=info, data=stored.data)
        write = Write(
            resource_id="copy",
            expected_revision_id=None,
            time=T0 + timedelta(days=1),
            user="loader",
            adopt=adopted,
            indexed_data={"name": "a"},
        )
        result = items.storage.commit(write)
        assert result.revision == info
        assert result.meta.current_revision_id == "copy:7"
        assert result.meta.revision_seq == 7
        assert result.meta.created_by == "loader"
        assert items.storage.get_revision_info("copy", "copy:7") == info
        assert items.storage.get_revision("copy", "copy:7") == stored.__class__(info, stored.data)
        # an id not after the allocated sequence is refused, and nothing changes
        again = Write(
            resource_id="copy",
            expected_revision_id="copy:7",
            time=T0,
            user="loader",
            adopt=adopted,
        )
        with pytest.raises(ConflictError):
            items.storage.commit(again)
        assert items.storage.list_revision_ids("copy") == ["copy:7"]
        items.update("copy", Item(name="b"), user="u", now=T0 + timedelta(days=2))
        assert items.storage.list_revision_ids("copy") == ["copy:7", "copy:8"]

    def test_dump_load_dump_is_identical_across_stores(
        self, storage_factory: StorageFactory
    ) -> None:
        @settings(
            max_examples=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(steps=_steps)
        def check(steps: list[tuple[str, int, int]]) -> None:
            name = f"bk-{uuid.uuid4().hex[:10]}"

            def manager(factory: StorageFactory | None) -> ResourceManager[Item]:
                # no factory: a fresh in-memory store, the reference semantics
                return ResourceManager(
                    Item,
                    name=name,
                    storage_factory=factory,
                    indexed_fields=ITEM_INDEXES,
                    default_now=Clock(),
                )

            reference = manager(None)
            _apply(reference, steps)
            archived = _archive(reference)
            adapter = manager(storage_factory)
            stats = load([adapter], io.BytesIO(archived))[name]
            assert stats.failures == []
            assert _archive(adapter) == archived
            back = manager(None)
            load([back], io.BytesIO(_archive(adapter)))
            assert _archive(back) == archived
            for rid in [f"r{i}" for i in range(4)]:
                assert adapter.storage.get_meta(rid) == reference.storage.get_meta(rid)

        check()

    def test_overwrite_on_the_adapter_replaces_the_history(
        self, make_manager: Callable[..., ResourceManager[Any]]
    ) -> None:
        target = make_manager(Item)
        source = ResourceManager(
            Item, name=target.name, indexed_fields=ITEM_INDEXES
        )  # a fresh in-memory store
        source.create(Item(name="new", email="n@x"), resource_id="x", user="a", now=T0)
        for n in range(3):
            target.create_or_update("x", Item(name=f"old{n}"), user="b", now=T0)
        stats = load([target], io.BytesIO(_archive(source)))[source.name]
        assert stats.loaded == 1
        assert target.storage.list_revision_ids("x") == ["x:1"]
        assert target.get("x").data.name == "new"
        assert _archive(target) == _archive(source)

    # == adopt_resource ===========================================================================

    def test_adopt_resource_stores_the_history_exactly(self, items: ResourceManager[Item]) -> None:
        src = _source(items.name, "a", ["a1@x", "a2@x", "a3@x"], current=2)
        stored = items.storage.adopt_resource(src.meta, src.revisions, src.indexed_data)
        assert stored == src.meta
        assert _history(items, "a") == (src.meta, list(src.revisions))
        assert items.get("a").data.email == "a2@x"
        # indexed: a search finds it by the current revision's values only
        assert [m.resource_id for m in items.search(QB["name"] == "a-1")] == ["a"]
        assert items.search(QB["name"] == "a-2") == []
        # the unique claim holds, and later writes continue the sequence
        with pytest.raises(UniqueConstraintError):
            items.create(Item(name="other", email="a2@x"), resource_id="other")
        items.update("a", Item(name="next"), user="u")
        assert items.storage.list_revision_ids("a") == ["a:1", "a:2", "a:3", "a:4"]

    def test_adopt_resource_refuses_a_malformed_history_and_stores_nothing(
        self, items: ResourceManager[Item]
    ) -> None:
        src = _source(items.name, "m", ["m1@x", "m2@x"])
        backwards = list(reversed(src.revisions))
        with pytest.raises(ValueError, match="out of order"):
            items.storage.adopt_resource(src.meta, backwards, src.indexed_data)
        with pytest.raises(ValueError, match="at least one revision"):
            items.storage.adopt_resource(src.meta, [], src.indexed_data)
        with pytest.raises(ValueError, match="not among"):
            items.storage.adopt_resource(src.meta, src.revisions[:1], src.indexed_data)
        assert items.storage.get_meta("m") is None
        assert items.storage.list_revision_ids("m") == []

    def test_a_unique_clash_refuses_the_whole_resource(self, items: ResourceManager[Item]) -> None:
        items.create(Item(name="h", email="taken@x"), resource_id="holder")
        src = _source(items.name, "b", ["b1@x", "b2@x", "taken@x"])
        with pytest.raises(UniqueConstraintError) as caught:
            items.storage.adopt_resource(src.meta, src.revisions, src.indexed_data)
        assert caught.value.conflicting_resource_id == "holder"
        assert items.storage.get_meta("b") is None
        assert items.storage.list_revision_ids("b") == []
        assert items.storage.get_revision("b", "b:1") is None
        # the holder keeps its claim and nothing of "b" claims anything
        items.create(Item(name="c", email="b1@x"), resource_id="c")

    def test_a_batch_stores_every_resource_but_the_refused_ones(
        self, items: ResourceManager[Item]
    ) -> None:
        items.create(Item(name="h", email="taken@x"), resource_id="holder")
        good1 = _source(items.name, "g1", ["g1@x", "g1b@x"])
        clash = _source(items.name, "bad", ["bad@x", "taken@x"])
        exists = _source(items.name, "holder", ["other@x"])
        twin = _source(items.name, "g2", ["g1b@x"])  # clashes with g1, earlier in the batch
        good2 = _source(items.name, "g3", ["g3@x"], current=1)
        outcomes = items.storage.adopt_resources([good1, clash, exists, twin, good2])
        assert outcomes[0] == good1.meta
        assert isinstance(outcomes[1], UniqueConstraintError)
        assert outcomes[1].conflicting_resource_id == "holder"
        assert isinstance(outcomes[2], AlreadyExistsError)
        assert isinstance(outcomes[3], UniqueConstraintError)
        assert outcomes[3].conflicting_resource_id == "g1"
        assert outcomes[4] == good2.meta
        assert _history(items, "g1") == (good1.meta, list(good1.revisions))
        assert _history(items, "g3") == (good2.meta, list(good2.revisions))
        for rid in ("bad", "g2"):
            assert items.storage.get_meta(rid) is None
            assert items.storage.list_revision_ids(rid) == []
        assert items.get("holder").data.name == "h"

    def test_an_overwrite_replaces_the_history_and_the_claims(
        self, items: ResourceManager[Item]
    ) -> None:
        for n in range(3):
            items.create_or_update("x", Item(name=f"old{n}", email=f"old{n}@x"), user="b")
        old = items.storage.get_meta("x")
        assert old is not None
        src = _source(items.name, "x", ["new@x"])
        stored = items.storage.adopt_resource(
            src.meta, src.revisions, src.indexed_data, replaces=old
        )
        assert stored == src.meta
        assert _history(items, "x") == (src.meta, list(src.revisions))
        items.create(Item(name="free", email="old2@x"), resource_id="free")  # released

    def test_an_overwrite_with_a_stale_replaces_is_a_conflict(
        self, items: ResourceManager[Item]
    ) -> None:
        items.create(Item(name="v1", email="v@x"), resource_id="x")
        stale = items.storage.get_meta("x")
        assert stale is not None
        items.update("x", Item(name="v2", email="v@x"))
        before = _history(items, "x")
        src = _source(items.name, "x", ["new@x"])
        with pytest.raises(ConflictError):
            items.storage.adopt_resource(src.meta, src.revisions, src.indexed_data, replaces=stale)
        _unchanged(items, "x", before)
        with pytest.raises(AlreadyExistsError):  # a create of an existing resource
            items.storage.adopt_resource(src.meta, src.revisions, src.indexed_data)
        _unchanged(items, "x", before)
        gone = _source(items.name, "nobody", ["n@x"])
        with pytest.raises(ConflictError):  # replaces a resource that does not exist
            items.storage.adopt_resource(
                gone.meta, gone.revisions, gone.indexed_data, replaces=gone.meta
            )
        assert items.storage.get_meta("nobody") is None

    def test_a_failed_overwrite_leaves_the_old_resource_exactly(
        self, items: ResourceManager[Item]
    ) -> None:
        for n in range(3):
            items.create_or_update("x", Item(name=f"old{n}", email="mine@x"), user="b")
        items.create(Item(name="y", email="theirs@x"), resource_id="y")
        old = items.storage.get_meta("x")
        assert old is not None
        before = _history(items, "x")
        src = _source(items.name, "x", ["a@x", "theirs@x"])
        with pytest.raises(UniqueConstraintError):
            items.storage.adopt_resource(src.meta, src.revisions, src.indexed_data, replaces=old)
        _unchanged(items, "x", before)
        with pytest.raises(UniqueConstraintError):  # the old claim still holds
            items.create(Item(name="z", email="mine@x"), resource_id="z")
        (outcome,) = items.storage.adopt_resources([msgspec_replace(src, replaces=old)])
        assert isinstance(outcome, UniqueConstraintError)
        _unchanged(items, "x", before)

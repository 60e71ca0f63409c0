"""Backups on every store: the ``adopt`` write that restores a revision as it was, and
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

from specstar.core import (
    ConflictError,
    ResourceManager,
    RevisionStatus,
    StorageFactory,
    dump,
    load,
)
from specstar.core.spi import AdoptedRevision, Write

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

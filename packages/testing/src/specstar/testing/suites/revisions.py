"""Revision lifecycle, history immutability, drafts, soft delete and partial reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from specstar.core import (
    AlreadyExistsError,
    GoneError,
    NotFoundError,
    PreconditionFailedError,
    ResourceManager,
    RevisionNotDraftError,
    RevisionStatus,
    UniqueConstraintError,
    ValidationError,
)

from ..models import Address, Item
from .base import SuiteBase

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class RevisionTests(SuiteBase):
    """Creating, reading and changing resources through the manager."""

    def test_create_then_get(self, items: ResourceManager[Item]) -> None:
        info = items.create(Item(name="a", age=3, tags=["x"]))
        assert info.revision_id == f"{info.resource_id}:1"
        assert info.parent_revision_id is None
        assert info.status == RevisionStatus.stable
        assert info.data_hash.startswith("sha256:")
        res = items.get(info.resource_id)
        assert res.data == Item(name="a", age=3, tags=["x"])
        assert res.info == info
        meta = items.get_meta(info.resource_id)
        assert meta.current_revision_id == info.revision_id
        assert meta.total_revision_count == 1
        assert meta.indexed_data["age"] == 3
        assert meta.indexed_data["tags"] == ["x"]
        assert meta.created_by == meta.updated_by == "tester"
        assert not meta.is_deleted

    def test_create_accepts_builtins_and_validates(self, items: ResourceManager[Item]) -> None:
        info = items.create({"name": "b", "born": "2024-05-01T10:00:00+02:00"})
        data = items.get(info.resource_id).data
        assert data.born == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
        with pytest.raises(ValidationError) as err:
            items.create({"name": "c", "age": "old"})
        assert err.value.errors
        assert err.value.errors[0].loc == "/age"
        with pytest.raises(ValidationError):
            items.create({"age": 3})

    def test_caller_resource_id(self, items: ResourceManager[Item]) -> None:
        info = items.create(Item(name="a"), resource_id="item-1")
        assert info.resource_id == "item-1"
        with pytest.raises(AlreadyExistsError):
            items.create(Item(name="b"), resource_id="item-1")
        again = items.create(Item(name="b"), resource_id="item-1", if_not_exists=True)
        assert again == info
        assert items.get("item-1").data.name == "a"
        for bad in ["", " x", "a/b", "a b", "x" * 201, "../etc", "é"]:
            with pytest.raises(ValidationError):
                items.create(Item(name="c"), resource_id=bad)

    def test_update_appends_and_keeps_history(self, items: ResourceManager[Item]) -> None:
        r1 = items.create(Item(name="a"))
        rid = r1.resource_id
        r2 = items.update(rid, Item(name="b"))
        assert r2.revision_id == f"{rid}:2"
        assert r2.parent_revision_id == r1.revision_id
        assert items.get(rid).data.name == "b"
        assert items.get(rid, revision_id=r1.revision_id).data.name == "a"
        assert items.list_revisions(rid) == [r1.revision_id, r2.revision_id]
        assert items.get_meta(rid).total_revision_count == 2
        assert items.get_meta(rid).indexed_data["name"] == "b"

    def test_identical_update_writes_nothing(self, items: ResourceManager[Item]) -> None:
        r1 = items.create(Item(name="a", tags=["t"]))
        same = items.update(r1.resource_id, Item(name="a", tags=["t"]))
        assert same == r1
        assert items.list_revisions(r1.resource_id) == [r1.revision_id]
        assert items.merge_patch(r1.resource_id, {"name": "a"}) == r1

    def test_history_is_immutable(self, items: ResourceManager[Item]) -> None:
        r1 = items.create(Item(name="a", age=1))
        rid = r1.resource_id
        before = items.get(rid, revision_id=r1.revision_id)
        items.update(rid, Item(name="b", age=2))
        items.patch(rid, [{"op": "replace", "path": "/age", "value": 3}])
        items.switch(rid, r1.revision_id)
        items.delete(rid)
        items.restore(rid)
        after = items.get(rid, revision_id=r1.revision_id)
        assert after == before

    def test_expected_revision(self, items: ResourceManager[Item]) -> None:
        r1 = items.create(Item(name="a"))
        rid = r1.resource_id
        r2 = items.update(rid, Item(name="b"), expected_revision_id=r1.revision_id)
        with pytest.raises(PreconditionFailedError) as err:
            items.update(rid, Item(name="c"), expected_revision_id=r1.revision_id)
        assert err.value.expected == r1.revision_id
        assert err.value.actual == r2.revision_id
        for call in (
            lambda: items.patch(rid, [], expected_revision_id=r1.revision_id),
            lambda: items.merge_patch(rid, {}, expected_revision_id=r1.revision_id),
            lambda: items.delete(rid, expected_revision_id=r1.revision_id),
            lambda: items.switch(rid, r1.revision_id, expected_revision_id=r1.revision_id),
            lambda: items.permanently_delete(rid, expected_revision_id=r1.revision_id),
        ):
            with pytest.raises(PreconditionFailedError):
                call()
        assert items.get(rid).data.name == "b"

    def test_json_patch_and_merge_patch(self, items: ResourceManager[Item]) -> None:
        rid = items.create(Item(name="a", tags=["x"])).resource_id
        items.patch(
            rid,
            [
                {"op": "add", "path": "/tags/-", "value": "y"},
                {"op": "replace", "path": "/age", "value": 5},
                {"op": "add", "path": "/address", "value": {"city": "Oslo"}},
            ],
        )
        assert items.get(rid).data == Item(
            name="a", tags=["x", "y"], age=5, address=Address(city="Oslo")
        )
        items.merge_patch(rid, {"address": {"zip": "0150"}, "age": None})
        data = items.get(rid).data
        assert data.address == Address(city="Oslo", zip="0150")
        assert data.age is None
        assert items.get_meta(rid).indexed_data["address.city"] == "Oslo"
        with pytest.raises(ValidationError):
            items.patch(rid, [{"op": "replace", "path": "/age", "value": "x"}])
        with pytest.raises(ValidationError):
            items.patch(rid, [{"op": "remove", "path": "/nope"}])
        with pytest.raises(ValidationError):
            items.merge_patch(rid, {"name": None})  # name is required
        assert items.get_meta(rid).total_revision_count == 3

    def test_drafts_modify_in_place(self, items: ResourceManager[Item]) -> None:
        r1 = items.create(Item(name="draft"), status=RevisionStatus.draft)
        rid = r1.resource_id
        m1 = items.modify(rid, Item(name="draft 2"))
        assert m1.revision_id == r1.revision_id
        assert items.list_revisions(rid) == [r1.revision_id]
        assert items.get(rid).data.name == "draft 2"
        assert items.get_meta(rid).indexed_data["name"] == "draft 2"
        m2 = items.modify(rid, [{"op": "replace", "path": "/age", "value": 9}])
        assert m2.revision_id == r1.revision_id
        stable = items.modify(rid, status=RevisionStatus.stable)
        assert stable.status == RevisionStatus.stable
        with pytest.raises(RevisionNotDraftError):
            items.modify(rid, Item(name="never"))
        with pytest.raises(RevisionNotDraftError):
            items.modify(rid, status=RevisionStatus.draft)
        assert items.get(rid).data == Item(name="draft 2", age=9)

    def test_patches_set_the_new_revisions_status(self, items: ResourceManager[Item]) -> None:
        rid = items.create(Item(name="a")).resource_id
        draft = items.patch(
            rid, [{"op": "replace", "path": "/age", "value": 1}], status=RevisionStatus.draft
        )
        assert (draft.revision_id, draft.status) == (f"{rid}:2", RevisionStatus.draft)
        stable = items.merge_patch(rid, {"age": 2}, status=RevisionStatus.stable)
        assert (stable.revision_id, stable.status) == (f"{rid}:3", RevisionStatus.stable)
        same = items.merge_patch(rid, {"age": 2}, status=RevisionStatus.draft)
        assert (same.revision_id, same.status) == (f"{rid}:4", RevisionStatus.draft)
        unchanged = items.merge_patch(rid, {"age": 2})
        assert unchanged.revision_id == f"{rid}:4"
        assert items.get_revision_info(rid).status == RevisionStatus.draft

    def test_switch(self, items: ResourceManager[Item]) -> None:
        r1 = items.create(Item(name="a", email="a@x"))
        rid = r1.resource_id
        items.update(rid, Item(name="b", email="b@x"))
        meta = items.switch(rid, r1.revision_id)
        assert meta.current_revision_id == r1.revision_id
        assert meta.indexed_data["name"] == "a"
        assert meta.total_revision_count == 2
        assert items.get(rid).data.name == "a"
        with pytest.raises(NotFoundError):
            items.switch(rid, f"{rid}:99")
        r3 = items.update(rid, Item(name="c"))
        assert r3.revision_id == f"{rid}:3"
        assert r3.parent_revision_id == r1.revision_id

    def test_soft_delete_and_restore(self, items: ResourceManager[Item]) -> None:
        rid = items.create(Item(name="a", email="a@x")).resource_id
        meta = items.delete(rid)
        assert meta.is_deleted
        with pytest.raises(GoneError):
            items.get(rid)
        with pytest.raises(GoneError):
            items.update(rid, Item(name="b"))
        with pytest.raises(GoneError):
            items.delete(rid)
        assert items.get(rid, include_deleted=True).data.name == "a"
        assert not items.exists(rid)
        assert items.exists(rid, include_deleted=True)
        assert rid not in [m.resource_id for m in items.search()]
        assert rid in [
            m.resource_id for m in items.search(items.resolve().replace(is_deleted=True))
        ]
        # the unique value is released while deleted ...
        other = items.create(Item(name="b", email="a@x")).resource_id
        with pytest.raises(UniqueConstraintError):
            items.restore(rid)
        items.delete(other)
        assert not items.restore(rid).is_deleted
        assert items.get(rid).data.name == "a"
        assert not items.restore(rid).is_deleted  # restoring a live resource changes nothing

    def test_permanent_delete(self, items: ResourceManager[Item]) -> None:
        rid = items.create(Item(name="a", email="p@x")).resource_id
        items.update(rid, Item(name="b", email="p@x"))
        last = items.permanently_delete(rid)
        assert last.resource_id == rid
        with pytest.raises(NotFoundError):
            items.get(rid, include_deleted=True)
        assert not items.exists(rid, include_deleted=True)
        assert not items.revision_exists(rid, f"{rid}:1")
        items.create(Item(name="c", email="p@x"))  # unique value is free again
        items.create(Item(name="d"), resource_id=rid)  # the id may be reused
        assert items.list_revisions(rid) == [f"{rid}:1"]

    def test_prune(self, items: ResourceManager[Item]) -> None:
        rid = items.create(Item(name="v1")).resource_id
        for i in range(2, 6):
            items.update(rid, Item(name=f"v{i}"))
        items.switch(rid, f"{rid}:2")
        assert items.prune_revisions(rid, keep_last_n=2) == 2  # 1 and 3 go, 2 is current
        assert items.list_revisions(rid) == [f"{rid}:2", f"{rid}:4", f"{rid}:5"]
        meta = items.get_meta(rid)
        assert meta.total_revision_count == 3
        assert items.update(rid, Item(name="v6")).revision_id == f"{rid}:6"
        assert items.prune_revisions(rid, before=datetime(2000, 1, 1, tzinfo=UTC)) == 0
        assert items.prune_revisions(rid, keep_last_n=0) == 3
        assert items.list_revisions(rid) == [f"{rid}:6"]
        with pytest.raises(ValueError, match="keep_last_n"):
            items.prune_revisions(rid)

    def test_partial_reads(self, items: ResourceManager[Item]) -> None:
        rid = items.create(
            Item(name="a", age=4, tags=["x", "y"], address=Address(city="Rome"))
        ).resource_id
        assert items.get_partial(rid, ["/name", "/address/city"]) == {
            "name": "a",
            "address": {"city": "Rome"},
        }
        assert items.get_partial(rid, ["age", "tags"]) == {"age": 4, "tags": ["x", "y"]}
        listed = items.list(partial=["/name"], returns=["data"])
        assert [r.data for r in listed] == [{"name": "a"}]
        assert listed[0].meta is msgspec.UNSET

    def test_not_found(self, items: ResourceManager[Item]) -> None:
        for call in (
            lambda: items.get("missing"),
            lambda: items.get_meta("missing"),
            lambda: items.update("missing", Item(name="x")),
            lambda: items.patch("missing", []),
            lambda: items.delete("missing"),
            lambda: items.restore("missing"),
            lambda: items.permanently_delete("missing"),
            lambda: items.list_revisions("missing"),
        ):
            with pytest.raises(NotFoundError):
                call()
        rid = items.create(Item(name="a")).resource_id
        with pytest.raises(NotFoundError):
            items.get(rid, revision_id=f"{rid}:7")

    def test_operation_context(self, make_manager: Any) -> None:
        from specstar.core import MissingOperationContextError

        strict = make_manager(Item, strict_operation_context=True, default_user=msgspec.UNSET)
        with pytest.raises(MissingOperationContextError) as err:
            strict.create(Item(name="a"))
        assert err.value.missing_fields == ["user"]
        info = strict.create(Item(name="a"), user="alice")
        assert info.created_by == "alice"
        with strict.using(user="bob", now=T0) as ops:
            r = strict.update(info.resource_id, Item(name="b"))
            assert (r.created_by, r.created_time) == ("bob", T0)
            with strict.using(user="carol") as inner:
                assert strict.update(info.resource_id, Item(name="c")).created_by == "carol"
                assert ops.update(info.resource_id, Item(name="d")).created_by == "bob"
                assert inner.update(info.resource_id, Item(name="e")).created_by == "carol"
        with pytest.raises(RuntimeError):
            ops.get(info.resource_id)
        with pytest.raises(MissingOperationContextError):
            strict.update(info.resource_id, Item(name="f"))

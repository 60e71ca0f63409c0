"""Batch delete and restore by query: the filter rule, up-front authorization, per-row scope."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from specstar.core import (
    QB,
    And,
    BatchOutcome,
    EventHandlers,
    HiddenUniqueConstraintError,
    MemoryStorage,
    OnDelete,
    OperationContext,
    OwnershipChecker,
    PermissionDeniedError,
    Query,
    QueryError,
    RedactedReferenceError,
    Ref,
    ReferenceRestrictedError,
    Registry,
    ResourceManager,
    Unique,
    ValidationError,
    batch_delete,
    batch_filter,
    batch_restore,
)
from specstar.core.permissions import ActionBasedChecker, any_user, owner
from specstar.core.types import Page, ResourceMeta


class Gizmo(msgspec.Struct, kw_only=True):
    name: str
    serial: Annotated[str | None, Unique()] = None


class Part(msgspec.Struct, kw_only=True):
    label: str
    gizmo_id: Annotated[str, Ref("gizmo", on_delete=OnDelete.restrict)]


class CountingStorage(MemoryStorage):
    """Memory storage that records every read a batch could make."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def search(self, query: Query) -> Page[ResourceMeta]:
        self.reads.append("search")
        return super().search(query)

    def get_meta(self, resource_id: str) -> ResourceMeta | None:
        self.reads.append("get_meta")
        return super().get_meta(resource_id)


def ids(outcome: BatchOutcome) -> list[str]:
    return sorted(outcome.succeeded)


# == the filter ==================================================================================


def test_a_batch_without_a_filter_needs_confirm_all() -> None:
    gizmos = ResourceManager(Gizmo, indexed_fields=["name"])
    gizmos.create(Gizmo(name="a"))
    for where in (None, "", "   "):
        with pytest.raises(ValidationError) as err:
            batch_delete(gizmos, where)
        assert [e.loc for e in err.value.errors] == ["/confirm_all"]
    assert gizmos.count() == 1
    outcome = batch_delete(gizmos, confirm_all=True)
    assert (outcome.action, outcome.matched, len(outcome.succeeded)) == ("delete", 1, 1)
    assert gizmos.count() == 0


def test_batch_filter_ands_every_part() -> None:
    a, b, c = QB["name"] == "a", QB["serial"] == "s", QB["name"] != "z"
    assert batch_filter(conditions=a) == a
    assert batch_filter(qb='name == "a"') == a
    assert batch_filter(qb='name == "a"', conditions=[b, c]) == And((a, And((b, c))))
    assert batch_filter(qb=" ", conditions=[], confirm_all=True) is None
    with pytest.raises(ValidationError):
        batch_filter(conditions=[])
    with pytest.raises(QueryError):
        batch_filter(qb="name ==")


def test_string_and_expression_filters_match_the_same_rows() -> None:
    gizmos = ResourceManager(Gizmo, indexed_fields=["name"])
    for name in ("keep", "drop", "drop"):
        gizmos.create(Gizmo(name=name))
    outcome = batch_delete(gizmos, 'name == "drop"')
    assert (outcome.matched, len(outcome.succeeded), outcome.failed) == (2, 2, ())
    assert [m.indexed_data["name"] for m in gizmos.search()] == ["keep"]
    back = batch_restore(gizmos, QB["name"] == "drop")
    assert (back.action, back.matched, sorted(back.succeeded)) == (
        "restore",
        2,
        sorted(outcome.succeeded),
    )
    assert gizmos.count() == 3


def test_a_filter_on_an_unindexed_field_is_an_error() -> None:
    gizmos = ResourceManager(Gizmo)
    gizmos.create(Gizmo(name="a"))
    with pytest.raises(QueryError):
        batch_delete(gizmos, QB["name"] == "a")
    assert gizmos.count() == 1


def test_every_page_of_matches_is_collected_before_changing() -> None:
    gizmos = ResourceManager(Gizmo, default_limit=2, max_limit=2)
    made = [gizmos.create(Gizmo(name=str(i))).resource_id for i in range(5)]
    outcome = batch_delete(gizmos, confirm_all=True)
    assert outcome.matched == 5
    assert ids(outcome) == sorted(made)
    assert gizmos.count() == 0


# == authorization ===============================================================================


def test_a_denied_action_is_refused_before_anything_is_read() -> None:
    storage = CountingStorage()
    gizmos = ResourceManager(
        Gizmo,
        storage=storage,
        permission_checker=ActionBasedChecker({"read": any_user, "create": any_user}),
    )
    gizmos.create(Gizmo(name="a"), user="root")
    storage.reads.clear()
    with pytest.raises(PermissionDeniedError) as err:
        batch_delete(gizmos, confirm_all=True, user="ann")
    assert err.value.action == "delete"
    with pytest.raises(PermissionDeniedError):
        batch_restore(gizmos, confirm_all=True, user="ann")
    assert storage.reads == []
    assert gizmos.count() == 1


def test_a_batch_matches_only_rows_in_the_users_action_scope() -> None:
    gizmos = ResourceManager(
        Gizmo, permission_checker=ActionBasedChecker({"read": any_user, "write": owner})
    )
    mine = {gizmos.create(Gizmo(name="x"), user="ann").resource_id for _ in range(2)}
    theirs = gizmos.create(Gizmo(name="x"), user="bob").resource_id
    assert gizmos.count(user="ann") == 3  # ann may see bob's row, but not change it
    outcome = batch_delete(gizmos, confirm_all=True, user="ann")
    assert (outcome.matched, set(outcome.succeeded), outcome.failed) == (2, mine, ())
    assert gizmos.exists(theirs)
    assert theirs not in repr(outcome)


def test_a_batch_matches_only_rows_the_user_may_search() -> None:
    gizmos = ResourceManager(Gizmo, permission_checker=OwnershipChecker(admins=["root"]))
    mine = gizmos.create(Gizmo(name="x"), user="ann").resource_id
    theirs = gizmos.create(Gizmo(name="x"), user="bob").resource_id
    outcome = batch_delete(gizmos, confirm_all=True, user="ann")
    assert (outcome.matched, outcome.succeeded) == (1, (mine,))
    assert gizmos.exists(theirs, user="bob")
    back = batch_restore(gizmos, confirm_all=True, user="bob")
    assert back.matched == 0  # bob's row is live, and ann's is not his
    assert not gizmos.exists(mine, user="ann")


def test_each_row_is_authorized_on_its_own_and_failures_are_collected() -> None:
    seen: list[tuple[str, str | None]] = []

    class Spy:
        def check(self, ctx: OperationContext) -> None:
            seen.append((ctx.action, ctx.user))
            if ctx.action == "delete" and ctx.resource_id == "locked":
                raise PermissionDeniedError("locked", user=ctx.user, action=ctx.action)

    gizmos = ResourceManager(Gizmo, permission_checker=Spy())
    for rid in ("free", "locked"):
        gizmos.create(Gizmo(name=rid), resource_id=rid, user="root")
    seen.clear()
    outcome = batch_delete(gizmos, confirm_all=True, user="eve")
    assert outcome.succeeded == ("free",)
    assert [(f.resource_id, f.code) for f in outcome.failed] == [("locked", "permission_denied")]
    assert isinstance(outcome.failed[0].error, PermissionDeniedError)
    assert outcome.failed[0].message == "locked"
    assert {user for _, user in seen} == {"eve"}
    assert ("delete", "eve") in seen
    assert ("search", "eve") in seen


# == conflicts of single rows are redacted for the acting user ===================================


def test_restore_conflicts_hide_a_holder_the_user_cannot_see() -> None:
    gizmos = ResourceManager(Gizmo, permission_checker=OwnershipChecker(admins=["root"]))
    mine = gizmos.create(Gizmo(name="g", serial="S-1"), user="ann").resource_id
    gizmos.delete(mine, user="ann")
    held = gizmos.create(Gizmo(name="g", serial="S-1"), user="bob").resource_id
    outcome = batch_restore(gizmos, confirm_all=True, user="ann")
    assert (outcome.matched, outcome.succeeded) == (1, ())
    [failure] = outcome.failed
    assert failure.resource_id == mine
    assert failure.code == "unique_violation"
    assert isinstance(failure.error, HiddenUniqueConstraintError)
    assert failure.error.conflicting_resource_id is None
    assert held not in failure.message
    # an admin may see the holder, so the conflict names it
    gizmos.delete(held, user="bob")
    again = gizmos.create(Gizmo(name="h", serial="S-1"), user="root").resource_id
    failed = batch_restore(gizmos, QB["serial"] == "S-1", user="root").failed
    assert {f.resource_id for f in failed} == {mine, held}
    assert {getattr(f.error, "conflicting_resource_id", None) for f in failed} == {again}


def test_restricted_deletes_name_only_visible_referrers() -> None:
    registry = Registry()
    checker = OwnershipChecker(admins=["root"])
    gizmos = ResourceManager(Gizmo, registry=registry, permission_checker=checker)
    parts = ResourceManager(Part, registry=registry, permission_checker=checker)
    gid = gizmos.create(Gizmo(name="g"), user="ann").resource_id
    mine = parts.create(Part(label="a", gizmo_id=gid), user="ann").resource_id
    theirs = parts.create(Part(label="b", gizmo_id=gid), user="bob").resource_id
    outcome = batch_delete(gizmos, confirm_all=True, user="ann")
    [failure] = outcome.failed
    assert failure.code == "reference_restricted"
    assert isinstance(failure.error, RedactedReferenceError)
    assert failure.error.referrers == [("part", "gizmo_id", mine)]
    assert theirs not in failure.message
    assert "1 by resource you cannot see" in failure.message
    [failure] = batch_delete(gizmos, confirm_all=True, user="root").failed
    assert isinstance(failure.error, ReferenceRestrictedError)
    assert not isinstance(failure.error, RedactedReferenceError)
    assert {rid for _, _, rid in failure.error.referrers} == {mine, theirs}


def test_errors_other_than_specstar_errors_stop_the_batch() -> None:
    def boom(event: Any) -> None:
        raise RuntimeError("handler bug")

    gizmos = ResourceManager(Gizmo, event_handlers=[EventHandlers().before("delete", boom)])
    gizmos.create(Gizmo(name="a"))
    with pytest.raises(RuntimeError, match="handler bug"):
        batch_delete(gizmos, confirm_all=True)

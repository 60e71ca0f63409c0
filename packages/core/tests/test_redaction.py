"""Conflicts naming other resources, redacted for the acting user (unique and restrict)."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from specstar.core import (
    HiddenUniqueConstraintError,
    NotFoundError,
    OnDelete,
    OwnershipChecker,
    RedactedReferenceError,
    Ref,
    ReferenceRestrictedError,
    Registry,
    ResourceManager,
    RootOnly,
    SpecStarError,
    Unique,
    UniqueConstraintError,
    is_visible,
    redact_conflict,
)


class Gizmo(msgspec.Struct, kw_only=True):
    name: str
    serial: Annotated[str | None, Unique()] = None


class Part(msgspec.Struct, kw_only=True):
    label: str
    gizmo_id: Annotated[str, Ref("gizmo", on_delete=OnDelete.restrict)]


class Sticker(msgspec.Struct, kw_only=True):
    gizmo_id: Annotated[str, Ref("gizmo", on_delete=OnDelete.restrict)]


Managers = tuple[ResourceManager[Gizmo], ResourceManager[Part], ResourceManager[Sticker]]


@pytest.fixture
def owned() -> Managers:
    registry = Registry()
    checker = OwnershipChecker(admins=["root"])
    gizmos = ResourceManager(Gizmo, registry=registry, permission_checker=checker)
    parts = ResourceManager(Part, registry=registry, permission_checker=checker)
    stickers = ResourceManager(Sticker, registry=registry, permission_checker=RootOnly("root"))
    return gizmos, parts, stickers


def unique_error(manager: ResourceManager[Gizmo], user: str) -> UniqueConstraintError:
    with pytest.raises(UniqueConstraintError) as err:
        manager.create(Gizmo(name="again", serial="S-1"), user=user)
    return err.value


def restrict_error(manager: ResourceManager[Gizmo], gid: str) -> ReferenceRestrictedError:
    with pytest.raises(ReferenceRestrictedError) as err:
        manager.delete(gid, user="root")  # integrity sees every referrer
    return err.value


# == visibility ==================================================================================


def test_is_visible_follows_the_users_scope(owned: Managers) -> None:
    gizmos, _, stickers = owned
    gid = gizmos.create(Gizmo(name="g"), user="bob").resource_id
    assert is_visible(gizmos, gid, "bob")
    assert is_visible(gizmos, gid, "root")
    assert not is_visible(gizmos, gid, "ann")
    assert not is_visible(gizmos, "gizmo:missing", "root")
    gizmos.delete(gid, user="bob")
    assert is_visible(gizmos, gid, "bob")  # soft-deleted resources count
    sid = stickers.create(Sticker(gizmo_id=gid), user="root").resource_id
    assert not is_visible(stickers, sid, "bob")  # denied outright: hidden, no error


# == unique ======================================================================================


def test_a_unique_holder_is_named_only_to_users_who_may_see_it(owned: Managers) -> None:
    gizmos, _, _ = owned
    held = gizmos.create(Gizmo(name="g", serial="S-1"), user="bob").resource_id

    exc = unique_error(gizmos, "ann")
    assert exc.conflicting_resource_id == held  # the raw error knows the holder
    shown = redact_conflict(gizmos, exc, "ann")
    assert isinstance(shown, HiddenUniqueConstraintError)
    assert isinstance(shown, UniqueConstraintError)
    assert shown.code == "unique_violation"
    assert (shown.field, shown.value, shown.conflicting_resource_id) == ("serial", "S-1", None)
    assert held not in shown.message
    assert held not in str(shown)
    assert held not in repr(shown.details())

    for user in ("bob", "root"):
        exc = unique_error(gizmos, user)
        assert redact_conflict(gizmos, exc, user) is exc


# == restrict ====================================================================================


def test_a_restrict_conflict_lists_only_visible_referrers(owned: Managers) -> None:
    gizmos, parts, stickers = owned
    gid = gizmos.create(Gizmo(name="g"), user="root").resource_id
    mine = parts.create(Part(label="a", gizmo_id=gid), user="ann").resource_id
    theirs = parts.create(Part(label="b", gizmo_id=gid), user="bob").resource_id
    sticker = stickers.create(Sticker(gizmo_id=gid), user="root").resource_id
    exc = restrict_error(gizmos, gid)
    assert {rid for _, _, rid in exc.referrers} == {mine, theirs, sticker}

    shown = redact_conflict(gizmos, exc, "ann")
    assert isinstance(shown, RedactedReferenceError)
    assert isinstance(shown, ReferenceRestrictedError)
    assert shown.code == "reference_restricted"
    assert shown.referrers == [("part", "gizmo_id", mine)]
    assert (shown.target, shown.resource_id) == ("gizmo", gid)
    assert "2 by resources you cannot see" in shown.message
    assert "referenced 3 times" in shown.message
    assert shown.details()["hidden_referrers"] == 2
    for hidden in (theirs, sticker):
        assert hidden not in shown.message
        assert hidden not in repr(shown.details())
    assert redact_conflict(gizmos, shown, "ann") is shown  # already redacted

    assert redact_conflict(gizmos, exc, "root") is exc  # the admin sees every referrer


def test_a_restrict_conflict_with_only_hidden_referrers_names_none(owned: Managers) -> None:
    gizmos, parts, _ = owned
    gid = gizmos.create(Gizmo(name="g"), user="root").resource_id
    theirs = parts.create(Part(label="b", gizmo_id=gid), user="bob").resource_id
    shown = redact_conflict(gizmos, restrict_error(gizmos, gid), "ann")
    assert isinstance(shown, RedactedReferenceError)
    assert shown.referrers == []
    assert theirs not in shown.message
    assert "referenced once: 1 by resource you cannot see" in shown.message


def test_referrers_of_unregistered_models_are_hidden() -> None:
    registry = Registry()
    gizmos = ResourceManager(Gizmo, registry=registry)
    exc = ReferenceRestrictedError("gizmo", "gizmo:1", [("ghost", "gizmo_id", "ghost:1")])
    shown = redact_conflict(gizmos, exc, "ann")
    assert isinstance(shown, RedactedReferenceError)
    assert "ghost:1" not in shown.message


def test_other_errors_pass_unchanged(owned: Managers) -> None:
    gizmos, _, _ = owned
    for exc in (NotFoundError("nope", resource_id="gizmo:x"), SpecStarError("plain")):
        assert redact_conflict(gizmos, exc, "ann") is exc
    anonymous = UniqueConstraintError("serial", "S-1", None)  # nothing to hide
    assert redact_conflict(gizmos, anonymous, "ann") is anonymous

"""Permission-aware referrer listing and the graph of Ref fields."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from specstar.core import (
    ActionBasedChecker,
    GoneError,
    NotFoundError,
    OnDelete,
    OwnershipChecker,
    PermissionDeniedError,
    QueryError,
    Ref,
    Referrer,
    RefRevision,
    RefType,
    Registry,
    Relationship,
    ResourceManager,
    RootOnly,
    find_referrers,
    relationships,
)
from specstar.core.permissions import any_user


class Club(msgspec.Struct, kw_only=True):
    name: str


class Fan(msgspec.Struct, kw_only=True):
    name: str
    club_ids: Annotated[list[str], Ref("club", on_delete=OnDelete.set_null)] = []
    rival_id: Annotated[str | None, Ref("club")] = None
    pinned: Annotated[str | None, RefRevision("club")] = None


class Badge(msgspec.Struct, kw_only=True):
    club_id: Annotated[str, Ref("club")]


Managers = tuple[ResourceManager[Club], ResourceManager[Fan], ResourceManager[Badge]]


@pytest.fixture
def owned() -> Managers:
    registry = Registry()
    checker = OwnershipChecker(admins=["root"])
    clubs = ResourceManager(Club, registry=registry, permission_checker=checker)
    fans = ResourceManager(
        Fan, registry=registry, permission_checker=checker, default_limit=2, max_limit=3
    )
    badges = ResourceManager(Badge, registry=registry, permission_checker=RootOnly("root"))
    return clubs, fans, badges


def refs_of(page: list[Referrer]) -> list[tuple[str, str, str]]:
    return [(r.resource, r.field, r.resource_id) for r in page]


def test_referrers_are_only_those_the_user_may_see(owned: Managers) -> None:
    clubs, fans, badges = owned
    club = clubs.create(Club(name="Reds"), user="ann").resource_id
    mine = fans.create(Fan(name="a", club_ids=[club]), user="ann").resource_id
    theirs = fans.create(Fan(name="b", club_ids=[club]), user="bob").resource_id
    badge = badges.create(Badge(club_id=club), user="root").resource_id

    page, total = find_referrers(clubs, club, user="ann")
    assert (refs_of(page), total) == ([("fan", "club_ids", mine)], 1)  # badges: denied, skipped

    page, total = find_referrers(clubs, club, user="root")
    assert total == 3
    fan_refs = [("fan", "club_ids", rid) for rid in sorted([mine, theirs])]
    assert refs_of(page) == [*fan_refs, ("badge", "club_id", badge)]


def test_the_target_is_read_as_the_user_first(owned: Managers) -> None:
    clubs, fans, _ = owned
    club = clubs.create(Club(name="Reds"), user="bob").resource_id
    fans.create(Fan(name="a", club_ids=[club]), user="ann")
    with pytest.raises(NotFoundError):
        find_referrers(clubs, club, user="ann")  # outside ann's scope: as if missing
    with pytest.raises(PermissionDeniedError):
        find_referrers(clubs, club)  # anonymous: denied outright
    with pytest.raises(NotFoundError):
        find_referrers(clubs, "club:missing", user="root")


def test_the_get_permission_of_the_target_model_is_needed() -> None:
    registry = Registry()
    clubs = ResourceManager(
        Club,
        registry=registry,
        permission_checker=ActionBasedChecker({"create": any_user, "search": any_user}),
    )
    ResourceManager(Fan, registry=registry)
    club = clubs.create(Club(name="Reds"), user="ann").resource_id
    with pytest.raises(PermissionDeniedError) as err:
        find_referrers(clubs, club, user="ann")
    assert err.value.action == "get"


def test_paging_runs_across_models_and_fields_in_order(owned: Managers) -> None:
    clubs, fans, badges = owned
    club = clubs.create(Club(name="Reds"), user="root").resource_id
    listed = sorted(
        fans.create(Fan(name=str(i), club_ids=[club]), user="root").resource_id for i in range(4)
    )
    rival = fans.create(Fan(name="r", rival_id=club), user="root").resource_id
    badge = badges.create(Badge(club_id=club), user="root").resource_id
    expected = [("fan", "club_ids", rid) for rid in listed]
    expected += [("fan", "rival_id", rival), ("badge", "club_id", badge)]

    seen: list[tuple[str, str, str]] = []
    offset = 0
    while True:  # fans' max_limit is 3: a page of 5 needs several searches of one field
        page, total = find_referrers(clubs, club, user="root", offset=offset, limit=5)
        assert total == len(expected)
        if not page:
            break
        seen += refs_of(page)
        offset += len(page)
    assert seen == expected
    assert offset == 6
    page, _ = find_referrers(clubs, club, user="root", offset=3, limit=2)
    assert refs_of(page) == expected[3:5]


def test_soft_deleted_targets_and_referrers_only_when_asked(owned: Managers) -> None:
    clubs, fans, _ = owned
    club = clubs.create(Club(name="Reds"), user="ann").resource_id
    live = fans.create(Fan(name="a", rival_id=club), user="ann").resource_id
    gone = fans.create(Fan(name="b", rival_id=club), user="ann").resource_id
    fans.delete(gone, user="ann")
    page, total = find_referrers(clubs, club, user="ann")
    assert (refs_of(page), total) == ([("fan", "rival_id", live)], 1)
    page, total = find_referrers(clubs, club, user="ann", include_deleted=True)
    assert total == 2
    assert {r.resource_id for r in page} == {live, gone}
    clubs.delete(club, user="ann")
    with pytest.raises(GoneError):
        find_referrers(clubs, club, user="ann")
    assert find_referrers(clubs, club, user="ann", include_deleted=True)[1] == 2


@pytest.mark.parametrize(("offset", "limit"), [(-1, 1), (0, 0), (0, 1001)])
def test_out_of_range_paging_is_an_error(owned: Managers, offset: int, limit: int) -> None:
    clubs, _, _ = owned
    club = clubs.create(Club(name="Reds"), user="root").resource_id
    with pytest.raises(QueryError):
        find_referrers(clubs, club, user="root", offset=offset, limit=limit)


def test_relationships_describe_every_ref_field(owned: Managers) -> None:
    clubs, fans, badges = owned
    graph = relationships({m.name: m for m in (clubs, fans, badges)})
    assert graph == [
        Relationship(
            source="fan",
            field="club_ids",
            target="club",
            on_delete=OnDelete.set_null,
            ref_type=RefType.resource_id,
            is_list=True,
            nullable=False,
        ),
        Relationship(
            source="fan",
            field="rival_id",
            target="club",
            on_delete=OnDelete.dangling,
            ref_type=RefType.resource_id,
            is_list=False,
            nullable=True,
        ),
        Relationship(
            source="fan",
            field="pinned",
            target="club",
            on_delete=OnDelete.dangling,
            ref_type=RefType.revision_id,
            is_list=False,
            nullable=True,
        ),
        Relationship(
            source="badge",
            field="club_id",
            target="club",
            on_delete=OnDelete.dangling,
            ref_type=RefType.resource_id,
            is_list=False,
            nullable=False,
        ),
    ]
    registry = clubs.registry
    assert registry is not None
    assert relationships(registry) == graph

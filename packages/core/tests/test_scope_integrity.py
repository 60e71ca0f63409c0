"""Access scopes and the framework's own writes: a cascade or a set-null reaches referrers
outside the deleting user's scope. A scope cannot mention ``$is_deleted``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from specstar.core import (
    QB,
    NotFoundError,
    OnDelete,
    OperationContext,
    QueryError,
    Ref,
    Registry,
    ResourceManager,
)
from specstar.core.permissions import OwnershipChecker
from specstar.core.query import Condition, Field, Op


class Club(msgspec.Struct, kw_only=True):
    name: str


class Member(msgspec.Struct, kw_only=True):
    name: str
    club_id: Annotated[str, Ref("club", on_delete=OnDelete.cascade)]


class Fan(msgspec.Struct, kw_only=True):
    name: str
    club_id: Annotated[str | None, Ref("club", on_delete=OnDelete.set_null)] = None


def test_a_delete_reaches_referrers_outside_the_users_scope() -> None:
    """Ann owns the club, Bob the rows referring to it: Ann's delete is authorized on her
    club, and its cascade and set-null run for the framework, beyond what Ann may see."""
    registry = Registry()
    checker = OwnershipChecker()
    clubs = ResourceManager(Club, registry=registry, permission_checker=checker)
    members = ResourceManager(Member, registry=registry, permission_checker=checker)
    fans = ResourceManager(Fan, registry=registry, permission_checker=checker)
    club = clubs.create(Club(name="c"), user="ann").resource_id
    member = members.create(Member(name="m", club_id=club), user="bob").resource_id
    fan = fans.create(Fan(name="f", club_id=club), user="bob").resource_id
    with pytest.raises(NotFoundError):  # outside Ann's scope
        members.get(member, user="ann")

    clubs.delete(club, user="ann")

    assert members.get_meta(member, user="bob", include_deleted=True).is_deleted
    assert fans.get(fan, user="bob").data.club_id is None
    assert fans.get_meta(fan, user="bob").updated_by == "ann"  # the acting user is recorded


class LiveOnly:
    """Every action allowed, with a scope on ``$is_deleted``."""

    def check(self, ctx: OperationContext) -> None:
        return None

    def access_scope(self, ctx: OperationContext) -> Any:
        return Condition(Field("is_deleted", meta=True), Op.eq, False)


def test_a_scope_on_is_deleted_is_refused_by_name() -> None:
    """Whether a row is deleted is the query's ``is_deleted``, not a filter: a scope naming
    ``$is_deleted`` is an error (so the check of a write never reads it), not ignored."""
    clubs = ResourceManager(Club, permission_checker=LiveOnly(), default_user="u")
    with pytest.raises(QueryError, match=r"\$is_deleted") as caught:
        clubs.create(Club(name="a"))
    assert caught.value.path == "$is_deleted"
    with pytest.raises(QueryError, match=r"\$is_deleted"):
        clubs.count()


class ReturnsAQuery:
    """A checker whose scope is a whole query (sort and limit included), not a filter."""

    def check(self, ctx: OperationContext) -> None:
        return None

    def access_scope(self, ctx: OperationContext) -> Any:
        return QB["name"].eq("a").sort("-name").limit(1)


class ReturnsAString:
    def check(self, ctx: OperationContext) -> None:
        return None

    def access_scope(self, ctx: OperationContext) -> Any:
        return "name == 'a'"


@pytest.mark.parametrize("checker", [ReturnsAQuery(), ReturnsAString()])
def test_a_scope_that_is_not_a_filter_is_refused_by_name(checker: Any) -> None:
    """A scope must be a filter expression: a query (whose sort and limit would be dropped) or
    a string is the checker's mistake, named on every operation, never half applied."""
    clubs = ResourceManager(
        Club, permission_checker=checker, default_user="u", indexed_fields=["name"]
    )
    kind = type(checker.access_scope(None)).__name__
    for call in (
        lambda: clubs.create(Club(name="a"), resource_id="c1"),
        clubs.search,
        clubs.count,
    ):
        with pytest.raises(TypeError, match=rf"access_scope must return a filter.*{kind}"):
            call()
    assert clubs.storage.get_meta("c1") is None  # the refused create stored nothing

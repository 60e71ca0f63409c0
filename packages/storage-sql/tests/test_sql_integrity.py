"""References, schema migrations and access scopes behave on SQL stores as on memory."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from specstar.core import (
    QB,
    UNRESTRICTED,
    NotFoundError,
    OnDelete,
    OperationContext,
    PermissionDeniedError,
    Ref,
    ReferenceRestrictedError,
    Registry,
    ResourceManager,
    Schema,
    StorageFactory,
    ValidationError,
)


class Team(msgspec.Struct, kw_only=True):
    name: str


class Player(msgspec.Struct, kw_only=True):
    name: str
    team_id: Annotated[str, Ref("team", on_delete=OnDelete.cascade)]
    mentor_team_ids: Annotated[list[str], Ref("team", on_delete=OnDelete.set_null)] = []


class Fixture(msgspec.Struct, kw_only=True):
    home_id: Annotated[str, Ref("team", on_delete=OnDelete.restrict)]


def test_references(factory: StorageFactory) -> None:
    registry = Registry()
    teams = ResourceManager(Team, storage_factory=factory, registry=registry)
    players = ResourceManager(
        Player, storage_factory=factory, registry=registry, validate_refs=True
    )
    fixtures = ResourceManager(Fixture, storage_factory=factory, registry=registry)
    red = teams.create(Team(name="red")).resource_id
    blue = teams.create(Team(name="blue")).resource_id
    kim = players.create(Player(name="kim", team_id=red)).resource_id
    lee = players.create(Player(name="lee", team_id=blue, mentor_team_ids=[red, blue])).resource_id
    with pytest.raises(ValidationError):
        players.create(Player(name="x", team_id="team:nope"))
    game = fixtures.create(Fixture(home_id=red)).resource_id

    with pytest.raises(ReferenceRestrictedError):
        teams.delete(red)
    fixtures.delete(game)
    teams.delete(red)
    assert not players.exists(kim)  # cascade
    assert players.get(lee).data.mentor_team_ids == [blue]  # set_null on a list
    assert players.count(QB["mentor_team_ids"].contains(red)) == 0
    assert sorted(registry.referrers("team", blue)) == [
        ("player", "mentor_team_ids", lee),
        ("player", "team_id", lee),
    ]


class TeamV1(msgspec.Struct, kw_only=True):
    title: str


def test_schema_migration(factory: StorageFactory) -> None:
    old = ResourceManager(TeamV1, storage_factory=factory, name="team", schema_version="1")
    ids = [old.create(TeamV1(title=f"t{i}")).resource_id for i in range(5)]
    schema = Schema(Team, "2").step("1", lambda t: Team(name=t.title.upper()), source_type=TeamV1)
    teams = ResourceManager(schema, storage_factory=factory, name="team", indexed_fields=["name"])
    assert teams.get(ids[0]).data == Team(name="T0")  # lazy
    assert teams.count(QB["name"] == "T3") == 1  # backfilled from migrated data
    assert teams.migrate_all() == 5
    assert teams.migrate_all() == 0
    assert {m.schema_version for m in teams.search()} == {"2"}


class Doc(msgspec.Struct, kw_only=True):
    owner: str
    title: str


class Owners:
    def check(self, ctx: OperationContext) -> None:
        return None

    def access_scope(self, ctx: OperationContext) -> Any:
        return QB["owner"] == ctx.user


def test_access_scope(factory: StorageFactory) -> None:
    docs = ResourceManager(
        Doc, storage_factory=factory, indexed_fields=["owner"], permission_checker=Owners()
    )
    mine = docs.create(Doc(owner="ann", title="a"), user="ann").resource_id
    docs.create(Doc(owner="bob", title="b"), user="bob")
    assert [m.resource_id for m in docs.search(user="ann")] == [mine]
    assert docs.count(user="bob") == 1
    with pytest.raises(NotFoundError):
        docs.get(mine, user="bob")
    with pytest.raises(PermissionDeniedError):
        docs.merge_patch(mine, {"owner": "bob"}, user="ann")


class Board(msgspec.Struct, kw_only=True):
    name: str


class Thread(msgspec.Struct, kw_only=True):
    title: str
    board_id: Annotated[str, Ref("board", on_delete=OnDelete.cascade)]


class Reply(msgspec.Struct, kw_only=True):
    text: str
    thread_id: Annotated[str, Ref("thread", on_delete=OnDelete.cascade)]


class BoardKeepers:
    """Everyone may do everything, except that ``eve`` may not restore replies and
    ``mallory`` may not restore anything."""

    def check(self, ctx: OperationContext) -> None:
        if ctx.user == "eve" and ctx.resource_name == "reply" and ctx.action == "restore":
            raise PermissionDeniedError("eve may not restore replies")
        if ctx.user == "mallory" and ctx.action == "restore":
            raise PermissionDeniedError("mallory may not restore")

    def access_scope(self, ctx: OperationContext) -> Any:
        return UNRESTRICTED


def test_restore_brings_back_what_the_delete_cascaded_to(factory: StorageFactory) -> None:
    registry = Registry()
    keepers = BoardKeepers()
    boards = ResourceManager(
        Board, storage_factory=factory, registry=registry, permission_checker=keepers
    )
    threads = ResourceManager(
        Thread, storage_factory=factory, registry=registry, permission_checker=keepers
    )
    replies = ResourceManager(
        Reply, storage_factory=factory, registry=registry, permission_checker=keepers
    )
    board = boards.create(Board(name="b")).resource_id
    kept = threads.create(Thread(title="kept", board_id=board)).resource_id
    gone = threads.create(Thread(title="deleted on its own", board_id=board)).resource_id
    reply = replies.create(Reply(text="r", thread_id=kept)).resource_id
    own_reply = replies.create(Reply(text="deleted on its own", thread_id=kept)).resource_id
    threads.delete(gone)
    replies.delete(own_reply)
    boards.delete(board)
    assert not threads.exists(kept)
    assert not replies.exists(reply)

    boards.restore(board, cascade=True, user="ann")
    assert threads.exists(kept)
    assert replies.exists(reply)  # recursively
    assert threads.get_meta(kept).updated_by == "ann"
    assert not threads.exists(gone)  # deleted on their own before: stay deleted
    assert not replies.exists(own_reply)

    boards.delete(board)
    with pytest.raises(PermissionDeniedError):  # the target's restore is authorized
        boards.restore(board, cascade=True, user="mallory")
    assert not boards.exists(board)
    assert not threads.exists(kept)  # nothing restored

    with pytest.raises(PermissionDeniedError):
        replies.restore(own_reply, user="eve")  # eve may not restore a reply herself...
    boards.restore(board, cascade=True, user="eve")
    assert threads.exists(kept)
    assert replies.exists(reply)  # ...but undoing the cascade is integrity, not her write

    boards.delete(board)
    boards.restore(board)  # without cascade: only the board
    assert boards.exists(board)
    assert not threads.exists(kept)

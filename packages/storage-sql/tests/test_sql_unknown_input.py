"""Strict input on SQLite: undeclared members and partial paths are refused before anything
is stored, while older stored data still migrates."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from specstar.core import QueryError, ResourceManager, ValidationError
from specstar.core.schema import Schema
from specstar.sql import SQLiteStorageFactory


class Address(msgspec.Struct, kw_only=True):
    city: str


class PersonV1(msgspec.Struct, kw_only=True):
    name: str
    nickname: str = ""


class Person(msgspec.Struct, kw_only=True):
    name: str
    address: Address | None = None


def _upgrade(old: PersonV1) -> dict[str, str]:
    return {"name": old.name, "nickname": old.nickname}  # extra member: the migration's business


def test_sqlite_refuses_undeclared_members_and_migrates_old_data(tmp_path: Path) -> None:
    factory = SQLiteStorageFactory(tmp_path / "sqlite")
    old = ResourceManager(PersonV1, storage_factory=factory, name="person", schema_version="v1")
    old.create({"name": "Ada", "nickname": "A"}, resource_id="ada")
    people = ResourceManager(
        Schema(Person, "v2").step("v1", _upgrade, source_type=PersonV1),
        storage_factory=factory,
        name="person",
    )
    assert people.get("ada").data == Person(name="Ada")
    with pytest.raises(ValidationError) as exc:
        people.create({"name": "Alan", "nickname": "x"})
    assert exc.value.errors[0].loc == "/nickname"
    with pytest.raises(ValidationError) as exc:
        people.patch("ada", [{"op": "add", "path": "/address", "value": {"city": "L", "x": 1}}])
    assert exc.value.errors[0].loc == "/address/x"
    with pytest.raises(ValidationError):
        people.merge_patch("ada", {"nickname": "x"})
    assert people.count() == 1
    assert people.list_revisions("ada") == ["ada:1"]
    with pytest.raises(QueryError):
        people.list_page(partial=["nickname"])
    with pytest.raises(QueryError):
        people.get_partial("ada", ["address.zip"])
    assert people.get_partial("ada", ["name", "address.city"]) == {"name": "Ada"}

"""Nothing written is silently dropped: undeclared members of input data and ``partial``
paths that name nothing in the model are errors naming them."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from specstar.core import MemoryStorage, QueryError, ResourceManager, ValidationError
from specstar.core.schema import Schema
from specstar.core.spi import decode_data


class Address(msgspec.Struct, kw_only=True):
    city: str
    zip_code: str = msgspec.field(default="", name="zipCode")


class Cat(msgspec.Struct, tag="cat", kw_only=True):
    lives: int = 9


class Dog(msgspec.Struct, tag="dog", kw_only=True):
    good: bool = True


class Person(msgspec.Struct, kw_only=True):
    handle: str
    name: str
    address: Address | None = None
    homes: list[Address] = []
    by_label: dict[str, Address] = {}
    pet: Cat | Dog | None = None
    pair: tuple[int, str] | None = None
    extra: dict[str, Any] = {}


def _loc(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    assert len(exc.value.errors) == 1
    return exc.value.errors[0].loc


def person(**more: Any) -> dict[str, Any]:
    return {"handle": "h1", "name": "N", **more}


@pytest.fixture
def people() -> ResourceManager[Person]:
    return ResourceManager(Person, storage=MemoryStorage(), name="person")


# -- bodies --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (person(nickname="x"), "/nickname"),
        (person(address={"city": "C", "zip": "1"}), "/address/zip"),
        (person(address={"city": "C", "zip_code": "1"}), "/address/zip_code"),
        (person(homes=[{"city": "A"}, {"city": "B", "floor": 2}]), "/homes/1/floor"),
        (person(by_label={"work": {"city": "W", "x/y": 1}}), "/by_label/work/x~1y"),
        (person(pet={"type": "dog", "good": True, "lives": 3}), "/pet/lives"),
    ],
)
def test_create_names_the_undeclared_member(
    people: ResourceManager[Person], body: dict[str, Any], loc: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        people.create(body)
    assert _loc(exc) == loc
    assert loc.rsplit("/", 1)[1].replace("~1", "/") in str(exc.value)
    assert people.count() == 0


def test_declared_members_still_pass(people: ResourceManager[Person]) -> None:
    body = person(
        address={"city": "C", "zipCode": "1"},
        homes=[{"city": "A"}],
        by_label={"w": {"city": "W"}},
        pet={"type": "cat"},
        pair=[1, "a"],
        extra={"anything": {"goes": [1]}},
    )
    rid = people.create(body).resource_id
    assert people.get(rid).data.pet == Cat()
    assert people.get(rid).data.extra == {"anything": {"goes": [1]}}


def test_every_write_with_a_mapping_is_strict(people: ResourceManager[Person]) -> None:
    rid = people.create(person()).resource_id
    for write in (
        lambda: people.update(rid, person(nickname="x")),
        lambda: people.put(rid, person(nickname="x")),
        lambda: people.put("new-one", person(nickname="x")),
        lambda: people.modify(rid, person(nickname="x")),
    ):
        with pytest.raises(ValidationError) as exc:
            write()
        assert _loc(exc) == "/nickname"
    assert people.list_revisions(rid) == [f"{rid}:1"]


def test_instances_are_taken_as_they_are(people: ResourceManager[Person]) -> None:
    rid = people.create(Person(handle="h", name="n")).resource_id
    assert people.get(rid).data.name == "n"


def test_a_json_patch_adding_an_undeclared_path_is_refused(
    people: ResourceManager[Person],
) -> None:
    rid = people.create(person(address={"city": "C"})).resource_id
    for ops, loc in (
        ([{"op": "add", "path": "/nickname", "value": "x"}], "/nickname"),
        ([{"op": "add", "path": "/address/zip", "value": "1"}], "/address/zip"),
        ([{"op": "copy", "from": "/name", "path": "/alias"}], "/alias"),
    ):
        with pytest.raises(ValidationError) as exc:
            people.patch(rid, ops)
        assert _loc(exc) == loc
    people.patch(rid, [{"op": "add", "path": "/address/zipCode", "value": "1"}])
    assert people.get(rid).data.address == Address(city="C", zip_code="1")


def test_a_merge_patch_adding_an_undeclared_member_is_refused(
    people: ResourceManager[Person],
) -> None:
    rid = people.create(person(address={"city": "C"})).resource_id
    with pytest.raises(ValidationError) as exc:
        people.merge_patch(rid, {"nickname": "x"})
    assert _loc(exc) == "/nickname"
    with pytest.raises(ValidationError) as exc:
        people.merge_patch(rid, {"address": {"zip": "1"}})
    assert _loc(exc) == "/address/zip"
    assert people.list_revisions(rid) == [f"{rid}:1"]


def test_a_model_may_allow_unknown_fields() -> None:
    lax = ResourceManager(Person, storage=MemoryStorage(), allow_unknown_fields=True)
    rid = lax.create(person(nickname="x", address={"city": "C", "zip": "1"})).resource_id
    assert lax.get(rid).data == Person(handle="h1", name="N", address=Address(city="C"))
    lax.patch(rid, [{"op": "add", "path": "/nickname", "value": "x"}])
    assert lax.allow_unknown_fields


def test_forbid_unknown_fields_on_the_struct_still_applies() -> None:
    class Strict(msgspec.Struct, forbid_unknown_fields=True):
        name: str

    lax = ResourceManager(Strict, storage=MemoryStorage(), allow_unknown_fields=True)
    with pytest.raises(ValidationError) as exc:
        lax.create({"name": "n", "nickname": "x"})
    assert _loc(exc) == "/nickname"


def test_decode_data_is_lenient_unless_asked() -> None:
    assert decode_data(Address, {"city": "C", "zip": "1"}) == Address(city="C")
    with pytest.raises(ValidationError) as exc:
        decode_data(Address, {"city": "C", "zip": "1"}, loc_prefix="/data", forbid_unknown=True)
    assert _loc(exc) == "/data/zip"


def test_pydantic_models_are_strict_too() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Member(pydantic.BaseModel):  # type: ignore[misc,name-defined]
        name: str
        age: int = 0

    members = ResourceManager(Member, storage=MemoryStorage(), name="member")
    with pytest.raises(ValidationError) as exc:
        members.create({"name": "a", "nickname": "x"})
    assert _loc(exc) == "/nickname"
    rid = members.create(Member(name="b", age=3)).resource_id
    assert members.get(rid).data.age == 3  # type: ignore[attr-defined]


class UserV1(msgspec.Struct, kw_only=True):
    name: str
    legacy: str = ""


class User(msgspec.Struct, kw_only=True):
    first: str


def test_stored_data_of_older_versions_still_migrates() -> None:
    store = MemoryStorage()
    old = ResourceManager(UserV1, storage=store, name="user", schema_version="v1")
    old.create({"name": "Ada", "legacy": "gone in v2"}, resource_id="ada")
    schema = Schema(User, "v2").step(
        "v1", lambda u: {"first": u.name, "legacy": u.legacy}, source_type=UserV1
    )
    users = ResourceManager(schema, storage=store, name="user")
    assert users.get("ada").data == User(first="Ada")  # the migration's output is not input
    with pytest.raises(ValidationError) as exc:
        users.create({"first": "Alan", "legacy": "x"})
    assert _loc(exc) == "/legacy"


# -- partial paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["nickname", "/address/zip", "address.city.x", "homes/0", "homes.first", "pair.2", "name.0"],
)
def test_a_partial_path_naming_nothing_is_a_query_error(
    people: ResourceManager[Person], path: str
) -> None:
    rid = people.create(person()).resource_id
    for read in (
        lambda: people.get_partial(rid, [path]),
        lambda: people.get_resource(rid, partial=["name", path]),
        lambda: people.list_page(partial=[path]),
        lambda: people.list(partial=[path]),
    ):
        with pytest.raises(QueryError) as exc:
            read()
        assert exc.value.path == path
        assert repr(path) in str(exc.value)


def test_partial_paths_the_model_declares_still_work(people: ResourceManager[Person]) -> None:
    rid = people.create(
        person(address={"city": "C"}, homes=[{"city": "A"}], pet={"type": "dog"})
    ).resource_id
    paths = [
        "name",
        "/address/city",
        "address.zipCode",
        "homes.0.city",
        "by_label.any.city",
        "pet.good",
        "pet.lives",
        "pair.1",
        "extra.free.form",
    ]
    assert people.get_partial(rid, paths) == {
        "name": "N",
        "address": {"city": "C", "zipCode": ""},
        "homes": [{"city": "A"}],
        "pet": {"good": True},
    }
    assert people.get_partial(rid, [""]) == msgspec.to_builtins(people.get(rid).data)

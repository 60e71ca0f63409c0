"""The HTTP examples of the reference API, rewritten as tests, section by section in the order
the reference gives them (its ``AutoCRUD`` is :class:`specstar.fastapi.SpecStar`).

Sections of the reference that describe no HTTP behaviour (``dump``/``load``,
``ResourceOps``, ``Schema`` steps) are tested with the Python API elsewhere; custom
create/update actions, jobs and blobs are not part of SpecStar's HTTP API yet. Each query
parameter the reference's users send is tested on every backend in
``packages/fastapi-adapter/tests/test_http_reference_params.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from specstar.core import (
    DisplayName,
    MemoryStorageFactory,
    OnDelete,
    Ref,
    RefType,
    ResourceManager,
    Schema,
    Unique,
)
from specstar.fastapi import BaseRouteTemplate, ReadRouteTemplate, SpecStar, crud


class User(msgspec.Struct, kw_only=True):
    name: str
    email: Annotated[str, Unique()] = ""


class Post(msgspec.Struct, kw_only=True):
    title: Annotated[str, DisplayName()]
    author_id: Annotated[str | None, Ref("user", on_delete=OnDelete.set_null)] = None


class UserProfile(msgspec.Struct, kw_only=True):
    bio: str


def _client(app: FastAPI) -> TestClient:
    return TestClient(app)


# -- AutoCRUD: "Typical setup" -------------------------------------------------------------------


def test_typical_setup() -> None:
    assert isinstance(crud, SpecStar)  # the global instance: ``from specstar.fastapi import crud``
    instance = SpecStar()
    instance.configure(model_naming="kebab")
    instance.add_model(User)
    instance.add_model(Post)
    app = FastAPI()
    instance.apply(app)
    c = _client(app)
    assert c.post("/user?resource_id=ada", json={"name": "Ada"}).status_code == 201
    r = c.post("/post", json={"title": "Notes", "author_id": "ada"})
    assert r.status_code == 201
    assert c.get(f"/post/{r.json()['resource_id']}").json()["data"]["title"] == "Notes"


# -- AutoCRUD parameters: model_naming -----------------------------------------------------------


@pytest.mark.parametrize(
    ("naming", "path"),
    [
        ("same", "/UserProfile"),
        ("pascal", "/UserProfile"),
        ("camel", "/userProfile"),
        ("snake", "/user_profile"),
        ("kebab", "/user-profile"),
    ],
)
def test_model_naming(naming: Any, path: str) -> None:
    instance = SpecStar(model_naming=naming)
    instance.add_model(UserProfile)
    app = FastAPI()
    instance.apply(app)
    assert _client(app).post(path, json={"bio": "b"}).status_code == 201


def test_model_naming_callable() -> None:
    instance = SpecStar(model_naming=lambda model: f"{model.__name__.lower()}s")
    instance.add_model(UserProfile)
    app = FastAPI()
    instance.apply(app)
    assert _client(app).get("/userprofiles").status_code == 200


# -- configure: the example ----------------------------------------------------------------------


def test_configure_example(tmp_path: Path) -> None:
    sql = pytest.importorskip("specstar.sql")
    instance = SpecStar()
    # the reference's DiskStorageFactory("./data"): SpecStar's folder storage is SQLite
    instance.configure(storage_factory=sql.SQLiteStorageFactory(tmp_path), model_naming="snake")
    instance.add_model(UserProfile)
    app = FastAPI()
    instance.apply(app)
    c = _client(app)
    assert c.post("/user_profile?resource_id=p1", json={"bio": "b"}).status_code == 201
    assert (tmp_path / "specstar.db").exists()


# -- get_resource_manager ------------------------------------------------------------------------


def test_get_resource_manager_by_class_and_by_name() -> None:
    instance = SpecStar()
    instance.add_model(User)
    manager = instance.get_resource_manager(User)
    assert isinstance(manager, ResourceManager)
    assert instance.get_resource_manager("user") is manager
    assert manager.storage is not None
    with pytest.raises(KeyError):
        instance.get_resource_manager("users")
    instance.add_model(User, name="people")
    with pytest.raises(ValueError, match="ask by resource name"):
        instance.get_resource_manager(User)


# -- add_route_template --------------------------------------------------------------------------


class CustomSearchTemplate(BaseRouteTemplate):
    """The reference's example template: ``GET /{model_name}/search``."""

    def apply(self, model_name: str, resource_manager: Any, router: APIRouter) -> None:
        @router.get(f"/{model_name}/search")
        async def search_resources(query: str) -> dict[str, Any]:
            meta = resource_manager.search()
            return {"query": query, "found": [m.resource_id for m in meta]}


def test_add_route_template_example() -> None:
    autocrud = SpecStar()
    autocrud.add_route_template(CustomSearchTemplate())
    autocrud.add_model(User)
    app = FastAPI()
    autocrud.apply(app)
    c = _client(app)
    c.post("/user?resource_id=ada", json={"name": "Ada"})
    r = c.get("/user/search", params={"query": "x"})
    assert r.json() == {"query": "x", "found": ["ada"]}
    assert c.get("/user/ada").json()["data"]["name"] == "Ada"  # /user/{id} still serves ids


@pytest.mark.parametrize("order", [1, 39, 40, 41, 100, 1000])
def test_a_template_route_is_never_shadowed_by_get_m_id(order: int) -> None:
    template = CustomSearchTemplate()
    template.order = order
    autocrud = SpecStar()
    autocrud.add_route_template(template)
    autocrud.add_model(User)
    app = FastAPI()
    autocrud.apply(app, router=APIRouter(prefix="/api"))
    r = _client(app).get("/api/user/search", params={"query": "q"})
    assert (r.status_code, r.json()["query"]) == (200, "q")


def test_add_route_template_replaces_one_of_the_same_type() -> None:
    autocrud = SpecStar()
    autocrud.add_route_template(ReadRouteTemplate(tags=["first"]))
    autocrud.add_route_template(ReadRouteTemplate(tags=["second"]))
    assert [type(t) for t in autocrud.route_templates].count(ReadRouteTemplate) == 1
    autocrud.add_model(User)
    app = FastAPI()
    autocrud.apply(app)
    assert app.openapi()["paths"]["/user/{resource_id}"]["get"]["tags"] == ["second"]


# -- add_model: the examples and what it raises --------------------------------------------------


def test_add_model_basic_custom_name_explicit_storage_and_schema() -> None:
    autocrud = SpecStar()
    autocrud.add_model(User)
    autocrud.add_model(User, name="people")
    storage = MemoryStorageFactory().build("staff")
    autocrud.add_model(User, name="staff", storage=storage)
    autocrud.add_model(Schema(UserProfile, version="v1"))
    app = FastAPI()
    autocrud.apply(app)
    c = _client(app)
    for path in ("/user", "/people", "/staff"):
        assert c.post(path, json={"name": "N"}).status_code == 201
    assert autocrud.get_resource_manager("staff").storage is storage
    info = c.post("/user-profile", json={"bio": "b"}).json()
    assert info["schema_version"] == "v1"


def test_add_model_raises_as_documented() -> None:
    autocrud = SpecStar()
    autocrud.add_model(User)
    with pytest.raises(ValueError, match="registered already"):
        autocrud.add_model(User)

    class Bad(msgspec.Struct):
        owner: Annotated[str, Ref("user", on_delete=OnDelete.set_null)]

    with pytest.raises(ValueError, match="set_null"):
        autocrud.add_model(Bad)
    with pytest.raises(TypeError):
        autocrud.add_model(UserProfile, indexed_fields=[42])  # type: ignore[list-item]


# -- apply and openapi: the four forms -----------------------------------------------------------


def _registered() -> SpecStar:
    autocrud = SpecStar()
    autocrud.add_model(User)
    autocrud.add_model(Post)
    return autocrud


def test_apply_on_the_app() -> None:
    app = FastAPI()
    router = _registered().apply(app)
    assert router is app.router
    assert "User" in app.openapi()["components"]["schemas"]
    assert _client(app).get("/user").status_code == 200


def test_apply_with_a_sub_router_auto_included() -> None:
    app = FastAPI()
    api_router = APIRouter(prefix="/api/v1")
    assert _registered().apply(app, router=api_router) is api_router
    assert _client(app).get("/api/v1/user").status_code == 200
    assert "/api/v1/user" in app.openapi()["paths"]


def test_apply_with_a_manual_include_and_openapi() -> None:
    app = FastAPI()
    autocrud = _registered()
    api_router = APIRouter(prefix="/api/v1")
    autocrud.apply(app, router=api_router, auto_include=False)
    assert _client(app).get("/api/v1/user").status_code == 404  # not included yet
    app.include_router(api_router)
    autocrud.openapi(app)
    assert _client(app).get("/api/v1/user").status_code == 200
    assert "Post" in app.openapi()["components"]["schemas"]


def test_apply_on_a_bare_router() -> None:
    api_router = APIRouter(prefix="/api/v1")
    assert _registered().apply(api_router) is api_router
    app = FastAPI()
    app.include_router(api_router)
    assert _client(app).get("/api/v1/post").status_code == 200
    assert "Post" not in app.openapi().get("components", {}).get("schemas", {})


class Extra(msgspec.Struct):
    note: str


def test_openapi_structs() -> None:
    app = FastAPI()
    _registered().apply(app, structs=[Extra])
    assert app.openapi()["components"]["schemas"]["Extra"]["required"] == ["note"]


# -- DisplayName, Ref, OnDelete, RefType, Unique -------------------------------------------------


def test_display_name_is_in_the_document() -> None:
    app = FastAPI()
    _registered().apply(app)
    assert app.openapi()["components"]["schemas"]["Post"]["x-display-name-field"] == "title"


class Zone(msgspec.Struct, kw_only=True):
    name: str


class Monster(msgspec.Struct, kw_only=True):
    zone_id: Annotated[str, Ref("zone")]
    guild_id: Annotated[str | None, Ref("guild", on_delete=OnDelete.set_null)] = None
    owner_id: Annotated[str, Ref("character", on_delete=OnDelete.cascade)]
    zone_snapshot_id: Annotated[str | None, Ref("zone", ref_type=RefType.revision_id)] = None


class Guild(msgspec.Struct, kw_only=True):
    name: str


class Character(msgspec.Struct, kw_only=True):
    name: str


def _world() -> TestClient:
    autocrud = SpecStar()
    for model in (Zone, Guild, Character, Monster):
        autocrud.add_model(model)
    app = FastAPI()
    autocrud.apply(app)
    c = _client(app)
    c.post("/zone?resource_id=z1", json={"name": "Zone"})
    c.post("/guild?resource_id=g1", json={"name": "Guild"})
    c.post("/character?resource_id=c1", json={"name": "Hero"})
    body = {"zone_id": "z1", "guild_id": "g1", "owner_id": "c1", "zone_snapshot_id": "z1:1"}
    assert c.post("/monster?resource_id=m1", json=body).status_code == 201
    return c


def test_ref_example_on_delete() -> None:
    c = _world()
    assert c.delete("/zone/z1").status_code == 200  # dangling: the monster keeps its zone_id
    assert c.get("/monster/m1").json()["data"]["zone_id"] == "z1"
    assert c.delete("/guild/g1").status_code == 200  # set_null
    assert c.get("/monster/m1").json()["data"]["guild_id"] is None
    assert c.delete("/character/c1").status_code == 200  # cascade
    assert c.get("/monster/m1").status_code == 410


def test_ref_example_in_the_document() -> None:
    c = _world()
    props = c.get("/openapi.json").json()["components"]["schemas"]["Monster"]["properties"]
    assert (props["guild_id"]["x-ref-resource"], props["guild_id"]["x-ref-on-delete"]) == (
        "guild",
        "set_null",
    )
    assert props["zone_snapshot_id"]["x-ref-type"] == "revision_id"
    relationships = c.get("/openapi.json").json()["x-specstar-relationships"]
    assert [(r["field"], r["target"]) for r in relationships] == [
        ("zone_id", "zone"),
        ("guild_id", "guild"),
        ("owner_id", "character"),
        ("zone_snapshot_id", "zone"),
    ]
    assert c.get("/character/c1/referrers").json() == [
        {"resource": "monster", "field": "owner_id", "resource_id": "m1"}
    ]


def test_unique_example() -> None:
    app = FastAPI()
    autocrud = _registered()
    autocrud.apply(app)
    c = _client(app)
    assert c.post("/user?resource_id=a", json={"name": "A", "email": "a@x"}).status_code == 201
    clash = c.post("/user?resource_id=b", json={"name": "B", "email": "a@x"})
    problem = clash.json()
    assert (clash.status_code, problem["code"]) == (409, "unique_violation")
    assert (problem["field"], problem["value"], problem["conflicting_resource_id"]) == (
        "email",
        "a@x",
        "a",
    )
    c.delete("/user/a")  # soft-deleted resources are ignored
    assert c.post("/user?resource_id=b", json={"name": "B", "email": "a@x"}).status_code == 201
    doc = app.openapi()
    assert doc["components"]["schemas"]["User"]["properties"]["email"]["x-unique"] is True
    assert {"path": "email", "kind": "str", "is_list": False, "unique": True} in doc[
        "x-specstar-indexed-fields"
    ]["user"]

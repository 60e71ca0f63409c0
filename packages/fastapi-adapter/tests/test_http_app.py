"""The SpecStar app object: configuration, registration, templates, routers, context."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx2
import msgspec
import pytest
from fastapi import APIRouter, FastAPI, Header
from fastapi.testclient import TestClient
from pydantic import BaseModel

from specstar.core import (
    Event,
    EventPhase,
    MemoryStorage,
    OnDelete,
    Ref,
    ResourceManager,
    RevisionStatus,
    Schema,
)
from specstar.fastapi import (
    BaseRouteTemplate,
    CreateRouteTemplate,
    DependencyProvider,
    ListRouteTemplate,
    ReadRouteTemplate,
    SpecStar,
    crud,
)


class UserProfile(msgspec.Struct):
    name: str


class HTTPServer(msgspec.Struct):
    host: str


class Gadget(BaseModel):
    label: str
    weight: float = 1.0


def test_default_instance_is_a_specstar() -> None:
    assert isinstance(crud, SpecStar)
    assert crud.model_naming == "kebab"


@pytest.mark.parametrize(
    ("naming", "expected"),
    [
        ("kebab", ["user-profile", "http-server"]),
        ("snake", ["user_profile", "http_server"]),
        ("camel", ["userProfile", "httpServer"]),
        ("pascal", ["UserProfile", "HttpServer"]),
        ("same", ["UserProfile", "HTTPServer"]),
        (lambda t: t.__name__.lower() + "s", ["userprofiles", "httpservers"]),
    ],
)
def test_model_naming(naming: Any, expected: list[str]) -> None:
    s = SpecStar(model_naming=naming)
    s.add_model(UserProfile)
    s.add_model(HTTPServer)
    assert list(s.resource_managers) == expected


def test_configure_changes_settings_for_later_models() -> None:
    s = SpecStar()
    storage = MemoryStorage()
    s.configure(model_naming="snake", default_user="system", encoding="msgpack")
    mgr = s.add_model(UserProfile, storage=storage)
    assert mgr.name == "user_profile"
    assert mgr.storage is storage
    assert mgr.codec.encoding == "msgpack"
    assert mgr.create({"name": "a"}).created_by == "system"
    s.configure()  # nothing given: nothing changes
    assert s.model_naming == "snake"


def test_add_model_options_and_lookup() -> None:
    s = SpecStar()
    ids = iter(["u1", "u2"])
    mgr = s.add_model(
        UserProfile,
        name="people",
        id_generator=lambda: next(ids),
        default_status=RevisionStatus.draft,
        indexed_fields=["name"],
        default_user="admin",
        default_now=lambda: datetime(2020, 1, 1, tzinfo=UTC),
        migration=Schema(UserProfile, "v2"),
        validator=lambda d: None if d.name else (_ for _ in ()).throw(ValueError("empty")),
        default_limit=5,
        max_limit=10,
    )
    info = mgr.create({"name": "x"})
    assert info.resource_id == "u1"
    assert info.status == "draft"
    assert info.created_by == "admin"
    assert info.schema_version == "v2"
    assert info.created_time.year == 2020
    assert s.get_resource_manager("people") is mgr
    assert s.get_resource_manager(UserProfile) is mgr
    s.add_model(UserProfile, name="others")
    with pytest.raises(ValueError, match="ask by resource name"):
        s.get_resource_manager(UserProfile)
    with pytest.raises(KeyError):
        s.get_resource_manager("nobody")
    with pytest.raises(KeyError):
        s.get_resource_manager(HTTPServer)
    with pytest.raises(ValueError, match="registered already"):
        s.add_model(HTTPServer, name="people")
    with pytest.raises(ValueError, match="URL path segment"):
        s.add_model(HTTPServer, name="a/b")


def test_add_model_accepts_pydantic_models_and_schemas() -> None:
    s = SpecStar()
    s.add_model(Gadget)
    assert s.get_resource_manager(Gadget).name == "gadget"

    def no_bad_names(data: Any) -> None:
        if data.name == "bad":
            raise ValueError("bad name")

    mgr = s.add_model(Schema(UserProfile, "v3", validator=no_bad_names))
    assert mgr.name == "user-profile"
    assert mgr.create({"name": "ok"}).schema_version == "v3"
    with pytest.raises(ValueError, match="bad name"):
        mgr.create({"name": "bad"})
    with pytest.raises(TypeError):
        s.add_model(object)  # type: ignore[arg-type]


def test_refs_between_registered_models_are_checked_and_kept() -> None:
    class Owner(msgspec.Struct):
        name: str

    class Pet(msgspec.Struct):
        name: str
        owner_id: Annotated[str, Ref("owner", on_delete=OnDelete.cascade)]

    s = SpecStar()
    s.add_model(Owner)
    s.add_model(Pet)
    app = FastAPI()
    s.apply(app)
    with TestClient(app) as c:
        r = c.post("/pet", json={"name": "rex", "owner_id": "nobody"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["loc"] == "/owner_id"
        owner = c.post("/owner", json={"name": "ann"}).json()["resource_id"]
        pet = c.post("/pet", json={"name": "rex", "owner_id": owner}).json()["resource_id"]
        assert (
            c.get("/pet", params={"qb": f'owner_id == "{owner}"'}).json()[0]["data"]["name"]
            == "rex"
        )
        assert c.delete(f"/owner/{owner}").status_code == 200
        assert c.get(f"/pet/{pet}").status_code == 410  # cascaded


def test_pydantic_model_over_http() -> None:
    s = SpecStar()
    s.add_model(Gadget, indexed_fields=["weight"])
    app = FastAPI()
    s.apply(app)
    with TestClient(app) as c:
        assert c.post("/gadget", json={"label": "g"}).status_code == 201
        assert c.get("/gadget", params={"qb": "weight == 1.0"}).json()[0]["data"]["label"] == "g"
        assert "Gadget" in c.get("/openapi.json").json()["components"]["schemas"]


def test_constraint_checker_factories_receive_the_manager() -> None:
    from specstar.core import ConstraintChecker

    seen: list[ResourceManager[Any]] = []

    class Checker(ConstraintChecker):
        def check(self, data: Any, *, exclude_resource_id: str | None = None) -> None:
            if data.name == "taken":
                raise ValueError("name taken")

    def factory(manager: ResourceManager[Any]) -> ConstraintChecker:
        seen.append(manager)
        return Checker()

    s = SpecStar()
    mgr = s.add_model(UserProfile, constraint_checkers=[factory, Checker()])
    assert seen == [mgr]
    with pytest.raises(ValueError, match="name taken"):
        mgr.create({"name": "taken"})


def test_route_templates_select_and_configure_routes() -> None:
    s = SpecStar(route_templates=[ListRouteTemplate(), ReadRouteTemplate()])
    s.add_model(UserProfile)
    app = FastAPI()
    s.apply(app)
    paths = set(app.openapi()["paths"])
    assert paths == {
        "/user-profile",
        "/user-profile/_partial",
        "/user-profile/count",
        "/user-profile/{resource_id}",
        "/user-profile/{resource_id}/partial",
        "/user-profile/{resource_id}/revisions",
    }
    s = SpecStar(route_templates={CreateRouteTemplate: {"tags": ["writes"]}})
    s.add_model(UserProfile)
    app = FastAPI()
    s.apply(app)
    doc = app.openapi()
    assert doc["paths"]["/user-profile"]["post"]["tags"] == ["writes"]
    assert doc["paths"]["/user-profile"]["get"]["tags"] == ["user-profile"]


class SearchTemplate(BaseRouteTemplate):
    """A custom route: ``GET /m/search?name=`` (must come before ``/m/{id}``)."""

    order = 35

    def apply(self, model_name: str, resource_manager: ResourceManager[Any], router: Any) -> None:
        m = self.model_routes(model_name, resource_manager, router)

        async def search(name: str) -> Any:
            from specstar.core import QB
            from specstar.fastapi.responses import json_response

            rows = await m.call(resource_manager.list, QB["name"] == name)
            return json_response([r.data for r in rows])

        m.add("/search", search, method="GET", action="search", summary="Search by name")


def test_add_route_template_adds_and_replaces() -> None:
    s = SpecStar()
    s.add_route_template(SearchTemplate())
    s.add_route_template(SearchTemplate())  # same class: replaced, not duplicated
    assert sum(isinstance(t, SearchTemplate) for t in s.route_templates) == 1
    s.add_model(UserProfile, indexed_fields=["name"])
    app = FastAPI()
    s.apply(app)
    with TestClient(app) as c:
        c.post("/user-profile", json={"name": "ann"})
        assert c.get("/user-profile/search", params={"name": "ann"}).json() == [{"name": "ann"}]


def test_apply_to_a_prefixed_router() -> None:
    s = SpecStar()
    s.add_model(UserProfile)
    app = FastAPI()
    router = APIRouter(prefix="/api/v1")
    assert s.apply(app, router=router) is router
    with TestClient(app) as c:
        r = c.post("/api/v1/user-profile", json={"name": "a"})
        assert r.status_code == 201
        assert "/api/v1/user-profile/" in r.headers["location"]
        assert c.get(r.headers["location"]).status_code == 200
        doc = c.get("/openapi.json").json()
        assert "/api/v1/user-profile/{resource_id}" in doc["paths"]
        assert "UserProfile" in doc["components"]["schemas"]


def test_apply_without_auto_include_and_to_a_bare_router() -> None:
    s = SpecStar()
    s.add_model(UserProfile)
    app = FastAPI()
    router = APIRouter(prefix="/x")
    s.apply(app, router=router, auto_include=False)
    assert not any(getattr(r, "path", "").startswith("/x") for r in app.routes)
    app.include_router(router)
    bare = APIRouter()
    s2 = SpecStar()
    s2.add_model(HTTPServer)
    assert s2.apply(bare) is bare
    app.include_router(bare)
    s2.openapi(app, structs=[UserProfile])
    with TestClient(app) as c:
        assert c.post("/x/user-profile", json={"name": "a"}).status_code == 201
        r = c.get("/http-server/nope")
        assert r.status_code == 404  # the route class makes problems on any router
        assert r.headers["content-type"] == "application/problem+json"
        assert "HTTPServer" in c.get("/openapi.json").json()["components"]["schemas"]


def test_dependency_provider_supplies_user_and_time() -> None:
    def user(x_user: str | None = Header(None)) -> str | None:
        return x_user

    def now() -> datetime:
        return datetime(2031, 2, 3, tzinfo=UTC)

    s = SpecStar(dependency_provider=DependencyProvider(get_user=user, get_now=now))
    s.add_model(UserProfile)
    app = FastAPI()
    s.apply(app)
    with TestClient(app) as c:
        info = c.post("/user-profile", json={"name": "a"}, headers={"X-User": "ann"}).json()
        assert info["created_by"] == "ann"
        assert info["created_time"].startswith("2031-02-03")
        r = c.patch(f"/user-profile/{info['resource_id']}", json={"name": "b"})
        assert r.json()["updated_by"] == "anonymous"
        meta = c.get(f"/user-profile/{info['resource_id']}").json()["meta"]
        assert meta["created_by"] == "ann"
        assert meta["updated_by"] == "anonymous"


def test_dependency_provider_rejects_non_datetime_now() -> None:
    with pytest.raises(TypeError):
        DependencyProvider.now_of("today")


def test_handlers_do_not_block_the_event_loop() -> None:
    """A write blocked inside the manager must not stop another request from being served."""
    release = threading.Event()
    entered = threading.Event()

    def slow(event: Event) -> None:
        if event.phase is EventPhase.before and event.context.action == "create":
            entered.set()
            assert release.wait(10), "the second request was never served"

    s = SpecStar(event_handlers=[slow])
    s.add_model(UserProfile)
    app = FastAPI()
    s.apply(app)

    async def scenario() -> None:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            write = asyncio.create_task(client.post("/user-profile", json={"name": "a"}))
            while not entered.is_set():
                await asyncio.sleep(0.01)
            read = await client.get("/user-profile/count")  # served while the write waits
            assert read.json() == {"count": 0}
            release.set()
            assert (await write).status_code == 201

    asyncio.run(asyncio.wait_for(scenario(), 20))


class _ContextEcho(BaseRouteTemplate):
    """``GET /m/_context/{kind}``: the user and time a route of a custom template receives."""

    order = 5

    def apply(self, model_name: str, resource_manager: Any, router: APIRouter) -> None:
        m = self.model_routes(model_name, resource_manager, router)

        async def echo_async(user: Any = m.user, now: Any = m.now) -> dict[str, Any]:
            return {"user": repr(user), "now": repr(now)}

        def echo_sync(user: Any = m.user, now: Any = m.now) -> dict[str, Any]:
            return {"user": repr(user), "now": repr(now)}

        for kind, endpoint in (("async", echo_async), ("sync", echo_sync)):
            m.add(f"/_context/{kind}", endpoint, method="GET", action=kind, summary=kind)


@pytest.mark.parametrize("custom", [False, True])
@pytest.mark.parametrize("kind", ["async", "sync"])
def test_templates_get_user_and_time_from_the_provider(custom: bool, kind: str) -> None:
    """Under the default provider routes receive UNSET without declaring a dependency (so the
    OpenAPI operation has no parameters); a custom provider's dependencies run as declared."""

    def user(x_user: str = Header()) -> str:
        return x_user

    def now() -> datetime:
        return datetime(2031, 2, 3, tzinfo=UTC)

    deps = DependencyProvider(get_user=user, get_now=now) if custom else None
    s = SpecStar(dependency_provider=deps, route_templates={_ContextEcho: {}})
    s.add_model(UserProfile)
    app = FastAPI()
    s.apply(app)
    with TestClient(app) as c:
        r = c.get(f"/user-profile/_context/{kind}", headers={"X-User": "ann"})
        assert r.status_code == 200, r.text
        params = c.get("/openapi.json").json()["paths"][f"/user-profile/_context/{kind}"]["get"]
        if custom:
            assert r.json() == {"user": "'ann'", "now": repr(now())}
            assert [p["name"] for p in params["parameters"]] == ["x-user"]
            assert c.get(f"/user-profile/_context/{kind}").status_code == 422  # header missing
        else:
            assert r.json() == {"user": "UNSET", "now": "UNSET"}
            assert "parameters" not in params

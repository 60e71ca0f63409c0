"""References and schema migration over HTTP, and what the OpenAPI document says about them.

* ``GET /m/{id}/referrers``: paging, deleted referrers, list fields, 404/410 of the target, and
  the route only on models something refers to; ``GET /_relationships``: the graph;
* OpenAPI: ``x-ref-*`` on ``Ref`` fields (nested ones too), ``x-display-name-field``, still a
  valid document from which a client generates;
* the opt-in migration routes: NDJSON progress, refusal before the stream, an error line when
  a run stops, one resource (or one revision) at a time, never blocking the event loop.
"""

from __future__ import annotations

import asyncio
import compileall
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx2
import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from specstar.core import (
    DisplayName,
    OnDelete,
    OperationContext,
    OwnershipChecker,
    PermissionDeniedError,
    Ref,
    RefType,
    ResourceManager,
    Schema,
)
from specstar.fastapi import (
    DependencyProvider,
    MigrateRouteTemplate,
    SpecStar,
    install_problem_handlers,
)


class Team(msgspec.Struct, kw_only=True):
    name: Annotated[str, DisplayName()]


class Contract(msgspec.Struct, kw_only=True):
    sponsor_id: Annotated[str | None, Ref("team", on_delete=OnDelete.set_null)] = None


class Player(msgspec.Struct, kw_only=True):
    name: str
    team_id: Annotated[str | None, Ref("team", on_delete=OnDelete.cascade)] = None
    former_ids: Annotated[list[str], Ref("team")] = []
    pinned: Annotated[str | None, Ref("team", ref_type=RefType.revision_id)] = None
    contract: Contract | None = None


class Coach(msgspec.Struct, kw_only=True):
    team_id: Annotated[str, Ref("team", on_delete=OnDelete.restrict)]


def header_user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def league(**config: Any) -> tuple[FastAPI, SpecStar]:
    crud = SpecStar(dependency_provider=DependencyProvider(get_user=header_user), **config)
    crud.add_model(Team)
    crud.add_model(Player)
    crud.add_model(Coach)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return app, crud


# == referrers ===================================================================================


def test_referrers_list_pages_and_fields() -> None:
    app, _ = league()
    with TestClient(app) as c:
        red = c.post("/team", params={"resource_id": "red"}, json={"name": "Red"}).status_code
        assert red == 201
        c.post("/team", params={"resource_id": "blue"}, json={"name": "Blue"})
        for i in range(3):
            c.post(
                "/player", params={"resource_id": f"p{i}"}, json={"name": f"p{i}", "team_id": "red"}
            )
        c.post(
            "/player",
            params={"resource_id": "p9"},
            json={"name": "x", "former_ids": ["blue", "red"]},
        )
        c.post("/coach", params={"resource_id": "k"}, json={"team_id": "red"})
        r = c.get("/team/red/referrers")
        assert r.status_code == 200
        assert r.headers["x-total-count"] == "5"
        assert r.headers["x-has-more"] == "false"
        assert [(i["resource"], i["field"], i["resource_id"]) for i in r.json()] == [
            ("player", "team_id", "p0"),
            ("player", "team_id", "p1"),
            ("player", "team_id", "p2"),
            ("player", "former_ids", "p9"),
            ("coach", "team_id", "k"),
        ]
        first = c.get("/team/red/referrers", params={"limit": 2, "offset": 2})
        assert [i["resource_id"] for i in first.json()] == ["p2", "p9"]
        assert first.headers["x-has-more"] == "true"
        assert first.headers["link"].endswith('offset=4>; rel="next"')
        nxt = c.get(first.headers["link"].split(">")[0].lstrip("<"))
        assert [i["resource_id"] for i in nxt.json()] == ["k"]
        assert c.get("/team/red/referrers", params={"offset": 9}).json() == []
        assert [i["resource_id"] for i in c.get("/team/blue/referrers").json()] == ["p9"]

        assert c.delete("/player/p0").status_code == 200
        assert len(c.get("/team/red/referrers").json()) == 4
        with_deleted = c.get("/team/red/referrers", params={"include_deleted": "true"})
        assert len(with_deleted.json()) == 5


def test_referrers_of_missing_or_deleted_targets() -> None:
    app, _ = league()
    with TestClient(app) as c:
        assert c.get("/team/nope/referrers").status_code == 404
        c.post("/team", params={"resource_id": "gone"}, json={"name": "G"})
        c.post("/player", params={"resource_id": "p"}, json={"name": "p", "team_id": "gone"})
        assert c.delete("/team/gone").status_code == 200  # cascades to the player
        assert c.get("/team/gone/referrers").status_code == 410
        r = c.get("/team/gone/referrers", params={"include_deleted": "true"})
        assert [i["resource_id"] for i in r.json()] == ["p"]
        assert c.get("/team/gone/referrers", params={"limit": 0}).status_code == 422


def test_referrers_route_only_where_something_refers() -> None:
    app, _ = league()
    paths = {getattr(r, "path", "") for r in app.routes}
    assert "/team/{resource_id}/referrers" in paths
    assert "/player/{resource_id}/referrers" not in paths
    assert "/coach/{resource_id}/referrers" not in paths


def test_referrers_hide_rows_of_other_users() -> None:
    app, _ = league(permission_checker=OwnershipChecker(admins=["root"]))
    with TestClient(app) as c:
        ann, bob = {"X-User": "ann"}, {"X-User": "bob"}
        c.post("/team", params={"resource_id": "t"}, json={"name": "T"}, headers=ann)
        c.post(
            "/player", params={"resource_id": "a"}, json={"name": "a", "team_id": "t"}, headers=ann
        )
        # bob cannot attach to ann's team: it is as missing to him as a team that never was
        hidden = c.post("/player", json={"name": "b", "team_id": "t"}, headers=bob)
        missing = c.post("/player", json={"name": "b", "team_id": "nope"}, headers=bob)
        assert hidden.status_code == missing.status_code == 422
        assert hidden.text.replace("'t'", "'nope'") == missing.text
        root = {"X-User": "root"}
        c.post(
            "/player", params={"resource_id": "b"}, json={"name": "b", "team_id": "t"}, headers=root
        )
        r = c.get("/team/t/referrers", headers=ann)
        assert ([i["resource_id"] for i in r.json()], r.headers["x-total-count"]) == (["a"], "1")
        assert c.get("/team/t/referrers", headers=bob).status_code == 404
        assert c.get("/team/t/referrers").status_code == 403  # anonymous
        assert len(c.get("/team/t/referrers", headers={"X-User": "root"}).json()) == 2


def test_relationships_graph() -> None:
    app, _ = league()
    with TestClient(app) as c:
        graph = c.get("/_relationships").json()
    assert graph == [
        {
            "source": "player",
            "field": "team_id",
            "target": "team",
            "on_delete": "cascade",
            "ref_type": "resource_id",
            "is_list": False,
            "nullable": True,
        },
        {
            "source": "player",
            "field": "former_ids",
            "target": "team",
            "on_delete": "dangling",
            "ref_type": "resource_id",
            "is_list": True,
            "nullable": False,
        },
        {
            "source": "player",
            "field": "pinned",
            "target": "team",
            "on_delete": "dangling",
            "ref_type": "revision_id",
            "is_list": False,
            "nullable": True,
        },
        {
            "source": "player",
            "field": "contract.sponsor_id",
            "target": "team",
            "on_delete": "set_null",
            "ref_type": "resource_id",
            "is_list": False,
            "nullable": True,
        },
        {
            "source": "coach",
            "field": "team_id",
            "target": "team",
            "on_delete": "restrict",
            "ref_type": "resource_id",
            "is_list": False,
            "nullable": False,
        },
    ]


def test_relationships_route_under_a_prefix_and_absent_without_refs() -> None:
    from fastapi import APIRouter

    crud = SpecStar()
    crud.add_model(Team)
    app = FastAPI()
    crud.apply(app)
    assert "/_relationships" not in {getattr(r, "path", "") for r in app.routes}
    _, crud2 = league()
    app2 = FastAPI()
    crud2.apply(app2, router=APIRouter(prefix="/api/v1"))
    ops = app2.openapi()["paths"]["/api/v1/_relationships"]["get"]
    assert ops["operationId"] == "list_relationships_api_v1"


# == OpenAPI =====================================================================================


def test_openapi_ref_and_display_name_extensions() -> None:
    app, _ = league()
    doc = app.openapi()
    validate(doc)
    schemas = doc["components"]["schemas"]
    assert schemas["Team"]["x-display-name-field"] == "name"
    player = schemas["Player"]["properties"]
    assert (
        player["team_id"]["x-ref-resource"],
        player["team_id"]["x-ref-on-delete"],
        player["team_id"]["x-ref-type"],
    ) == ("team", "cascade", "resource_id")
    assert player["former_ids"]["x-ref-on-delete"] == "dangling"
    assert player["former_ids"]["type"] == "array"
    assert player["pinned"]["x-ref-type"] == "revision_id"
    assert "x-ref-resource" not in player["name"]
    sponsor = schemas["Contract"]["properties"]["sponsor_id"]
    assert sponsor["x-ref-on-delete"] == "set_null"
    assert schemas["PlayerPartial"]["properties"]["team_id"]["x-ref-resource"] == "team"
    assert "x-display-name-field" not in schemas["Player"]
    for name in ("Referrer", "Relationship", "MigrationProgress"):
        assert name in schemas
    referrers = doc["paths"]["/team/{resource_id}/referrers"]["get"]["responses"]["200"]
    items = referrers["content"]["application/json"]["schema"]["items"]
    assert items == {"$ref": "#/components/schemas/Referrer"}


class PlayerV1(msgspec.Struct, kw_only=True):
    full_name: str
    team_id: str | None = None


def _upgrade(old: PlayerV1) -> Player:
    if old.full_name == "broken":
        raise ValueError("cannot split this name")
    return Player(name=old.full_name.upper(), team_id=old.team_id)


def migrating_league(
    **config: Any,
) -> tuple[FastAPI, ResourceManager[Any], ResourceManager[Any]]:
    """``player`` in schema v2 with the migration routes, and a writer of v1 players."""
    crud = SpecStar(dependency_provider=DependencyProvider(get_user=header_user), **config)
    crud.add_model(Team)
    schema = Schema(Player, "v2").step("v1", _upgrade, source_type=PlayerV1)
    players = crud.add_model(schema, migrate_route=True)
    old = ResourceManager(PlayerV1, storage=players.storage, name="player", schema_version="v1")
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return app, players, old


def test_openapi_with_every_new_route_is_valid_and_generates_a_client(tmp_path: Path) -> None:
    app, _, _ = migrating_league()
    doc = app.openapi()
    validate(doc)
    migrate = doc["paths"]["/player/_migrate"]["post"]["responses"]["200"]["content"]
    assert list(migrate) == ["application/x-ndjson"]
    assert migrate["application/x-ndjson"]["schema"]["type"] == "string"
    assert migrate["application/x-ndjson"]["x-item-schema"] == {
        "$ref": "#/components/schemas/MigrationProgress"
    }
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(doc))
    # this generator reads no NDJSON: it is told to hand the stream over as text
    config = tmp_path / "config.yaml"
    config.write_text("content_type_overrides:\n  application/x-ndjson: text/plain\n")
    out = tmp_path / "client"
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec)),
            *("--output-path", str(out), "--config", str(config)),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output, output
    assert "Error" not in output, output
    package = next(p for p in out.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    api = {p.stem for p in package.glob("api/*/*.py")}
    assert {"list_referrers_team", "list_relationships", "migrate_player"} <= api
    assert {"migrate_all_player"} <= api
    assert compileall.compile_dir(str(package), quiet=1)
    stream = (package / "api" / "player" / "migrate_all_player.py").read_text()
    assert "response.text" in stream
    assert "from_dict(response.text)" not in stream


# == migration ===================================================================================


def _lines(text: str) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in text.splitlines()]


def test_migration_routes_are_opt_in() -> None:
    app, _ = league()
    with TestClient(app) as c:
        assert c.post("/player/_migrate").status_code in (404, 405)
    with pytest.raises(ValueError, match="needs a Schema"):
        SpecStar().add_model(Team, migrate_route=True)
    crud = SpecStar(route_templates={MigrateRouteTemplate: {}})  # for every versioned model
    crud.add_model(Team)
    crud.add_model(Schema(Player, "v2"), name="player")
    app2 = FastAPI()
    crud.apply(app2)
    paths = {getattr(r, "path", "") for r in app2.routes}
    assert "/player/_migrate" in paths
    assert "/team/_migrate" not in paths


def test_bulk_migration_streams_ndjson_progress() -> None:
    app, players, old = migrating_league()
    for i in range(205):
        old.create(PlayerV1(full_name=f"p {i}"), resource_id=f"p{i:03d}")
    with TestClient(app) as c:
        r = c.post("/player/_migrate")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = _lines(r.text)
        assert lines == [
            {"done": 0, "total": 205},
            {"done": 100, "total": 205},
            {"done": 200, "total": 205},
            {"done": 205, "total": 205},
            {"migrated": 205},
        ]
        assert c.get("/player/p007").json()["data"]["name"] == "P 7"
        assert c.get("/player/p007").json()["meta"]["schema_version"] == "v2"
        assert _lines(c.post("/player/_migrate").text) == [
            {"done": 0, "total": 0},
            {"migrated": 0},
        ]
    assert players.count() == 205


def test_bulk_migration_refused_before_the_stream_starts() -> None:
    app, _, old = migrating_league(permission_checker=OwnershipChecker(admins=["root"]))
    old.create(PlayerV1(full_name="a b"), user="ann")
    old.create(PlayerV1(full_name="c d"), user="bob")
    with TestClient(app) as c:
        r = c.post("/player/_migrate")  # anonymous: refused
        assert r.status_code == 403
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["action"] == "migrate"
        lines = _lines(c.post("/player/_migrate", headers={"X-User": "ann"}).text)
        assert lines[0] == {"done": 0, "total": 1}  # bob's player is not counted for ann
        assert lines[-1] == {"migrated": 1}
        lines = _lines(c.post("/player/_migrate", headers={"X-User": "root"}).text)
        assert lines[-1] == {"migrated": 1}


def test_a_run_with_broken_resources_ends_with_an_error_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _, old = migrating_league()
    old.create(PlayerV1(full_name="a b"), resource_id="a")
    old.create(PlayerV1(full_name="broken"), resource_id="b")
    old.create(PlayerV1(full_name="c d"), resource_id="c")
    with TestClient(app) as c:
        r = c.post("/player/_migrate")
        assert r.status_code == 200
        lines = _lines(r.text)
        assert lines[0] == {"done": 0, "total": 3}
        error = lines[-1]["error"]
        assert (error["status"], error["code"]) == (409, "bulk_migration_failed")
        assert error["failures"] == [{"resource_id": "b", "code": "migration_failed"}]
        assert error["migrated"] == 2
        assert "cannot split" not in r.text  # logged, not shown
        assert "migration step" in caplog.text
        assert c.get("/player/a").json()["meta"]["schema_version"] == "v2"
        broken = c.get("/player/b", params={"returns": "meta"}).json()
        assert broken["meta"]["schema_version"] == "v1"  # the broken one stays as it was
        assert c.get("/player/c").json()["meta"]["schema_version"] == "v2"  # not blocked by b


def test_migrate_one_resource_or_one_revision() -> None:
    app, _, old = migrating_league()
    old.create(PlayerV1(full_name="ada"), resource_id="ada")
    old.update("ada", PlayerV1(full_name="ada king"))
    with TestClient(app) as c:
        r = c.post("/player/ada/switch/ada:1")
        assert r.status_code == 409
        assert r.json()["code"] == "revision_not_migrated"
        r = c.post("/player/ada/migrate")
        assert r.status_code == 200
        assert r.json()["schema_version"] == "v2"
        assert r.headers["etag"] == '"ada:3"'
        assert c.post("/player/ada/migrate").headers["etag"] == '"ada:3"'  # nothing to do
        r = c.post("/player/ada/migrate", params={"revision_id": "ada:1"})
        assert r.headers["etag"] == '"ada:4"'
        assert c.get("/player/ada").json()["data"]["name"] == "ADA"
        assert c.post("/player/nope/migrate").status_code == 404
        assert c.post("/player/ada/migrate", params={"revision_id": "ada:9"}).status_code == 404


def test_bulk_migration_does_not_block_the_event_loop() -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow(old: PlayerV1) -> Player:
        entered.set()
        assert release.wait(10), "the other request was never served"
        return Player(name=old.full_name)

    crud = SpecStar()
    players = crud.add_model(
        Schema(Player, "v2").step("v1", slow, source_type=PlayerV1), migrate_route=True
    )
    ResourceManager(PlayerV1, storage=players.storage, name="player", schema_version="v1").create(
        PlayerV1(full_name="x")
    )
    app = FastAPI()
    crud.apply(app)

    async def scenario() -> None:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            run = asyncio.create_task(client.post("/player/_migrate"))
            while not entered.is_set():
                await asyncio.sleep(0.01)
            assert (await client.get("/player/count")).json() == {"count": 1}
            release.set()
            response = await run
            assert _lines(response.text)[-1] == {"migrated": 1}

    asyncio.run(asyncio.wait_for(scenario(), 20))


def test_a_refusal_during_the_run_is_the_last_line() -> None:
    class NotB:
        def check(self, ctx: OperationContext) -> None:
            if ctx.action == "migrate" and ctx.resource_id == "b":
                raise PermissionDeniedError("b is frozen", user=ctx.user, action=ctx.action)

    app, _, old = migrating_league(permission_checker=NotB())
    for rid in ("a", "b"):
        old.create(PlayerV1(full_name=rid), resource_id=rid)
    with TestClient(app) as c:
        lines = _lines(c.post("/player/_migrate", headers={"X-User": "ann"}).text)
    assert lines[0] == {"done": 0, "total": 2}
    error = lines[-1]["error"]
    assert (error["status"], error["code"], error["action"], error["user"]) == (
        403,
        "permission_denied",
        "migrate",
        "ann",
    )
    assert error["detail"] == "b is frozen"


def test_bulk_migration_writes_at_the_requests_time() -> None:
    when = datetime(2031, 5, 6, tzinfo=UTC)
    crud = SpecStar(dependency_provider=DependencyProvider(get_now=lambda: when))
    players = crud.add_model(
        Schema(Player, "v2").step("v1", _upgrade, source_type=PlayerV1), migrate_route=True
    )
    old = ResourceManager(PlayerV1, storage=players.storage, name="player", schema_version="v1")
    old.create(PlayerV1(full_name="x"), resource_id="x")
    app = FastAPI()
    crud.apply(app)
    with TestClient(app) as c:
        assert _lines(c.post("/player/_migrate").text)[-1] == {"migrated": 1}
    assert players.get_meta("x").updated_time == when

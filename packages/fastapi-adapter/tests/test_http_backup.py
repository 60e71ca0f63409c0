"""Backup routes: export and import of every model or one, streamed; authorized as ``dump`` and
``load`` (an admin's, not granted by ``read``/``write``); every failure a problem document."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Annotated

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from specstar.core import Unique
from specstar.core.memory import MemoryStorageFactory
from specstar.core.permissions import ActionBasedChecker, admin_only, any_user
from specstar.fastapi import (
    BackupRouteTemplate,
    DependencyProvider,
    SpecStar,
    install_problem_handlers,
)

ARCHIVE = {"content-type": "application/vnd.specstar.backup"}


class Gizmo(msgspec.Struct, kw_only=True):
    name: str
    serial: Annotated[str | None, Unique()] = None


class Note(msgspec.Struct, kw_only=True):
    text: str


def header_user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


def build(**kw: object) -> tuple[SpecStar, TestClient]:
    """An app with ``kw``; without a checker of its own, one that grants everyone everything
    (the backup routes refuse to run with no checker at all, see the test below)."""
    if "admin" not in kw and "permission_checker" not in kw:
        kw["permission_checker"] = ActionBasedChecker({"*": any_user})
    crud = SpecStar()
    crud.configure(
        storage_factory=MemoryStorageFactory(),
        dependency_provider=DependencyProvider(get_user=header_user),
        **kw,  # type: ignore[arg-type]
    )
    crud.add_model(Gizmo)
    crud.add_model(Note)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return crud, TestClient(app, raise_server_exceptions=False)


def fill(client: TestClient, user: str = "root") -> None:
    h = {"X-User": user}
    for n in range(30):
        r = client.post("/gizmo", json={"name": f"g{n}", "serial": f"s{n}"}, headers=h)
        assert r.status_code == 201, r.text
    gid = r.json()["resource_id"]
    assert client.put(f"/gizmo/{gid}", json={"name": "changed"}, headers=h).status_code == 200
    assert client.post("/note", json={"text": "hello"}, headers=h).status_code == 201


def test_export_import_round_trip() -> None:
    source, client = build()
    fill(client)
    r = client.get("/_backup/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    archive = r.content
    py = io.BytesIO()
    source.dump(py)
    assert archive == py.getvalue()

    _, other = build()
    r = other.post("/_backup/import", content=archive, headers=ARCHIVE)
    assert r.status_code == 200, r.text
    assert r.json()["gizmo"]["loaded"] == 30
    assert r.json()["note"]["loaded"] == 1
    assert other.get("/_backup/export").content == archive
    # once more: overwrite by default, nothing changes
    again = other.post("/_backup/import?on_duplicate=skip", content=archive, headers=ARCHIVE)
    assert again.json()["gizmo"]["skipped"] == 30
    dup = other.post("/_backup/import?on_duplicate=raise_error", content=archive, headers=ARCHIVE)
    assert dup.status_code == 409
    assert dup.json()["code"] == "duplicate_resource"


def test_model_export_and_import() -> None:
    _, client = build()
    fill(client)
    r = client.get("/gizmo/export", params={"qb": 'serial == "s28"'})
    assert r.status_code == 200
    _, other = build()
    stats = other.post("/gizmo/import", content=r.content, headers=ARCHIVE).json()
    assert stats["gizmo"]["loaded"] == 1
    assert other.get("/gizmo/count").json() == {"count": 1}
    # an archive of every model does not go into one model
    everything = client.get("/_backup/export").content
    wrong = other.post("/gizmo/import", content=everything, headers=ARCHIVE)
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "invalid_archive"
    assert "note" in wrong.json()["detail"]


def test_failures_are_problem_documents() -> None:
    _, client = build()
    fill(client)
    archive = client.get("/_backup/export").content
    _, other = build()
    for body in (archive[:-5], archive[:100] + b"\xff" + archive[101:], b"", b"junk"):
        r = other.post("/_backup/import", content=body, headers=ARCHIVE)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "invalid_archive"
    assert other.get("/gizmo/count").json() == {"count": 0}
    r = other.post("/_backup/import", content=archive, headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert client.get("/_backup/export?models=gizmo,nope").status_code == 422
    assert client.get("/_backup/export?models=gizmo&bogus=1").status_code == 400
    assert (
        client.post(
            "/_backup/import?on_duplicate=merge", content=archive, headers=ARCHIVE
        ).status_code
        == 422
    )
    bad_qb = client.get("/gizmo/export", params={"qb": "serial =="})
    assert bad_qb.status_code == 400
    assert bad_qb.json()["code"] == "invalid_query"


def test_unique_clash_is_reported_in_the_stats() -> None:
    _, client = build()
    fill(client)
    archive = client.get("/_backup/export?models=gizmo").content
    _, other = build()
    other.post("/gizmo", json={"name": "holder", "serial": "s3"}, headers={"X-User": "u"})
    stats = other.post("/_backup/import", content=archive, headers=ARCHIVE).json()["gizmo"]
    assert stats["loaded"] == 29
    assert stats["failed"] == 1
    assert "s3" in stats["failures"][0]["reason"]


def test_only_an_admin_may_back_up() -> None:
    _, client = build(admin="root")
    fill(client, "root")
    denied = client.get("/_backup/export", headers={"X-User": "mallory"})
    assert denied.status_code == 403
    assert denied.json()["code"] == "permission_denied"
    assert client.get("/gizmo/export", headers={"X-User": "mallory"}).status_code == 403
    archive = client.get("/_backup/export?models=gizmo,note", headers={"X-User": "root"})
    assert archive.status_code == 200
    r = client.post(
        "/_backup/import", content=archive.content, headers={**ARCHIVE, "X-User": "mallory"}
    )
    assert r.status_code == 403
    r = client.post(
        "/_backup/import", content=archive.content, headers={**ARCHIVE, "X-User": "root"}
    )
    assert r.status_code == 200, r.text


def test_read_and_write_rules_do_not_grant_backups() -> None:
    checker = ActionBasedChecker({"read": any_user, "write": any_user, "*": admin_only("root")})
    _, client = build(permission_checker=checker)
    fill(client, "alice")
    assert client.get("/_backup/export", headers={"X-User": "alice"}).status_code == 403
    assert client.get("/_backup/export", headers={"X-User": "root"}).status_code == 200


def test_no_permission_checker_means_no_backup_routes_for_anyone() -> None:
    crud = SpecStar()
    crud.configure(
        storage_factory=MemoryStorageFactory(),
        dependency_provider=DependencyProvider(get_user=header_user),
    )
    crud.add_model(Note)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.post("/note", json={"text": "secret"}).status_code == 201  # the API is open
    archive = io.BytesIO()
    crud.dump(archive)  # Python keeps working: it has the process's access anyway
    for method, path, body in (
        ("GET", "/_backup/export", None),
        ("GET", "/note/export", None),
        ("POST", "/_backup/import", archive.getvalue()),
        ("POST", "/note/import", archive.getvalue()),
    ):
        r = client.request(method, path, content=body, headers={**ARCHIVE, "X-User": "root"})
        assert r.status_code == 403, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert "permission checker" in r.json()["detail"]


def test_an_archive_over_the_size_limit_is_refused_and_loads_nothing() -> None:
    _, client = build()
    fill(client)
    archive = client.get("/_backup/export").content
    crud, other = build()
    crud.add_route_template(BackupRouteTemplate(max_archive_bytes=len(archive) - 1))
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    other = TestClient(app, raise_server_exceptions=False)

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is met while reading
        for start in range(0, len(archive), 1000):
            yield archive[start : start + 1000]

    for path in ("/_backup/import", "/gizmo/import"):
        for body in (archive, chunked()):
            r = other.post(path, content=body, headers=ARCHIVE)
            assert r.status_code == 413, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "content_too_large"
            assert "max_archive_bytes" in r.json()["detail"]
    assert other.get("/gizmo/count").json() == {"count": 0}
    assert other.get("/note/count").json() == {"count": 0}
    crud.add_route_template(BackupRouteTemplate(max_archive_bytes=len(archive)))
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    r = TestClient(app).post("/_backup/import", content=archive, headers=ARCHIVE)
    assert r.status_code == 200, r.text
    assert r.json()["gizmo"]["loaded"] == 30


def test_the_size_limit_must_be_a_positive_int() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_archive_bytes"):
            BackupRouteTemplate(max_archive_bytes=bad)
    for wrong in (1.5, "10", True):
        with pytest.raises(TypeError, match="max_archive_bytes"):
            BackupRouteTemplate(max_archive_bytes=wrong)  # type: ignore[arg-type]

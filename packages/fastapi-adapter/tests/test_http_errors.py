"""Every error the HTTP API answers, as an RFC 9457 problem document."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient

from specstar.core import (
    Event,
    EventPhase,
    OperationContext,
    PermissionDeniedError,
    StorageError,
)
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers

PROBLEM = "application/problem+json"


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    """Assert ``r`` is the problem ``code`` with ``status``; return its document."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    doc: dict[str, Any] = r.json()
    assert doc["type"] == f"urn:specstar:problem:{code}"
    assert doc["code"] == code
    assert doc["status"] == status
    assert doc["title"]
    assert doc["instance"] == r.request.url.path
    return doc


# -- 400 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"{", b"[1,", b"nul", b"\xff"])
def test_malformed_json_is_400(client: TestClient, make_book: Any, body: bytes) -> None:
    rid = make_book()["resource_id"]
    headers = {"Content-Type": "application/json"}
    for method, url in [
        ("POST", "/book"),
        ("PUT", f"/book/{rid}"),
        ("PATCH", f"/book/{rid}"),
        ("POST", f"/book/{rid}/modify"),
        ("POST", "/book/batch/delete"),
    ]:
        problem(client.request(method, url, content=body, headers=headers), 400, "invalid_json")


@pytest.mark.parametrize(
    "params",
    [
        {"qb": "year >"},
        {"qb": "nope == 1"},  # not indexed
        {"qb": 'year == "x"'},  # wrong kind
        {"qb": "year.regex(1)"},
        {"qb": "(" * 200 + "year == 1" + ")" * 200},
        {"conditions": "{"},
        {"conditions": '{"type": "cmp"}'},
        {"conditions": json.dumps([{"type": "not", "item": {}}] * 2)},
        {"conditions": "[" * 5000 + "]" * 5000},
        {"sorts": "-"},
        {"sorts": "[{]"},
        {"sorts": "tags"},  # list field
        {"cursor": "garbage"},
        {"cursor": "AAAA", "offset": 1},
        {"returns": "data,everything"},
        {"partial": "/a/~2"},
    ],
)
def test_bad_queries_are_400(client: TestClient, params: dict[str, Any]) -> None:
    problem(client.get("/book", params=params), 400, "invalid_query")


def test_bad_query_reports_position_and_path(client: TestClient) -> None:
    doc = problem(client.get("/book/count", params={"qb": "nope == 1"}), 400, "invalid_query")
    assert doc["path"] == "nope"
    assert "indexed fields" in doc["detail"]
    doc = problem(client.get("/book", params={"qb": "year >"}), 400, "invalid_query")
    assert doc["position"] == 6


def test_cursor_from_another_query_is_400(client: TestClient, make_book: Any) -> None:
    for year in (1, 2, 3):
        make_book(year=year)
    cursor = client.get("/book", params={"limit": 1}).headers["x-next-cursor"]
    r = client.get("/book", params={"limit": 1, "cursor": cursor, "qb": "year > 0"})
    problem(r, 400, "invalid_query")


@pytest.mark.parametrize("value", ['"a" b"', '"', "W/", ",", 'a"b'])
def test_malformed_if_match_is_400(client: TestClient, make_book: Any, value: str) -> None:
    rid = make_book()["resource_id"]
    r = client.patch(f"/book/{rid}", json={"year": 1}, headers={"If-Match": value})
    problem(r, 400, "invalid_precondition")


def test_if_none_match_on_writes_accepts_only_star(client: TestClient, make_book: Any) -> None:
    rid = make_book(isbn="i")["resource_id"]
    body = {"title": "T", "isbn": "i", "year": 1}
    r = client.put(f"/book/{rid}", json=body, headers={"If-None-Match": '"x"'})
    problem(r, 400, "invalid_precondition")
    r = client.post("/book", json=body, headers={"If-None-Match": '"x"'})
    problem(r, 400, "invalid_precondition")
    r = client.put(f"/book/{rid}", json=body, headers={"If-None-Match": "*", "If-Match": "*"})
    problem(r, 400, "invalid_precondition")


# -- 401 ----------------------------------------------------------------------------------------


def test_strict_context_without_user_is_401(app_factory: Any) -> None:
    app, _ = app_factory(strict_operation_context=True)
    with TestClient(app) as c:
        doc = problem(
            c.post("/book", json={"title": "T", "isbn": "i", "year": 1}),
            401,
            "missing_operation_context",
        )
        assert doc["missing_fields"] == ["user", "now"]
        assert c.get("/book").status_code == 200  # reads need no context


def test_strict_context_with_user_and_clock_succeeds(app_factory: Any) -> None:
    def user(x_user: str | None = Header(None)) -> str | None:
        return x_user

    app, _ = app_factory(
        strict_operation_context=True,
        dependency_provider=DependencyProvider(get_user=user),
        default_now=lambda: datetime(2030, 1, 1),
    )
    with TestClient(app) as c:
        body = {"title": "T", "isbn": "i", "year": 1}
        problem(c.post("/book", json=body), 401, "missing_operation_context")
        r = c.post("/book", json=body, headers={"X-User": "alice"})
        assert r.status_code == 201
        assert r.json()["created_by"] == "alice"
        assert r.json()["created_time"].startswith("2030-01-01")


def test_dependency_http_exception_becomes_a_problem(app_factory: Any) -> None:
    def user(authorization: str | None = Header(None)) -> str:
        if authorization != "Bearer good":
            raise HTTPException(401, "bad credentials", headers={"WWW-Authenticate": "Bearer"})
        return "alice"

    app, _ = app_factory(dependency_provider=DependencyProvider(get_user=user))
    with TestClient(app) as c:
        r = c.get("/book")
        doc = problem(r, 401, "http_401")
        assert doc["detail"] == "bad credentials"
        assert r.headers["www-authenticate"] == "Bearer"
        assert c.get("/book", headers={"Authorization": "Bearer good"}).status_code == 200


# -- 403 ----------------------------------------------------------------------------------------


class NoDeletesForBob:
    def check(self, ctx: OperationContext) -> None:
        if ctx.user == "bob" and ctx.action in {"delete", "count", "search"}:
            raise PermissionDeniedError(f"bob may not {ctx.action}", user="bob", action=ctx.action)


def test_permission_denied_is_403(app_factory: Any) -> None:
    def user(x_user: str | None = Header(None)) -> str | None:
        return x_user

    app, _ = app_factory(
        permission_checker=NoDeletesForBob(),
        dependency_provider=DependencyProvider(get_user=user),
    )
    bob = {"X-User": "bob"}
    with TestClient(app) as c:
        rid = c.post("/book", json={"title": "T", "isbn": "i", "year": 1}).json()["resource_id"]
        doc = problem(c.delete(f"/book/{rid}", headers=bob), 403, "permission_denied")
        assert doc["user"] == "bob"
        assert doc["action"] == "delete"
        problem(c.get("/book/count", headers=bob), 403, "permission_denied")
        problem(c.get("/book", headers=bob), 403, "permission_denied")
        r = c.post("/book/batch/delete", json={"confirm_all": True}, headers=bob)
        problem(r, 403, "permission_denied")
        assert c.delete(f"/book/{rid}").status_code == 200


# -- 404 / 405 ----------------------------------------------------------------------------------


def test_missing_resources_and_revisions_are_404(client: TestClient, make_book: Any) -> None:
    doc = problem(client.get("/book/nope"), 404, "not_found")
    assert doc["resource_id"] == "nope"
    for method, url in [
        ("PATCH", "/book/nope"),
        ("DELETE", "/book/nope"),
        ("DELETE", "/book/nope/permanently"),
        ("POST", "/book/nope/restore"),
        ("POST", "/book/nope/switch/nope:1"),
        ("GET", "/book/nope/revisions"),
    ]:
        kwargs: dict[str, Any] = {"json": {"year": 1}} if method == "PATCH" else {}
        problem(client.request(method, url, **kwargs), 404, "not_found")
    problem(client.post("/note/nope/modify", json={"status": "stable"}), 404, "not_found")
    rid = make_book()["resource_id"]
    doc = problem(client.get(f"/book/{rid}", params={"revision_id": f"{rid}:9"}), 404, "not_found")
    assert doc["revision_id"] == f"{rid}:9"
    r = client.get(f"/book/{rid}", params={"revision_id": f"{rid}:9", "returns": "meta"})
    problem(r, 404, "not_found")
    problem(client.post(f"/book/{rid}/switch/{rid}:7"), 404, "not_found")
    r = client.put(
        f"/book/{rid}x", json={"title": "T", "isbn": "q", "year": 1}, headers={"If-Match": "*"}
    )
    problem(r, 404, "not_found")


def test_unknown_paths_and_methods_are_problems(client: TestClient) -> None:
    problem(client.get("/nothing-here"), 404, "not_found")
    r = client.request("PATCH", "/book")
    problem(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]


# -- 409 ----------------------------------------------------------------------------------------


def test_taken_id_is_409(client: TestClient) -> None:
    body = {"title": "T", "isbn": "i", "year": 1}
    client.post("/book", params={"resource_id": "b1"}, json=body)
    r = client.post("/book", params={"resource_id": "b1"}, json=body | {"isbn": "j"})
    assert problem(r, 409, "already_exists")["resource_id"] == "b1"


def test_unique_violation_names_field_and_holder(client: TestClient, make_book: Any) -> None:
    holder = make_book(isbn="dup")["resource_id"]
    r = client.post("/book", json={"title": "T", "isbn": "dup", "year": 1})
    doc = problem(r, 409, "unique_violation")
    assert doc["field"] == "isbn"
    assert doc["value"] == "dup"
    assert doc["conflicting_resource_id"] == holder
    other = make_book(isbn="other")["resource_id"]
    problem(client.patch(f"/book/{other}", json={"isbn": "dup"}), 409, "unique_violation")


def test_modify_of_a_stable_revision_is_409(client: TestClient, make_book: Any) -> None:
    rid = make_book()["resource_id"]
    r = client.post(f"/book/{rid}/modify", json={"data": {"title": "X", "isbn": "y", "year": 1}})
    doc = problem(r, 409, "revision_not_draft")
    assert doc["revision_id"] == f"{rid}:1"


def test_failed_patch_test_is_409(client: TestClient, make_book: Any) -> None:
    rid = make_book(year=1)["resource_id"]
    ops = [{"op": "test", "path": "/year", "value": 2}]
    doc = problem(client.patch(f"/book/{rid}", json=ops), 409, "patch_test_failed")
    assert doc["path"] == "/year"


# -- 410 ----------------------------------------------------------------------------------------


def test_soft_deleted_is_410(client: TestClient, make_book: Any) -> None:
    rid = make_book()["resource_id"]
    client.delete(f"/book/{rid}")
    assert problem(client.get(f"/book/{rid}"), 410, "gone")["resource_id"] == rid
    problem(client.patch(f"/book/{rid}", json={"year": 3}), 410, "gone")
    problem(client.put(f"/book/{rid}", json={"title": "T", "isbn": "z", "year": 1}), 410, "gone")
    problem(client.delete(f"/book/{rid}"), 410, "gone")
    problem(client.post(f"/book/{rid}/switch/{rid}:1"), 410, "gone")


# -- 412 ----------------------------------------------------------------------------------------


def test_if_match_mismatch_is_412_on_every_write(client: TestClient, make_book: Any) -> None:
    info = make_book(isbn="m")
    rid = info["resource_id"]
    stale = {"If-Match": '"stale:1"'}
    cases = [
        ("PUT", f"/book/{rid}", {"json": {"title": "T", "isbn": "m", "year": 1}}),
        ("PATCH", f"/book/{rid}", {"json": {"year": 9}}),
        ("POST", f"/book/{rid}/modify", {"json": {"status": "stable"}}),
        ("POST", f"/book/{rid}/switch/{rid}:1", {}),
        ("DELETE", f"/book/{rid}", {}),
        ("POST", f"/book/{rid}/restore", {}),
        ("DELETE", f"/book/{rid}/permanently", {}),
    ]
    for method, url, kwargs in cases:
        doc = problem(
            client.request(method, url, headers=stale, **kwargs), 412, "precondition_failed"
        )
        assert doc["expected"] == "stale:1"
        assert doc["actual"] == info["revision_id"]
    weak = {"If-Match": f'W/"{info["revision_id"]}", W/"x"'}
    problem(
        client.patch(f"/book/{rid}", json={"year": 9}, headers=weak), 412, "precondition_failed"
    )
    several = {"If-Match": '"a", "b"'}
    problem(client.delete(f"/book/{rid}", headers=several), 412, "precondition_failed")
    assert client.get(f"/book/{rid}").json()["info"] == info  # nothing changed


def test_if_none_match_star_on_existing_id_is_412(client: TestClient, make_book: Any) -> None:
    info = make_book(isbn="e")
    rid = info["resource_id"]
    body = {"title": "T", "isbn": "f", "year": 1}
    doc = problem(
        client.put(f"/book/{rid}", json=body, headers={"If-None-Match": "*"}),
        412,
        "precondition_failed",
    )
    assert doc["actual"] is None  # the same answer whoever holds the id: only "taken"
    r = client.post("/book", params={"resource_id": rid}, json=body, headers={"If-None-Match": "*"})
    problem(r, 412, "precondition_failed")


# -- 413 / 415 ----------------------------------------------------------------------------------


def test_too_large_body_is_413(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from specstar.fastapi import _http

    monkeypatch.setattr(_http, "MAX_BODY_BYTES", 100)
    r = client.post("/book", json={"title": "x" * 200, "isbn": "i", "year": 1})
    problem(r, 413, "content_too_large")


def test_unsupported_content_types_are_415(client: TestClient, make_book: Any) -> None:
    rid = make_book()["resource_id"]
    body = json.dumps({"title": "T", "isbn": "i", "year": 1})
    text = {"Content-Type": "text/plain"}
    doc = problem(client.post("/book", content=body, headers=text), 415, "unsupported_media_type")
    assert "application/json" in doc["supported"]
    r = client.patch(f"/book/{rid}", content='{"year": 2}', headers=text)
    problem(r, 415, "unsupported_media_type")
    r = client.patch(
        f"/book/{rid}", content='{"year": 2}', headers={"Content-Type": "application/x+json"}
    )
    problem(r, 415, "unsupported_media_type")


# -- 422 ----------------------------------------------------------------------------------------


def test_invalid_body_is_422_with_field_errors(client: TestClient) -> None:
    doc = problem(
        client.post("/book", json={"title": 1, "isbn": "i", "year": 1}), 422, "validation_error"
    )
    assert doc["errors"] == [
        {"loc": "/title", "message": "Expected `str`, got `int`", "source": "body"}
    ]
    doc = problem(client.post("/book", json={"isbn": "i", "year": 1}), 422, "validation_error")
    assert doc["errors"][0]["loc"] == "/title"
    doc = problem(
        client.post("/book", json={"title": "", "isbn": "i", "year": 1}), 422, "validation_error"
    )
    assert doc["errors"][0]["loc"] == "/title"
    doc = problem(
        client.post("/user-profile", json={"name": "A", "address": {"city": 5}}),
        422,
        "validation_error",
    )
    assert doc["errors"][0]["loc"] == "/address/city"
    problem(client.post("/book", json=[1, 2]), 422, "validation_error")
    problem(client.post("/book", json="text"), 422, "validation_error")


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/book", {"limit": "0"}),
        ("/book", {"limit": "1001"}),
        ("/book", {"limit": "many"}),
        ("/book", {"offset": "-1"}),
        ("/book", {"is_deleted": "maybe"}),
        ("/book", {"include_total": "perhaps"}),
        ("/book", {"created_time_start": "yesterday"}),
        ("/book/count", {"is_deleted": "2"}),
        ("/book/bad id!", {}),
        ("/book/ok", {"revision_id": "bad rev"}),
        ("/book/ok", {"include_deleted": "x"}),
        ("/book/ok/revisions", {"limit": "0"}),
    ],
)
def test_invalid_parameters_are_422(client: TestClient, url: str, params: dict[str, str]) -> None:
    doc = problem(client.get(url, params=params), 422, "validation_error")
    assert doc["errors"]
    assert doc["errors"][0]["source"] in {"query", "path"}


def test_invalid_create_parameters_are_422(client: TestClient) -> None:
    body = {"title": "T", "isbn": "i", "year": 1}
    problem(client.post("/book", params={"status": "final"}, json=body), 422, "validation_error")
    problem(client.post("/book", params={"resource_id": "-x"}, json=body), 422, "validation_error")
    for reserved in ("count", "batch"):
        r = client.post("/book", params={"resource_id": reserved}, json=body)
        assert problem(r, 422, "validation_error")["errors"][0]["loc"] == "resource_id"
    problem(client.put("/book/batch", json=body), 422, "validation_error")
    problem(client.put("/book/count", json=body), 405, "method_not_allowed")  # a route of its own


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "jump", "path": "/year"}],
        [{"op": "replace", "path": "year", "value": 1}],
        [{"op": "remove", "path": "/nope"}],
        [{"op": "replace", "path": "/year", "value": "x"}],
        [{"op": "remove", "path": "/title"}],
        [1],
    ],
)
def test_bad_json_patches_are_422(client: TestClient, make_book: Any, ops: list[Any]) -> None:
    rid = make_book()["resource_id"]
    r = client.patch(
        f"/book/{rid}",
        content=json.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] in {"invalid_patch", "validation_error"}
    assert r.json()["errors"]


def test_patch_body_must_fit_its_content_type(client: TestClient, make_book: Any) -> None:
    rid = make_book()["resource_id"]
    r = client.patch(
        f"/book/{rid}", content="{}", headers={"Content-Type": "application/json-patch+json"}
    )
    problem(r, 422, "validation_error")
    r = client.patch(
        f"/book/{rid}", content="[]", headers={"Content-Type": "application/merge-patch+json"}
    )
    problem(r, 422, "validation_error")
    problem(client.patch(f"/book/{rid}", json=3), 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"other": 1},
        {"data": {"text": "a"}, "patch": []},
        {"data": "text"},
        {"patch": {}},
        {"status": "final"},
        {"data": {"text": 5}},
    ],
)
def test_bad_modify_bodies_are_422(client: TestClient, body: Any) -> None:
    rid = client.post("/note", json={"text": "x"}).json()["resource_id"]
    problem(client.post(f"/note/{rid}/modify", json=body), 422, "validation_error")


def test_bad_batch_bodies(client: TestClient) -> None:
    problem(client.post("/book/batch/delete", json={"nope": 1}), 422, "validation_error")
    problem(client.post("/book/batch/delete", json={"confirm_all": "yes"}), 422, "validation_error")
    problem(
        client.post("/book/batch/delete", json={"conditions": {"type": "x"}}),
        422,
        "validation_error",
    )
    problem(client.post("/book/batch/delete", json={"qb": "year >"}), 400, "invalid_query")
    problem(client.post("/book/batch/delete", json={"qb": "nope == 1"}), 400, "invalid_query")


# -- 500 ----------------------------------------------------------------------------------------


def _failing_app(error: Exception) -> FastAPI:
    def explode(event: Event) -> None:
        if event.phase is EventPhase.before:
            raise error

    crud = SpecStar(event_handlers=[explode])

    class Thing(msgspec.Struct):
        name: str

    crud.add_model(Thing)
    app = FastAPI()
    crud.apply(app)
    return app


def test_unexpected_errors_are_opaque_500s(caplog: pytest.LogCaptureFixture) -> None:
    app = _failing_app(RuntimeError("secret-internal-detail"))
    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR):
        r = c.post("/thing", json={"name": "x"})
        problem(r, 500, "internal_error")
    assert "secret" not in r.text
    assert "secret-internal-detail" in caplog.text


def test_storage_errors_are_opaque_500s(caplog: pytest.LogCaptureFixture) -> None:
    app = _failing_app(StorageError("disk on fire at /var/db"))
    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR):
        r = c.post("/thing", json={"name": "x"})
        problem(r, 500, "storage_error")
    assert "disk" not in r.text
    assert "disk on fire" in caplog.text


def test_batch_rows_failing_with_server_errors_are_opaque(caplog: pytest.LogCaptureFixture) -> None:
    def explode(event: Event) -> None:
        if event.phase is EventPhase.before and event.context.action == "delete":
            raise StorageError("disk on fire at /var/db")

    crud = SpecStar(event_handlers=[explode])

    class Thing(msgspec.Struct):
        name: str

    crud.add_model(Thing)
    app = FastAPI()
    crud.apply(app)
    with TestClient(app) as c, caplog.at_level(logging.ERROR):
        rid = c.post("/thing", json={"name": "x"}).json()["resource_id"]
        r = c.post("/thing/batch/delete", json={"confirm_all": True})
    assert r.status_code == 200
    assert r.json()["failed"] == [
        {
            "resource_id": rid,
            "status": 500,
            "code": "storage_error",
            "detail": "could not be changed; the error was logged",
        }
    ]
    assert "disk" not in r.text
    assert "disk on fire" in caplog.text


def test_app_level_handlers_cover_other_routes() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise PermissionDeniedError("no")

    @app.get("/typed")
    def typed(n: int) -> int:
        return n

    with TestClient(app) as c:
        problem(c.get("/boom"), 403, "permission_denied")
        doc = problem(c.get("/typed", params={"n": "x"}), 422, "validation_error")
        assert doc["errors"][0] == {
            "loc": "n",
            "message": "Input should be a valid integer, unable to parse string as an integer",
            "source": "query",
        }


# -- hostile input never makes a 500 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("POST", "/user-profile", {"json": {"name": "x", "joined": "0001-01-01T00:00:00+14:00"}}),
        ("POST", "/user-profile", {"json": {"name": "x", "joined": "9999-12-31T23:59:59-12:00"}}),
        ("GET", "/user-profile", {"params": {"created_time_start": "0001-01-01T00:00:00+14:00"}}),
        ("GET", "/user-profile", {"params": {"updated_time_end": "9999-12-31T23:59:59-12:00"}}),
        ("GET", "/user-profile", {"params": {"qb": 'joined > dt"0001-01-01T00:00:00+14:00"'}}),
        ("GET", "/book", {"params": {"offset": str(2**70)}}),
        ("GET", "/book/x/revisions", {"params": {"offset": str(2**70)}}),
        ("GET", "/book", {"params": {"qb": f"year > {2**80}"}}),
        ("GET", "/book", {"params": {"qb": "rating > 1e999"}}),
        ("GET", "/book", {"params": {"qb": 'title.regex("(a+)+$")'}}),
        ("GET", "/book/count", {"params": {"created_by": ["a"] * 500}}),
        ("GET", "/book", {"params": {"partial": "/" + "a/" * 500}}),
        ("GET", "/book", {"params": {"sorts": ",".join(f"f{i}" for i in range(300))}}),
        ("POST", "/book", {"json": {"title": "t", "isbn": "big", "year": 2**70}}),
        ("POST", "/book", {"content": b'{"title": "\\ud800", "isbn": "s", "year": 1}'}),
        ("POST", "/book", {"content": b"[" * 100_000}),
        ("PATCH", "/book/x", {"json": [{"op": "add", "path": "/" + "a/" * 300, "value": 1}]}),
        ("GET", "/book/" + "a" * 201, {}),
    ],
)
def test_hostile_input_is_a_4xx_or_accepted(
    client: TestClient, method: str, url: str, kwargs: dict[str, Any]
) -> None:
    r = client.request(method, url, **kwargs)
    assert r.status_code < 500, r.text


def test_large_bodies_decode_off_the_event_loop(client: TestClient) -> None:
    body = {"title": "x" * 200_000, "isbn": "large", "year": 1}
    r = client.post("/book", json=body)
    assert r.status_code == 201
    assert client.get(r.headers["location"]).json()["data"]["title"] == body["title"]
    problem(client.post("/book", content=b"{" + b" " * 100_000), 400, "invalid_json")

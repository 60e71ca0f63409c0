"""A 422 lists every field error of the request at once, each located in its source."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _errors(r: Any) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    return [(e["source"], e["loc"]) for e in r.json()["errors"]]


BAD_BOOK = {"title": "", "isbn": 5, "year": "1965", "rating": "high"}
BAD_BOOK_LOCS = [("body", "/title"), ("body", "/isbn"), ("body", "/year"), ("body", "/rating")]


def test_create_reports_every_bad_field(client: TestClient) -> None:
    r = client.post("/book", json=BAD_BOOK)
    assert _errors(r) == BAD_BOOK_LOCS
    messages = [e["message"] for e in r.json()["errors"]]
    assert messages[1] == "Expected `str`, got `int`"


def test_replace_reports_every_bad_field(client: TestClient, make_book: Any) -> None:
    assert _errors(client.put("/book/new-one", json=BAD_BOOK)) == BAD_BOOK_LOCS
    rid = make_book()["resource_id"]
    assert _errors(client.put(f"/book/{rid}", json=BAD_BOOK)) == BAD_BOOK_LOCS


def test_missing_fields_are_all_named(client: TestClient) -> None:
    errors = _errors(client.post("/book", json={"rating": 2}))
    assert errors == [("body", "/title"), ("body", "/isbn"), ("body", "/year")]


def test_nested_fields_are_checked_one_by_one(client: TestClient) -> None:
    body = {"name": 1, "address": {"city": 2, "street": 3}, "joined": "yesterday"}
    assert _errors(client.post("/user-profile", json=body)) == [
        ("body", "/name"),
        ("body", "/address/city"),
        ("body", "/address/street"),
        ("body", "/joined"),
    ]


def test_modify_data_reports_every_bad_field(client: TestClient) -> None:
    client.post("/note", params={"resource_id": "n-1"}, json={"text": "draft"})
    r = client.post("/note/n-1/modify", json={"data": {"text": 5}})
    assert _errors(r) == [("body", "/text")]


def test_a_single_error_keeps_its_message(client: TestClient) -> None:
    r = client.post("/book", json={"title": "T", "isbn": "i", "year": "x"})
    assert _errors(r) == [("body", "/year")]
    assert "/year" in r.json()["detail"] or "year" in r.json()["detail"]


def test_query_parameters_report_every_error(client: TestClient) -> None:
    params = {"limit": 0, "offset": -1, "is_deleted": "maybe", "created_time_start": "nope"}
    errors = set(_errors(client.get("/book", params=params)))
    assert errors == {
        ("query", "limit"),
        ("query", "offset"),
        ("query", "is_deleted"),
        ("query", "created_time_start"),
    }


def test_a_reserved_id_names_where_it_came_from(client: TestClient) -> None:
    body = {"title": "T", "isbn": "i", "year": 1}
    for reserved in ("count", "batch"):
        r = client.post("/book", params={"resource_id": reserved}, json=body)
        assert _errors(r) == [("query", "resource_id")]
    assert _errors(client.put("/book/batch", json=body)) == [("path", "resource_id")]
    # /book/count is a route of its own: another method on it is 405, not an invalid id
    r = client.put("/book/count", json=body)
    assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD")

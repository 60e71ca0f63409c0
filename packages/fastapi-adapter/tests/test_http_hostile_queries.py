"""Hostile queries over HTTP: a regex outside the dialect is a 400 naming the construct, a
catastrophic pattern answers at once, and a query past the store's budget is a 503
``query_timeout`` problem, never a stalled worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from specstar.core.memory import MemoryStorageFactory
from specstar.core.query._regex import Regex
from specstar.sql import SQLiteStorageFactory

from .conftest import Book, make_app
from .test_http_errors import problem


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        ("^(?=secret)", "lookahead"),
        ("(?<=a)b", "lookbehind"),
        ("(a)\\\\1", "backreferences"),
        ("(?i)abc", "inline flags"),
        ("a{1000}", "above 255"),
    ],
)
def test_a_regex_outside_the_dialect_is_400_naming_it(
    client: TestClient, pattern: str, named: str
) -> None:
    for url in ("/book", "/book/count"):
        doc = problem(
            client.get(url, params={"qb": f'title.regex("{pattern}")'}), 400, "invalid_query"
        )
        assert named in doc["detail"]
        assert doc["path"] == "title"


def test_a_catastrophic_pattern_costs_one_step_per_character(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = 0
    original = Regex._step

    def counted(self: Regex, state: Any, char: str) -> Any:
        nonlocal steps
        steps += 1
        return original(self, state, char)

    monkeypatch.setattr(Regex, "_step", counted)
    value = "a" * 28 + "!"
    assert client.post("/book", json={"title": value, "isbn": "1", "year": 1}).status_code == 201
    r = client.get("/book/count", params={"qb": 'title.regex("^(a+)+$")'})
    assert r.status_code == 200
    assert r.json() == {"count": 0}
    assert steps <= len(value)


@pytest.fixture(params=["memory", "sqlite"])
def tight(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """An app whose store gives every query a budget no query over 300 rows can meet."""
    if request.param == "memory":
        factory: Any = MemoryStorageFactory(query_timeout=1e-6)
    else:
        SQLiteStorageFactory(tmp_path / "db").close()
        factory = SQLiteStorageFactory(tmp_path / "db", query_timeout=1e-6)
    app, crud = make_app(storage_factory=factory)
    books = crud.resource_managers["book"]
    for i in range(300):
        books.create(Book(title="ab" * 200 + str(i), isbn=str(i), year=i))
    with TestClient(app) as c:
        yield c
    if isinstance(factory, SQLiteStorageFactory):
        factory.close()


def test_a_query_past_the_budget_is_503_query_timeout(tight: TestClient) -> None:
    for url in ("/book", "/book/count"):
        r = tight.get(url, params={"qb": 'title.regex("(a|b)*c")'})
        doc = problem(r, 503, "query_timeout")
        assert doc["budget"] == pytest.approx(1e-6)
        assert "budget" in doc["detail"]


# -- patch cost ----------------------------------------------------------------------------------

PATCH = {"Content-Type": "application/json-patch+json"}


def test_patch_cost_is_bounded_before_work(client: TestClient) -> None:
    book = client.post("/book", json={"title": "t", "isbn": "p", "year": 1, "tags": ["y" * 64]})
    url = f"/book/{book.json()['resource_id']}"
    many = [{"op": "test", "path": "/year", "value": 1}] * 1001
    doc = problem(client.patch(url, json=many, headers=PATCH), 422, "invalid_patch")
    assert "max_patch_operations" in doc["detail"]
    bomb = [{"op": "copy", "from": "/tags", "path": "/tags/-"}] * 23
    doc = problem(client.patch(url, json=bomb, headers=PATCH), 422, "invalid_patch")
    assert "max_patched_bytes" in doc["detail"]
    assert doc["errors"][0]["loc"] == "/17"  # the first copy past 16 MiB
    assert client.get(url).json()["data"]["tags"] == ["y" * 64]  # nothing was applied


def test_the_query_routes_document_the_503(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/book", "/book/count", "/book/_partial"):
        assert "503" in paths[path]["get"]["responses"], path

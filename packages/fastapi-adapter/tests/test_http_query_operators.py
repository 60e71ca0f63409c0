"""The query operators through HTTP: ``qb`` (string form) and ``conditions`` (JSON form) accept
every operator and field function, misuse is a 400 naming the field, and the OpenAPI document
lists the operators."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from specstar.core import QB, format_condition
from specstar.fastapi import SpecStar

from .conftest import book

BOOKS = [
    ("Dune", 1965, ["sf", "Classic"], 4.5),
    ("dune messiah", 1969, ["SF"], None),
    ("Emma", 1815, [], 0.0),
    ("  ", 2000, ["", "x"], 1.0),
]


@pytest.fixture
def shelf(crud: SpecStar) -> None:
    manager = crud.get_resource_manager("book")
    for i, (title, year, tags, rating) in enumerate(BOOKS):
        manager.create(book(title=title, isbn=f"i{i}", year=year, tags=tags, rating=rating))


def _titles(client: TestClient, **params: str) -> list[str]:
    response = client.get("/book", params={**params, "sorts": "year"})
    assert response.status_code == 200, response.text
    return [item["data"]["title"] for item in response.json()]


@pytest.mark.parametrize(
    ("qb", "expected"),
    [
        ('title.icontains("DUNE")', ["Dune", "dune messiah"]),
        ('title.istarts_with("d")', ["Dune", "dune messiah"]),
        ('title.iends_with("MA")', ["Emma"]),
        ("title.is_blank()", ["  "]),
        ("title.is_empty()", []),
        ("tags.is_empty()", ["Emma"]),
        ("rating.truthy()", ["Dune", "  "]),
        ("rating.truthy(false)", ["Emma", "dune messiah"]),
        ("title.length() == 4", ["Emma", "Dune"]),
        ("tags.length() >= 2", ["Dune", "  "]),
        ('tags.any().icontains("sf")', ["Dune", "dune messiah"]),
        ('tags.all().istarts_with("s")', ["Emma", "dune messiah"]),
        ('tags.any() == ""', ["  "]),
        ('!tags.any().istarts_with("s") & year > 1900', ["  "]),
    ],
)
def test_qb_accepts_the_operators(
    client: TestClient, shelf: None, qb: str, expected: list[str]
) -> None:
    assert _titles(client, qb=qb) == sorted(expected, key=_year)


def _year(title: str) -> int:
    return next(year for t, year, _, _ in BOOKS if t == title)


@pytest.mark.parametrize(
    "where",
    [
        QB.title.icontains("DUNE"),
        QB.title.length() < 5,
        QB.tags.any().istarts_with("C"),
        QB.tags.all() != "x",
        QB.rating.is_falsy(),
        QB.title.is_blank(False) & QB.tags.is_empty(False),
        QB.title.like("D%e"),
        QB.year.between(1815, 1965),
        QB.created_time().this_year(now=None),
    ],
)
def test_conditions_json_and_qb_agree(client: TestClient, shelf: None, where: Any) -> None:
    from msgspec import json as mjson

    as_json = mjson.encode(where).decode()
    by_json = _titles(client, conditions=as_json)
    assert by_json == _titles(client, qb=format_condition(where))
    count = client.get("/book/count", params={"conditions": as_json})
    assert count.status_code == 200
    assert count.json()["count"] == len(by_json)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"qb": 'year.icontains("1")'}, "year"),
        ({"qb": "year.length() > 1"}, "length() applies to str and list fields"),
        ({"qb": "title.any() == 1"}, "any() applies to list fields"),
        ({"qb": "tags.any().any() == 1"}, "after the path"),
        ({"qb": "title.is_blank(3)"}, "is_blank takes true or false"),
        (
            {
                "conditions": json.dumps(
                    {"type": "cmp", "field": {"path": "tags", "fn": "sum"}, "op": "eq", "value": 1}
                )
            },
            "unknown field function 'sum'",
        ),
        (
            {
                "conditions": json.dumps(
                    {"type": "cmp", "field": {"path": "tags", "fnx": "any"}, "op": "eq"}
                )
            },
            "fnx",
        ),
    ],
)
def test_misuse_is_a_400_naming_it(
    client: TestClient, shelf: None, params: dict[str, str], named: str
) -> None:
    response = client.get("/book", params=params)
    assert response.status_code == 400, response.text
    assert named in response.json()["detail"]


def test_openapi_lists_the_operators(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    params = {p["name"]: p for p in doc["paths"]["/book"]["get"]["parameters"]}
    for word in ("icontains", "is_blank", "truthy", "length()", "any()"):
        assert word in params["qb"]["description"]
    assert "Expr" in params["conditions"]["description"]  # whose schema lists the operators
    schemas = json.dumps(doc["components"]["schemas"])
    for op in ("icontains", "istarts_with", "iends_with", "is_empty", "is_blank", "truthy"):
        assert f'"{op}"' in schemas
    assert '"fn"' in schemas

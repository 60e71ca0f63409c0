"""The query string of the generated routes: every list parameter in the repeated, bracket and
comma forms, and no parameter a route does not read."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from specstar.fastapi import SpecStar, SpecStarRoute
from specstar.fastapi.routes import ListRouteTemplate

from .conftest import book


class Thing(msgspec.Struct):
    name: str


@pytest.fixture
def books(crud: SpecStar) -> dict[str, str]:
    """Four books by ann, bob, cy and dee (resource id by author); bob's is updated by eve."""
    manager = crud.get_resource_manager("book")
    ids: dict[str, str] = {}
    for year, user in enumerate(("ann", "bob", "cy", "dee"), start=1960):
        info = manager.create(book(title=f"T{year}", isbn=f"isbn-{user}", year=year), user=user)
        ids[user] = info.resource_id
    manager.patch(ids["bob"], [{"op": "add", "path": "/rating", "value": 4.0}], user="eve")
    return ids


def _creators(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/book?{query}")
    assert response.status_code == 200, response.text
    return [item["meta"]["created_by"] for item in response.json()]


# -- (a) list parameters: repeated, brackets, commas -------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "created_by=bob&created_by=dee",
        "created_by[]=bob&created_by[]=dee",
        "created_by%5B%5D=bob&created_by%5B%5D=dee",
        "created_by=bob,dee",
        "created_by=bob&created_by[]=dee",
    ],
)
def test_created_by_in_every_form(client: TestClient, books: dict[str, str], query: str) -> None:
    assert sorted(_creators(client, f"{query}&sorts=year")) == ["bob", "dee"]


@pytest.mark.parametrize(
    "query",
    ["updated_by=eve&updated_by=zed", "updated_by[]=eve&updated_by[]=zed", "updated_by=eve,zed"],
)
def test_updated_by_in_every_form(client: TestClient, books: dict[str, str], query: str) -> None:
    assert _creators(client, query) == ["bob"]


@pytest.mark.parametrize(
    "query", ["sorts=-year&sorts=title", "sorts[]=-year&sorts[]=title", "sorts=-year,title"]
)
def test_sorts_in_every_form(client: TestClient, books: dict[str, str], query: str) -> None:
    assert _creators(client, query) == ["dee", "cy", "bob", "ann"]


def test_sorts_repeated_json_and_string_forms_concatenate(
    client: TestClient, books: dict[str, str]
) -> None:
    json_form = '[{"field": {"path": "rating"}}]'  # rated first (nulls last), then by year
    assert _creators(client, f"sorts={json_form}&sorts=-year") == ["bob", "dee", "cy", "ann"]


@pytest.mark.parametrize(
    "query", ["returns=data&returns=meta", "returns[]=data&returns[]=meta", "returns=data,meta"]
)
def test_returns_in_every_form(client: TestClient, books: dict[str, str], query: str) -> None:
    response = client.get(f"/book/{books['ann']}?{query}")
    assert response.status_code == 200, response.text
    assert sorted(response.json()) == ["data", "meta"]


@pytest.mark.parametrize(
    "query", ["partial=title&partial=year", "partial[]=title&partial[]=year", "partial=title,year"]
)
def test_partial_in_every_form(client: TestClient, books: dict[str, str], query: str) -> None:
    one = client.get(f"/book/{books['ann']}/partial?{query}")
    assert one.status_code == 200, one.text
    assert one.json()["data"] == {"title": "T1960", "year": 1960}
    listed = client.get(f"/book/_partial?{query}&created_by[]=ann")
    assert listed.status_code == 200, listed.text
    assert [item["data"] for item in listed.json()] == [{"title": "T1960", "year": 1960}]


def test_count_takes_the_bracket_form(client: TestClient, books: dict[str, str]) -> None:
    response = client.get("/book/count?created_by[]=ann&created_by[]=cy")
    assert response.status_code == 200, response.text
    assert response.json() == {"count": 2}


def test_next_link_carries_the_rewritten_list(client: TestClient, books: dict[str, str]) -> None:
    first = client.get("/book?created_by[]=bob&created_by[]=cy&created_by[]=dee&limit=2&sorts=year")
    assert first.status_code == 200, first.text
    link = first.headers["link"].split(">")[0].lstrip("<")
    assert "created_by=bob" in link
    assert "created_by%5B%5D" not in link
    second = client.get(link)
    assert [item["meta"]["created_by"] for item in second.json()] == ["dee"]


# -- (b) unknown parameters --------------------------------------------------------------------


def _unknown(response: Any, *names: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "unknown_parameter"
    assert [e["loc"] for e in problem["errors"]] == list(names)
    assert {e["source"] for e in problem["errors"]} == {"query"}
    for name in names:
        assert repr(name) in problem["detail"]
    return problem


def test_unknown_list_parameter_is_refused_not_ignored(
    client: TestClient, books: dict[str, str]
) -> None:
    problem = _unknown(client.get("/book?creator=bob"), "creator")
    assert "created_by" in problem["accepted"]
    assert "sorts" in problem["accepted"]
    assert problem["accepted"] == sorted(problem["accepted"])
    assert ", ".join(problem["accepted"]) in problem["detail"]


def test_brackets_on_a_scalar_parameter_are_unknown(client: TestClient) -> None:
    _unknown(client.get("/book?limit[]=2"), "limit[]")


def test_every_unknown_parameter_is_named_once(client: TestClient) -> None:
    _unknown(client.get("/book/count?a=1&b=2&a=3&qb=year>1"), "a", "b")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/book/{id}", None),
        ("HEAD", "/book/{id}", None),
        ("GET", "/book/{id}/partial?partial=title", None),
        ("GET", "/book/{id}/revisions", None),
        ("PUT", "/book/{id}", book()),
        ("PATCH", "/book/{id}", {"year": 1}),
        ("DELETE", "/book/{id}", None),
        ("POST", "/book/{id}/restore", None),
        ("POST", "/book", book(isbn="other")),
        ("POST", "/book/batch/delete", {"resource_ids": []}),
    ],
)
def test_every_route_refuses_unknown_parameters(
    client: TestClient,
    books: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    url = path.replace("{id}", books["ann"])
    url += ("&" if "?" in url else "?") + "dry_run=true"
    response = client.request(method, url, json=body)
    if method == "HEAD":
        assert response.status_code == 400
        assert response.content == b""
        return
    _unknown(response, "dry_run")
    # nothing happened: the refused request did not act
    assert client.get(f"/book/{books['ann']}").json()["info"]["revision_id"].endswith(":1")


def test_documented_400_on_every_generated_operation(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert "400" in operation["responses"], f"{method.upper()} {path}"


def test_problem_schema_documents_accepted(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Problem"]
    assert schema["properties"]["accepted"] == {"type": "array", "items": {"type": "string"}}


def test_relaxed_app_leaves_unknown_parameters_unread(app_factory: Any) -> None:
    app, crud = app_factory(strict_query_parameters=False)
    crud.get_resource_manager("book").create(book(), user="ann")
    with TestClient(app) as client:
        response = client.get("/book?utm_source=mail&created_by[]=ann")
        assert response.status_code == 200, response.text
        assert len(response.json()) == 1
        assert client.get("/book?created_by[]=nobody&utm=1").json() == []


def test_configure_relaxes_and_template_setting_wins() -> None:
    crud = SpecStar()
    crud.configure(strict_query_parameters=False)
    crud.add_route_template(ListRouteTemplate(strict_query_parameters=True))
    crud.add_model(Thing)
    app = FastAPI()
    crud.apply(app)
    with TestClient(app) as client:
        _unknown(client.get("/thing?x=1"), "x")  # the list template is strict on its own
        assert client.post("/thing?x=1", json={"name": "a"}).status_code == 201


def test_route_class_for_query_parameters() -> None:
    assert SpecStarRoute.for_query_parameters(True) is SpecStarRoute
    lenient = SpecStarRoute.for_query_parameters(False)
    assert issubclass(lenient, SpecStarRoute)
    assert not lenient.strict_query_parameters


def test_included_router_keeps_the_setting() -> None:
    crud = SpecStar(strict_query_parameters=False)
    crud.add_model(Thing)
    app = FastAPI()
    crud.apply(app, router=APIRouter(prefix="/api"))
    with TestClient(app) as client:
        assert client.get("/api/thing?x=1").status_code == 200


def test_a_single_valued_parameter_given_twice_is_a_400() -> None:
    import msgspec
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from specstar.fastapi import SpecStar

    class Note(msgspec.Struct, kw_only=True):
        text: str

    crud = SpecStar()
    crud.add_model(Note)
    app = FastAPI()
    crud.apply(app)
    client = TestClient(app)
    response = client.get("/note", params=[("limit", "1"), ("limit", "2")])
    assert response.status_code == 400
    assert response.json()["code"] == "repeated_parameter"
    assert "'limit'" in response.json()["detail"]
    assert client.get("/note", params=[("limit", "1")]).status_code == 200
    listed = client.get("/note", params=[("created_by", "a"), ("created_by", "b")])
    assert listed.status_code == 200  # list-valued parameters may repeat


def test_a_single_json_sort_object_is_read_whole() -> None:
    from specstar.fastapi.params import parse_sorts_param

    (sort,) = parse_sorts_param('{"field": {"path": "year"}, "descending": true}')
    assert sort.field.path == "year"
    assert sort.descending
    assert parse_sorts_param('[{"field": {"path": "year"}}]')[0].field.path == "year"
    assert [s.field.path for s in parse_sorts_param("-year,title")] == ["year", "title"]

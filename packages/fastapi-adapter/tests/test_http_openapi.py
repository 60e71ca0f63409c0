"""The OpenAPI document: valid 3.1, real model schemas everywhere, and a client generates."""

from __future__ import annotations

import compileall
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from specstar.core import OnDelete, Ref, Unique
from specstar.fastapi import SpecStar

REF = "#/components/schemas/"


@pytest.fixture
def doc(app_and_crud: tuple[FastAPI, Any]) -> dict[str, Any]:
    out: dict[str, Any] = app_and_crud[0].openapi()
    return out


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op) for path, item in doc["paths"].items() for method, op in item.items()
    ]


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith(REF), ref
        assert ref.removeprefix(REF) in schemas, ref


def test_model_schemas_are_the_real_ones(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    book = schemas["Book"]
    assert set(book["properties"]) == {"title", "isbn", "year", "tags", "rating"}
    assert set(book["required"]) == {"title", "isbn", "year"}
    assert book["properties"]["title"]["minLength"] == 1
    assert "required" not in schemas["BookPartial"]
    profile = schemas["UserProfilePartial"]
    assert "required" not in schemas["AddressPartial"]
    assert REF + "AddressPartial" in json.dumps(profile)
    assert schemas["BookResource"]["properties"]["info"] == {"$ref": REF + "RevisionInfo"}
    assert schemas["BookModify"]["properties"]["data"] == {"$ref": REF + "Book"}
    for name in ("RevisionInfo", "ResourceMeta", "Problem", "JsonPatch", "MergePatch", "Expr"):
        assert name in schemas


def test_bodies_use_the_model_schemas(doc: dict[str, Any]) -> None:
    paths = doc["paths"]

    def body(path: str, method: str, media: str = "application/json") -> Any:
        return paths[path][method]["requestBody"]["content"][media]["schema"]

    def ok(path: str, method: str, status: str = "200") -> Any:
        return paths[path][method]["responses"][status]["content"]["application/json"]["schema"]

    assert body("/book", "post") == {"$ref": REF + "Book"}
    assert body("/book/{resource_id}", "put") == {"$ref": REF + "Book"}
    assert paths["/book/{resource_id}"]["patch"]["requestBody"]["content"] == {
        "application/json": {
            "schema": {"oneOf": [{"$ref": REF + "JsonPatch"}, {"$ref": REF + "MergePatch"}]}
        }
    }
    assert body("/note/{resource_id}/modify", "post") == {"$ref": REF + "NoteModify"}
    assert body("/book/batch/delete", "post") == {"$ref": REF + "BatchRequest"}
    assert ok("/book", "post", "201") == {"$ref": REF + "RevisionInfo"}
    assert ok("/book", "get") == {"type": "array", "items": {"$ref": REF + "BookResource"}}
    assert ok("/book/{resource_id}", "get") == {"$ref": REF + "BookResource"}
    assert ok("/book/count", "get") == {"$ref": REF + "Count"}
    assert ok("/book/{resource_id}", "delete") == {"$ref": REF + "ResourceMeta"}
    headers = paths["/book/{resource_id}"]["get"]["responses"]["200"]["headers"]
    assert headers["ETag"]["required"] is True


def test_every_operation_documents_problems_and_bodies(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    assert len(ops) == 3 * 18 + 2  # + /_backup/export and /_backup/import
    for path, method, op in ops:
        responses = op["responses"]
        assert "422" in responses, (path, method)
        for status, response in responses.items():
            content = response.get("content", {})
            if status.startswith(("4", "5")):
                assert content == {
                    "application/problem+json": {"schema": {"$ref": REF + "Problem"}}
                }, (path, method, status)
            elif status != "304":
                assert all(c["schema"] for c in content.values()), (path, method, status)
        assert op["operationId"]
    ids = [op["operationId"] for _, _, op in ops]
    assert len(ids) == len(set(ids))
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_openapi_python_client_generates_a_client(
    doc: dict[str, Any], tmp_path: Path, client: TestClient, make_book: Any
) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(doc))
    out = tmp_path / "client"
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(out),
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
    models = {p.stem for p in (package / "models").glob("*.py")}
    assert {"book", "book_partial", "book_resource", "revision_info", "problem"} <= models
    assert (package / "api" / "book" / "create_book.py").exists()
    assert compileall.compile_dir(str(package), quiet=1)
    _patch_with_the_generated_client(out, package.name, client, make_book()["resource_id"])


def _patch_with_the_generated_client(
    out: Path, name: str, client: TestClient, resource_id: str
) -> None:
    """Both PATCH flavours, built by the generated client's own request code."""
    sys.path.insert(0, str(out))
    try:
        patch_book = importlib.import_module(f"{name}.api.book.patch_book")
        models = importlib.import_module(f"{name}.models")
        operation = models.JsonPatchOperation.from_dict(
            {"op": "replace", "path": "/title", "value": "Dune Messiah"}
        )
        flavours = [
            ([operation], {"title": "Dune Messiah"}),
            (models.MergePatch.from_dict({"year": 1969}), {"year": 1969}),
        ]
        for body, expected in flavours:
            kwargs = patch_book._get_kwargs(resource_id, body=body)
            assert kwargs["headers"]["Content-Type"] == "application/json"
            r = client.request(
                kwargs["method"], kwargs["url"], json=kwargs["json"], headers=kwargs["headers"]
            )
            assert r.status_code == 200, r.text
            data = client.get(f"/book/{resource_id}").json()["data"]
            assert expected.items() <= data.items()
    finally:
        sys.path.remove(str(out))
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]


# -- types as client generators read them -------------------------------------------------------


def test_datetimes_are_date_time(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    joined = schemas["UserProfile"]["properties"]["joined"]["anyOf"]
    assert {"type": "string", "format": "date-time"} in joined
    for name in ("ResourceMeta", "RevisionInfo"):
        for member in ("created_time", "updated_time"):
            assert schemas[name]["properties"][member]["format"] == "date-time", name


def test_inputs_may_omit_defaults_outputs_always_have_them(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    book, output = schemas["Book"], schemas["BookOutput"]
    assert set(book["required"]) == {"title", "isbn", "year"}
    assert all("default" not in p for p in book["properties"].values())
    assert "Default: `[]`." in book["properties"]["tags"]["description"]
    assert output["required"] == ["title", "isbn", "year", "tags", "rating"]
    assert output["properties"]["tags"]["default"] == []
    profile = schemas["UserProfileOutput"]
    assert set(profile["required"]) == {"name", "address", "joined"}
    assert REF + "AddressOutput" in json.dumps(profile)
    assert schemas["AddressOutput"]["required"] == ["city", "street"]
    assert all("default" not in p for p in schemas["BookPartial"]["properties"].values())
    assert not schemas["BatchRequest"].get("required")
    meta = schemas["ResourceMeta"]
    assert {"is_deleted", "indexed_data"} <= set(meta["required"])
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "code"}
    assert schemas["MergePatch"]["additionalProperties"] is True


def test_full_reads_are_typed_as_the_whole_model(doc: dict[str, Any]) -> None:
    schemas, paths = doc["components"]["schemas"], doc["paths"]
    assert schemas["BookResource"]["properties"]["data"] == {"$ref": REF + "BookOutput"}
    partial = schemas["BookPartialResource"]["properties"]
    assert partial["data"] == {"$ref": REF + "BookPartial"}

    def ok(path: str) -> Any:
        return paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]

    def params(path: str) -> set[str]:
        return {p["name"] for p in paths[path]["get"]["parameters"]}

    assert ok("/book/{resource_id}") == {"$ref": REF + "BookResource"}
    assert ok("/book") == {"type": "array", "items": {"$ref": REF + "BookResource"}}
    assert ok("/book/{resource_id}/partial") == {"$ref": REF + "BookPartialResource"}
    assert ok("/book/_partial") == {"type": "array", "items": {"$ref": REF + "BookPartialResource"}}
    assert "partial" not in params("/book/{resource_id}") | params("/book")
    for path in ("/book/{resource_id}/partial", "/book/_partial"):
        (spec,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "partial"]
        assert spec["required"] is True


def test_unique_fields_are_marked_x_unique(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for name in ("Book", "BookOutput", "BookPartial"):
        props = schemas[name]["properties"]
        assert props["isbn"].get("x-unique") is True, name
        assert [p for p, s in props.items() if s.get("x-unique")] == ["isbn"]


class Team(msgspec.Struct, kw_only=True):
    slug: Annotated[str, Unique()]


class Player(msgspec.Struct, kw_only=True):
    team_id: Annotated[str | None, Ref("team", on_delete=OnDelete.set_null)] = None
    number: int


def test_document_lists_indexed_fields_and_relationships() -> None:
    crud = SpecStar()
    crud.add_model(Team)
    crud.add_model(Player, indexed_fields=["number"])
    app = FastAPI()
    crud.apply(app)
    document = TestClient(app).get("/openapi.json").json()
    validate(document)
    assert document["x-specstar-relationships"] == [
        {
            "source": "player",
            "field": "team_id",
            "target": "team",
            "on_delete": "set_null",
            "ref_type": "resource_id",
            "is_list": False,
            "nullable": True,
        }
    ]
    assert document["x-specstar-relationships"] == TestClient(app).get("/_relationships").json()
    assert document["x-specstar-indexed-fields"] == {
        "team": [{"path": "slug", "kind": "str", "is_list": False, "unique": True}],
        "player": [
            {"path": "number", "kind": "int", "is_list": False, "unique": False},
            {"path": "team_id", "kind": "str", "is_list": False, "unique": False},
        ],
    }
    assert document["components"]["schemas"]["Team"]["properties"]["slug"]["x-unique"] is True


def test_models_without_refs_have_an_empty_relationship_list(doc: dict[str, Any]) -> None:
    assert doc["x-specstar-relationships"] == []
    assert set(doc["x-specstar-indexed-fields"]) == {"book", "user-profile", "note"}
    book_paths = [f["path"] for f in doc["x-specstar-indexed-fields"]["book"]]
    assert sorted(book_paths) == ["isbn", "rating", "tags", "title", "year"]

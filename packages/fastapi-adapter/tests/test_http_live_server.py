"""End to end: a real uvicorn server process, driven over HTTP with httpx."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from specstar.testing.services import uvicorn_server

APP = textwrap.dedent(
    """
    from typing import Annotated

    import msgspec
    from fastapi import FastAPI, Header

    from specstar.core import Unique
    from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers


    class Item(msgspec.Struct, kw_only=True):
        sku: Annotated[str, Unique()]
        name: str
        qty: int = 0
        tags: list[str] = []


    def user(x_user: str | None = Header(None)) -> str | None:
        return x_user


    crud = SpecStar(dependency_provider=DependencyProvider(get_user=user))
    crud.add_model(Item, indexed_fields=["name", "qty"])
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    """
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("live")
    (folder / "live_app.py").write_text(APP)
    with uvicorn_server(folder, "live_app:app") as server:
        yield server.url


def test_create_get_list_patch_delete_over_real_http(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers={"X-User": "e2e"}, timeout=10) as c:
        r = c.post("/item", json={"sku": "A-1", "name": "bolt", "qty": 3})
        assert r.status_code == 201
        info = r.json()
        rid = info["resource_id"]
        assert info["created_by"] == "e2e"
        assert r.headers["location"] == f"{base_url}/item/{rid}"
        assert r.headers["etag"] == f'"{rid}:1"'

        r = c.get(r.headers["location"])
        assert r.status_code == 200
        assert r.json()["data"] == {"sku": "A-1", "name": "bolt", "qty": 3, "tags": []}

        c.post("/item", json={"sku": "B-2", "name": "nut", "qty": 10})
        r = c.get("/item", params={"qb": "qty >= 3", "sorts": "-qty", "include_total": "true"})
        assert [i["data"]["sku"] for i in r.json()] == ["B-2", "A-1"]
        assert r.headers["x-total-count"] == "2"

        r = c.patch(
            f"/item/{rid}",
            content=b'[{"op": "replace", "path": "/qty", "value": 4}]',
            headers={"Content-Type": "application/json-patch+json", "If-Match": f'"{rid}:1"'},
        )
        assert r.status_code == 200
        assert r.headers["etag"] == f'"{rid}:2"'
        stale = c.patch(f"/item/{rid}", json={"qty": 5}, headers={"If-Match": f'"{rid}:1"'})
        assert stale.status_code == 412
        assert stale.headers["content-type"] == "application/problem+json"
        assert stale.json()["actual"] == f"{rid}:2"

        dup = c.post("/item", json={"sku": "B-2", "name": "copy"})
        assert dup.status_code == 409
        assert dup.json()["field"] == "sku"

        assert c.delete(f"/item/{rid}").status_code == 200
        assert c.get(f"/item/{rid}").status_code == 410
        assert c.get("/item/count").json() == {"count": 1}
        assert c.post(f"/item/{rid}/restore").status_code == 200
        assert c.delete(f"/item/{rid}/permanently").status_code == 200
        assert c.get(f"/item/{rid}").status_code == 404
        assert c.get("/no-such-path").json()["code"] == "not_found"


def test_concurrent_patches_over_real_http_are_all_kept(base_url: str) -> None:
    """Many clients append to one resource at once; every append lands (no lost update)."""
    import concurrent.futures

    with httpx.Client(base_url=base_url, timeout=30) as c:
        rid = c.post("/item", json={"sku": "C-3", "name": "tally", "qty": 0}).json()["resource_id"]

        def add_tag(i: int) -> int:
            with httpx.Client(base_url=base_url, timeout=30) as own:
                ops = [{"op": "add", "path": "/tags/-", "value": f"t{i}"}]
                return own.patch(f"/item/{rid}", json=ops).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(add_tag, range(24)))
        assert codes == [200] * 24
        tags = c.get(f"/item/{rid}").json()["data"]["tags"]
        assert sorted(tags) == sorted(f"t{i}" for i in range(24))
        revisions = c.get(f"/item/{rid}/revisions", params={"limit": 100})
        assert revisions.headers["x-total-count"] == "25"

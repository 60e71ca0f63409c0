"""Indexed text of any length over HTTP: stored, found, sorted and kept unique on every store.

(PostgreSQL used to answer 500 "index row size exceeds maximum" from about 2,700 bytes on.)
"""

from __future__ import annotations

import random
import uuid
from typing import Annotated

import msgspec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from specstar.core import StorageFactory, Unique
from specstar.fastapi import SpecStar, install_problem_handlers


class Article(msgspec.Struct, kw_only=True):
    title: str
    slug: Annotated[str, Unique()]
    tags: list[str] = []


def _text(length: int, seed: int) -> str:
    """Incompressible text (PostgreSQL compresses index entries) of three-byte characters."""
    rnd = random.Random(seed)
    return "".join(chr(rnd.randint(0x4E00, 0x9FFF)) for _ in range(length))


def test_long_indexed_values_over_http(factory: StorageFactory) -> None:
    crud = SpecStar(storage_factory=factory, default_user="u")
    name = f"article-{uuid.uuid4().hex[:8]}"
    crud.add_model(Article, name=name, indexed_fields=["title", "tags"])
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    head = _text(3000, 1)  # 9,000 bytes: more than a PostgreSQL index entry holds
    titles = [head + "b", head + "a", head, _text(3000, 2)]
    with TestClient(app) as client:
        for number, title in enumerate(titles):
            made = client.post(
                f"/{name}", json={"title": title, "slug": title + str(number), "tags": [title]}
            )
            assert made.status_code == 201, made.text
        taken = client.post(f"/{name}", json={"title": "x", "slug": head + "a1"})
        assert taken.status_code == 409
        assert taken.json()["code"] == "unique_violation"
        listed = client.get(f"/{name}", params={"sorts": "title", "returns": "data"})
        assert [i["data"]["title"] for i in listed.json()] == sorted(titles)
        found = client.get(f"/{name}", params={"qb": f'title == "{head}a"', "returns": "data"})
        assert [i["data"]["title"] for i in found.json()] == [head + "a"]
        tagged = client.get(f"/{name}/count", params={"qb": f'tags.contains("{head}b")'})
        assert tagged.json() == {"count": 1}

"""Fixtures for the HTTP adapter tests: a small app with a few models, a test client, and a
fresh, empty store of each kind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from specstar.core import RevisionStatus, StorageFactory, Unique
from specstar.core.memory import MemoryStorageFactory
from specstar.fastapi import SpecStar, install_problem_handlers
from specstar.testing.services import drop_postgres_schema


class Address(msgspec.Struct, kw_only=True):
    city: str
    street: str = ""


class Book(msgspec.Struct, kw_only=True):
    title: Annotated[str, msgspec.Meta(min_length=1)]
    isbn: Annotated[str, Unique()]
    year: int
    tags: list[str] = []
    rating: float | None = None


class UserProfile(msgspec.Struct, kw_only=True):
    name: str
    address: Address | None = None
    joined: datetime | None = None


class Note(msgspec.Struct, kw_only=True):
    text: str


def make_app(**config: Any) -> tuple[FastAPI, SpecStar]:
    """A fresh app: ``book`` (unique isbn), ``user-profile`` (nested), ``note`` (drafts)."""
    crud = SpecStar(**config)
    crud.add_model(Book, indexed_fields=["title", "year", "tags", "rating"])
    crud.add_model(UserProfile, indexed_fields=["name", "address.city", "joined"])
    crud.add_model(Note, default_status=RevisionStatus.draft)
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return app, crud


@pytest.fixture
def app_factory() -> Any:
    """:func:`make_app`, for tests that need an app configured their own way."""
    return make_app


@pytest.fixture
def app_and_crud() -> tuple[FastAPI, SpecStar]:
    return make_app()


@pytest.fixture
def client(app_and_crud: tuple[FastAPI, SpecStar]) -> Iterator[TestClient]:
    with TestClient(app_and_crud[0]) as c:
        yield c


@pytest.fixture
def crud(app_and_crud: tuple[FastAPI, SpecStar]) -> SpecStar:
    return app_and_crud[1]


def book(**changes: Any) -> dict[str, Any]:
    """A valid book body."""
    body: dict[str, Any] = {"title": "Dune", "isbn": "978-0441013593", "year": 1965}
    body.update(changes)
    return body


@pytest.fixture
def make_book(client: TestClient) -> Any:
    """Create a book over HTTP; returns its RevisionInfo JSON."""
    counter = iter(range(1_000_000))

    def create(**changes: Any) -> dict[str, Any]:
        changes.setdefault("isbn", f"isbn-{next(counter)}")
        r = client.post("/book", json=book(**changes))
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    return create


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageFactory]:
    """A fresh, empty store of each kind (PostgreSQL: a schema of its own, dropped after)."""
    if request.param == "memory":
        yield MemoryStorageFactory()
        return
    sql = pytest.importorskip("specstar.sql", reason="specstar-storage-sql is not installed")
    if request.param == "sqlite":
        sqlite = sql.SQLiteStorageFactory(tmp_path / "db")
        yield sqlite
        sqlite.close()
        return
    dsn: str = request.getfixturevalue("postgres_dsn")
    schema = f"specstar_http_{uuid.uuid4().hex[:10]}"
    pg = sql.PostgresStorageFactory(dsn, schema=schema, pool_size=4)
    yield pg
    pg.close()
    drop_postgres_schema(dsn, schema)

"""SpecStar (this repository) as a benchmark driver, through the public ResourceManager API."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import msgspec

from specstar.core import (
    QB,
    MemoryStorage,
    Query,
    ResourceManager,
    ResourceMeta,
    Storage,
    StorageFactory,
    Unique,
)

from .workloads import PAGE, Row


class User(msgspec.Struct):
    """The benchmark model: six fields, ``email`` unique."""

    name: str
    email: Annotated[str, Unique()]
    age: int
    score: float
    tags: list[str]
    active: bool


#: Indexed besides ``email`` (indexed because it is unique): four indexed fields in all.
INDEXED_FIELDS = ("age", "score", "active")
RESOURCE_NAME = "user"
#: The backends keeping data in S3 (the S3 section, ``s3_bench.py``).
#: ``s3-1s`` is ``s3`` with reads up to 1 s stale (``max_staleness=1``), the read semantics of
#: the peer's S3 backend (it checks the S3 copy of its meta at most once a second).
S3_BACKENDS = ("s3", "s3-1s", "sqlite+s3", "postgres+s3")


def storage_factory(
    backend: str, workdir: Path, pg_dsn: str, pg_schema: str, s3: dict[str, Any] | None = None
) -> StorageFactory:
    """The storage factory of a backend, built with its public constructor only.

    The S3 backends (``s3``: no database, ``s3-1s`` the same with reads up to 1 s stale;
    ``sqlite+s3``, ``postgres+s3``: meta in the database,
    revision data as S3 objects) need ``s3``: ``bucket``, ``prefix`` and the
    ``boto3.client`` options (``endpoint_url``, credentials, region)."""
    if backend in S3_BACKENDS:
        if s3 is None:
            raise ValueError(f"backend {backend!r} needs the S3 bucket and client options")
        from specstar.s3 import S3PayloadStoreFactory, S3StorageFactory

        options = dict(s3)
        bucket, prefix = options.pop("bucket"), options.pop("prefix")
        if backend == "s3":
            return S3StorageFactory(bucket, prefix, **options)
        if backend == "s3-1s":
            return S3StorageFactory(bucket, prefix, max_staleness=1.0, **options)
        payloads = S3PayloadStoreFactory(bucket, prefix, **options)
        if backend == "sqlite+s3":
            from specstar.sql import SQLiteStorageFactory

            return SQLiteStorageFactory(workdir, payloads=payloads)
        from specstar.sql import PostgresStorageFactory

        return PostgresStorageFactory(pg_dsn, schema=pg_schema, pool_size=4, payloads=payloads)
    if backend == "sqlite":
        from specstar.sql import SQLiteStorageFactory

        return SQLiteStorageFactory(workdir)
    if backend == "postgres":
        from specstar.sql import PostgresStorageFactory

        return PostgresStorageFactory(pg_dsn, schema=pg_schema, pool_size=4)
    raise ValueError(f"no storage factory for backend {backend!r}")


def range_query(lo: int, hi: int) -> Query:
    """``lo <= age < hi`` and ``active``, by score descending, one page."""
    return Query(
        where=(QB.age >= lo) & (QB.age < hi) & (QB.active == True),  # noqa: E712 - builds a condition
        sorts=(QB.score.desc(),),
        limit=PAGE,
    )


class OursDriver:
    """Runs the workloads on a :class:`ResourceManager` over memory, SQLite or PostgreSQL."""

    def __init__(
        self,
        backend: str,
        workdir: Path,
        pg_dsn: str,
        pg_schema: str,
        s3: dict[str, Any] | None = None,
    ) -> None:
        self.backend = backend
        self._factory: StorageFactory | None = None
        storage: Storage
        if backend == "memory":
            storage = MemoryStorage()
        else:
            self._factory = storage_factory(backend, workdir, pg_dsn, pg_schema, s3)
            storage = self._factory.build(RESOURCE_NAME)
        self.manager: ResourceManager[User] = ResourceManager(
            User, storage=storage, name=RESOURCE_NAME, indexed_fields=INDEXED_FIELDS
        )

    def load(self, rows: list[Row]) -> tuple[list[str], str]:
        create = self.manager.create
        if self.backend in ("sqlite+s3", "postgres+s3"):
            # most of a create is waiting on S3 for the payload object: 8 threads load at once
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(8) as pool:
                ids = list(pool.map(lambda row: create(User(**row)).resource_id, rows))
            return ids, "ResourceManager.create, one call per resource, from 8 threads"
        ids = [create(User(**row)).resource_id for row in rows]
        return ids, "ResourceManager.create, one call per resource"

    def get(self, rid: str) -> User:
        return self.manager.get(rid).data

    def search_eq(self, email: str) -> list[ResourceMeta]:
        return self.manager.search(Query(where=QB.email == email, limit=PAGE))

    def search_range(self, lo: int, hi: int) -> list[ResourceMeta]:
        return self.manager.search(range_query(lo, hi))

    def score_of(self, item: Any) -> float:
        score: float = item.indexed_data["score"]
        return score

    def count(self, lo: int, hi: int) -> int:
        return self.manager.count(range_query(lo, hi).where)

    def list_page(self, lo: int, hi: int) -> Sequence[Any]:
        return self.manager.list(range_query(lo, hi))

    def update(self, rid: str, row: Row) -> Any:
        return self.manager.update(rid, User(**row))

    def patch(self, rid: str, ops: list[Row]) -> Any:
        return self.manager.patch(rid, ops)

    def list_revisions(self, rid: str) -> list[str]:
        return self.manager.list_revisions(rid)

    def create(self, row: Row) -> str:
        return self.manager.create(User(**row)).resource_id

    def close(self) -> None:
        close = getattr(self._factory, "close", None)
        if close is not None:
            close()


def http_app(factory: StorageFactory) -> Any:
    """The FastAPI app the HTTP benchmark serves: the generated routes of the model."""
    from fastapi import FastAPI

    from specstar.fastapi import SpecStar

    crud = SpecStar(storage_factory=factory)
    crud.add_model(User, name=RESOURCE_NAME, indexed_fields=list(INDEXED_FIELDS))
    app = FastAPI(title="SpecStar benchmark")
    crud.apply(app)
    app.state.manager = crud.get_resource_manager(RESOURCE_NAME)
    return app

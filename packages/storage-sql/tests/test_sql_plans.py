"""Filter + sort + limit on an indexed field is an index scan at 10,000+ rows (no sort step).

The rows go in through ``commit`` (the adapter's real commit, one transaction each, from a few
threads), then the planner statistics are refreshed and the plan of the compiled search is
asserted.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from specstar.core import QB, Query, ResourceManager, RevisionStatus, Sort
from specstar.core.ports import NewRevision, Write
from specstar.sql import PostgresStorageFactory, SQLiteStorageFactory, SQLStorage

ROWS = 10_500


class Person(msgspec.Struct, kw_only=True):
    name: str
    age: int | None = None


def _load(manager: ResourceManager[Person]) -> SQLStorage:
    storage = manager.storage
    assert isinstance(storage, SQLStorage)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    writes = []
    for i in range(ROWS):
        person = Person(name=f"p{i:05d}", age=None if i % 10 == 0 else i % 1000)
        writes.append(
            Write(
                resource_id=f"person-{i:05d}",
                expected_revision_id=None,
                time=t0 + timedelta(seconds=i),
                user="loader",
                append=NewRevision(
                    data=msgspec.json.encode(person),
                    data_hash=f"sha256:{i}",
                    schema_version=None,
                    status=RevisionStatus.stable,
                ),
                indexed_data={"name": person.name, "age": person.age},
            )
        )
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(storage.commit, writes))
    storage.analyze()
    return storage


def _queries(manager: ResourceManager[Person]) -> list[Query]:
    first = manager.resolve(Query(where=QB["age"] > 900, sorts=(Sort.parse("age"),), limit=20))
    page = manager.storage.search(first)
    assert [m.indexed_data["age"] for m in page.items] == [901] * 10 + [902] * 10
    assert page.next_cursor is not None
    return [first, first.replace(cursor=page.next_cursor)]


def test_sqlite_plan_uses_index(tmp_path: Path) -> None:
    factory = SQLiteStorageFactory(tmp_path, synchronous="NORMAL")
    try:
        manager = ResourceManager(Person, storage_factory=factory, indexed_fields=["name", "age"])
        storage = _load(manager)
        assert manager.count() == ROWS
        for query in _queries(manager):
            plan = storage.explain(query)
            print("SQLite plan:", plan)
            assert any("USING INDEX" in line or "USING COVERING INDEX" in line for line in plan)
            assert not any("TEMP B-TREE" in line for line in plan), plan
            assert not any(line.startswith("SCAN") for line in plan), plan
    finally:
        factory.close()


def test_postgres_plan_uses_index(pg_factory: PostgresStorageFactory) -> None:
    name = f"plan-{uuid.uuid4().hex[:8]}"
    manager = ResourceManager(
        Person, storage_factory=pg_factory, name=name, indexed_fields=["name", "age"]
    )
    storage = _load(manager)
    assert manager.count() == ROWS
    for query in _queries(manager):
        plan = storage.explain(query)
        print("PostgreSQL plan:", *plan, sep="\n  ")
        scans = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
        assert any(scan in line for line in plan for scan in scans), plan
        assert not any(line.strip().startswith(("Sort", "->  Sort")) for line in plan), plan
        assert not any("Seq Scan" in line for line in plan), plan


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_count_is_one_query_on_an_index(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    factory = (
        SQLiteStorageFactory(tmp_path)
        if backend == "sqlite"
        else request.getfixturevalue("pg_factory")
    )
    manager = ResourceManager(
        Person,
        storage_factory=factory,
        name=f"count-{uuid.uuid4().hex[:8]}",
        indexed_fields=["age"],
    )
    for age in (1, 2, 2, None):
        manager.create(Person(name="x", age=age), user="u")
    assert manager.count(QB["age"] == 2) == 2
    assert manager.count(QB["age"].is_null()) == 1
    if backend == "sqlite":
        factory.close()

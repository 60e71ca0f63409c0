"""PostgreSQL indexes text of any length through bounded keys, and upgrades older indexes.

The query semantics of long values are in the conformance suite (``LongValueTests``); this
module checks what only PostgreSQL has: which indexes exist, that the planner uses them, and
that a schema made by an earlier release (whole-value B-tree indexes, which refuse a value of
more than about 2,700 bytes) is converted at start-up.
"""

from __future__ import annotations

import random
import uuid
from typing import Annotated

import msgspec
import psycopg
import pytest

from specstar.core import QB, Query, ResourceManager, Sort, Unique, UniqueConstraintError
from specstar.sql import PostgresStorageFactory, SQLStorage
from specstar.sql._postgres_dialect import KEY_CHARS


class Member(msgspec.Struct, kw_only=True):
    name: str
    handle: Annotated[str, Unique()]
    tags: list[str] = []


def _text(length: int, seed: int) -> str:
    rnd = random.Random(seed)
    return "".join(chr(rnd.randint(0x4E00, 0x9FFF)) for _ in range(length))


def _indexes(dsn: str, schema: str, table: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
            (schema, table),
        ).fetchall()
    return {str(name): str(definition) for name, definition in rows}


def _columns(dsn: str, schema: str, resource_name: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f'SELECT path, col FROM "{schema}".specstar_fields WHERE resource_name = %s',
            (resource_name,),
        ).fetchall()
    return {str(path): int(col) for path, col in rows}


def _manager(factory: PostgresStorageFactory, name: str) -> ResourceManager[Member]:
    return ResourceManager(
        Member,
        storage_factory=factory,
        name=name,
        indexed_fields=["name", "tags"],
        default_user="u",
    )


def test_text_indexes_hold_bounded_keys(
    pg_factory: PostgresStorageFactory, postgres_dsn: str
) -> None:
    manager = _manager(pg_factory, f"long-{uuid.uuid4().hex[:8]}")
    storage = manager.storage
    assert isinstance(storage, SQLStorage)
    table = storage.meta_table.split(".")[1].strip('"')
    defs = _indexes(postgres_dsn, pg_factory.schema, table)
    columns = _columns(postgres_dsn, pg_factory.schema, manager.name)
    keyed = [d for n, d in defs.items() if "_ik" in n]
    assert any(f'"left"(ix_{columns["name"]}, {KEY_CHARS})' in d for d in keyed), defs
    assert any("specstar_heads(ix_" in d for d in keyed), defs
    assert any("UNIQUE" in d and "specstar_digest(ix_" in d for d in defs.values()), defs
    assert not any(n.endswith(f"_ix{c}") for n in defs for c in columns.values()), defs
    rows = 2000
    for i in range(rows):
        manager.create(Member(name=_text(1500, i), handle=_text(1500, -i - 1)))
    storage.analyze()
    target = _text(1500, 1234)
    plan = storage.explain(manager.resolve(Query(where=QB["name"] == target)))
    assert any("Index" in line and "_ik" in line for line in plan), plan
    assert not any("Seq Scan" in line for line in plan), plan
    plan = storage.explain(manager.resolve(Query(sorts=(Sort.parse("-name"),), limit=20)))
    assert not any("Seq Scan" in line for line in plan), plan
    assert [m.indexed_data["name"] for m in manager.search(QB["name"] == target)] == [target]
    with pytest.raises(UniqueConstraintError):
        manager.create(Member(name="x", handle=_text(1500, -1235)))


def test_indexes_of_earlier_releases_are_replaced(
    pg_factory: PostgresStorageFactory, postgres_dsn: str, pg_schema: str
) -> None:
    name = f"old-{uuid.uuid4().hex[:8]}"
    manager = _manager(pg_factory, name)
    manager.create(Member(name="a", handle="a"))
    storage = manager.storage
    assert isinstance(storage, SQLStorage)
    table = storage.meta_table.split(".")[1].strip('"')
    defs = _indexes(postgres_dsn, pg_schema, table)
    columns = _columns(postgres_dsn, pg_schema, name)
    name_col, handle_col = columns["name"], columns["handle"]
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:  # the layout of 0.x
        for index in defs:
            if "_ik" in index or "_uq" in index:
                conn.execute(f'DROP INDEX "{pg_schema}"."{index}"')
        for number in (name_col, handle_col):
            conn.execute(
                f'CREATE INDEX "{table}_ix{number}" ON {storage.meta_table} '
                f"(is_deleted, ix_{number}, resource_id)"
            )
        conn.execute(
            f'CREATE UNIQUE INDEX "{table}_ux{handle_col}" ON {storage.meta_table} '
            f"(ix_{handle_col}) WHERE NOT is_deleted"
        )
    fresh = PostgresStorageFactory(postgres_dsn, schema=pg_schema, pool_size=2)
    try:
        upgraded = _manager(fresh, name)
        after = _indexes(postgres_dsn, pg_schema, table)
        gone = {f"{table}_ix{name_col}", f"{table}_ix{handle_col}", f"{table}_ux{handle_col}"}
        assert not gone & set(after), after
        assert {f"{table}_ik{name_col}", f"{table}_uq{handle_col}"} <= set(after), after
        long = _text(4000, 7)
        upgraded.create(Member(name=long, handle=long, tags=[long]))
        assert upgraded.count(QB["tags"].contains(long)) == 1
        with pytest.raises(UniqueConstraintError):
            upgraded.create(Member(name="b", handle=long))
        assert upgraded.count(QB["handle"] == "a") == 1
    finally:
        fresh.close()

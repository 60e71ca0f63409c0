"""Schema evolution: new indexed fields are backfilled, never trusted before; restarts keep data."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from specstar.core import (
    QB,
    Query,
    QueryError,
    ResourceManager,
    StorageError,
    StorageFactory,
    Unique,
    UniqueConstraintError,
)
from specstar.core.indexes import IndexedField, IndexSpec
from specstar.sql import SQLiteStorageFactory


class Pet(msgspec.Struct, kw_only=True):
    name: str
    age: int | None = None
    tag: str | None = None


class UniquePet(msgspec.Struct, kw_only=True):
    name: str
    age: int | None = None
    tag: Annotated[str | None, Unique()] = None


def _pets(
    factory: StorageFactory, name: str, fields: list[str], **kw: object
) -> ResourceManager[Pet]:
    return ResourceManager(
        Pet, storage_factory=factory, name=name, indexed_fields=fields, default_user="t", **kw
    )


def test_new_field_is_backfilled_with_progress(
    sql_factory: StorageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"pets-{uuid.uuid4().hex[:8]}"
    v1 = _pets(sql_factory, name, ["name"])
    for i in range(7):
        v1.create(Pet(name=f"p{i}", age=i if i % 3 else None))
    v1.delete(v1.search(QB["name"] == "p1")[0].resource_id)

    manual = _pets(sql_factory, name, ["name", "age"], auto_reindex=False)
    with pytest.raises(QueryError, match="reindex"):
        manual.search(QB["age"] > 3)
    seen: list[tuple[int, int]] = []
    assert manual.reindex(progress=lambda done, total: seen.append((done, total))) == 7
    assert seen[-1] == (7, 7)
    assert [m.indexed_data["name"] for m in manual.search(QB["age"] > 3)] == ["p4", "p5"]
    assert manual.count(QB["age"].is_null()) == 3
    assert manual.count(QB["age"].exists()) == 6

    with caplog.at_level(logging.INFO, logger="specstar.manager"):
        again = _pets(sql_factory, name, ["name", "age"])  # already backfilled: nothing to do
    assert not [r for r in caplog.records if "backfilling" in r.getMessage()]
    assert again.count(QB["age"] >= 0) == 3

    with caplog.at_level(logging.INFO, logger="specstar.manager"):
        auto = _pets(sql_factory, name, ["name", "age", "tag"])  # auto_reindex logs progress
    messages = [r.getMessage() for r in caplog.records]
    assert any("backfilling new indexed field(s) ['tag']" in m for m in messages), messages
    assert any("reindex" in m and "7/7" in m for m in messages), messages
    assert auto.count(QB["tag"].exists()) == 6


def test_dropped_then_readded_field_is_stale_again(sql_factory: StorageFactory) -> None:
    store = sql_factory.build(f"evolve-{uuid.uuid4().hex[:8]}")
    a, b = IndexedField("a", "int"), IndexedField("b", "str")
    assert store.setup(IndexSpec((a,))) == frozenset()  # empty: nothing to backfill
    items = ResourceManager(Pet, storage=store, indexed_fields=["age"], default_user="t")
    items.create(Pet(name="x"))
    assert store.setup(IndexSpec((a, b))) == {"b"}
    store.mark_indexed(["b"])
    assert store.setup(IndexSpec((a, b))) == frozenset()
    assert store.setup(IndexSpec((b,))) == frozenset()  # "a" is no longer maintained ...
    assert store.setup(IndexSpec((a, b))) == {"a"}  # ... so it must be backfilled again
    assert store.setup(IndexSpec((IndexedField("b", "int"), a))) == {"a", "b"}  # a new kind


def test_sqlite_data_survives_a_restart(tmp_path: Path) -> None:
    first = SQLiteStorageFactory(tmp_path)
    pets = _pets(first, "pets", ["name", "age"])
    rid = pets.create(Pet(name="rex", age=3)).resource_id
    pets.update(rid, Pet(name="rex", age=4))
    first.close()

    second = SQLiteStorageFactory(tmp_path)
    try:
        again = _pets(second, "pets", ["name", "age"])
        assert again.get(rid).data.age == 4
        assert again.list_revisions(rid) == [f"{rid}:1", f"{rid}:2"]
        assert [m.resource_id for m in again.search(QB["age"] == 4)] == [rid]
        assert again.search(Query(where=QB["age"] == 3)) == []
    finally:
        second.close()


def test_unique_added_over_duplicates_is_refused(sql_factory: StorageFactory) -> None:
    name = f"dups-{uuid.uuid4().hex[:8]}"
    plain = _pets(sql_factory, name, ["name", "tag"])
    plain.create(Pet(name="a", tag="same"))
    plain.create(Pet(name="b", tag="same"))
    with pytest.raises(StorageError, match="unique index of tag"):
        ResourceManager(UniquePet, storage_factory=sql_factory, name=name, default_user="t")
    plain.update(plain.search(QB["name"] == "b")[0].resource_id, Pet(name="b", tag="other"))
    strict = ResourceManager(UniquePet, storage_factory=sql_factory, name=name, default_user="t")
    with pytest.raises(UniqueConstraintError):
        strict.create(UniquePet(name="c", tag="same"))
    relaxed = _pets(sql_factory, name, ["name", "tag"])  # dropping Unique drops the index
    relaxed.create(Pet(name="c", tag="same"))
    assert relaxed.count(QB["tag"] == "same") == 2

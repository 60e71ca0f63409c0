"""Hostile names, paths and values never reach SQL as text and fail cleanly when unstorable."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pytest

from specstar.core import (
    QB,
    NotFoundError,
    Query,
    QueryError,
    ResourceManager,
    RevisionStatus,
    Sort,
    StorageFactory,
    Unique,
    ValidationError,
)
from specstar.core.indexes import IndexedField, IndexSpec
from specstar.core.ports import NewRevision, Write
from specstar.core.query.ast import And, Condition, Expr, Field, Not, Op, Or
from specstar.core.query.cursor import fingerprint
from specstar.sql import FileBlobStore, SQLiteStorageFactory

HOSTILE = [
    "'; DROP TABLE x; --",
    'a"; DROP TABLE "x',
    "Robert'); DELETE FROM specstar_fields;--",
    "%",
    "_",
    "a%b_c",
    "\\",
    "?",
    "%s",
    "$1",
    "ünï 😀",
]


class Doc(msgspec.Struct, kw_only=True):
    title: str
    size: int | None = None
    code: Annotated[str | None, Unique()] = None
    note: str = ""


def _manager(factory: StorageFactory, name: str | None = None) -> ResourceManager[Doc]:
    return ResourceManager(
        Doc,
        storage_factory=factory,
        name=name or f"h-{uuid.uuid4().hex[:8]}",
        indexed_fields=["title", "size"],
        default_user="tester",
    )


@pytest.mark.parametrize("name", [*HOSTILE, "x" * 200])
def test_hostile_resource_names_are_isolated(sql_factory: StorageFactory, name: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    first = _manager(sql_factory, f"{name}{suffix}"[-200:])
    other = _manager(sql_factory, f"other-{suffix}")
    rid = first.create(Doc(title=name)).resource_id
    assert first.get(rid).data.title == name
    assert first.count() == 1
    assert other.count() == 0


def test_names_with_the_same_slug_stay_apart(sql_factory: StorageFactory) -> None:
    suffix = uuid.uuid4().hex[:6]
    names = [f"{n}-{suffix}" for n in ("same", "SAME", "s-a-m-e", "s_a_m_e", "s a m e", "s.a.m.e")]
    managers = [_manager(sql_factory, name) for name in names]
    for i, docs in enumerate(managers):
        for _ in range(i + 1):
            docs.create(Doc(title=names[i]))
    expected = list(range(1, len(names) + 1))
    assert [docs.count() for docs in managers] == expected
    assert [docs.count(QB["title"] == n) for n, docs in zip(names, managers, strict=True)] == (
        expected
    )


@pytest.mark.parametrize("name", ["", "x" * 201, "a\x00b", "tab\there", "\ud800"])
def test_invalid_resource_names_are_refused(sql_factory: StorageFactory, name: str) -> None:
    with pytest.raises(ValueError, match="resource name"):
        sql_factory.build(name)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_are_plain_data(sql_factory: StorageFactory, value: str) -> None:
    docs = _manager(sql_factory)
    hit = docs.create(Doc(title=value, code=value)).resource_id
    docs.create(Doc(title="plain"))
    docs.create(Doc(title=value + "tail"))
    assert [m.resource_id for m in docs.search(QB["title"] == value)] == [hit]
    assert docs.count(QB["title"].starts_with(value)) == 2
    assert docs.count(QB["title"].ends_with(value)) == 1
    assert docs.count(QB["title"].contains(value)) == 2
    assert docs.count(QB["title"].in_([value, "nothing"])) == 1
    assert docs.count(QB["title"].regex("^" + re.escape(value) + "$")) == 1
    assert docs.count(QB["$created_by"] == value) == 0


@pytest.mark.parametrize(
    "path", ["a; DROP TABLE x", '"', "ünï", "title--", "title)", "1title", "a..b", "$title"]
)
def test_hostile_field_paths_are_query_errors(sql_factory: StorageFactory, path: str) -> None:
    docs = _manager(sql_factory)
    docs.create(Doc(title="t"))
    raw = Query(where=Condition(Field(path), Op.eq, "x"), limit=10)
    with pytest.raises(QueryError):
        docs.search(raw)
    with pytest.raises(QueryError):  # the store itself refuses what it does not know
        docs.storage.search(raw)
    with pytest.raises(QueryError):
        docs.storage.search(Query(sorts=(Sort(Field(path)),), limit=10))
    assert docs.count() == 1


def test_hostile_indexed_paths_given_to_the_port(sql_factory: StorageFactory) -> None:
    """Paths are registry data, never column names: even unchecked ones stay harmless."""
    store = sql_factory.build(f"port-{uuid.uuid4().hex[:8]}")
    evil = 'x"; DROP TABLE specstar_fields; --'
    store.setup(IndexSpec((IndexedField(evil, "str"), IndexedField("ok", "int"))))
    now = datetime(2024, 1, 1, tzinfo=UTC)
    store.commit(
        Write(
            resource_id="r1",
            expected_revision_id=None,
            time=now,
            user="u",
            append=NewRevision(
                data=b"{}", data_hash="sha256:0", schema_version=None, status=RevisionStatus.stable
            ),
            indexed_data={evil: "boom", "ok": 1},
        )
    )
    page = store.search(Query(where=Condition(Field(evil), Op.eq, "boom"), limit=5))
    assert [m.resource_id for m in page.items] == ["r1"]
    assert store.get_meta("r1").indexed_data == {evil: "boom", "ok": 1}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"title": "nul\x00inside"}, "indexed field title"),
        ({"title": "t", "code": "c\x00"}, "indexed field code"),
        ({"title": "t", "size": 2**63}, "size"),
        ({"title": "t", "size": -(2**63) - 1}, "size"),
    ],
)
def test_unstorable_values_are_validation_errors(
    sql_factory: StorageFactory, data: dict[str, Any], where: str
) -> None:
    docs = _manager(sql_factory)
    with pytest.raises(ValidationError, match=where):
        docs.create(data)
    assert docs.count() == 0
    # outside indexed fields anything msgspec encodes is fine: revisions are bytes
    rid = docs.create({"title": "ok", "note": "nul\x00inside"}).resource_id
    assert docs.get(rid).data.note == "nul\x00inside"
    with pytest.raises(ValidationError):
        docs.create({"title": "ok"}, user="bad\x00user")


def test_extreme_values_store_and_compare(sql_factory: StorageFactory) -> None:
    docs = _manager(sql_factory)
    for size in (2**63 - 1, -(2**63), 0):
        docs.create(Doc(title=str(size), size=size))
    assert docs.count(QB["size"] > 2**70) == 0
    assert docs.count(QB["size"] < 2**70) == 3
    assert docs.count(QB["size"] != -(2**70)) == 3
    assert docs.count(QB["size"].in_([2**70, 0])) == 1
    assert docs.count(QB["size"] == 2**63 - 1) == 1


@pytest.mark.parametrize(
    "where",
    [
        QB["title"] == "nul\x00",
        QB["title"].contains("\x00"),
        QB["title"].in_(["a", "\ud800"]),
        QB["$created_by"] == "x\x00",
    ],
)
def test_unqueryable_values_are_query_errors(sql_factory: StorageFactory, where: Expr) -> None:
    docs = _manager(sql_factory)
    docs.create(Doc(title="t"))
    with pytest.raises(QueryError):
        docs.search(where)
    with pytest.raises(QueryError):
        docs.count(where)


def test_deep_and_wide_queries(sql_factory: StorageFactory) -> None:
    docs = _manager(sql_factory)
    docs.create(Doc(title="t", size=1))
    deep: Expr = QB["size"] == 1
    for _ in range(127):  # 255 levels: the deepest the resolver accepts
        deep = Not(Not(deep))
    assert docs.count(deep) == 1
    alternating: Expr = QB["size"] == 1
    for level in range(60):  # And/Or alternation cannot be flattened
        if level % 2:
            alternating = And((QB["size"] >= 0, alternating))
        else:
            alternating = Or((QB["size"] == 2, alternating))
    if isinstance(sql_factory, SQLiteStorageFactory):
        with pytest.raises(QueryError, match="nests And/Or"):
            docs.count(alternating)
    else:
        assert docs.count(alternating) == 1
    assert docs.count(QB["size"].in_(list(range(5000)))) == 1
    with pytest.raises(QueryError, match="binds more than"):
        docs.count(QB["size"].in_(list(range(40_000))))


def _forge(query: Query, values: list[Any], resource_id: str) -> Query:
    """A cursor token built by hand: valid structure and fingerprint, chosen contents."""
    payload = msgspec.msgpack.encode([1, fingerprint(query), values, resource_id])
    return query.replace(cursor=base64.urlsafe_b64encode(payload).decode().rstrip("="))


def test_forged_cursors_are_query_errors(sql_factory: StorageFactory) -> None:
    docs = _manager(sql_factory)
    for i in range(3):
        docs.create(Doc(title=f"t{i}", size=i))
    query = docs.resolve(Query(sorts=(Sort.parse("size"),), limit=1))
    beyond_64_bits = msgspec.msgpack.Ext(1, str(2**70).encode())
    for values, rid in [(["not an int"], "x"), ([beyond_64_bits], "x"), ([1], "a\x00")]:
        with pytest.raises(QueryError):
            docs.storage.search(_forge(query, values, rid))
    # a valid position nobody produced: after every non-null size
    assert docs.storage.search(_forge(query, [None], "x")).items == []


@pytest.mark.parametrize(
    "file_id", ["../../etc/passwd", "..", "", "A" * 64, "0" * 63, "/" + "0" * 63]
)
def test_blob_ids_are_never_paths(tmp_path: Any, file_id: str) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    (tmp_path / "secret").write_bytes(b"secret")
    assert store.info(file_id) is None
    assert store.delete(file_id) is False
    with pytest.raises(Exception, match="does not exist"):
        store.get(file_id)


@pytest.mark.parametrize("rid", ["nul\x00id", "lone\ud800", "'; DROP TABLE x; --"])
def test_unstorable_ids_are_simply_absent(sql_factory: StorageFactory, rid: str) -> None:
    docs = _manager(sql_factory)
    store = docs.storage
    assert store.get_meta(rid) is None
    assert store.get_revision(rid, f"{rid}:1") is None
    assert store.get_revision_info(rid, f"{rid}:1") is None
    assert store.list_revisions(rid) == []
    with pytest.raises(NotFoundError):
        store.purge(rid, f"{rid}:1")
    with pytest.raises(NotFoundError):
        store.prune(rid, [f"{rid}:1"])
    with pytest.raises(NotFoundError):
        docs.get(rid)

"""Hostile queries on every store: a regex runs only over rows inside the caller's access
scope (memory, SQLite including the sort-index walk, PostgreSQL), every query has a time
budget, and the size limits of a query are the same everywhere."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from specstar.core import (
    QB,
    OwnershipChecker,
    Query,
    QueryError,
    QueryTimeoutError,
    ResourceManager,
    Sort,
    StorageFactory,
)
from specstar.core.memory import MemoryStorageFactory
from specstar.core.query._regex import Regex
from specstar.core.query.ast import And, Condition, Field, Not, Op
from specstar.core.spi import resolve_query
from specstar.sql import PostgresStorageFactory, SQLiteStorageFactory, _plan


class Note(msgspec.Struct, kw_only=True):
    owner: str | None = None
    secret: str
    title: str = "t"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _factory(request: pytest.FixtureRequest, kind: str, tmp_path: Path, **kw: Any) -> Any:
    if kind == "memory":
        return MemoryStorageFactory(**kw)
    if kind == "sqlite":
        return SQLiteStorageFactory(tmp_path / "db", **kw)
    if not kw:
        return request.getfixturevalue("pg_factory")
    return PostgresStorageFactory(
        request.getfixturevalue("postgres_dsn"),
        schema=request.getfixturevalue("pg_schema"),
        pool_size=2,
        **kw,
    )


def _notes(factory: StorageFactory, name: str) -> ResourceManager[Note]:
    return ResourceManager(
        Note,
        storage_factory=factory,
        name=name,
        indexed_fields=["owner", "secret", "title"],
        permission_checker=OwnershipChecker("owner", admins=["root"]),
    )


@pytest.fixture
def regex_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every value the dialect's matcher is run on, in this process."""
    calls: list[str] = []
    original = Regex.search

    def counted(self: Regex, value: str) -> bool:
        calls.append(value)
        return original(self, value)

    monkeypatch.setattr(Regex, "search", counted)
    return calls


# -- a user predicate runs only inside the caller's scope ---------------------------------------

QUERIES = [
    Query(where=QB["secret"].regex("^s")),
    Query(where=QB["secret"].regex("^s"), sorts=(Sort(Field("secret"), descending=True),), limit=2),
    Query(where=(QB["title"] >= "") & QB["secret"].regex("s"), sorts=(Sort(Field("secret")),)),
    Query(where=QB["secret"].regex("^s") | (QB["title"] == "x"), limit=1),
    Query(where=Not(QB["secret"].regex("^hidden")), sorts=(Sort(Field.parse("$created_time")),)),
]


@pytest.mark.parametrize("number", range(len(QUERIES)))
def test_a_regex_never_runs_on_rows_outside_the_scope(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
    regex_calls: list[str],
    number: int,
) -> None:
    factory = _factory(request, backend, tmp_path)
    notes = _notes(factory, f"n{uuid.uuid4().hex[:8]}")
    with notes.using(user="root"):
        for i in range(60):  # hidden rows: other owners, and no owner (an unknown scope)
            notes.create(Note(owner="alice" if i % 2 else None, secret=f"hidden-{i:02}"))
    with notes.using(user="bob"):
        for i in range(3):
            notes.create(Note(owner="bob", secret=f"s-{i}"))
        regex_calls.clear()
        query = QUERIES[number]
        found = notes.search(query.replace(limit=query.limit or 50))
        counted = notes.count(query.where)
    assert all(m.indexed_data["owner"] == "bob" for m in found)
    assert counted == {0: 3, 1: 3, 2: 3, 3: 3, 4: 3}[number]
    assert not [v for v in regex_calls if v.startswith("hidden")]
    if backend == "postgres":
        assert regex_calls == []  # matched by the database
        scoped = resolve_query(
            Query(where=And((Condition(Field("owner"), Op.eq, "bob"), query.where))),
            notes.index_spec,
        )
        plan = "\n".join(notes.storage.explain(scoped))
        assert re.search(r"CASE WHEN .*bob.* THEN .*~ '", plan), plan  # scope, then regex
    else:
        assert regex_calls  # the matcher did run, on bob's rows
    if isinstance(factory, SQLiteStorageFactory):
        factory.close()


def test_sqlite_walks_the_sort_index_without_testing_hidden_rows(
    tmp_path: Path, regex_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan of the issue: a filter + a sort on the hidden indexed field, read by walking
    that field's index (the walk tests the filter row by row). The table counts as large
    (``PLAIN_UP_TO_ROWS``), so the walk is weighed on every search."""
    monkeypatch.setattr(_plan, "PLAIN_UP_TO_ROWS", 0)
    factory = SQLiteStorageFactory(tmp_path / "db")
    notes = _notes(factory, "walk")
    with notes.using(user="root"):
        for i in range(300):
            notes.create(Note(owner="alice", secret=f"hidden-{i:03}"))
    with notes.using(user="bob"):
        for i in range(3):
            notes.create(Note(owner="bob", secret=f"s-{i}"))
        query = Query(
            where=(QB["title"] == "t") & QB["secret"].regex("^(s|h)"),
            sorts=(Sort(Field("secret"), descending=True),),
            limit=2,
        )
        scoped = resolve_query(
            query.replace(where=(QB["owner"] == "bob") & query.where), notes.index_spec
        )
        plan = "\n".join(notes.storage.explain(scoped))
        regex_calls.clear()
        page = notes.search(query)
    column = notes.storage._ready()["secret"].number  # type: ignore[attr-defined]
    assert f"meta_ix{column} " in plan  # the walk of the sort index, not the scope's index
    assert [m.indexed_data["secret"] for m in page] == ["s-2", "s-1"]
    assert sorted(regex_calls) == ["s-0", "s-1", "s-2"][: len(regex_calls)]
    assert not [v for v in regex_calls if v.startswith("hidden")]
    factory.close()


# -- the time budget -------------------------------------------------------------------------------


def test_a_query_past_the_budget_stops_with_query_timeout(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    """By construction: a budget of one millisecond (a microsecond in Python) against a regex
    over 400 values of 2,000 characters each, which no store answers that fast."""
    name = f"b{uuid.uuid4().hex[:8]}"
    factory = _factory(request, backend, tmp_path)
    notes = _notes(factory, name)
    with notes.using(user="root"):
        for i in range(400):
            notes.create(Note(owner="root", secret="ab" * 1000 + str(i)))
    if backend == "memory":
        tight = factory  # the budget is the store's: rebuild its storage with a tiny one
        for storage in [notes.storage]:
            storage._timeout = 1e-6  # type: ignore[attr-defined]
    else:
        tight = _factory(request, backend, tmp_path, query_timeout=0.001)
    bounded = _notes(tight, name)
    expensive = QB["secret"].regex("(a|b)*(c|x)$")
    with bounded.using(user="root"):
        with pytest.raises(QueryTimeoutError) as info:
            bounded.count(expensive)
        with pytest.raises(QueryTimeoutError):
            bounded.search(Query(where=expensive, limit=5))
        assert info.value.code == "query_timeout"
        assert info.value.details() == {"budget": pytest.approx(info.value.budget)}
        # the store is not left broken: a cheap query still passes (its millisecond can be
        # lost to a busy machine now and then, so it gets a few tries; none means broken)
        answers = []
        for _ in range(20):
            try:
                answers.append(bounded.count(QB["owner"] == "nobody"))
                break
            except QueryTimeoutError:
                continue
        assert answers == [0]
    with notes.using(user="root"):
        if backend == "memory":
            notes.storage._timeout = None  # type: ignore[attr-defined]
        assert notes.count(expensive) == 0  # the default budget lets it finish
    for f in (factory, tight):
        if isinstance(f, SQLiteStorageFactory) or (
            isinstance(f, PostgresStorageFactory) and f is not factory
        ):
            f.close()


def test_postgres_connections_carry_the_statement_timeout(
    postgres_dsn: str, pg_schema: str
) -> None:
    factory = PostgresStorageFactory(postgres_dsn, schema=pg_schema, query_timeout=2.5)
    try:
        with factory._backend.connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("2500ms",)
    finally:
        factory.close()
    unbounded = PostgresStorageFactory(postgres_dsn, schema=pg_schema, query_timeout=None)
    try:
        with unbounded._backend.connection() as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)
    finally:
        unbounded.close()


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "5", True])
def test_an_invalid_budget_is_refused(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ValueError, match="query_timeout"):
        MemoryStorageFactory(query_timeout=value)
    with pytest.raises(ValueError, match="query_timeout"):
        SQLiteStorageFactory(tmp_path / "db", query_timeout=value)


# -- the same size limits everywhere ---------------------------------------------------------------


def test_condition_count_and_depth_limits_are_the_same_everywhere(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    factory = _factory(request, backend, tmp_path)
    notes = _notes(factory, f"l{uuid.uuid4().hex[:8]}")
    deep: Any = QB["title"] == "t"
    for _ in range(300):
        deep = Not(deep)
    wide = And(tuple(QB["title"] == str(i) for i in range(600)))
    with notes.using(user="root"):
        with pytest.raises(QueryError, match="nests deeper than 256"):
            notes.count(deep)
        with pytest.raises(QueryError, match="more than 500 conditions"):
            notes.search(Query(where=wide))
        assert notes.count(And(tuple(QB["title"] == str(i) for i in range(499)))) == 0
    if isinstance(factory, SQLiteStorageFactory):
        factory.close()


def test_sql_errors_never_leak_through_a_timeout(postgres_dsn: str) -> None:
    """A statement cancelled for another reason than the budget stays a storage error."""
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = 1")
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            conn.execute("SELECT pg_sleep(0.05)")

"""The query operators are answered by the database: one statement per search, whose SQL holds
the operator, and whose rows are exactly the result (nothing is filtered in Python).

What each operator returns is checked against fixed expectations by the operator conformance
suite and against the memory reference by the differential test; this module checks *where*
the work happens.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from specstar.core import QB, Query, ResourceManager, StorageFactory
from specstar.sql import _postgres_pool, sqlite
from specstar.testing import ITEM_INDEXES, Item

#: condition, then the SQL fragment that computes it (SQLite, PostgreSQL)
CASES: list[tuple[Any, str, str]] = [
    (QB.name.icontains("A"), "lower(", "translate("),
    (QB.name.istarts_with("A"), "lower(", "translate("),
    (QB.name.is_blank(), "trim(", "btrim("),
    (QB.name.is_empty(), "= ''", "= ''"),
    (QB.tags.is_empty(), "json_array_length(", "cardinality("),
    (QB.age.is_truthy(), "COALESCE(", "COALESCE("),
    (QB.name.length() > 2, "length(", "char_length("),
    (QB.tags.length() == 1, "json_array_length(", "cardinality("),
    (QB.tags.any() == "x", "json_each(", "unnest("),
    (QB.tags.all().istarts_with("x"), "json_each(", "unnest("),
]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every statement either SQL backend executes, with the number of rows it returned."""
    log: list[tuple[str, int]] = []
    for cls in (sqlite._SQLiteTx, _postgres_pool._PgTx):
        original = cls.all

        def all_rows(self: Any, sql: str, params: Any = (), _original: Any = original) -> Any:
            rows = _original(self, sql, params)
            log.append((sql, len(rows)))
            return rows

        monkeypatch.setattr(cls, "all", all_rows)
    return log


@pytest.mark.parametrize(("where", "lite", "pg"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_operators_run_in_the_database(
    sql_factory: StorageFactory,
    statements: list[tuple[str, int]],
    where: Any,
    lite: str,
    pg: str,
) -> None:
    items = ResourceManager(
        Item,
        storage_factory=sql_factory,
        name=f"push-{uuid.uuid4().hex[:10]}",  # the PostgreSQL schema outlives one test
        indexed_fields=ITEM_INDEXES,
        default_user="u",
    )
    for i, (name, tags) in enumerate([("Ab", ["x"]), ("", []), (" ", ["X", "x"]), ("abc", ["y"])]):
        items.create(Item(name=name, email=f"{i}@x", age=i, tags=tags))
    query = items.resolve(Query(where=where, limit=100))
    statements.clear()
    page = items.storage.search(query)
    assert len(statements) == 1  # one statement answers the search
    sql, rows = statements[0]
    fragment = lite if "SQLite" in type(sql_factory).__name__ else pg
    assert fragment in sql
    assert rows == len(page.items) > 0  # the database returned exactly the result rows

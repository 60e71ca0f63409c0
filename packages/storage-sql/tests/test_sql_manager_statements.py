"""How many SQL statements the manager's hot paths send through a SQL storage (round trips,
not time): a read by id is one statement, a list page two, a write one read plus its commit.

``BEGIN``/``COMMIT`` are left out of the counts, as in ``test_sql_statements``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from specstar.core import QB, Query, ResourceManager, StorageFactory
from specstar.core.ports import Write
from specstar.sql import _plan, _postgres_pool, sqlite
from specstar.testing import ITEM_INDEXES, Item


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement either SQL backend executes while the test runs."""
    log: list[str] = []
    for cls in (sqlite._SQLiteTx, _postgres_pool._PgTx):
        original = cls._execute

        def execute(self: Any, sql: str, params: Any, _original: Any = original) -> Any:
            if sql.split(maxsplit=1)[0] not in ("BEGIN", "COMMIT", "ROLLBACK"):
                log.append(sql)
            return _original(self, sql, params)

        monkeypatch.setattr(cls, "_execute", execute)
    return log


def _sent(log: list[str], call: Callable[[], Any]) -> list[str]:
    log.clear()
    call()
    return list(log)


@pytest.fixture
def items(sql_factory: StorageFactory) -> ResourceManager[Item]:
    """A resource type of its own per test (the PostgreSQL schema is shared by the run)."""
    return ResourceManager(
        Item,
        storage_factory=sql_factory,
        name=f"item-{uuid.uuid4().hex[:12]}",
        indexed_fields=ITEM_INDEXES,
        default_user="u",
    )


def test_a_read_by_id_is_one_statement(items: ResourceManager[Item], statements: list[str]) -> None:
    rid = items.create(Item(name="a", email="a@x")).resource_id
    items.merge_patch(rid, {"age": 3})
    assert len(_sent(statements, lambda: items.get(rid))) == 1
    assert len(_sent(statements, lambda: items.get_resource(rid))) == 1
    assert len(_sent(statements, lambda: items.get_resource(rid, returns=["meta"]))) == 1
    assert len(_sent(statements, lambda: items.get_meta(rid))) == 1
    # the meta and the revision ids together
    assert len(_sent(statements, lambda: items.list_revisions(rid))) == 1
    assert items.list_revisions(rid) == [f"{rid}:1", f"{rid}:2"]


def test_a_search_on_a_unique_value_is_one_statement(
    items: ResourceManager[Item], statements: list[str]
) -> None:
    for i in range(25):
        items.create(Item(name=f"n{i}", email=f"{i}@x", age=i))
    # no probe of the index first (SQLite's sort-index walk): one row at most can match
    sent = _sent(statements, lambda: items.search(Query(where=QB.email == "7@x", limit=20)))
    assert len(sent) == 1, sent
    assert [m.indexed_data["age"] for m in items.search(QB.email == "7@x")] == [7]
    assert items.search(Query(where=QB.email == "7@x", is_deleted=True)) == []


def test_a_list_page_is_two_statements(items: ResourceManager[Item], statements: list[str]) -> None:
    for i in range(25):
        items.create(Item(name=f"n{i}", email=f"{i}@x", age=i))
    sent = _sent(statements, lambda: items.list_page(Query(limit=20)))
    assert len(sent) == 2, sent  # the search, then the page's 20 revisions at once
    page = items.list_page(Query(limit=20))
    assert len(page.items) == 20
    assert all(item.data.email == f"{item.data.age}@x" for item in page.items)  # type: ignore[union-attr]
    assert len(_sent(statements, lambda: items.list_page(Query(limit=20), returns=["meta"]))) == 1


def test_a_write_is_one_read_and_its_commit(
    items: ResourceManager[Item], statements: list[str]
) -> None:
    rid = items.create(Item(name="a", email="a@x")).resource_id
    store = items.storage
    current = store.get_current(rid)
    assert current is not None
    meta, stored = current
    # the commit alone, as the manager sends it for a patch (a new revision + indexed data)
    commit = _sent(
        statements,
        lambda: store.commit(
            Write(
                resource_id=rid,
                expected_revision_id=meta.current_revision_id,
                time=meta.updated_time,
                user="u",
                indexed_data={**meta.indexed_data, "age": 1},
            )
        ),
    )
    assert len(commit) == 2  # an update of the meta row without a revision: read + update
    read = _sent(statements, lambda: store.get_current(rid))
    assert len(read) == 1
    for write in (
        lambda: items.patch(rid, [{"op": "replace", "path": "/age", "value": 7}]),
        lambda: items.merge_patch(rid, {"age": 8}),
        lambda: items.update(rid, Item(name="b", email="b@x", age=9)),
    ):
        sent = _sent(statements, write)
        # one read of meta + current revision, then the commit's locked read, revision
        # insert and meta update
        assert len(sent) == 4, sent
        assert sent[0] == read[0]
    assert items.get(rid).data.age == 9
    assert stored.info.revision_id == f"{rid}:1"


def test_sqlite_searches_a_small_table_without_probing_while_its_size_is_trusted(
    tmp_path: Any, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = sqlite.SQLiteStorageFactory(tmp_path)
    items = ResourceManager(
        Item, storage_factory=factory, name="items", indexed_fields=ITEM_INDEXES, default_user="u"
    )
    for i in range(40):
        items.create(Item(name=f"n{i}", age=i % 7, email=f"{i}@x"))
    now = [0.0]
    storage: Any = items.storage
    storage._size = _plan.SizeHint(clock=lambda: now[0])
    # an unselective filter sorted on another field: the shape the sort-index walk is for
    query = Query(where=QB["age"] >= 1, sorts=(QB["name"].desc(),), limit=5)
    first = _sent(statements, lambda: items.search(query))
    assert first[0].startswith("SELECT min(")  # the probe learns the size: 40 rows
    assert len(first) == 2  # and the plain query follows
    again = _sent(statements, lambda: items.search(query))
    assert len(again) == 1  # trusted: the plain query alone
    plain = items.search(query)
    now[0] += _plan.SIZE_TRUST_SECONDS
    assert len(_sent(statements, lambda: items.search(query))) == 2  # expired: probed again
    # a table larger than the bound is probed on every search
    monkeypatch.setattr(_plan, "PLAIN_UP_TO_ROWS", 39)
    now[0] += _plan.SIZE_TRUST_SECONDS
    for _ in range(2):
        sent = _sent(statements, lambda: items.search(query))
        assert sent[0].startswith("SELECT min(")
        assert len(sent) >= 2
    assert items.search(query) == plain  # whichever plan, the same page
    assert [m.indexed_data["name"] for m in plain] == ["n9", "n8", "n6", "n5", "n4"]
    factory.close()

"""How many SQL statements each storage operation sends (round trips, not time).

``BEGIN``/``COMMIT`` are left out of the counts: SQLite sends them as statements, psycopg from
its transaction block; every write is one transaction on both.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from specstar.core import AlreadyExistsError, Query, ResourceManager, StorageFactory, dump
from specstar.core.ports import Write
from specstar.core.spi import Adoption
from specstar.sql import _postgres_pool, sqlite
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
        original_many = cls.many

        def many(self: Any, sql: str, rows: Any, _original: Any = original_many) -> Any:
            log.append(sql)  # one statement, run for every row
            return _original(self, sql, rows)

        monkeypatch.setattr(cls, "many", many)
    return log


def _count(log: list[str], call: Callable[[], Any]) -> int:
    log.clear()
    call()
    return len(log)


def test_statements_per_operation(sql_factory: StorageFactory, statements: list[str]) -> None:
    items = ResourceManager(
        Item, storage_factory=sql_factory, indexed_fields=ITEM_INDEXES, default_user="u"
    )
    store = items.storage
    ids = [items.create(Item(name=f"n{i}", email=f"{i}@x")).resource_id for i in range(25)]
    rid = ids[0]
    now = datetime(2024, 1, 1, tzinfo=UTC)
    assert _count(statements, lambda: store.get_current(rid)) == 1
    page = store.search(items.resolve(Query(limit=20)))
    refs = [(m.resource_id, m.current_revision_id) for m in page.items]
    assert len(refs) == 20
    assert _count(statements, lambda: store.get_revisions(refs)) == 1
    assert _count(statements, lambda: store.list_revision_ids(rid)) == 1
    assert _count(statements, lambda: store.get_histories([*ids, "missing", rid])) == 1
    # a create: the revision and the meta row, nothing read
    assert _count(statements, lambda: items.create(Item(name="new", email="new@x"))) == 2
    # an update with a unique field: locked read, revision insert, meta update
    meta = store.get_meta(rid)
    assert meta is not None
    patch = Write(
        resource_id=rid,
        expected_revision_id=meta.current_revision_id,
        time=now,
        user="u",
        indexed_data={**meta.indexed_data, "email": "changed@x"},
    )
    assert _count(statements, lambda: store.commit(patch)) == 2
    # a patch through the manager: one read of the current state, then the commit's locked
    # read, revision insert and meta update
    assert _count(statements, lambda: items.merge_patch(rid, {"age": 7})) == 4


def test_a_switch_reads_its_target_with_the_meta_row(
    sql_factory: StorageFactory, statements: list[str]
) -> None:
    """A switch needs the info of its target revision: SQLite, whose write transaction holds the
    whole database, reads it joined to the meta row (one read, then the meta update);
    PostgreSQL reads it after the row lock, in a statement of its own (see ``Commits._locked``)."""
    items = ResourceManager(
        Item,
        name=f"switch-{uuid.uuid4().hex[:8]}",  # the factory may hold other tests' items
        storage_factory=sql_factory,
        indexed_fields=ITEM_INDEXES,
        default_user="u",
    )
    first = items.create(Item(name="a", email="a@x"))
    items.update(first.resource_id, Item(name="b", email="b@x"))
    meta = items.storage.get_meta(first.resource_id)
    assert meta is not None
    switch = Write(
        resource_id=first.resource_id,
        expected_revision_id=meta.current_revision_id,
        time=datetime(2024, 1, 1, tzinfo=UTC),
        user="u",
        switch_to=first.revision_id,
    )
    reads = 1 if isinstance(sql_factory, sqlite.SQLiteStorageFactory) else 2
    assert _count(statements, lambda: items.storage.commit(switch)) == reads + 1
    after = items.storage.get_meta(first.resource_id)
    assert after is not None
    assert after.current_revision_id == first.revision_id


def test_statements_of_a_batch_adoption(sql_factory: StorageFactory, statements: list[str]) -> None:
    """A batch of archived resources: one read for their ids, then two multi-row inserts (the
    revisions, the meta rows); an overwrite adds its locked read and two deletes."""
    source = ResourceManager(Item, indexed_fields=ITEM_INDEXES, default_user="u")
    for i in range(50):
        source.create(Item(name=f"n{i}", email=f"{i}@x"), resource_id=f"r{i}")
        source.update(f"r{i}", Item(name=f"m{i}", email=f"{i}@x"))
    adoptions = []
    for i in range(50):
        history = source.storage.get_history(f"r{i}")
        assert history is not None
        meta, ids = history
        revisions = [r for r in source.storage.get_revisions([(f"r{i}", x) for x in ids]) if r]
        adoptions.append(Adoption(meta=meta, revisions=revisions, indexed_data=meta.indexed_data))
    items = ResourceManager(
        Item,
        name=f"adopt-{uuid.uuid4().hex[:8]}",  # the factory may hold other tests' items
        storage_factory=sql_factory,
        indexed_fields=ITEM_INDEXES,
    )
    store = items.storage
    assert _count(statements, lambda: store.get_metas([a.resource_id for a in adoptions])) == 1
    outcomes: list[Any] = []
    assert _count(statements, lambda: outcomes.extend(store.adopt_resources(adoptions))) == 2
    assert outcomes == [a.meta for a in adoptions]
    old = store.get_meta("r0")
    again = [msgspec.structs.replace(adoptions[0], replaces=old), *adoptions[50:]]
    # one resource goes straight to a savepoint: SAVEPOINT, the locked read, two deletes, two
    # inserts, RELEASE
    assert _count(statements, lambda: store.adopt_resources(again)) == 7
    # a create of an existing resource: the batch is refused whole, then each in its savepoint
    log = statements
    log.clear()
    outcomes = store.adopt_resources([again[0], adoptions[1]])
    assert outcomes[0] == adoptions[0].meta
    assert isinstance(outcomes[1], AlreadyExistsError)
    assert sum(s.startswith("SAVEPOINT") for s in log) == 2


def test_postgres_without_its_driver_names_the_extra() -> None:
    """A SQLite user has no psycopg: ``specstar.sql`` still imports, and reaching PostgreSQL
    raises an ImportError naming the extra to install."""
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "sys.modules['psycopg_pool'] = None\n"
        "import specstar.sql\n"
        "assert specstar.sql.SQLiteStorageFactory\n"
        "try:\n"
        "    specstar.sql.PostgresStorageFactory\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert 'pip install "specstar-storage-sql[postgres]"' in done.stdout


def test_psycopg_is_an_extra() -> None:
    project = tomllib.loads(
        (Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    )["project"]
    assert not any("psycopg" in d for d in project["dependencies"])
    assert any(d.startswith("psycopg") for d in project["optional-dependencies"]["postgres"])


def _dump_statements(
    sql_factory: StorageFactory, log: list[str], count: int, page: int = 1000
) -> list[str]:
    """The statements of a dump of ``count`` resources of 3 revisions each, ``page`` resources
    per search page."""
    items = ResourceManager(
        Item,
        name=f"dump-{uuid.uuid4().hex[:8]}",  # the factory may hold other tests' items
        storage_factory=sql_factory,
        indexed_fields=ITEM_INDEXES,
        default_user="u",
        default_limit=min(page, 100),
        max_limit=page,
    )
    for i in range(count):
        rid = items.create(Item(name=f"n{i}", email=f"{i}@x")).resource_id
        for k in (1, 2):
            items.update(rid, Item(name=f"n{i}.{k}", email=f"{i}@x"))
    log.clear()
    dump([items], io.BytesIO())
    return list(log)


def test_statements_of_a_dump(sql_factory: StorageFactory, statements: list[str]) -> None:
    """A dump sends as many statements for a page of 60 resources as for a page of 3: the
    count, then per page its search, its histories and its revisions (one statement each up
    to 400 ids or revisions)."""
    few = _dump_statements(sql_factory, statements, 3)
    many = _dump_statements(sql_factory, statements, 60)
    assert len(few) == len(many) == 1 + 3
    assert [s.split()[0] for s in many] == ["SELECT"] * 4
    assert len(_dump_statements(sql_factory, statements, 60, page=25)) == 1 + 3 * 3

"""Lost PostgreSQL connections: checked on checkout, reads retried, writes never ambiguous.

Each test owns a factory whose connections carry a unique ``application_name``, so it can
terminate exactly its own server sessions (``pg_terminate_backend``) while other tests run.
What must hold: a terminated idle connection is never handed out; a read whose connection dies
under it runs again on a fresh one; a write whose connection dies before ``COMMIT`` was applied
nowhere (``StorageUnavailableError``; the storage tries it once more), one whose ``COMMIT`` was
cut off says that its outcome is unknown (``WriteOutcomeUnknownError``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
import pytest

from specstar.core import (
    QB,
    ResourceManager,
    StorageUnavailableError,
    WriteOutcomeUnknownError,
)
from specstar.sql import PostgresStorageFactory, SQLStorage
from specstar.sql._backend import Tx


class Doc(msgspec.Struct, kw_only=True):
    title: str
    n: int = 0


class Fault:
    """Terminates the server sessions of one application name."""

    def __init__(self, dsn: str, application_name: str) -> None:
        self.dsn = dsn
        self.application_name = application_name

    def terminate_all(self) -> int:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (self.application_name,),
            ).fetchall()
        return len(rows)

    def terminate(self, pid: int) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
def fault_setup(
    postgres_dsn: str, pg_schema: str
) -> Iterator[tuple[PostgresStorageFactory, Fault]]:
    name = f"specstar-fault-{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in postgres_dsn else "?"
    dsn = f"{postgres_dsn}{separator}application_name={name}"
    factory = PostgresStorageFactory(dsn, schema=pg_schema, pool_size=4)
    yield factory, Fault(postgres_dsn, name)
    factory.close()


def _manager(factory: PostgresStorageFactory) -> ResourceManager[Doc]:
    return ResourceManager(
        Doc,
        storage_factory=factory,
        name=f"loss-{uuid.uuid4().hex[:8]}",
        indexed_fields=["title", "n"],
        default_user="u",
    )


def _pid(tx: Tx) -> int:
    row = tx.one("SELECT pg_backend_pid()")
    assert row is not None
    return int(row[0])


def test_terminated_idle_connections_are_not_handed_out(
    fault_setup: tuple[PostgresStorageFactory, Fault],
) -> None:
    factory, fault = fault_setup
    docs = _manager(factory)
    ids = [docs.create(Doc(title=f"t{i}")).resource_id for i in range(4)]
    for _ in range(3):
        assert fault.terminate_all() >= 1
        assert docs.count() == len(ids)  # a read
        ids.append(docs.create(Doc(title="after")).resource_id)  # a write
        assert fault.terminate_all() >= 1
        docs.update(ids[0], Doc(title="t0", n=len(ids)))
    assert docs.get(ids[0]).data.n == len(ids)
    assert docs.count(QB["title"] == "after") == 3
    blobs = factory.blob_store()
    info = blobs.put(b"kept through a restart")
    assert fault.terminate_all() >= 1
    assert blobs.get(info.file_id)[1] == b"kept through a restart"
    assert fault.terminate_all() >= 1
    assert blobs.delete(info.file_id)


def test_a_read_whose_connection_dies_runs_again(
    fault_setup: tuple[PostgresStorageFactory, Fault],
) -> None:
    factory, fault = fault_setup
    backend = factory._backend
    with backend.read() as tx:
        first = _pid(tx)
        fault.terminate(first)
        second = _pid(tx)  # the lost statement ran again on a fresh connection
        assert second != first
        fault.terminate(second)
        with pytest.raises(StorageUnavailableError):  # once per session, not forever
            tx.one("SELECT 1")


def test_a_write_lost_before_commit_was_not_applied(
    fault_setup: tuple[PostgresStorageFactory, Fault],
) -> None:
    factory, fault = fault_setup
    backend = factory._backend
    table = f'{backend.prefix}"fault_{uuid.uuid4().hex[:8]}"'
    with backend.write() as tx:
        tx.run(f"CREATE TABLE {table} (v integer)")

    def lost_before_commit() -> None:
        with backend.write() as tx:
            tx.run(f"INSERT INTO {table} VALUES (1)")
            fault.terminate(_pid(tx))
            tx.run(f"INSERT INTO {table} VALUES (2)")

    with pytest.raises(StorageUnavailableError) as err:
        lost_before_commit()
    assert not isinstance(err.value, WriteOutcomeUnknownError)
    assert "not applied" in err.value.message
    with backend.read() as tx:
        assert tx.all(f"SELECT v FROM {table}") == []


def test_a_write_lost_during_commit_has_an_unknown_outcome(
    fault_setup: tuple[PostgresStorageFactory, Fault],
) -> None:
    factory, fault = fault_setup
    backend = factory._backend

    def lost_during_commit() -> None:
        with backend.write() as tx:
            fault.terminate(_pid(tx))  # the next thing the session sends is COMMIT

    with pytest.raises(WriteOutcomeUnknownError) as err:
        lost_during_commit()
    assert "may or may not have been applied" in err.value.message


def test_the_storage_retries_a_write_that_was_not_applied(
    fault_setup: tuple[PostgresStorageFactory, Fault],
) -> None:
    factory, fault = fault_setup
    docs = _manager(factory)
    storage = docs.storage
    assert isinstance(storage, SQLStorage)
    attempts: list[int] = []

    def body(tx: Tx) -> int:
        pid = _pid(tx)
        attempts.append(pid)
        if len(attempts) == 1:
            fault.terminate(pid)
            tx.one("SELECT 1")  # lost before COMMIT
        return pid

    assert storage._commits._write(None, body) == attempts[-1]
    assert len(attempts) == 2
    assert attempts[0] != attempts[1]

    def always_lost(tx: Tx) -> Any:
        fault.terminate(_pid(tx))
        return tx.one("SELECT 1")

    with pytest.raises(StorageUnavailableError):
        storage._commits._write(None, always_lost)

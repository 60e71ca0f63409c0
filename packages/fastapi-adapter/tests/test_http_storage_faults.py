"""A storage that cannot be reached is a 503 that says whether the write happened, never a 500.

First the mapping, on every store (the storage's commit or reads raise the two errors); then
PostgreSQL for real: a loop of requests through the app while another connection terminates
the app's database sessions round after round. No request may get a 500, every 503 names one
of the two codes, and every write acknowledged with 2xx is there afterwards.
"""

from __future__ import annotations

import collections
import threading
import uuid
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from specstar.core import (
    StorageFactory,
    StorageUnavailableError,
    WriteOutcomeUnknownError,
)
from specstar.fastapi import SpecStar, install_problem_handlers


class Entry(msgspec.Struct, kw_only=True):
    title: str
    n: int = 0


def _app(factory: StorageFactory) -> tuple[FastAPI, SpecStar]:
    crud = SpecStar(storage_factory=factory, default_user="u")
    crud.add_model(Entry, indexed_fields=["title", "n"])
    app = FastAPI()
    install_problem_handlers(app)
    crud.apply(app)
    return app, crud


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (StorageUnavailableError(), "storage_unavailable"),
        (WriteOutcomeUnknownError(), "write_outcome_unknown"),
    ],
)
def test_unreachable_storage_is_a_503_naming_the_outcome(
    factory: StorageFactory, error: Exception, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, crud = _app(factory)
    storage = crud.get_resource_manager(Entry).storage
    with TestClient(app) as client:
        made = client.post("/entry", json={"title": "kept"})
        assert made.status_code == 201

        def fail(*args: Any, **kwargs: Any) -> Any:
            raise error

        monkeypatch.setattr(storage, "commit", fail)
        for response in (
            client.post("/entry", json={"title": "x"}),
            client.put(f"/entry/{made.json()['resource_id']}", json={"title": "y"}),
        ):
            assert response.status_code == 503, response.text
            doc = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert doc["code"] == code
            assert doc["type"] == f"urn:specstar:problem:{code}"
            assert doc["detail"] == str(error)
        monkeypatch.setattr(storage, "search", fail)
        listed = client.get("/entry")
        assert listed.status_code == 503
        assert listed.json()["code"] == code


def test_terminated_postgres_sessions_give_no_500_and_lose_no_write(
    postgres_dsn: str, specstar_run_id: str
) -> None:
    sql = pytest.importorskip("specstar.sql", reason="specstar-storage-sql is not installed")
    import psycopg

    name = f"specstar-http-fault-{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in postgres_dsn else "?"
    factory = sql.PostgresStorageFactory(
        f"{postgres_dsn}{separator}application_name={name}",
        schema=f"specstar_faults_{specstar_run_id}",
        pool_size=4,
    )
    app, crud = _app(factory)
    stop = threading.Event()
    terminated: list[int] = []

    def killer() -> None:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (name,),
                ).fetchall()
                terminated.append(len(rows))
                stop.wait(0.25)  # rounds, as when a database fails over or restarts

    statuses: collections.Counter[str] = collections.Counter()
    acknowledged: dict[str, int] = {}
    thread = threading.Thread(target=killer)
    try:
        with TestClient(app) as client:
            thread.start()
            for i in range(240):
                if i % 3 == 0:
                    r = client.post("/entry", json={"title": f"t{i}", "n": i})
                    if r.status_code == 201:
                        acknowledged[r.json()["resource_id"]] = i
                elif i % 3 == 1 and acknowledged:
                    rid = next(reversed(acknowledged))
                    r = client.put(f"/entry/{rid}", json={"title": "u", "n": i})
                    if r.status_code == 200:
                        acknowledged[rid] = i
                else:
                    r = client.get("/entry", params={"limit": 20})
                code = r.json().get("code", "") if r.status_code >= 500 else ""
                statuses[f"{r.status_code} {code}".strip()] += 1
            stop.set()
            thread.join()
            print("statuses:", dict(statuses), "sessions terminated:", sum(terminated))
            assert len(terminated) >= 3, terminated
            assert sum(terminated) >= 3, terminated
            assert not [s for s in statuses if s.startswith("500")], statuses
            assert {s for s in statuses if s.startswith("5")} <= {
                "503 storage_unavailable",
                "503 write_outcome_unknown",
            }
            manager = crud.get_resource_manager(Entry)
            for rid, n in acknowledged.items():  # no acknowledged write was lost
                stored = manager.get(rid).data.n
                assert stored >= n, (rid, n, stored)
                # only a later write whose outcome was reported unknown may have overtaken it
                assert stored == n or statuses["503 write_outcome_unknown"], (rid, n, stored)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        factory.close()

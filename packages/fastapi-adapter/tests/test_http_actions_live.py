"""Custom actions across processes: 50 concurrent "level up" requests from 4 client processes
against 2 uvicorn worker processes sharing PostgreSQL. No update is lost: every 200 is counted
in the level, every loser is told (409), and a repeatable action counts all 50."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from specstar.testing.services import drop_postgres_schema, uvicorn_server

APP = textwrap.dedent(
    """
    import os

    import msgspec
    from fastapi import FastAPI

    from specstar.fastapi import SpecStar
    from specstar.sql import PostgresStorageFactory


    class Character(msgspec.Struct, kw_only=True):
        name: str
        level: int = 1


    crud = SpecStar(
        storage_factory=PostgresStorageFactory(
            os.environ["ACTIONS_DSN"], schema=os.environ["ACTIONS_SCHEMA"], pool_size=4
        )
    )
    crud.add_model(Character)


    @crud.update_action("character")
    def level_up(existing: Character) -> Character:
        return Character(name=existing.name, level=existing.level + 1)


    @crud.update_action("character", retry_on_conflict=500)
    def safe_level_up(existing: Character) -> Character:
        return Character(name=existing.name, level=existing.level + 1)


    app = FastAPI()
    crud.apply(app)
    """
)

#: One client process: ``n`` concurrent POSTs, the statuses printed as JSON.
CLIENT = textwrap.dedent(
    """
    import json, sys, threading
    import httpx

    url, n = sys.argv[1], int(sys.argv[2])
    statuses = []
    barrier = threading.Barrier(n)

    def one():
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            statuses.append(client.post(url).status_code)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(statuses))
    """
)

PROCESSES = (13, 13, 12, 12)  # 50 requests from 4 processes


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory, postgres_dsn: str) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("actions_live")
    (folder / "actions_app.py").write_text(APP)
    schema = f"specstar_actions_{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "ACTIONS_DSN": postgres_dsn,
        "ACTIONS_SCHEMA": schema,
    }
    # the tables made once, before two workers start
    subprocess.run([sys.executable, "-c", "import actions_app"], cwd=folder, env=env, check=True)
    try:
        with uvicorn_server(
            folder,
            "actions_app:app",
            args=["--workers", "2"],
            env=env,
            start_timeout=60,
            stop_timeout=20,
        ) as server:
            yield server.url
    finally:
        drop_postgres_schema(postgres_dsn, schema)


def _race(url: str) -> list[int]:
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, url, str(n)], stdout=subprocess.PIPE, text=True
        )
        for n in PROCESSES
    ]
    statuses: list[int] = []
    for client in clients:
        out, _ = client.communicate(timeout=300)
        assert client.returncode == 0
        statuses.extend(json.loads(out))
    assert len(statuses) == 50
    return statuses


def _new_character(base_url: str) -> str:
    r = httpx.post(f"{base_url}/character", json={"name": "hero"})
    assert r.status_code == 201, r.text
    return str(r.json()["resource_id"])


def _level(base_url: str, rid: str) -> int:
    return int(httpx.get(f"{base_url}/character/{rid}").json()["data"]["level"])


def test_level_ups_from_4_processes_lose_nothing(base_url: str) -> None:
    rid = _new_character(base_url)
    statuses = _race(f"{base_url}/character/{rid}/level-up")
    won = statuses.count(200)
    print(f"\n4 processes x 2 workers: {won} level-ups won, {statuses.count(409)} told 409")
    assert won + statuses.count(409) == 50, statuses
    assert won >= 1
    assert _level(base_url, rid) == 1 + won


def test_repeatable_level_ups_from_4_processes_all_count(base_url: str) -> None:
    rid = _new_character(base_url)
    statuses = _race(f"{base_url}/character/{rid}/safe-level-up")
    assert statuses == [200] * 50
    assert _level(base_url, rid) == 51

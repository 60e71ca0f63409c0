"""The physical limit: the same rows and operations written by hand on the raw drivers.

* memory: plain dicts: id → record (its revisions as encoded JSON, newest last) and email → id
  for the unique check. Searches scan every record (a dict has no secondary indexes).
* SQLite (``sqlite3``): a ``users`` table with typed columns, a unique index on ``email`` and
  indexes on ``age``, ``score`` and ``active``, plus a ``revisions`` table; WAL with
  ``synchronous = FULL`` like SpecStar's default; one transaction per write.
* PostgreSQL (``psycopg``): the same tables and indexes in their own schema; one transaction
  per write.

Each write keeps the revision history (a revision row per change) so the work matches a
versioned store; nothing else (no events, permissions, validation hooks).

This module holds the memory driver and picks a backend's driver; the model is in
``raw_model.py``, the SQL drivers in ``raw_sql.py`` and the hand-written HTTP routes over
SQLite in ``raw_http.py``.
"""

from __future__ import annotations

import heapq
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from .raw_http import http_app
from .raw_model import DuplicateEmailError, RawUser, decode_user, encode, new_id
from .raw_sql import RawPostgres, RawSQLite
from .workloads import PAGE, Row, apply_patch

__all__ = [
    "DuplicateEmailError",
    "RawMemory",
    "RawPostgres",
    "RawSQLite",
    "RawUser",
    "driver",
    "http_app",
]

# -- memory ---------------------------------------------------------------------------------


class _Record:
    __slots__ = ("active", "age", "email", "revisions", "score", "updated_at")

    def __init__(self, user: RawUser, data: bytes) -> None:
        self.email = user.email
        self.age = user.age
        self.score = user.score
        self.active = user.active
        self.updated_at = time.time()
        self.revisions = [data]


class RawMemory:
    """Dicts and a lock: the least a thread-safe versioned in-memory store does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, _Record] = {}
        self._emails: dict[str, str] = {}

    def load(self, rows: list[Row]) -> tuple[list[str], str]:
        return [self.create(row) for row in rows], "dict inserts, one call per row"

    def get(self, rid: str) -> RawUser:
        return decode_user(self._rows[rid].revisions[-1])

    def _meta(self, rid: str, rec: _Record) -> tuple[Any, ...]:
        return (rid, len(rec.revisions), rec.updated_at, rec.email, rec.age, rec.score, rec.active)

    def search_eq(self, email: str) -> list[tuple[Any, ...]]:
        rid = self._emails.get(email)
        return [] if rid is None else [self._meta(rid, self._rows[rid])]

    def _top(self, lo: int, hi: int) -> list[tuple[str, _Record]]:
        with self._lock:
            hits = [
                (rid, rec) for rid, rec in self._rows.items() if rec.active and lo <= rec.age < hi
            ]
        return heapq.nsmallest(PAGE, hits, key=lambda h: (-h[1].score, h[0]))

    def search_range(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        return [self._meta(rid, rec) for rid, rec in self._top(lo, hi)]

    def score_of(self, item: Any) -> float:
        score: float = item[5]
        return score

    def count(self, lo: int, hi: int) -> int:
        with self._lock:
            return sum(1 for rec in self._rows.values() if rec.active and lo <= rec.age < hi)

    def list_page(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        return [
            (self._meta(rid, rec), decode_user(rec.revisions[-1])) for rid, rec in self._top(lo, hi)
        ]

    def _write(self, rid: str, user: RawUser) -> int:
        data = encode(user)
        with self._lock:
            rec = self._rows[rid]
            if user.email != rec.email:
                holder = self._emails.get(user.email)
                if holder is not None and holder != rid:
                    raise DuplicateEmailError(user.email)
                del self._emails[rec.email]
                self._emails[user.email] = rid
            rec.revisions.append(data)
            rec.email, rec.age, rec.score, rec.active = (
                user.email,
                user.age,
                user.score,
                user.active,
            )
            rec.updated_at = time.time()
            return len(rec.revisions)

    def update(self, rid: str, row: Row) -> int:
        return self._write(rid, msgspec.convert(row, RawUser))

    def patch(self, rid: str, ops: list[Row]) -> int:
        current = msgspec.json.decode(self._rows[rid].revisions[-1])
        return self._write(rid, msgspec.convert(apply_patch(current, ops), RawUser))

    def list_revisions(self, rid: str) -> list[int]:
        return list(range(1, len(self._rows[rid].revisions) + 1))

    def create(self, row: Row) -> str:
        user = msgspec.convert(row, RawUser)
        rec = _Record(user, encode(user))
        rid = new_id()
        with self._lock:
            if user.email in self._emails:
                raise DuplicateEmailError(user.email)
            self._emails[user.email] = rid
            self._rows[rid] = rec
        return rid

    def close(self) -> None:
        pass


def driver(backend: str, workdir: Path, pg_dsn: str, pg_schema: str) -> Any:
    """The raw driver of a backend."""
    if backend == "memory":
        return RawMemory()
    if backend == "sqlite":
        return RawSQLite(workdir / "raw.db")
    if backend == "postgres":
        return RawPostgres(pg_dsn, pg_schema)
    raise ValueError(f"unknown backend {backend!r}")

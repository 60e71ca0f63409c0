"""The raw SQL drivers: ``sqlite3`` and ``psycopg`` with typed columns, the same indexes and a
revision row per change, one transaction per write (see ``raw.py``)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from .raw_model import RawUser, encode, new_id
from .workloads import PAGE, Row, apply_patch

_META_COLUMNS = "id, rev, updated_at, email, age, score, active"
_RANGE = "age >= {p} AND age < {p} AND active = {true}"


class _SqlDriver:
    """The SQL workloads, shared by SQLite and PostgreSQL (placeholders and types differ)."""

    placeholder = "?"
    true = "1"

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    def _conn(self) -> Any:
        raise NotImplementedError

    def _now(self) -> Any:
        raise NotImplementedError

    def _tags(self, tags: list[str]) -> Any:
        raise NotImplementedError

    def _untags(self, raw: Any) -> list[str]:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def _range(self) -> str:
        return _RANGE.format(p=self.placeholder, true=self.true)

    def _user_params(self, user: RawUser) -> tuple[Any, ...]:
        return (user.name, user.email, user.age, user.score, self._tags(user.tags), user.active)

    def insert_many(self, rows: list[Row]) -> list[str]:
        ids = [new_id() for _ in rows]
        now = self._now()
        users = [msgspec.convert(row, RawUser) for row in rows]
        with self._tx() as cur:
            cur.executemany(
                self._sql(
                    "INSERT INTO users (id, rev, updated_at, name, email, age, score, tags, "
                    "active) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [(rid, now, *self._user_params(u)) for rid, u in zip(ids, users, strict=True)],
            )
            cur.executemany(
                self._sql("INSERT INTO revisions (id, seq, created_at, data) VALUES (?, 1, ?, ?)"),
                [(rid, now, encode(u)) for rid, u in zip(ids, users, strict=True)],
            )
        return ids

    def load(self, rows: list[Row]) -> tuple[list[str], str]:
        ids: list[str] = []
        for start in range(0, len(rows), 5000):
            ids.extend(self.insert_many(rows[start : start + 5000]))
        return ids, "executemany in transactions of 5,000 rows"

    def get(self, rid: str) -> RawUser:
        row = (
            self._conn()
            .execute(
                self._sql("SELECT name, email, age, score, tags, active FROM users WHERE id = ?"),
                (rid,),
            )
            .fetchone()
        )
        if row is None:
            raise KeyError(rid)
        name, email, age, score, tags, active = row
        return RawUser(name, email, age, score, self._untags(tags), bool(active))

    def search_eq(self, email: str) -> list[tuple[Any, ...]]:
        sql = f"SELECT {_META_COLUMNS} FROM users WHERE email = ? ORDER BY id LIMIT {PAGE}"
        rows: list[tuple[Any, ...]] = self._conn().execute(self._sql(sql), (email,)).fetchall()
        return rows

    def search_range(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        sql = (
            f"SELECT {_META_COLUMNS} FROM users WHERE {self._range()} "
            f"ORDER BY score DESC, id LIMIT {PAGE}"
        )
        rows: list[tuple[Any, ...]] = self._conn().execute(sql, (lo, hi)).fetchall()
        return rows

    def score_of(self, item: Any) -> float:
        score: float = item[5]
        return score

    def count(self, lo: int, hi: int) -> int:
        row = self._conn().execute(f"SELECT count(*) FROM users WHERE {self._range()}", (lo, hi))
        return int(row.fetchone()[0])

    def list_page(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
        sql = (
            f"SELECT {_META_COLUMNS}, name, tags FROM users WHERE {self._range()} "
            f"ORDER BY score DESC, id LIMIT {PAGE}"
        )
        out = []
        for row in self._conn().execute(sql, (lo, hi)).fetchall():
            rid, rev, updated, email, age, score, active, name, tags = row
            user = RawUser(name, email, age, score, self._untags(tags), bool(active))
            out.append(((rid, rev, updated, email, age, score, active), user))
        return out

    def _append(self, cur: Any, rid: str, user: RawUser) -> int:
        now = self._now()
        found = cur.execute(
            self._sql(
                "UPDATE users SET rev = rev + 1, updated_at = ?, name = ?, email = ?, age = ?, "
                "score = ?, tags = ?, active = ? WHERE id = ? RETURNING rev"
            ),
            (now, *self._user_params(user), rid),
        ).fetchone()
        if found is None:
            raise KeyError(rid)
        rev = int(found[0])
        cur.execute(
            self._sql("INSERT INTO revisions (id, seq, created_at, data) VALUES (?, ?, ?, ?)"),
            (rid, rev, now, encode(user)),
        )
        return rev

    def update(self, rid: str, row: Row) -> int:
        user = msgspec.convert(row, RawUser)
        with self._tx() as cur:
            return self._append(cur, rid, user)

    def patch(self, rid: str, ops: list[Row]) -> int:
        with self._tx() as cur:
            found = cur.execute(
                self._sql(
                    "SELECT name, email, age, score, tags, active FROM users WHERE id = ?"
                    + self._lock_clause()
                ),
                (rid,),
            ).fetchone()
            if found is None:
                raise KeyError(rid)
            name, email, age, score, tags, active = found
            current = {
                "name": name,
                "email": email,
                "age": age,
                "score": score,
                "tags": self._untags(tags),
                "active": bool(active),
            }
            user = msgspec.convert(apply_patch(current, ops), RawUser)
            return self._append(cur, rid, user)

    def _lock_clause(self) -> str:
        return ""

    def list_revisions(self, rid: str) -> list[int]:
        rows = (
            self._conn()
            .execute(self._sql("SELECT seq FROM revisions WHERE id = ? ORDER BY seq"), (rid,))
            .fetchall()
        )
        return [int(r[0]) for r in rows]

    def create(self, row: Row) -> str:
        return self.insert_many([row])[0]


_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, rev INTEGER NOT NULL, "
    "updated_at INTEGER NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL, age INTEGER NOT NULL, "
    "score REAL NOT NULL, tags TEXT NOT NULL, active INTEGER NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (email)",
    "CREATE INDEX IF NOT EXISTS users_age ON users (age)",
    "CREATE INDEX IF NOT EXISTS users_score ON users (score)",
    "CREATE INDEX IF NOT EXISTS users_active ON users (active)",
    "CREATE TABLE IF NOT EXISTS revisions (id TEXT NOT NULL, seq INTEGER NOT NULL, "
    "created_at INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (id, seq))",
)


class RawSQLite(_SqlDriver):
    """``sqlite3`` with one connection per thread (WAL, ``synchronous = FULL``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        conn = self._conn()
        for statement in _SQLITE_SCHEMA:
            conn.execute(statement)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA busy_timeout = 30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _now(self) -> int:
        return time.time_ns() // 1000

    def _tags(self, tags: list[str]) -> str:
        return encode(tags).decode()

    def _untags(self, raw: Any) -> list[str]:
        tags: list[str] = msgspec.json.decode(raw)
        return tags

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()


def _pg_schema_sql(schema: str) -> tuple[str, ...]:
    return (
        f'CREATE SCHEMA IF NOT EXISTS "{schema}"',
        f'SET search_path TO "{schema}"',
        "CREATE TABLE IF NOT EXISTS users (id text PRIMARY KEY, rev integer NOT NULL, "
        "updated_at timestamptz NOT NULL, name text NOT NULL, email text NOT NULL, "
        "age integer NOT NULL, score double precision NOT NULL, tags text[] NOT NULL, "
        "active boolean NOT NULL)",
        "CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (email)",
        "CREATE INDEX IF NOT EXISTS users_age ON users (age)",
        "CREATE INDEX IF NOT EXISTS users_score ON users (score)",
        "CREATE INDEX IF NOT EXISTS users_active ON users (active)",
        "CREATE TABLE IF NOT EXISTS revisions (id text NOT NULL, seq integer NOT NULL, "
        "created_at timestamptz NOT NULL, data bytea NOT NULL, PRIMARY KEY (id, seq))",
    )


class RawPostgres(_SqlDriver):
    """``psycopg`` on one connection, tables in their own schema."""

    placeholder = "%s"
    true = "true"

    def __init__(self, dsn: str, schema: str) -> None:
        import psycopg

        self._pg = psycopg.connect(dsn, autocommit=True)
        for statement in _pg_schema_sql(schema):
            self._pg.execute(statement)

    def _conn(self) -> Any:
        return self._pg

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._pg.transaction():
            yield self._pg.cursor()

    def _lock_clause(self) -> str:
        return " FOR UPDATE"

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def _tags(self, tags: list[str]) -> list[str]:
        return tags

    def _untags(self, raw: Any) -> list[str]:
        return list(raw)

    def analyze(self) -> None:
        self._pg.execute("ANALYZE users")
        self._pg.execute("ANALYZE revisions")

    def close(self) -> None:
        self._pg.close()

"""PostgreSQL housekeeping for the benchmarks: availability, per-run schemas and databases.

Every run works in names of its own (``specstar_bench_<run id>_...``) and drops them at the end, so
runs never see each other's rows. SpecStar and the raw driver get a schema each in the
configured database; the peer gets a database of its own (its tables live in ``public``).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def pg_dsn() -> str:
    """The server to use: ``SPECSTAR_BENCH_PG_DSN``, else the test services' default."""
    return os.environ.get("SPECSTAR_BENCH_PG_DSN") or os.environ.get(
        "SPECSTAR_TEST_PG_DSN", DEFAULT_DSN
    )


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return f'"{name}"'


def pg_problem(dsn: str) -> str | None:
    """Why PostgreSQL cannot be used (``None`` when it answers)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg comes with specstar-storage-sql
        return f"psycopg is not installed: {exc}"
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {redact(dsn)} does not answer: {exc}".strip()
    return None


def pg_version(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def redact(dsn: str) -> str:
    """The DSN without its password."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def with_database(dsn: str, database: str) -> str:
    """The same server and user, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {_ident(schema)} CASCADE")


def analyze_schema(dsn: str, schema: str) -> None:
    """``ANALYZE`` every table of a schema: the statistics autovacuum would gather."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        for (table,) in rows:
            conn.execute(f'ANALYZE {_ident(schema)}."{table}"')


def create_database(dsn: str, database: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_ident(database)}")
        conn.execute(f"CREATE DATABASE {_ident(database)}")


def drop_database(dsn: str, database: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_ident(database)} WITH (FORCE)")

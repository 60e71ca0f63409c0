"""Locating the external services tests need (PostgreSQL, Redis, RabbitMQ, S3).

A test that needs a service asks its fixture. When the service does not answer, the test is
skipped with the reason — unless ``SPECSTAR_REQUIRE_SERVICES=1`` (set by CI), where it fails.
Tests only ever reach loopback addresses.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

__all__ = [
    "DEFAULTS",
    "LiveServer",
    "ServiceUnavailable",
    "count_s3_requests",
    "drop_postgres_schema",
    "free_port",
    "fresh_bucket",
    "live_server",
    "moto_server",
    "require",
    "s3_options",
    "service_url",
    "services_required",
    "uvicorn_server",
]

DEFAULTS = {
    "postgres": ("SPECSTAR_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
    "redis": ("SPECSTAR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "rabbitmq": ("SPECSTAR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
}
_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "amqp": 5672}


class ServiceUnavailable(RuntimeError):
    """A required service does not answer."""


def services_required() -> bool:
    """Whether missing services must fail tests instead of skipping them."""
    return os.environ.get("SPECSTAR_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def service_url(name: str) -> str:
    """The configured URL of a service (environment variable or the loopback default)."""
    env, default = DEFAULTS[name]
    return os.environ.get(env) or default


def _probe(url: str, timeout: float = 1.0) -> None:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or _PORTS.get(parts.scheme, 0)
    try:
        if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
            raise ServiceUnavailable(f"{url}: tests only talk to loopback addresses")
    except OSError as exc:
        raise ServiceUnavailable(f"{url}: cannot resolve {host}: {exc}") from exc
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ServiceUnavailable(f"{url}: nothing answers on {host}:{port} ({exc})") from exc


def require(name: str) -> str:
    """The URL of a reachable service; otherwise skip (or fail under CI's requirement)."""
    url = service_url(name)
    try:
        _probe(url)
    except ServiceUnavailable as exc:
        message = f"{name} unavailable: {exc}"
        if services_required():
            pytest.fail(f"{message} (SPECSTAR_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(message)
    return url


def drop_postgres_schema(dsn: str, schema: str, *, batch: int = 50) -> None:
    """Drop a test schema and everything in it, a few tables per transaction.

    One ``DROP SCHEMA ... CASCADE`` locks every table, index and sequence of the schema in a
    single transaction: a schema that a long test run filled with thousands of tables exceeds
    the server's lock table (``out of shared memory``). Dropping the tables in batches first
    keeps each transaction small. Needs psycopg (the ``postgres`` extra of specstar-storage-sql).
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            ).fetchall()
        ]
        for start in range(0, len(tables), batch):
            names = sql.SQL(", ").join(
                sql.Identifier(schema, name) for name in tables[start : start + batch]
            )
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(names))
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def s3_options(endpoint_url: str) -> dict[str, Any]:
    """Keyword arguments of ``boto3.client("s3", ...)`` (and of the S3 store factories) that
    reach the test S3 server at ``endpoint_url`` with throw-away credentials. Picklable, so a
    process suite's recipe can carry them."""
    return {
        "endpoint_url": endpoint_url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start a moto S3 server (real HTTP S3, conditional writes included) on a free loopback
    port, in a process of its own (so the server never competes with the test for the
    interpreter lock); yields its endpoint URL and stops the server on exit. The server decides
    conditional writes atomically, as S3 does and moto alone does not (see
    :mod:`specstar.testing._s3_server`).

    Skips the test when ``moto[server]`` is not installed (fails under
    ``SPECSTAR_REQUIRE_SERVICES=1``).
    """
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        message = "S3 tests need moto[server] (pip install 'moto[server]')"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with socket.socket() as probe:  # a port nothing listens on now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "specstar.testing._s3_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise ServiceUnavailable(f"moto server on {endpoint} did not start") from None
                time.sleep(0.05)
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def fresh_bucket(endpoint_url: str, name: str | None = None) -> str:
    """Create a bucket with a unique name (or ``name``) on the test S3 server; returns it."""
    import boto3

    bucket = name or f"specstar-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", **s3_options(endpoint_url)).create_bucket(Bucket=bucket)
    return bucket


def drop_bucket(client: Any, bucket: str) -> None:
    """Delete every object of ``bucket`` and the bucket itself, with the boto3 S3 ``client``
    (a bucket gone under a running store, for the failure tests)."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


def count_s3_requests(client: Any) -> Counter[str]:
    """Count the requests a boto3 S3 ``client`` sends from now on, by operation name
    (``PutObject``, ``GetObject``...; a ``before-call`` hook, so retries count once)."""
    counted: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        counted[model.name] += 1

    client.meta.events.register("before-call.s3", hook)
    return counted


class LiveServer(NamedTuple):
    """A server :func:`live_server` (or :func:`uvicorn_server`) started."""

    url: str
    pid: int
    #: the file holding the server's output
    log: Path


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def live_server(
    command: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    env: Mapping[str, str] | None = None,
    name: str = "the server",
    start_timeout: float = 30.0,
    stop_timeout: float = 10.0,
) -> Iterator[LiveServer]:
    """Run ``command`` (each ``{port}`` in it replaced by a free loopback port) in a process of
    its own, working in ``cwd``, its output in ``log``; yields its :class:`LiveServer` once
    ``/openapi.json`` answers 200, and stops it on exit (terminate, then kill). ``env`` replaces
    the environment (default: this one, warnings off). The test fails with the log when the
    server exits or does not answer within ``start_timeout`` seconds."""
    import urllib.error
    import urllib.request

    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in command]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else {**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/openapi.json", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{name} did not start:\n{log.read_text()}", pytrace=False)
            time.sleep(0.1)
        yield LiveServer(url, proc.pid, log)
    finally:
        proc.terminate()
        try:
            proc.wait(stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def uvicorn_server(
    folder: Path,
    app: str,
    *,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    start_timeout: float = 30.0,
    stop_timeout: float = 10.0,
) -> Iterator[LiveServer]:
    """Serve ``app`` (``"module:attribute"``, the module in ``folder``) with uvicorn in a process
    of its own, working in ``folder``, on a free loopback port (:func:`live_server`); ``args``
    go to uvicorn (e.g. ``["--workers", "2"]``); the server's output is in
    ``folder / "uvicorn.log"``, shown when it does not start."""
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(folder), app]
    command += ["--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning", *args]
    with live_server(
        command,
        cwd=folder,
        log=folder / "uvicorn.log",
        env=env,
        name="uvicorn",
        start_timeout=start_timeout,
        stop_timeout=stop_timeout,
    ) as server:
        yield server

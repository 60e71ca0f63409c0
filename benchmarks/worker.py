"""One benchmark process for SpecStar or the raw drivers (``run.py`` starts one per suite).

``python -m benchmarks.worker suite CONFIG.json OUT.json`` loads N rows into one implementation
on one backend, measures the workloads and writes the result; ``... serve CONFIG.json`` loads
the rows into the HTTP app of the implementation and serves it with uvicorn (one worker, or
``workers`` of them when the config names a number: SpecStar only) until it is terminated.
Progress goes to stderr.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from . import raw, rss
from .services import analyze_schema
from .workloads import Settings, make_rows, run_suite, stderr_progress, write_json

#: Tells the app factory of several uvicorn workers where the loaded SQLite folder is.
_WORKDIR_ENV = "SPECSTAR_BENCH_HTTP_WORKDIR"


def _driver(config: dict[str, Any]) -> Any:
    workdir = Path(config["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    backend = config["backend"]
    if config["impl"] == "ours":
        from .ours import OursDriver

        return OursDriver(
            backend,
            workdir,
            config.get("pg_dsn", ""),
            config.get("pg_schema", ""),
            config.get("s3"),
        )
    if config["impl"] == "raw":
        return raw.driver(backend, workdir, config.get("pg_dsn", ""), config.get("pg_schema", ""))
    raise ValueError(f"unknown implementation {config['impl']!r}")


def suite(config: dict[str, Any], out: Path) -> None:
    driver = _driver(config)
    after_load = None
    if config["backend"] in ("postgres", "postgres+s3"):

        def after_load() -> None:
            analyze_schema(config["pg_dsn"], config["pg_schema"])

    try:
        result = run_suite(
            driver,
            n=int(config["n"]),
            seed=int(config["seed"]),
            settings=Settings.from_dict(config["settings"]),
            workloads=config["workloads"],
            progress=stderr_progress,
            label=config["label"],
            rss=rss.memory,
            after_load=after_load,
        )
    finally:
        driver.close()
    write_json(out, result)


def serve(config: dict[str, Any]) -> None:
    import uvicorn

    workdir = Path(config["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    rows = make_rows(int(config["n"]), int(config["seed"]))
    app: Any
    workers = int(config.get("workers", 0))
    if config["impl"] == "ours" and workers:
        # Several uvicorn workers each build the app from its import string over the same
        # SQLite folder, loaded here once before they start.
        from specstar.sql import SQLiteStorageFactory

        from .ours import User, http_app

        factory = SQLiteStorageFactory(workdir)
        create = http_app(factory).state.manager.create
        write_json(config["http_ids_path"], [create(User(**row)).resource_id for row in rows])
        factory.close()
        os.environ[_WORKDIR_ENV] = str(workdir)
        _serve_processes(workers, int(config["port"]))
        return
    if config["impl"] == "ours":
        from specstar.sql import SQLiteStorageFactory

        from .ours import User, http_app

        app = http_app(SQLiteStorageFactory(workdir))
        create = app.state.manager.create
        ids = [create(User(**row)).resource_id for row in rows]
    elif config["impl"] == "raw":
        db = raw.RawSQLite(workdir / "raw.db")
        ids, _ = db.load(rows)
        app = raw.http_app(db)
    else:
        raise ValueError(f"unknown implementation {config['impl']!r}")
    write_json(config["http_ids_path"], ids)
    uvicorn.run(
        app, host="127.0.0.1", port=int(config["port"]), log_level="warning", access_log=False
    )


def _serve_processes(workers: int, port: int) -> None:
    """Serve :func:`shared_app` from ``workers`` uvicorn processes sharing ``port``.

    Each process listens on a socket of its own with ``SO_REUSEPORT``, so the kernel spreads
    connections over the processes (as gunicorn's ``reuse_port`` or several systemd-started
    instances do). uvicorn's ``--workers`` shares one accept queue instead: with 16 keep-alive
    connections opened in one burst, asyncio's accept loop in whichever worker wakes first
    takes most of them (splits of 14/2 and 16/0 were seen), and the figure would measure
    where the connections landed rather than what two workers can serve.
    """
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_serve_one, args=(port,)) for _ in range(workers)]
    for proc in procs:
        proc.start()

    def stop(*_: Any) -> None:
        for proc in procs:
            proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    for proc in procs:
        proc.join()


def _serve_one(port: int) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    config = uvicorn.Config(
        "benchmarks.worker:shared_app", factory=True, log_level="warning", access_log=False
    )
    uvicorn.Server(config).run(sockets=[sock])


def shared_app() -> Any:
    """The app of one of several uvicorn workers: SpecStar's routes over the loaded folder."""
    from specstar.sql import SQLiteStorageFactory

    from .ours import http_app

    workdir = Path(os.environ[_WORKDIR_ENV])
    app = http_app(SQLiteStorageFactory(workdir))
    (workdir / f"worker-{os.getpid()}.ready").touch()  # the harness waits for every worker
    return app


def main(argv: list[str]) -> int:
    command, config_path, *rest = argv
    config = json.loads(Path(config_path).read_text())
    if command == "suite":
        suite(config, Path(rest[0]))
    elif command == "serve":
        serve(config)
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The ``specstar`` package from PyPI (the peer) as a benchmark driver.

This script runs only inside the peer's own virtual environment (``benchmarks/.venv-peer``,
made by ``peer_env.py``), where ``import specstar`` is the peer and none of our packages exist;
``run.py`` starts it as a subprocess and reads the JSON it writes. It drives the peer through
its public API only: ``SpecStar.add_model`` / ``get_resource_manager``, the ResourceManager
methods, ``QB`` queries, and ``SpecStar.dump`` / ``load`` for bulk loading.

Storage, as close to ours as the peer offers:

* memory: ``MemoryStorageFactory`` (its default);
* sqlite: its SQLite meta store (``FileSqliteMetaStore``) with revisions as files
  (``DiskResourceStore``): the "Disk" layout its architecture page describes (SQLite meta,
  filesystem revisions). Its ``DiskStorageFactory`` keeps meta records as files and scans them
  all on every search, which would be slower still;
* postgres: its ``postgres`` backend (meta and revisions in PostgreSQL, what its
  ``PostgresStorageFactory`` builds) configured through its ``BackendConfig`` with a pool
  that keeps four connections open (``minconn=4``; with its default, 0, nearly every call
  opens a new connection) and its default ``maxconn=16``, in a database of its own, with
  ``SortIndex`` on the indexed scalar fields (its opt-in B-tree indexes), so it has the same
  indexes as ours.

S3 (the S3 section, ``s3_bench.py``; every row on the run's moto server, in a bucket of its
own): ``s3``: its ``s3`` backend for meta and resources through ``BackendConfig`` (meta in a
SQLite file synced to S3, ``S3SqliteMetaStore`` with its defaults); ``postgres+s3``: meta in
PostgreSQL as above, resources in its ``s3`` backend; ``sqlite+s3``: its SQLite meta store
with ``S3ResourceStore`` revisions.

Loading: the peer's ``create`` checks ``Unique`` fields with a search, a full scan on memory,
so creating 100k resources one by one would take hours. The ``dump`` command creates the rows
once in a staging manager whose model lacks ``Unique`` (same fields, same indexed fields) and
exports them with ``SpecStar.dump``; each suite then imports that archive with
``SpecStar.load``, the peer's bulk import.

Commands: ``dump CONFIG``, ``suite CONFIG OUT``, ``serve CONFIG``, ``versions``. (No
``from __future__ import annotations`` here: the peer's models are declared inside functions
and msgspec must resolve their annotations.)
"""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

_HERE = Path(__file__).resolve().parent
# Never let this folder shadow anything the peer imports; load our two helpers by path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _load_helper(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", _HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


workloads = _load_helper("workloads")
rss = _load_helper("rss")

RESOURCE_NAME = "user"


def _models() -> tuple[type, type]:
    """The benchmark model as the peer declares it, and the staging twin without ``Unique``."""
    from typing import Annotated

    import msgspec

    from specstar import SortIndex, Unique

    class User(msgspec.Struct):
        name: str
        email: Annotated[str, Unique(), SortIndex()]
        age: Annotated[int, SortIndex()]
        score: Annotated[float, SortIndex()]
        tags: list[str]
        active: Annotated[bool, SortIndex()]

    class StagingUser(msgspec.Struct):
        name: str
        email: str
        age: int
        score: float
        tags: list[str]
        active: bool

    StagingUser.__name__ = StagingUser.__qualname__ = "User"
    return User, StagingUser


#: ``email`` is indexed by the peer itself because it is ``Unique``.
INDEXED_FIELDS: list[tuple[str, type]] = [("age", int), ("score", float), ("active", bool)]


def _crud(
    backend: str,
    workdir: Path,
    dsn: str,
    model: type,
    extra_indexed: tuple[Any, ...] = (),
    *,
    s3: "dict[str, Any] | None" = None,
    name: str = RESOURCE_NAME,
    indexed: "list[Any] | None" = None,
) -> Any:
    """A ``SpecStar`` holding ``model`` as ``name`` on ``backend``, indexing ``indexed``
    (default: :data:`INDEXED_FIELDS`) plus ``extra_indexed``."""
    from specstar import SpecStar
    from specstar.resource_manager.storage_factory import MemoryStorageFactory

    fields = [*extra_indexed, *(INDEXED_FIELDS if indexed is None else indexed)]

    if backend == "memory":
        crud = SpecStar(storage_factory=MemoryStorageFactory())
        crud.add_model(model, name=name, indexed_fields=fields)
    elif backend == "sqlite":
        from specstar.resource_manager.core import SimpleStorage
        from specstar.resource_manager.meta_store.sqlite3 import FileSqliteMetaStore
        from specstar.resource_manager.resource_store.simple import DiskResourceStore

        workdir.mkdir(parents=True, exist_ok=True)
        storage = SimpleStorage(
            FileSqliteMetaStore(db_filepath=workdir / "meta.db"),
            DiskResourceStore(rootdir=workdir / "data"),
        )
        crud = SpecStar()
        crud.add_model(model, name=name, storage=storage, indexed_fields=fields)
    elif backend == "postgres":
        from specstar import BackendBinding, BackendConfig, ConnectionProfile

        # Its documented backend configuration, keeping pooled connections open (with its
        # default minconn=0 every connection is closed when returned to the pool).
        options = {"dsn": dsn, "minconn": 4, "maxconn": 16}
        crud = SpecStar(
            backend=BackendConfig(
                connections={"pg": ConnectionProfile(type="postgres", options=options)},
                meta=BackendBinding(use="pg"),
                resource=BackendBinding(use="pg"),
                blob=BackendBinding(type="memory"),
            )
        )
        crud.add_model(model, name=name, indexed_fields=fields)
    elif backend in ("s3", "postgres+s3"):
        from specstar import BackendBinding, BackendConfig, ConnectionProfile

        # Its S3 provider: the S3-only layout keeps meta in a SQLite file synced to S3
        # (``S3SqliteMetaStore``, its defaults: sync after every write, ETag locking) and
        # revisions as S3 objects (``S3ResourceStore``); with PostgreSQL the meta is there
        # (what its ``PostgreSQLS3StorageFactory`` builds).
        connections = {"s3": ConnectionProfile(type="s3", options=_s3_options(s3))}
        meta = BackendBinding(use="s3")
        if backend == "postgres+s3":
            options = {"dsn": dsn, "minconn": 4, "maxconn": 16}
            connections["pg"] = ConnectionProfile(type="postgres", options=options)
            meta = BackendBinding(use="pg")
        crud = SpecStar(
            backend=BackendConfig(
                connections=connections,
                meta=meta,
                resource=BackendBinding(use="s3"),
                blob=BackendBinding(type="memory"),
            )
        )
        crud.add_model(model, name=name, indexed_fields=fields)
    elif backend == "sqlite+s3":
        from specstar.resource_manager.core import SimpleStorage
        from specstar.resource_manager.meta_store.sqlite3 import FileSqliteMetaStore
        from specstar.resource_manager.resource_store.s3 import S3ResourceStore

        workdir.mkdir(parents=True, exist_ok=True)
        options = _s3_options(s3)
        storage = SimpleStorage(
            FileSqliteMetaStore(db_filepath=workdir / "meta.db"),
            S3ResourceStore(
                bucket=options["bucket"],
                prefix=f"{options['prefix']}{name}/",
                endpoint_url=options["endpoint_url"],
                access_key_id=options["access_key_id"],
                secret_access_key=options["secret_access_key"],
                region_name=options["region_name"],
            ),
        )
        crud = SpecStar()
        crud.add_model(model, name=name, storage=storage, indexed_fields=fields)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    return crud


def _s3_options(s3: dict[str, Any] | None) -> dict[str, Any]:
    """The peer's S3 options from the run's bucket, prefix and ``boto3.client`` options."""
    if not s3:
        raise ValueError("an S3 backend needs the run's bucket and client options")
    return {
        "bucket": s3["bucket"],
        "prefix": s3["prefix"],
        "endpoint_url": s3["endpoint_url"],
        "access_key_id": s3["aws_access_key_id"],
        "secret_access_key": s3["aws_secret_access_key"],
        "region_name": s3["region_name"],
    }


def make_dump(config: dict[str, Any]) -> None:
    """Create the rows in a staging manager (memory, no ``Unique``) and export them."""
    _, staging_model = _models()
    # the staging model has no Unique, so email is indexed explicitly, as Unique does it
    crud = _crud("memory", Path(), "", staging_model, extra_indexed=(("email", str),))
    manager = crud.get_resource_manager(RESOURCE_NAME)
    rows = workloads.make_rows(int(config["n"]), int(config["seed"]))
    ids = [manager.create(staging_model(**row)).resource_id for row in rows]
    path = Path(config["dump_path"])
    with path.open("wb") as f:
        crud.dump(f)
    Path(config["ids_path"]).write_text(json.dumps(ids))


class PeerDriver:
    """The workloads through the peer's ResourceManager."""

    def __init__(
        self,
        backend: str,
        workdir: Path,
        dsn: str,
        dump_path: Path,
        ids_path: Path,
        *,
        s3: "dict[str, Any] | None" = None,
    ):
        from jsonpatch import JsonPatch

        from specstar import QB

        self.backend = backend
        self.dsn = dsn
        self._dump_path = dump_path
        self._ids_path = ids_path
        self._qb = QB
        self._json_patch = JsonPatch
        self.model, _ = _models()
        self.crud = _crud(backend, workdir, dsn, self.model, s3=s3)
        self.manager = self.crud.get_resource_manager(RESOURCE_NAME)

    def load(self, rows: list[dict[str, Any]]) -> tuple[list[str], str]:
        with self._dump_path.open("rb") as f:
            self.crud.load(f)
        ids: list[str] = json.loads(self._ids_path.read_text())
        if len(ids) != len(rows):
            raise RuntimeError(f"the dump holds {len(ids)} rows, expected {len(rows)}")
        return ids, "SpecStar.load of a SpecStar.dump archive (bulk import)"

    def analyze(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.dsn)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("ANALYZE")
        finally:
            conn.close()

    def _range(self, lo: int, hi: int) -> Any:
        qb = self._qb
        return (qb["age"] >= lo) & (qb["age"] < hi) & (qb["active"] == True)  # noqa: E712

    def _range_query(self, lo: int, hi: int) -> Any:
        return self._range(lo, hi).sort("-score").limit(workloads.PAGE).build()

    def get(self, rid: str) -> Any:
        return self.manager.get(rid).data

    def search_eq(self, email: str) -> Any:
        query = (self._qb["email"] == email).limit(workloads.PAGE).build()
        return self.manager.search_resources(query)

    def search_range(self, lo: int, hi: int) -> Any:
        return self.manager.search_resources(self._range_query(lo, hi))

    def score_of(self, item: Any) -> float:
        score: float = item.indexed_data["score"]
        return score

    def count(self, lo: int, hi: int) -> int:
        count: int = self.manager.count_resources(self._range(lo, hi).build())
        return count

    def list_page(self, lo: int, hi: int) -> Any:
        return self.manager.list_resources(self._range_query(lo, hi))

    def update(self, rid: str, row: dict[str, Any]) -> Any:
        return self.manager.update(rid, self.model(**row))

    def patch(self, rid: str, ops: list[dict[str, Any]]) -> Any:
        return self.manager.patch(rid, self._json_patch(ops))

    def list_revisions(self, rid: str) -> Any:
        return self.manager.list_revisions(rid)

    def create(self, row: dict[str, Any]) -> str:
        rid: str = self.manager.create(self.model(**row)).resource_id
        return rid

    def close(self) -> None:
        pass


def _driver(config: dict[str, Any]) -> PeerDriver:
    return PeerDriver(
        config["backend"],
        Path(config["workdir"]),
        config.get("pg_dsn", ""),
        Path(config["dump_path"]),
        Path(config["ids_path"]),
        s3=config.get("s3"),
    )


def suite(config: dict[str, Any], out: Path) -> None:
    driver = _driver(config)
    result = workloads.run_suite(
        driver,
        n=int(config["n"]),
        seed=int(config["seed"]),
        settings=workloads.Settings.from_dict(config["settings"]),
        workloads=config["workloads"],
        progress=workloads.stderr_progress,
        label=config["label"],
        rss=rss.memory,
        after_load=driver.analyze if config["backend"] in ("postgres", "postgres+s3") else None,
    )
    workloads.write_json(out, result)


def serve(config: dict[str, Any]) -> None:
    import uvicorn
    from fastapi import FastAPI

    driver = _driver(config)
    rows = workloads.make_rows(int(config["n"]), int(config["seed"]))
    ids, _ = driver.load(rows)
    app = FastAPI(title="peer benchmark")
    driver.crud.apply(app)
    workloads.write_json(config["http_ids_path"], ids)
    uvicorn.run(
        app, host="127.0.0.1", port=int(config["port"]), log_level="warning", access_log=False
    )


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("specstar", "fastapi", "msgspec", "uvicorn")}


def main(argv: list[str]) -> int:
    command, *rest = argv
    if command == "versions":
        print(json.dumps(versions()))
        return 0
    config = json.loads(Path(rest[0]).read_text())
    if command == "dump":
        make_dump(config)
    elif command == "suite":
        suite(config, Path(rest[1]))
    elif command == "serve":
        serve(config)
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

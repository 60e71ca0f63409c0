"""The backup section's peer rows: the PyPI ``specstar`` package's ``SpecStar.load`` and
``SpecStar.dump`` on the books of ``backup_rows.py``.

Runs only in the peer's venv (``peer_env.py``), like ``peer_driver.py``, whose storage set-up
it reuses (its ``sqlite``: SQLite meta with revisions as files; its ``postgres``: meta and
revisions in PostgreSQL with a pool of four open connections); it imports nothing of ours.

Commands:

* ``stage CONFIG``: the ``n`` books made through the peer's own API — ``create`` then two
  ``update`` calls each, so every book has :data:`REVISIONS` revisions — in a staging manager
  (memory, the model without ``Unique``: the peer checks ``Unique`` with a search, a full scan
  on memory), written with ``SpecStar.dump`` to the archive the measurements load;
* ``measure CONFIG OUT``: in a fresh process and an empty store on ``backend``, with the model
  as declared (``isbn`` ``Unique``): ``SpecStar.load`` of that archive, then ``SpecStar.dump``
  of the store it filled — each phase timed with the growth of the peak resident set over the
  start of the phase, the same measurement as SpecStar's side — and checks that the store holds
  the ``n`` books and their revisions and that the dump holds them all.

(No ``from __future__ import annotations``: msgspec must resolve the models' annotations.)
"""

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _load_helper(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", _HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rows = _load_helper("backup_rows")
rss = _load_helper("rss")
peer_driver = _load_helper("peer_driver")


def _models() -> tuple[type, type]:
    """The book as the peer declares it, and the staging twin without ``Unique``."""
    from typing import Annotated

    import msgspec

    from specstar import Unique

    class Book(msgspec.Struct):
        title: str
        isbn: Annotated[str, Unique()]
        year: int
        tags: list[str]

    class StagingBook(msgspec.Struct):
        title: str
        isbn: str
        year: int
        tags: list[str]

    StagingBook.__name__ = StagingBook.__qualname__ = "Book"
    return Book, StagingBook


def _crud(backend: str, config: dict[str, Any], model: type, extra: tuple[Any, ...] = ()) -> Any:
    return peer_driver._crud(
        backend,
        Path(config.get("workdir", ".")),
        config.get("pg_dsn", ""),
        model,
        extra,
        name=rows.MODEL,
        indexed=list(rows.INDEXED),
    )


def stage(config: dict[str, Any]) -> dict[str, Any]:
    """Create the books (create + updates) in memory and dump them to ``config["archive"]``."""
    _, staging = _models()
    crud = _crud("memory", config, staging, extra=("isbn",))
    manager = crud.get_resource_manager(rows.MODEL)
    n = int(config["n"])
    start = time.perf_counter()
    for i in range(n):
        rid = manager.create(staging(**rows.book(i, 1))).resource_id
        for revision in range(2, rows.REVISIONS + 1):
            manager.update(rid, staging(**rows.book(i, revision)))
    created = time.perf_counter() - start
    with Path(config["archive"]).open("wb") as f:
        crud.dump(f)
    return {"n": n, "create_update_s": round(created, 2)}


def _archive_counts(path: Path) -> tuple[int, int]:
    """(resources, revisions) in a peer archive."""
    from specstar.resource_manager.dump_format import (
        DumpStreamReader,
        MetaRecord,
        RevisionRecord,
    )

    metas = revisions = 0
    with path.open("rb") as f:
        for record in DumpStreamReader(f):
            metas += isinstance(record, MetaRecord)
            revisions += isinstance(record, RevisionRecord)
    return metas, revisions


def measure(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Load the staged archive into an empty store on ``config["backend"]``, then dump it."""
    book, _ = _models()
    backend = config["backend"]
    n = int(config["n"])
    crud = _crud(backend, config, book)
    manager = crud.get_resource_manager(rows.MODEL)
    stats: dict[str, Any] = {}
    with Path(config["archive"]).open("rb") as src:
        loaded = rss.measure_phase(backend, "load", n, lambda: stats.update(crud.load(src)))
    if stats[rows.MODEL].loaded != n:
        raise RuntimeError(f"the peer loaded {stats[rows.MODEL].loaded} books, expected {n}")
    if manager.count_resources() != n:
        raise RuntimeError(f"the peer's store holds {manager.count_resources()} books, not {n}")
    for meta in manager.list_resources()[:3] if n else []:
        found = len(manager.list_revisions(meta.info.resource_id))
        if found != rows.REVISIONS:
            raise RuntimeError(f"a loaded book has {found} revisions, not {rows.REVISIONS}")
    out = Path(config["dump_path"])
    with out.open("wb") as sink:
        dumped = rss.measure_phase(backend, "dump", n, lambda: crud.dump(sink))
    dumped["archive_mib"] = round(out.stat().st_size / 2**20, 1)
    counts = _archive_counts(out)
    if counts != (n, n * rows.REVISIONS):
        raise RuntimeError(f"the peer's dump holds {counts} (resources, revisions)")
    return [loaded, dumped]


def main(argv: list[str]) -> int:
    command, config_path, *rest = argv
    config = json.loads(Path(config_path).read_text())
    if command == "stage":
        result: Any = stage(config)
    elif command == "measure":
        result = measure(config)
    else:
        raise SystemExit(f"unknown command {command!r}")
    text = json.dumps(result)
    if rest:
        Path(rest[0]).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

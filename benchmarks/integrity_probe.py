"""Probe: integrity maintained by scoped users, on memory, SQLite and PostgreSQL.

Three users each own documents; every user attaches notes (``cascade``), bookmarks
(``set_null``) and pins (``restrict``) to everyone's documents. Then each user deletes,
restores with cascade, and permanently deletes their own documents. The probe counts live
references that name no live document (must be 0), restrict refusals, and refusals whose
message named a referrer the deleting user cannot see (must be 0).

Run: ``hatch run python -m benchmarks.integrity_probe [--docs N] [--pg DSN]``.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import msgspec

from specstar.core import (
    MemoryStorageFactory,
    OnDelete,
    OwnershipChecker,
    Ref,
    ReferenceRestrictedError,
    Registry,
    ResourceManager,
    StorageFactory,
    redact_conflict,
)

USERS = ("ann", "bob", "cy")


class Document(msgspec.Struct, kw_only=True):
    title: str


class Note(msgspec.Struct, kw_only=True):
    doc_id: Annotated[str, Ref("document", on_delete=OnDelete.cascade, cross_scope=True)]


class Bookmark(msgspec.Struct, kw_only=True):
    doc_id: Annotated[
        str | None, Ref("document", on_delete=OnDelete.set_null, cross_scope=True)
    ] = None


class Pin(msgspec.Struct, kw_only=True):
    doc_id: Annotated[str, Ref("document", on_delete=OnDelete.restrict, cross_scope=True)]


def probe(factory: StorageFactory, docs_per_user: int, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    registry: Registry[ResourceManager[Any]] = Registry()
    checker = OwnershipChecker(admins=["root"])
    make = {
        model: ResourceManager(
            model,
            storage_factory=factory,
            registry=registry,
            permission_checker=checker,
            validate_refs=True,
        )
        for model in (Document, Note, Bookmark, Pin)
    }
    docs, notes, marks, pins = (make[m] for m in (Document, Note, Bookmark, Pin))
    owned = {
        u: [
            docs.create(Document(title=f"{u}{i}"), user=u).resource_id for i in range(docs_per_user)
        ]
        for u in USERS
    }
    every = [d for ds in owned.values() for d in ds]
    pinned: set[str] = set()
    for user in USERS:
        for doc in rnd.sample(every, len(every) // 2):
            notes.create(Note(doc_id=doc), user=user)
            marks.create(Bookmark(doc_id=doc), user=user)
        for doc in rnd.sample(every, len(every) // 10):
            pins.create(Pin(doc_id=doc), user=user)
            pinned.add(doc)
    refused = leaked = 0
    started = time.perf_counter()
    for user in USERS:
        for doc in owned[user]:
            try:
                docs.delete(doc, user=user)
            except ReferenceRestrictedError as exc:
                refused += 1
                shown = redact_conflict(docs, exc, user)
                shown_ids = {rid for _, _, rid in shown.referrers}
                hidden = [rid for _, _, rid in exc.referrers if rid not in shown_ids]
                text = shown.message + repr(shown.details())
                leaked += sum(rid in text for rid in hidden)
                continue
            docs.restore(doc, cascade=True, user=user)
            docs.permanently_delete(doc, user=user)
    elapsed = time.perf_counter() - started
    live_docs = {m.resource_id for m in docs.iter_all(user="root")}
    dangling = 0
    for manager in (notes, marks, pins):
        for item in manager.iter_all(user="root"):
            doc_id = msgspec.to_builtins(manager.get(item.resource_id, user="root").data)["doc_id"]
            dangling += doc_id is not None and doc_id not in live_docs
    return {
        "documents": len(every),
        "pinned": len(pinned),
        "restrict_refusals": refused,
        "hidden_ids_named": leaked,
        "dangling_after": dangling,
        "notes_left": notes.count(user="root"),
        "seconds": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=40, help="documents per user")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    from specstar.sql import PostgresStorageFactory, SQLiteStorageFactory

    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SQLiteStorageFactory(Path(tmp) / "db")
        schema = f"specstar_probe_{uuid.uuid4().hex[:8]}"
        pg = PostgresStorageFactory(args.pg, schema=schema, pool_size=4)
        try:
            for name, factory in (
                ("memory", MemoryStorageFactory()),
                ("sqlite", sqlite),
                ("postgres", pg),
            ):
                print(name, probe(factory, args.docs, seed=7))
        finally:
            sqlite.close()
            pg.close()
            import psycopg

            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()

"""SQLite specifics: a brand-new folder opened by several processes at once, WAL mode,
durability settings, and the content-addressed blob files."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from specstar.core import QB, ResourceManager, StorageError
from specstar.sql import FileBlobStore, SQLiteStorageFactory
from specstar.testing import ITEM_INDEXES, Item
from specstar.testing._workers import startup_worker


def test_fresh_folder_opened_by_several_processes(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    recipe = ("specstar.sql.sqlite:SQLiteStorageFactory", {"path": str(folder)})
    ctx: Any = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(
            target=startup_worker,
            kwargs={
                "recipe": recipe,
                "name": "boot",
                "index": i,
                "barrier": barrier,
                "results": results,
            },
        )
        for i in range(4)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert all(status == "ok" for _, status, _ in outcomes), outcomes
    factory = SQLiteStorageFactory(folder)
    try:
        items = ResourceManager(
            Item,
            storage_factory=factory,
            name="boot",
            indexed_fields=ITEM_INDEXES,
            default_user="t",
        )
        assert items.count() == 4
        assert items.count(QB["name"].starts_with("start-")) == 4
    finally:
        factory.close()


def test_wal_mode_and_synchronous(tmp_path: Path) -> None:
    for mode in ("FULL", "NORMAL"):
        factory = SQLiteStorageFactory(tmp_path / mode, synchronous=mode)  # type: ignore[arg-type]
        items = ResourceManager(Item, storage_factory=factory, default_user="t")
        items.create(Item(name="x"))
        factory.close()
        with sqlite3.connect(tmp_path / mode / "specstar.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        conn.close()
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStorageFactory(tmp_path / "x", synchronous="OFF")  # type: ignore[arg-type]


def test_closed_factory_refuses_work(tmp_path: Path) -> None:
    factory = SQLiteStorageFactory(tmp_path)
    items = ResourceManager(Item, storage_factory=factory, default_user="t")
    factory.close()
    with pytest.raises(StorageError, match="closed"):
        items.create(Item(name="x"))


def test_blob_files_hold_exactly_the_bytes(tmp_path: Path) -> None:
    factory = SQLiteStorageFactory(tmp_path)
    blobs = factory.blob_store()
    assert isinstance(blobs, FileBlobStore)
    data = uuid.uuid4().bytes * 100
    info = blobs.put(data, "application/x-test")
    path = tmp_path / "blobs" / info.file_id[:2] / info.file_id
    assert path.read_bytes() == data
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.file_id
    assert not list(path.parent.glob(".tmp-*")), "temporary files are renamed or removed"
    (path.parent / f"{info.file_id}.type").unlink()  # a crash between the two renames
    assert blobs.info(info.file_id).content_type == "application/octet-stream"  # type: ignore[union-attr]
    assert blobs.put(data, "application/x-test").content_type == "application/x-test"
    assert FileBlobStore(tmp_path / "blobs").get(info.file_id)[1] == data  # another instance
    factory.close()


def test_revision_data_is_stored_verbatim(tmp_path: Path) -> None:
    class Raw(msgspec.Struct):
        text: str

    factory = SQLiteStorageFactory(tmp_path)
    raw = ResourceManager(Raw, storage_factory=factory, default_user="t", encoding="msgpack")
    rid = raw.create(Raw("\x00\xff bytes")).resource_id
    stored = raw.storage.get_revision(rid, f"{rid}:1")
    assert stored is not None
    assert msgspec.msgpack.decode(stored.data) == {"text": "\x00\xff bytes"}
    factory.close()

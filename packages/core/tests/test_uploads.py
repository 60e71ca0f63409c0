"""Upload sessions and blob garbage collection (core, on the memory adapters)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from specstar.core import (
    Binary,
    BlobBeingDeletedError,
    BlobCollector,
    BlobUploads,
    MemoryStorageFactory,
    NotFoundError,
    Query,
    ResourceManager,
    UploadExpiredError,
    ValidationError,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Doc(msgspec.Struct):
    title: str
    file: Binary | None = None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def factory() -> MemoryStorageFactory:
    return MemoryStorageFactory()


@pytest.fixture
def uploads(factory: MemoryStorageFactory, clock: Clock) -> BlobUploads:
    return BlobUploads(storage_factory=factory, ttl=600, now=clock)


def test_direct_upload_records_the_uploader(uploads: BlobUploads) -> None:
    session = uploads.upload(iter([b"hello ", b"world"]), "text/plain", user="ann")
    assert session.status == "finalized"
    assert session.file_id == hashlib.sha256(b"hello world").hexdigest()
    assert uploads.is_uploader(session.file_id, "ann")
    assert not uploads.is_uploader(session.file_id, "bob")


def test_session_lifecycle_with_parallel_parts(uploads: BlobUploads) -> None:
    parts = [bytes([n]) * (1000 + n) for n in range(1, 9)]
    whole = b"".join(parts)
    session = uploads.create_session(
        content_type="application/x-test",
        size=len(whole),
        total_parts=8,
        sha256=hashlib.sha256(whole).hexdigest(),
        user="ann",
    )
    assert session.status == "pending"
    assert session.expires_at is not None

    def send(n: int) -> None:
        uploads.put_content(session.upload_id, parts[n - 1], part_number=n, user="ann")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, [3, 1, 2]))
    progress = uploads.get_session(session.upload_id, user="ann")
    assert progress.status == "uploading"
    assert progress.parts_received == [1, 2, 3]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(4, 9)))
    assert uploads.get_session(session.upload_id, user="ann").status == "uploaded"
    done = uploads.finalize(session.upload_id, user="ann")
    assert done.status == "finalized"
    assert done.file_id == hashlib.sha256(whole).hexdigest()
    assert uploads.blob_store.get(done.file_id)[1] == whole
    assert uploads.is_uploader(done.file_id, "ann")
    assert uploads.finalize(session.upload_id, user="ann").file_id == done.file_id
    with pytest.raises(ValidationError, match="takes no more content"):
        uploads.put_content(session.upload_id, b"late", user="ann")


def test_sequential_chunks_without_numbers(uploads: BlobUploads) -> None:
    session = uploads.create_session(user="ann")
    for chunk in [b"one ", b"two ", b"three"]:
        uploads.put_content(session.upload_id, chunk, user="ann")
    done = uploads.finalize(session.upload_id, user="ann")
    assert uploads.blob_store.get(done.file_id)[1] == b"one two three"


def test_finalize_checks(uploads: BlobUploads) -> None:
    session = uploads.create_session(size=10, total_parts=2, user="ann")
    uploads.put_content(session.upload_id, b"12345", part_number=1, user="ann")
    with pytest.raises(ValidationError, match="missing \\[2\\]"):
        uploads.finalize(session.upload_id, user="ann")
    uploads.put_content(session.upload_id, b"678", part_number=2, user="ann")
    with pytest.raises(ValidationError) as caught:
        uploads.finalize(session.upload_id, user="ann")
    assert [e.loc for e in caught.value.errors] == ["size"]
    uploads.put_content(session.upload_id, b"67890", part_number=2, user="ann")
    with pytest.raises(ValidationError, match="SHA-256"):
        uploads.finalize(session.upload_id, sha256="0" * 64, user="ann")
    with pytest.raises(ValidationError, match="beyond"):
        uploads.put_content(session.upload_id, b"x", part_number=3, user="ann")
    assert uploads.finalize(session.upload_id, user="ann").size == 10


def test_only_the_creator_may_use_a_session(uploads: BlobUploads) -> None:
    session = uploads.create_session(user="ann")
    for call in (
        lambda: uploads.get_session(session.upload_id, user="bob"),
        lambda: uploads.put_content(session.upload_id, b"x", user="bob"),
        lambda: uploads.finalize(session.upload_id, user="bob"),
        lambda: uploads.abort(session.upload_id, user="bob"),
        lambda: uploads.get_session("0" * 32, user="ann"),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_sessions_expire(uploads: BlobUploads, clock: Clock) -> None:
    session = uploads.create_session(user="ann")
    uploads.put_content(session.upload_id, b"part", user="ann")
    clock.advance(seconds=601)
    with pytest.raises(UploadExpiredError):
        uploads.put_content(session.upload_id, b"more", user="ann")
    with pytest.raises(UploadExpiredError):
        uploads.finalize(session.upload_id, user="ann")
    assert session.upload_id not in {u.upload_id for u in uploads.blob_store.list_uploads()}


def test_abort(uploads: BlobUploads) -> None:
    session = uploads.create_session(user="ann")
    uploads.put_content(session.upload_id, b"dropped", user="ann")
    assert uploads.abort(session.upload_id, user="ann").status == "aborted"
    with pytest.raises(ValidationError, match="aborted"):
        uploads.finalize(session.upload_id, user="ann")


def test_invalid_session_options(uploads: BlobUploads) -> None:
    for kwargs, loc in [
        ({"size": -1}, "size"),
        ({"total_parts": 0}, "part"),
        ({"sha256": "xyz"}, "sha256"),
        ({"upload_method": "carrier-pigeon"}, "upload_method"),
        ({"upload_method": "single_put"}, "upload_method"),  # memory has no presigned URLs
    ]:
        with pytest.raises(ValidationError) as caught:
            uploads.create_session(user="ann", **kwargs)  # type: ignore[arg-type]
        assert [e.loc for e in caught.value.errors] == [loc]


def test_gc_quarantines_then_deletes_and_spares_in_flight_uploads(
    factory: MemoryStorageFactory, uploads: BlobUploads, clock: Clock
) -> None:
    docs = ResourceManager(Doc, storage_factory=factory, default_user="ann", default_now=clock)
    kept = docs.create({"title": "kept", "file": {"data": "a2VwdA=="}})
    old = docs.create({"title": "replaced", "file": {"data": "b2xk"}})
    docs.update(old.resource_id, {"title": "replaced"})  # the old revision still references it
    orphan = uploads.blob_store.put(b"orphan").file_id
    fresh = uploads.upload(b"just uploaded", user="ann").file_id
    in_flight = uploads.create_session(user="ann")
    uploads.put_content(in_flight.upload_id, b"half of a file", user="ann")
    collector = BlobCollector(
        [docs],
        uploads.blob_store,
        uploads=uploads,
        storage_factory=factory,
        grace=timedelta(minutes=5),
        now=clock,
    )
    first = collector.collect()
    assert first.quarantined == [orphan]
    assert first.deleted == []
    assert first.aborted_uploads == []
    clock.advance(minutes=4)  # the session is still open (ttl 10 minutes)
    uploads.put_content(in_flight.upload_id, b", the other half", user="ann")
    clock.advance(minutes=2)
    second = collector.collect()
    assert second.deleted == [orphan]
    assert second.quarantined == [fresh]  # its grace period is over and nothing uses it
    assert second.aborted_uploads == []
    assert uploads.blob_store.info(orphan) is None
    done = uploads.finalize(in_flight.upload_id, user="ann")
    assert uploads.blob_store.get(done.file_id)[1] == b"half of a file, the other half"
    docs.create({"title": "uses it", "file": {"file_id": fresh}})
    third = collector.collect()
    assert third.released == [fresh]
    for meta in (kept, old):
        cover = docs.get(meta.resource_id, meta.revision_id).data.file
        assert cover is not None
        assert uploads.blob_store.info(cover.file_id) is not None


def test_gc_aborts_expired_sessions(
    factory: MemoryStorageFactory, uploads: BlobUploads, clock: Clock
) -> None:
    session = uploads.create_session(user="ann")
    uploads.put_content(session.upload_id, b"abandoned", user="ann")
    collector = BlobCollector(
        [],
        uploads.blob_store,
        uploads=uploads,
        storage_factory=factory,
        grace=timedelta(minutes=5),
        now=clock,
    )
    assert collector.collect().aborted_uploads == []
    clock.advance(minutes=11)
    assert collector.collect().aborted_uploads == [session.upload_id]


def _due_orphan(
    factory: MemoryStorageFactory, uploads: BlobUploads, clock: Clock
) -> tuple[ResourceManager[Doc], BlobCollector, str]:
    """A manager, its collector, and a file quarantined for longer than the grace period."""
    docs = ResourceManager(Doc, storage_factory=factory, default_user="ann", default_now=clock)
    collector = BlobCollector(
        [docs],
        uploads.blob_store,
        uploads=uploads,
        storage_factory=factory,
        grace=timedelta(minutes=5),
        now=clock,
    )
    orphan = uploads.blob_store.put(b"orphan").file_id
    assert collector.collect().quarantined == [orphan]
    clock.advance(minutes=6)
    return docs, collector, orphan


def test_a_write_that_claims_first_keeps_its_file(
    factory: MemoryStorageFactory, uploads: BlobUploads, clock: Clock, monkeypatch: Any
) -> None:
    docs, collector, orphan = _due_orphan(factory, uploads, clock)
    # the write claims (and commits) after the collector read the quarantine records and
    # before it marks them: its mark (a compare-and-swap) fails, so the file is kept
    held = collector._quarantined
    monkeypatch.setattr(
        collector,
        "_quarantined",
        lambda: (held(), docs.create({"title": "t", "file": {"file_id": orphan}}))[0],
    )
    report = collector.collect()
    assert report.deleted == []
    assert orphan in report.released
    assert uploads.blob_store.info(orphan) is not None
    assert docs.search(Query(limit=5))[0].resource_id
    assert collector.collect().deleted == []  # referenced now: never collected


def test_a_write_after_the_mark_fails_clearly_and_references_nothing_deleted(
    factory: MemoryStorageFactory, uploads: BlobUploads, clock: Clock, monkeypatch: Any
) -> None:
    docs, collector, orphan = _due_orphan(factory, uploads, clock)
    refused: list[BlobBeingDeletedError] = []
    looks = collector.referenced
    calls: list[int] = []

    def write_between_mark_and_delete() -> set[str]:
        calls.append(1)
        if len(calls) == 2:  # the collector has marked the file, and looks again
            try:
                docs.create({"title": "too late", "file": {"file_id": orphan}})
            except BlobBeingDeletedError as exc:
                refused.append(exc)
        return looks()

    monkeypatch.setattr(collector, "referenced", write_between_mark_and_delete)
    report = collector.collect()
    assert report.deleted == [orphan]
    assert len(refused) == 1
    assert refused[0].code == "blob_being_deleted"
    assert orphan in str(refused[0])
    assert docs.count() == 0  # the refused write committed nothing
    # uploading the same bytes again and retrying works
    again = uploads.upload(b"orphan", user="ann").file_id
    assert again == orphan
    docs.create({"title": "retried", "file": {"file_id": orphan}})
    assert uploads.blob_store.info(orphan) is not None


def test_writes_racing_the_collector_lose_nothing(
    factory: MemoryStorageFactory, uploads: BlobUploads, clock: Clock
) -> None:
    """Threads write references to quarantined files while the collector deletes due ones:
    every committed revision's file still exists afterwards; refused writes say why."""
    docs = ResourceManager(Doc, storage_factory=factory, default_user="ann", default_now=clock)
    collector = BlobCollector(
        [docs],
        uploads.blob_store,
        uploads=uploads,
        storage_factory=factory,
        grace=timedelta(minutes=5),
        now=clock,
    )
    files = [uploads.blob_store.put(f"file {i}".encode()).file_id for i in range(40)]
    assert sorted(collector.collect().quarantined) == sorted(files)
    clock.advance(minutes=6)

    def write(i: int) -> str | None:
        try:
            return docs.create({"title": str(i), "file": {"file_id": files[i]}}).resource_id
        except BlobBeingDeletedError:
            return None
        except ValidationError:  # checked after the file was deleted: refused, nothing kept
            return None

    with ThreadPoolExecutor(8) as pool:
        writes = [pool.submit(write, i) for i in range(40)]
        report = collector.collect()
        written = [w.result() for w in writes]
    for i, rid in enumerate(written):
        if rid is None:  # refused: only because its file was being deleted
            assert files[i] in report.deleted
            continue
        file = docs.get(rid).data.file
        assert file is not None
        assert file.file_id == files[i]
        assert uploads.blob_store.info(files[i]) is not None, "a committed write lost its file"
        assert files[i] not in report.deleted
    assert sorted(report.deleted + report.released) == sorted(files)

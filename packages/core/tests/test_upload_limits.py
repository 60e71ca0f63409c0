"""The file size limit of uploads, upload sessions and inline Binary data (memory adapters)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import msgspec
import pytest

from specstar.core import (
    Binary,
    BlobUploads,
    ContentTooLargeError,
    MemoryBlobStore,
    MemoryStorageFactory,
    ResourceManager,
    ValidationError,
)
from specstar.core.uploads import DEFAULT_MAX_FILE_BYTES

LIMIT = 10_000


@pytest.fixture
def store() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def uploads(store: MemoryBlobStore) -> BlobUploads:
    return BlobUploads(store, storage_factory=MemoryStorageFactory(), max_file_bytes=LIMIT)


def _records(uploads: BlobUploads) -> int:
    return uploads.records._for_system().count()


def test_the_limit_defaults_to_5_gib_and_is_validated(store: MemoryBlobStore) -> None:
    assert DEFAULT_MAX_FILE_BYTES == 5 * 1024**3
    assert BlobUploads(store, storage_factory=MemoryStorageFactory()).max_file_bytes == (
        5 * 1024**3
    )
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_file_bytes"):
            BlobUploads(store, storage_factory=MemoryStorageFactory(), max_file_bytes=bad)
    for wrong in ("10", 1.5, True, None):
        with pytest.raises(TypeError, match="max_file_bytes"):
            BlobUploads(store, storage_factory=MemoryStorageFactory(), max_file_bytes=wrong)  # type: ignore[arg-type]
    uploads = BlobUploads(store, storage_factory=MemoryStorageFactory())
    with pytest.raises(ValueError, match="max_file_bytes"):
        uploads.max_file_bytes = 0


def test_a_direct_upload_is_stopped_as_soon_as_it_passes_the_limit(
    uploads: BlobUploads, store: MemoryBlobStore
) -> None:
    pulled = 0

    def chunks() -> Iterator[bytes]:
        nonlocal pulled
        for _ in range(100):  # 100 KB offered
            pulled += 1
            yield b"x" * 1000

    with pytest.raises(ContentTooLargeError) as caught:
        uploads.upload(chunks(), user="ann")
    assert pulled == LIMIT // 1000 + 1  # not one chunk more than needed to know
    assert caught.value.limit == LIMIT
    assert caught.value.code == "content_too_large"
    assert [e.loc for e in caught.value.errors] == ["size"]
    assert isinstance(caught.value, ValidationError)
    assert list(store.list_ids()) == []
    assert _records(uploads) == 0


def test_a_file_object_over_the_limit_is_refused_and_one_at_the_limit_kept(
    uploads: BlobUploads, store: MemoryBlobStore
) -> None:
    with pytest.raises(ContentTooLargeError):
        uploads.upload(io.BytesIO(b"y" * (LIMIT + 1)), user="ann")
    with pytest.raises(ContentTooLargeError):
        uploads.upload(b"y" * (LIMIT + 1), user="ann")
    assert list(store.list_ids()) == []
    done = uploads.upload(io.BytesIO(b"y" * LIMIT), user="ann")
    assert done.size == LIMIT
    assert list(store.list_ids()) == [done.file_id]


def test_a_session_declaring_a_larger_size_is_refused(
    uploads: BlobUploads, store: MemoryBlobStore
) -> None:
    with pytest.raises(ContentTooLargeError) as caught:
        uploads.create_session(size=LIMIT + 1, user="ann")
    assert caught.value.size == LIMIT + 1
    assert [e.loc for e in caught.value.errors] == ["size"]
    assert store.list_uploads() == []
    assert _records(uploads) == 0
    assert uploads.create_session(size=LIMIT, user="ann").size == LIMIT


def test_a_part_taking_the_total_past_the_limit_is_refused_and_not_kept(
    uploads: BlobUploads, store: MemoryBlobStore
) -> None:
    session = uploads.create_session(user="ann")
    uid = session.upload_id
    uploads.put_content(uid, b"a" * 6000, part_number=1, user="ann")
    with pytest.raises(ContentTooLargeError):
        uploads.put_content(uid, iter([b"b" * 3000, b"b" * 3000]), part_number=2, user="ann")
    progress = uploads.get_session(uid, user="ann")
    assert progress.parts_received == [1]
    assert progress.uploaded_size == 6000
    # a part sent again replaces the earlier one: only the others count against it
    uploads.put_content(uid, b"c" * 9000, part_number=1, user="ann")
    uploads.put_content(uid, b"d" * 1000, part_number=2, user="ann")
    with pytest.raises(ContentTooLargeError):
        uploads.put_content(uid, b"e", user="ann")  # the next part: one byte too many
    assert [p.size for p in store.list_parts(uid)] == [9000, 1000]
    done = uploads.finalize(uid, user="ann")
    assert done.size == LIMIT


def test_a_part_past_the_declared_size_is_refused_naming_size(
    uploads: BlobUploads, store: MemoryBlobStore
) -> None:
    session = uploads.create_session(size=100, user="ann")
    uid = session.upload_id
    uploads.put_content(uid, b"a" * 60, user="ann")
    with pytest.raises(ValidationError) as caught:
        uploads.put_content(uid, b"b" * 41, user="ann")
    assert not isinstance(caught.value, ContentTooLargeError)  # the client's own declaration
    assert [e.loc for e in caught.value.errors] == ["size"]
    assert "declared 100" in str(caught.value)
    assert [p.size for p in store.list_parts(uid)] == [60]
    uploads.put_content(uid, b"b" * 40, user="ann")
    assert uploads.finalize(uid, user="ann").size == 100


def test_finalize_drops_parts_over_the_limit_that_bypassed_the_application(
    uploads: BlobUploads, store: MemoryBlobStore
) -> None:
    # parts PUT to presigned URLs reach the store without passing through put_content
    session = uploads.create_session(total_parts=2, user="ann")
    uid = session.upload_id
    store.put_part(uid, 1, b"a" * LIMIT)
    store.put_part(uid, 2, b"b")
    with pytest.raises(ContentTooLargeError) as caught:
        uploads.finalize(uid, user="ann")
    assert caught.value.size == LIMIT + 1
    assert store.list_uploads() == []  # the parts are dropped
    assert list(store.list_ids()) == []
    assert uploads.get_session(uid, user="ann").status == "aborted"


class Doc(msgspec.Struct):
    title: str
    files: list[Binary] = []


def test_inline_binary_data_over_the_managers_limit_is_refused_before_storing() -> None:
    store = MemoryBlobStore()
    manager = ResourceManager(Doc, blob_store=store, default_user="ann")
    assert manager.max_file_bytes == DEFAULT_MAX_FILE_BYTES
    manager.max_file_bytes = 100
    doc = Doc("d", [Binary(data=b"small"), Binary(data=b"z" * 101)])
    with pytest.raises(ContentTooLargeError) as caught:
        manager.create(doc)
    assert [e.loc for e in caught.value.errors] == ["/files/1/data"]
    assert caught.value.size == 101
    assert list(store.list_ids()) == []  # not even the small one
    created = manager.create(Doc("d", [Binary(data=b"z" * 100)]))
    assert manager.get(created.resource_id).data.files[0].size == 100

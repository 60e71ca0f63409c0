"""Binary fields: inline data moves to the blob store, references are checked, data comes back
on request."""

from __future__ import annotations

import hashlib

import msgspec
import pytest

from specstar.core import (
    Binary,
    MemoryBlobStore,
    MemoryStorageFactory,
    NotFoundError,
    ResourceManager,
    ValidationError,
)


class Attachment(msgspec.Struct):
    label: str
    file: Binary


class Post(msgspec.Struct):
    title: str
    cover: Binary | None = None
    attachments: list[Attachment] = []


@pytest.fixture
def posts() -> ResourceManager[Post]:
    return ResourceManager(Post, storage_factory=MemoryStorageFactory(), default_user="ann")


def test_inline_data_is_stored_and_stripped(posts: ResourceManager[Post]) -> None:
    meta = posts.create({"title": "t", "cover": {"data": "aGVsbG8=", "content_type": "text/plain"}})
    cover = posts.get(meta.resource_id).data.cover
    assert cover == Binary(
        file_id=hashlib.sha256(b"hello").hexdigest(), size=5, content_type="text/plain"
    )
    assert posts.blob_store.get(cover.file_id)[1] == b"hello"  # type: ignore[arg-type]
    stored = posts.storage.get_revision(meta.resource_id, meta.revision_id)
    assert stored is not None
    assert b"aGVsbG8" not in stored.data
    assert b'"data"' not in stored.data


def test_nested_and_listed_binaries(posts: ResourceManager[Post]) -> None:
    files = [Attachment(label=str(n), file=Binary(data=bytes([n]) * n)) for n in range(1, 4)]
    meta = posts.create(Post(title="t", attachments=files))
    got = posts.get(meta.resource_id).data
    assert [a.file.size for a in got.attachments] == [1, 2, 3]
    assert all(isinstance(a.file.data, msgspec.UnsetType) for a in got.attachments)
    loaded = posts.load_blobs(got)
    assert [a.file.data for a in loaded.attachments] == [b"\x01", b"\x02\x02", b"\x03\x03\x03"]


def test_reference_to_an_uploaded_file(posts: ResourceManager[Post]) -> None:
    info = posts.blob_store.put(b"uploaded before", "image/png")
    meta = posts.create({"title": "t", "cover": {"file_id": info.file_id}})
    assert posts.get(meta.resource_id).data.cover == Binary(
        file_id=info.file_id, size=info.size, content_type="image/png"
    )
    blob = posts.get_blob(info.file_id)
    assert blob.data == b"uploaded before"
    assert blob.content_type == "image/png"
    assert posts.get_blob_url(info.file_id) is None  # memory has no URLs


@pytest.mark.parametrize(
    ("cover", "loc"),
    [
        ({"file_id": "0" * 64}, "/cover/file_id"),
        ({"file_id": "../etc/passwd"}, "/cover/file_id"),
        ({"content_type": "text/plain"}, "/cover"),
        ({"data": "aGVsbG8=", "file_id": "1" * 64}, "/cover/file_id"),
        ({"data": "aGVsbG8=", "size": 4}, "/cover/size"),
    ],
)
def test_invalid_references_name_the_field(
    posts: ResourceManager[Post], cover: dict[str, object], loc: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        posts.create({"title": "t", "cover": cover})
    assert [e.loc for e in caught.value.errors] == [loc]


def test_patch_keeps_references_and_checks_new_ones(posts: ResourceManager[Post]) -> None:
    meta = posts.create({"title": "t", "cover": {"data": "aGVsbG8="}})
    posts.merge_patch(meta.resource_id, {"title": "u"})
    assert posts.get(meta.resource_id).data.cover.size == 5  # type: ignore[union-attr]
    with pytest.raises(ValidationError):
        posts.merge_patch(meta.resource_id, {"cover": {"file_id": "2" * 64}})


def test_get_blob_missing(posts: ResourceManager[Post]) -> None:
    with pytest.raises(NotFoundError):
        posts.get_blob("3" * 64)
    with pytest.raises(NotFoundError):
        posts.get_blob_url("3" * 64)


def test_explicit_blob_store_and_default() -> None:
    store = MemoryBlobStore()
    posts = ResourceManager(Post, blob_store=store)
    meta = posts.create({"title": "t", "cover": {"data": "aGk="}}, user="u")
    cover = posts.get(meta.resource_id).data.cover
    assert cover is not None
    assert store.info(cover.file_id) is not None
    assert ResourceManager(Post).blob_store is ResourceManager(Post).blob_store

"""References: auto-indexing, validation, and restrict / cascade / set_null on delete."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest

from specstar.core import QB, ResourceManager, ValidationError
from specstar.core.refs import OnDelete, Ref, ReferenceRestrictedError, RefType, Registry


class Author(msgspec.Struct, kw_only=True):
    name: str


class Post(msgspec.Struct, kw_only=True):
    title: str
    author_id: Annotated[str, Ref("author", on_delete=OnDelete.cascade)]
    editor_id: Annotated[str | None, Ref("author", on_delete=OnDelete.set_null)] = None
    reviewer_ids: Annotated[list[str], Ref("author", on_delete=OnDelete.set_null)] = []
    pinned_author_rev: Annotated[str | None, Ref("author", ref_type=RefType.revision_id)] = None


class Comment(msgspec.Struct, kw_only=True):
    post_id: Annotated[str, Ref("post", on_delete=OnDelete.restrict)]
    text: str


@pytest.fixture
def app() -> tuple[ResourceManager[Author], ResourceManager[Post], ResourceManager[Comment]]:
    registry = Registry()
    authors = ResourceManager(Author, registry=registry)
    posts = ResourceManager(Post, registry=registry, validate_refs=True)
    comments = ResourceManager(Comment, registry=registry)
    return authors, posts, comments


def test_reference_fields_are_indexed(app: tuple[ResourceManager, ...]) -> None:  # type: ignore[type-arg]
    _, posts, _ = app
    assert set(posts.index_spec.paths) == {"author_id", "editor_id", "reviewer_ids"}
    reviewers = posts.index_spec.get("reviewer_ids")
    assert reviewers is not None
    assert reviewers.is_list


def test_validate_refs(app: tuple[ResourceManager, ...]) -> None:  # type: ignore[type-arg]
    authors, posts, _ = app
    ann = authors.create(Author(name="Ann")).resource_id
    posts.create(Post(title="ok", author_id=ann))
    with pytest.raises(ValidationError) as err:
        posts.create(Post(title="bad", author_id="author:nope", reviewer_ids=[ann, "x"]))
    assert {e.loc for e in err.value.errors} == {"/author_id", "/reviewer_ids"}
    authors.delete(ann)
    with pytest.raises(ValidationError):
        posts.create(Post(title="to a deleted author", author_id=ann))


def test_cascade_set_null_and_restrict(app: tuple[ResourceManager, ...]) -> None:  # type: ignore[type-arg]
    authors, posts, comments = app
    ann = authors.create(Author(name="Ann")).resource_id
    bob = authors.create(Author(name="Bob")).resource_id
    by_ann = posts.create(Post(title="A", author_id=ann, editor_id=bob)).resource_id
    by_bob = posts.create(
        Post(title="B", author_id=bob, editor_id=ann, reviewer_ids=[ann, bob])
    ).resource_id
    comment = comments.create(Comment(post_id=by_ann, text="hi")).resource_id

    # restrict: a post with a live comment cannot be deleted, so neither can its author
    with pytest.raises(ReferenceRestrictedError) as err:
        posts.delete(by_ann)
    assert err.value.referrers == [("comment", "post_id", comment)]
    comments.delete(comment)
    posts.delete(by_ann)  # soft-deleted comments do not block a soft delete
    posts.restore(by_ann)

    authors.delete(ann)
    # cascade: Ann's post is soft-deleted; set_null: Bob's post forgets Ann, with history
    assert not posts.exists(by_ann)
    bobs = posts.get(by_bob).data
    assert bobs.editor_id is None
    assert bobs.reviewer_ids == [bob]
    history = posts.list_revisions(by_bob)
    assert len(history) == 2
    assert posts.get(by_bob, revision_id=history[0]).data.editor_id == ann
    assert posts.count(QB["reviewer_ids"].contains(ann)) == 0

    # permanent delete restricts on soft-deleted referrers too, and cascades permanently
    with pytest.raises(ReferenceRestrictedError):
        posts.permanently_delete(by_ann)
    comments.permanently_delete(comment)
    authors.permanently_delete(ann)
    assert not posts.exists(by_ann, include_deleted=True)


def test_set_null_needs_an_optional_field() -> None:
    class Bad(msgspec.Struct):
        owner: Annotated[str, Ref("author", on_delete=OnDelete.set_null)]

    with pytest.raises(ValueError, match="optional"):
        ResourceManager(Bad)


def test_registry_referrers_and_names(app: tuple[ResourceManager, ...]) -> None:  # type: ignore[type-arg]
    authors, posts, _ = app
    ann = authors.create(Author(name="Ann")).resource_id
    p = posts.create(Post(title="A", author_id=ann, reviewer_ids=[ann])).resource_id
    registry = authors.registry
    assert registry is not None
    assert sorted(registry.referrers("author", ann)) == [
        ("post", "author_id", p),
        ("post", "reviewer_ids", p),
    ]
    with pytest.raises(ValueError, match="already registered"):
        ResourceManager(Author, registry=registry)
    with pytest.raises(KeyError, match="registered: author, comment, post"):
        registry.get("nope")

"""Integrity does not depend on who deletes: ``cascade``, ``set_null`` and ``restrict`` reach
every referrer, whatever the acting user may see, on memory, SQLite and PostgreSQL.

Users see only their own resources (an ownership checker); ann owns a document that bob's
resources refer to. Whatever ann may delete, no reference is left dangling, and her permission
to act on the document itself is still checked.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from specstar.core import (
    NotFoundError,
    OnDelete,
    OwnershipChecker,
    RedactedReferenceError,
    Ref,
    ReferenceRestrictedError,
    Registry,
    ResourceManager,
    StorageFactory,
    ValidationError,
    redact_conflict,
)


class Document(msgspec.Struct, kw_only=True):
    title: str


class Note(msgspec.Struct, kw_only=True):
    text: str
    doc_id: Annotated[str, Ref("document", on_delete=OnDelete.cascade, cross_scope=True)]


class Reply(msgspec.Struct, kw_only=True):
    text: str
    note_id: Annotated[str, Ref("note", on_delete=OnDelete.cascade)]


class Bookmark(msgspec.Struct, kw_only=True):
    label: str
    doc_id: Annotated[
        str | None, Ref("document", on_delete=OnDelete.set_null, cross_scope=True)
    ] = None
    also_ids: Annotated[
        list[str], Ref("document", on_delete=OnDelete.set_null, cross_scope=True)
    ] = []


class Pin(msgspec.Struct, kw_only=True):
    doc_id: Annotated[str, Ref("document", on_delete=OnDelete.restrict, cross_scope=True)]


class Memo(msgspec.Struct, kw_only=True):
    """A reference that may name only what its writer can see (the default)."""

    doc_id: Annotated[str | None, Ref("document")] = None


class App:
    def __init__(self, factory: StorageFactory) -> None:
        self.registry: Registry[ResourceManager[Any]] = Registry()
        checker = OwnershipChecker(admins=["root"])

        def manager(model: type[Any]) -> ResourceManager[Any]:
            return ResourceManager(
                model,
                storage_factory=factory,
                registry=self.registry,
                permission_checker=checker,
                validate_refs=True,
            )

        self.docs = manager(Document)
        self.notes = manager(Note)
        self.replies = manager(Reply)
        self.bookmarks = manager(Bookmark)
        self.pins = manager(Pin)
        self.memos = manager(Memo)

    def dangling(self) -> list[tuple[str, str, str]]:
        """Every reference held by a live resource (of any user) that names no live resource."""
        found: list[tuple[str, str, str]] = []
        for manager in self.registry:
            for meta in manager.iter_all(user="root"):
                data = msgspec.to_builtins(manager.get(meta.resource_id, user="root").data)
                for ref in manager.refs:
                    value = data.get(ref.path)
                    ids = value if isinstance(value, list) else [value]
                    target = self.registry.get(ref.target)
                    for rid in ids:
                        if rid is not None and not target.is_live(rid):
                            found.append((manager.name, meta.resource_id, rid))
        return found


@pytest.fixture
def app(factory: StorageFactory) -> App:
    return App(factory)


def test_a_scoped_delete_cascades_to_every_referrer(app: App) -> None:
    doc = app.docs.create(Document(title="ann's"), user="ann").resource_id
    anns = app.notes.create(Note(text="mine", doc_id=doc), user="ann").resource_id
    bobs = app.notes.create(Note(text="bob's", doc_id=doc), user="bob").resource_id
    reply = app.replies.create(Reply(text="on bob's", note_id=bobs), user="bob").resource_id
    assert app.notes.count(user="ann") == 1  # bob's note is hidden from ann

    app.docs.delete(doc, user="ann")
    assert not app.notes.exists(anns, user="ann")
    assert not app.notes.exists(bobs, user="bob")  # reached although ann cannot see it
    assert not app.replies.exists(reply, user="bob")  # and what it cascades to, in turn
    assert app.notes.get_meta(bobs, include_deleted=True, user="bob").updated_by == "ann"
    assert app.dangling() == []

    app.docs.restore(doc, cascade=True, user="ann")  # the cascade is undone in full
    assert app.notes.exists(bobs, user="bob")
    assert app.replies.exists(reply, user="bob")
    assert app.notes.exists(anns, user="ann")
    assert app.notes.count(user="ann") == 1  # restored, still bob's and hidden from ann

    app.docs.permanently_delete(doc, user="ann")
    for manager, rid in ((app.notes, anns), (app.notes, bobs), (app.replies, reply)):
        assert manager.storage.get_meta(rid) is None
    assert app.dangling() == []


def test_a_scoped_delete_clears_every_set_null_reference(app: App) -> None:
    doc = app.docs.create(Document(title="ann's"), user="ann").resource_id
    other = app.docs.create(Document(title="bob's"), user="bob").resource_id
    mark = app.bookmarks.create(
        Bookmark(label="b", doc_id=doc, also_ids=[doc, other]), user="bob"
    ).resource_id
    app.docs.delete(doc, user="ann")
    cleared = app.bookmarks.get(mark, user="bob")
    assert (cleared.data.doc_id, cleared.data.also_ids) == (None, [other])
    assert cleared.info.created_by == "ann"  # the new revision names who caused it
    assert len(app.bookmarks.list_revisions(mark, user="bob")) == 2
    assert app.dangling() == []

    again = app.docs.create(Document(title="again"), user="ann").resource_id
    app.bookmarks.merge_patch(mark, {"doc_id": None}, user="bob")
    kept = app.bookmarks.create(Bookmark(label="k", doc_id=again), user="bob").resource_id
    app.docs.permanently_delete(again, user="ann")
    assert app.bookmarks.get(kept, user="bob").data.doc_id is None
    assert app.dangling() == []


def test_restrict_counts_hidden_referrers_without_naming_them(app: App) -> None:
    doc = app.docs.create(Document(title="ann's"), user="ann").resource_id
    mine = app.pins.create(Pin(doc_id=doc), user="ann").resource_id
    theirs = app.pins.create(Pin(doc_id=doc), user="bob").resource_id
    for delete in (app.docs.delete, app.docs.permanently_delete):
        with pytest.raises(ReferenceRestrictedError) as err:
            delete(doc, user="ann")
        shown = redact_conflict(app.docs, err.value, "ann")
        assert isinstance(shown, RedactedReferenceError)
        assert shown.referrers == [("pin", "doc_id", mine)]
        assert shown.hidden == 1
        assert "referenced 2 times" in shown.message
        assert "1 by resource you cannot see" in shown.message
        assert theirs not in shown.message
        assert theirs not in repr(shown.details())
        assert shown.details()["referrer_count"] == 2
    app.pins.delete(mine, user="ann")
    with pytest.raises(ReferenceRestrictedError) as err:
        app.docs.delete(doc, user="ann")  # bob's pin alone still blocks
    shown = redact_conflict(app.docs, err.value, "ann")
    assert (shown.referrers, getattr(shown, "hidden", None)) == ([], 1)
    assert "referenced once: 1 by resource you cannot see" in shown.message
    assert app.docs.exists(doc, user="ann")


def test_the_acting_users_permission_on_the_target_is_still_checked(app: App) -> None:
    doc = app.docs.create(Document(title="ann's"), user="ann").resource_id
    note = app.notes.create(Note(text="n", doc_id=doc), user="ann").resource_id
    for act in (app.docs.delete, app.docs.permanently_delete):
        with pytest.raises(NotFoundError):
            act(doc, user="mallory")  # hidden from mallory: not found, nothing cascades
    assert app.notes.exists(note, user="ann")
    app.docs.delete(doc, user="ann")
    with pytest.raises(NotFoundError):
        app.docs.restore(doc, cascade=True, user="mallory")
    assert not app.notes.exists(note, user="ann")


def test_a_reference_to_a_hidden_resource_is_refused_like_a_missing_one(app: App) -> None:
    doc = app.docs.create(Document(title="ann's"), user="ann").resource_id
    with pytest.raises(ValidationError) as hidden:
        app.memos.create(Memo(doc_id=doc), user="bob")
    with pytest.raises(ValidationError) as missing:
        app.memos.create(Memo(doc_id="document:nope"), user="bob")
    assert hidden.value.message == missing.value.message
    assert [(e.loc, e.message.replace(doc, "ID")) for e in hidden.value.errors] == [
        (e.loc, e.message.replace("document:nope", "ID")) for e in missing.value.errors
    ]
    memo = app.memos.create(Memo(doc_id=doc), user="ann").resource_id  # ann sees her document
    app.memos.create(Memo(doc_id=doc), user="root")  # so does the admin
    bobs_doc = app.docs.create(Document(title="b"), user="bob").resource_id
    with pytest.raises(ValidationError):  # changing a reference to a hidden one: refused too
        app.memos.merge_patch(memo, {"doc_id": bobs_doc}, user="ann")
    # cross_scope=True: bob may attach his note to ann's document (it must still exist)
    app.notes.create(Note(text="bob's", doc_id=doc), user="bob")
    with pytest.raises(ValidationError):
        app.notes.create(Note(text="bob's", doc_id="document:nope"), user="bob")


class Node(msgspec.Struct, kw_only=True):
    """A tree whose cascade runs within one model; a node may pin itself (restrict)."""

    parent_id: Annotated[str | None, Ref("node", on_delete=OnDelete.cascade, cross_scope=True)] = (
        None
    )
    pinned_id: Annotated[str | None, Ref("node", on_delete=OnDelete.restrict, cross_scope=True)] = (
        None
    )


def test_a_cascade_within_one_model_reaches_every_owner(factory: StorageFactory) -> None:
    registry: Registry[ResourceManager[Any]] = Registry()
    nodes = ResourceManager(
        Node,
        storage_factory=factory,
        registry=registry,
        permission_checker=OwnershipChecker(admins=["root"]),
        validate_refs=True,
    )
    root = nodes.create(Node(), user="ann").resource_id
    child = nodes.create(Node(parent_id=root), user="bob").resource_id
    leaf = nodes.create(Node(parent_id=child), user="cy").resource_id
    nodes.merge_patch(leaf, {"pinned_id": leaf}, user="cy")  # pinned to itself: no blocker
    nodes.delete(root, user="ann")
    assert nodes.count(user="root") == 0
    nodes.restore(root, cascade=True, user="ann")
    assert nodes.count(user="root") == 3
    nodes.permanently_delete(root, user="ann")
    assert [nodes.storage.get_meta(rid) for rid in (root, child, leaf)] == [None] * 3

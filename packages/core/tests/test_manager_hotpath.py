"""The manager's hot paths: how many storage calls each verb makes, the stages it skips when
they are known no-ops (and notices when the pipeline changes), and ``put``, the verb of
HTTP ``PUT`` that tells whether it created the resource."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from specstar.core import (
    QB,
    AlreadyExistsError,
    Event,
    EventPhase,
    GoneError,
    MemoryStorage,
    NotFoundError,
    OperationContext,
    PreconditionFailedError,
    Query,
    QueryError,
    ResourceManager,
    ResourceMeta,
    RevisionStatus,
    ValidationError,
)
from specstar.core.pipeline import AllowAll, Pipeline
from specstar.core.ports import StoredRevision
from specstar.core.types import Page

NOW = datetime(2024, 1, 1, tzinfo=UTC)


class Doc(msgspec.Struct):
    title: str
    n: int = 0
    flag: bool = False


class CountingStorage(MemoryStorage):
    """A memory storage that counts the calls the manager makes to it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.after_search: list[str] = []  # ids purged right after the next search

    def get_meta(self, resource_id: str) -> ResourceMeta | None:
        self.calls["get_meta"] += 1
        return super().get_meta(resource_id)

    def get_revision(self, resource_id: str, revision_id: str) -> StoredRevision | None:
        self.calls["get_revision"] += 1
        return super().get_revision(resource_id, revision_id)

    def get_current(self, resource_id: str) -> tuple[ResourceMeta, StoredRevision] | None:
        self.calls["get_current"] += 1
        meta = super().get_meta(resource_id)
        if meta is None:
            return None
        rev = super().get_revision(resource_id, meta.current_revision_id)
        assert rev is not None
        return meta, rev

    def get_revisions(self, refs: Sequence[tuple[str, str]]) -> list[StoredRevision | None]:
        self.calls["get_revisions"] += 1
        return [super(CountingStorage, self).get_revision(r, v) for r, v in refs]

    def list_revisions(self, resource_id: str, *, offset: int = 0, limit: int | None = None) -> Any:
        self.calls["list_revisions"] += 1
        return super().list_revisions(resource_id, offset=offset, limit=limit)

    def list_revision_ids(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        self.calls["list_revision_ids"] += 1
        return [
            i.revision_id for i in super().list_revisions(resource_id, offset=offset, limit=limit)
        ]

    def search(self, query: Query) -> Page[ResourceMeta]:
        self.calls["search"] += 1
        page = super().search(query)
        for rid in self.after_search:
            meta = super().get_meta(rid)
            assert meta is not None
            self.purge(rid, meta.current_revision_id)
        self.after_search.clear()
        return page

    def commit(self, write: Any) -> Any:
        self.calls["commit"] += 1
        return super().commit(write)

    def calls_of(self, call: Any) -> dict[str, int]:
        self.calls.clear()
        call()
        return dict(self.calls)


@pytest.fixture
def store() -> CountingStorage:
    return CountingStorage()


@pytest.fixture
def docs(store: CountingStorage) -> ResourceManager[Doc]:
    return ResourceManager(
        Doc,
        storage=store,
        indexed_fields=["title", ("n", int), ("flag", bool)],
        default_user="u",
        default_now=lambda: NOW,
    )


# == storage calls per verb =====================================================================


def test_reads_of_one_resource_are_one_storage_call(
    docs: ResourceManager[Doc], store: CountingStorage
) -> None:
    first = docs.create(Doc(title="a"), resource_id="doc:1")
    docs.update("doc:1", Doc(title="b"))
    assert store.calls_of(lambda: docs.get("doc:1")) == {"get_current": 1}
    assert store.calls_of(lambda: docs.get_resource("doc:1")) == {"get_current": 1}
    assert store.calls_of(lambda: docs.get_resource("doc:1", returns=["meta"])) == {"get_meta": 1}
    # another revision than the current one: one more read, and it is that revision
    old = store.calls_of(lambda: docs.get("doc:1", revision_id=first.revision_id))
    assert old == {"get_current": 1, "get_revision": 1}
    assert docs.get("doc:1", revision_id=first.revision_id).data.title == "a"
    assert store.calls_of(lambda: docs.list_revisions("doc:1")) == {
        "get_meta": 1,
        "list_revision_ids": 1,
    }
    assert docs.list_revisions("doc:1") == ["doc:1:1", "doc:1:2"]


def test_a_list_page_reads_its_revisions_in_one_call(
    docs: ResourceManager[Doc], store: CountingStorage
) -> None:
    for i in range(30):
        docs.create(Doc(title=f"t{i}", n=i))
    calls = store.calls_of(lambda: docs.list_page(Query(limit=20)))
    assert calls == {"search": 1, "get_revisions": 1}
    assert store.calls_of(lambda: docs.list_page(Query(limit=20), returns=["meta"])) == {
        "search": 1
    }
    page = docs.list_page(QB["n"] < 3, returns=["data", "info"])
    assert sorted(item.data.n for item in page.items) == [0, 1, 2]  # type: ignore[union-attr]
    assert all(item.info.revision_id.endswith(":1") for item in page.items)  # type: ignore[union-attr]


def test_a_row_permanently_deleted_after_the_search_is_left_out(
    docs: ResourceManager[Doc], store: CountingStorage
) -> None:
    ids = [docs.create(Doc(title=f"t{i}", n=i)).resource_id for i in range(3)]
    store.after_search.append(ids[1])
    page = docs.list_page(QB["n"] >= 0)
    assert sorted(item.data.n for item in page.items) == [0, 2]  # type: ignore[union-attr]


def test_a_write_reads_once_then_commits_once(
    docs: ResourceManager[Doc], store: CountingStorage
) -> None:
    docs.create(Doc(title="a"), resource_id="doc:1")
    one_read = {"get_current": 1, "commit": 1}
    assert store.calls_of(lambda: docs.update("doc:1", Doc(title="b"))) == one_read
    patch = [{"op": "replace", "path": "/n", "value": 2}]
    assert store.calls_of(lambda: docs.patch("doc:1", patch)) == one_read
    assert store.calls_of(lambda: docs.merge_patch("doc:1", {"n": 3})) == one_read
    assert store.calls_of(lambda: docs.create(Doc(title="c"))) == {"commit": 1}
    # identical data: the read, no commit
    assert store.calls_of(lambda: docs.merge_patch("doc:1", {"n": 3})) == {"get_current": 1}
    assert docs.get("doc:1").data == Doc(title="b", n=3)


# == stages that are known no-ops ================================================================


class Recorder:
    """An event handler recording the phases it sees."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def handle(self, event: Event) -> None:
        self.seen.append((event.phase, event.context.action))


def test_the_stages_are_worked_out_once_and_again_after_a_change() -> None:
    pipeline = Pipeline()
    stages = pipeline.stages
    assert pipeline.stages is stages  # detected once, not per call
    assert not stages.check
    assert stages.check_data is None
    assert stages.access_scope is None
    assert stages.handlers == ()
    assert stages.validators == ()
    assert not stages.sees_data
    recorder = Recorder()
    pipeline.event_handlers.append(recorder)
    assert pipeline.stages is not stages
    assert pipeline.stages.handlers == (recorder.handle,)
    assert pipeline.stages.sees_data
    pipeline.event_handlers.remove(recorder)
    assert not pipeline.stages.handlers
    pipeline.event_handlers = [recorder]
    assert pipeline.stages.handlers == (recorder.handle,)
    pipeline.event_handlers[0] = print
    assert pipeline.stages.handlers == (print,)

    class Auditing(AllowAll):
        def check(self, ctx: OperationContext) -> None:
            return None

    class Quiet(AllowAll):
        pass

    pipeline.permission_checker = Quiet()
    assert not pipeline.stages.check  # AllowAll's own check is never called
    pipeline.permission_checker = Auditing()
    assert pipeline.stages.check


def test_a_handler_added_after_construction_sees_the_next_write(
    docs: ResourceManager[Doc],
) -> None:
    docs.create(Doc(title="a"), resource_id="doc:1")
    recorder = Recorder()
    docs.pipeline.event_handlers.append(recorder)
    docs.update("doc:1", Doc(title="b"))
    assert recorder.seen == [("before", "update"), ("on_success", "update"), ("after", "update")]
    docs.pipeline.event_handlers.clear()
    docs.update("doc:1", Doc(title="c"))
    assert len(recorder.seen) == 3


def test_a_validator_added_after_construction_runs(docs: ResourceManager[Doc]) -> None:
    def no_x(data: Doc) -> None:
        if data.title == "x":
            raise ValueError("no x")

    docs.pipeline.validators += [no_x]
    with pytest.raises(ValidationError):
        docs.create(Doc(title="x"))


def test_without_handlers_or_data_checks_the_context_carries_no_data() -> None:
    seen: list[OperationContext] = []

    class Checker:
        def check(self, ctx: OperationContext) -> None:
            seen.append(ctx)

    docs = ResourceManager(Doc, permission_checker=Checker(), default_user="u")
    docs.create(Doc(title="a"), resource_id="doc:1")
    assert seen[-1].data is None

    class DataChecker(Checker):
        def check_data(self, ctx: OperationContext) -> None:
            seen.append(ctx)

    docs.pipeline.permission_checker = DataChecker()
    docs.update("doc:1", Doc(title="b"))
    assert seen[-1].data == Doc(title="b")
    assert seen[-1].previous == Doc(title="a")


class FlagScope:
    """Everyone sees the rows whose ``flag`` equals the scope value of the user."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def check(self, ctx: OperationContext) -> None:
        return None

    def access_scope(self, ctx: OperationContext) -> Any:
        return QB["flag"] == self.values.get(ctx.user, True)


def test_access_scopes_that_are_equal_in_python_are_resolved_apart() -> None:
    checker = FlagScope()
    docs = ResourceManager(
        Doc, indexed_fields=[("flag", bool)], permission_checker=checker, default_user="u"
    )
    docs.create(Doc(title="a", flag=True), resource_id="doc:1")
    assert docs.get("doc:1", user="u").data.title == "a"
    checker.values["u"] = 1  # == True in Python, but not a bool: the scope is invalid
    with pytest.raises(QueryError):
        docs.get("doc:1", user="u")
    checker.values["u"] = False
    with pytest.raises(NotFoundError):
        docs.get("doc:1", user="u")


def test_get_resource_checks_both_actions_on_one_read(store: CountingStorage) -> None:
    asked: list[str] = []

    class Checker:
        def check(self, ctx: OperationContext) -> None:
            asked.append(ctx.action)

        def access_scope(self, ctx: OperationContext) -> Any:
            return QB["n"] >= 1 if ctx.action == "get" else QB["n"] >= 0

    docs = ResourceManager(
        Doc, storage=store, indexed_fields=[("n", int)], permission_checker=Checker()
    )
    docs.create(Doc(title="a", n=0), resource_id="doc:1")
    asked.clear()
    assert store.calls_of(lambda: docs.get_resource("doc:1", returns=["meta"])) == {"get_meta": 1}
    with pytest.raises(NotFoundError):  # outside the get scope, inside the get_meta one
        docs.get_resource("doc:1")
    assert asked == ["get_meta", "get_meta", "get"]
    docs.delete("doc:1")
    with pytest.raises(GoneError):
        docs.get_resource("doc:1")


# == put ========================================================================================


def test_put_creates_then_replaces_and_says_which(docs: ResourceManager[Doc]) -> None:
    info, created = docs.put("doc:1", {"title": "a"}, status=RevisionStatus.draft)
    assert created
    assert info.parent_revision_id is None
    assert info.status == "draft"
    again, created = docs.put("doc:1", Doc(title="b"))
    assert not created
    assert again.parent_revision_id == info.revision_id
    same, created = docs.put("doc:1", Doc(title="b"))
    assert not created
    assert same == again  # identical data: no new revision
    assert docs.get("doc:1").data.title == "b"


def test_put_with_an_expected_revision_only_updates(docs: ResourceManager[Doc]) -> None:
    with pytest.raises(NotFoundError):
        docs.put("doc:1", Doc(title="a"), expected_revision_id="doc:1:1")
    assert not docs.exists("doc:1")
    first, _ = docs.put("doc:1", Doc(title="a"))
    second, created = docs.put("doc:1", Doc(title="b"), expected_revision_id=first.revision_id)
    assert not created
    assert second.parent_revision_id == first.revision_id
    with pytest.raises(PreconditionFailedError):
        docs.put("doc:1", Doc(title="c"), expected_revision_id=first.revision_id)


def test_put_create_only(docs: ResourceManager[Doc]) -> None:
    info, created = docs.put("doc:1", Doc(title="a"), create_only=True)
    assert created
    assert info.revision_id == "doc:1:1"
    with pytest.raises(AlreadyExistsError):
        docs.put("doc:1", Doc(title="b"), create_only=True)
    docs.delete("doc:1")
    with pytest.raises(AlreadyExistsError):  # soft-deleted ids are taken too
        docs.put("doc:1", Doc(title="b"), create_only=True)
    with pytest.raises(ValueError, match="not both"):
        docs.put("doc:2", Doc(title="b"), create_only=True, expected_revision_id="doc:2:1")
    assert not docs.exists("doc:2")


def test_put_updates_a_resource_created_meanwhile(docs: ResourceManager[Doc]) -> None:
    def create_it_first(event: Event) -> None:
        failed_update = event.phase is EventPhase.on_failure and event.context.action == "update"
        if failed_update and not docs.exists("doc:1"):
            docs.create(Doc(title="theirs"), resource_id="doc:1")

    docs.pipeline.event_handlers.append(create_it_first)
    info, created = docs.put("doc:1", Doc(title="mine"))
    assert not created
    assert info.parent_revision_id == "doc:1:1"
    assert docs.get("doc:1").data.title == "mine"


def test_put_of_a_hidden_id_is_taken() -> None:
    class Own:
        def check(self, ctx: OperationContext) -> None:
            return None

        def access_scope(self, ctx: OperationContext) -> Any:
            return QB.meta("created_by") == ctx.user

    docs = ResourceManager(Doc, permission_checker=Own())
    docs.create(Doc(title="bob's"), resource_id="doc:1", user="bob")
    with pytest.raises(AlreadyExistsError):  # as for any taken id, and nothing more
        docs.put("doc:1", Doc(title="ann's"), user="ann")
    assert docs.get("doc:1", user="bob").data.title == "bob's"

"""The write pipeline's stages: authorize → validate → constraints → before → commit → after."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from specstar.core import (
    QB,
    ConstraintChecker,
    Event,
    EventPhase,
    IValidator,
    MemoryStorage,
    NotFoundError,
    OperationContext,
    PermissionDeniedError,
    PreconditionFailedError,
    Query,
    QueryError,
    ResourceManager,
    Unique,
    UniqueConstraintError,
    ValidationError,
)


class Note(msgspec.Struct, kw_only=True):
    title: str
    words: int = 0


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def handle(self, event: Event) -> None:
        self.events.append((event.phase.value, event.context.action))


def test_stage_order_and_events() -> None:
    order: list[str] = []

    class Checker:
        def check(self, ctx: OperationContext) -> None:
            order.append(f"authorize:{ctx.action}")

    class Constraint(ConstraintChecker):
        def check(self, data: Any, *, exclude_resource_id: str | None = None) -> None:
            order.append("constraints")

    def validator(data: Note) -> None:
        order.append("validate")

    def handler(event: Event) -> None:
        order.append(event.phase.value)

    notes = ResourceManager(
        Note,
        permission_checker=Checker(),
        validators=[validator],
        constraint_checkers=[Constraint()],
        event_handlers=[handler],
    )
    notes.create(Note(title="a"))
    assert order == [
        "authorize:create",
        "validate",
        "constraints",
        "before",
        "on_success",
        "after",
    ]


def test_failing_before_handler_stores_nothing() -> None:
    def veto(event: Event) -> None:
        if event.phase is EventPhase.before:
            raise RuntimeError("vetoed")

    recorder = Recorder()
    storage = MemoryStorage()
    notes = ResourceManager(Note, storage=storage, event_handlers=[veto, recorder])
    with pytest.raises(RuntimeError, match="vetoed"):
        notes.create(Note(title="a"), resource_id="n1")
    assert storage.get_meta("n1") is None
    assert recorder.events == [("on_failure", "create"), ("after", "create")]


def test_failing_after_handler_does_not_undo(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: Event) -> None:
        if event.phase is EventPhase.on_success:
            raise RuntimeError("post-commit bug")

    notes = ResourceManager(Note, event_handlers=[broken])
    info = notes.create(Note(title="kept"))
    assert notes.get(info.resource_id).data.title == "kept"
    assert "post-commit bug" in caplog.text


def test_validators_become_field_errors() -> None:
    class Positive(IValidator):
        def validate(self, data: Any) -> None:
            if data.words < 0:
                raise ValueError("words must not be negative")

    def titled(data: Note) -> None:
        if not data.title.strip():
            raise ValueError("title is blank")

    notes = ResourceManager(Note, validators=[Positive(), titled])
    with pytest.raises(ValidationError, match="negative"):
        notes.create(Note(title="a", words=-1))
    with pytest.raises(ValidationError, match="blank") as err:
        notes.create(Note(title="  "))
    assert err.value.errors
    rid = notes.create(Note(title="ok")).resource_id
    with pytest.raises(ValidationError):
        notes.patch(rid, [{"op": "replace", "path": "/words", "value": -5}])
    assert notes.get(rid).data.words == 0


def test_constraint_checker_sees_exclusion_and_can_skip() -> None:
    seen: list[str | None] = []

    class TitleOnly(ConstraintChecker):
        def check(self, data: Any, *, exclude_resource_id: str | None = None) -> None:
            seen.append(exclude_resource_id)
            if data.title == "forbidden":
                raise ValueError("that title is reserved")

        def data_relevant_changed(self, current_data: Any, new_data: Any) -> bool:
            return bool(current_data.title != new_data.title)

    notes = ResourceManager(Note, constraint_checkers=[TitleOnly()])
    rid = notes.create(Note(title="a"), resource_id="n1").resource_id
    notes.update(rid, Note(title="a", words=3))  # title unchanged: not re-checked
    with pytest.raises(ValidationError, match="reserved"):
        notes.update(rid, Note(title="forbidden"))
    assert seen == ["n1", "n1"]


def test_permission_denied_on_every_path() -> None:
    class ReadOnly:
        def check(self, ctx: OperationContext) -> None:
            if ctx.action not in {"get", "get_meta", "search", "count", "list_revisions"}:
                raise PermissionDeniedError("read only", user=ctx.user, action=ctx.action)

    storage = MemoryStorage()
    writer = ResourceManager(Note, storage=storage, name="note")
    rid = writer.create(Note(title="a")).resource_id
    reader = ResourceManager(Note, storage=storage, name="note", permission_checker=ReadOnly())
    assert reader.get(rid).data.title == "a"
    assert reader.count() == 1
    for call in (
        lambda: reader.create(Note(title="b")),
        lambda: reader.update(rid, Note(title="b")),
        lambda: reader.patch(rid, []),
        lambda: reader.delete(rid),
        lambda: reader.permanently_delete(rid),
        lambda: reader.prune_revisions(rid, keep_last_n=1),
    ):
        with pytest.raises(PermissionDeniedError):
            call()
    assert writer.list_revisions(rid) == [f"{rid}:1"]


def test_pydantic_model_is_accepted() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        name: str
        age: int = 0

    people = ResourceManager(Person, indexed_fields=["age"])
    info = people.create(Person(name="Ada", age=36))
    got = people.get(info.resource_id).data
    assert (got.name, got.age) == ("Ada", 36)
    assert people.count(QB["age"] > 30) == 1
    with pytest.raises(ValidationError):
        people.create({"name": "x", "age": "old"})


def test_adding_an_indexed_field_backfills_old_rows() -> None:
    storage = MemoryStorage()
    v1 = ResourceManager(Note, storage=storage, name="note")
    for i in range(3):
        v1.create(Note(title=f"t{i}", words=i * 10))
    progress: list[tuple[int, int]] = []
    v2 = ResourceManager(Note, storage=storage, name="note", indexed_fields=["words"])
    assert v2.count(QB["words"] >= 10) == 2
    lazy = ResourceManager(
        Note, storage=storage, name="note", indexed_fields=["words", "title"], auto_reindex=False
    )
    with pytest.raises(QueryError, match="reindex"):
        lazy.count(QB["title"] == "t1")
    assert lazy.reindex(progress=lambda done, total: progress.append((done, total))) == 3
    assert progress[-1] == (3, 3)
    assert lazy.count(QB["title"] == "t1") == 1


def test_unique_on_nested_and_renamed_fields() -> None:
    class Account(msgspec.Struct, kw_only=True, rename="camel"):
        user_name: Annotated[str, Unique()]

    accounts = ResourceManager(Account)
    accounts.create(Account(user_name="a"))
    with pytest.raises(UniqueConstraintError) as err:
        accounts.create({"userName": "a"})
    assert err.value.field == "userName"


def test_error_details_are_machine_readable() -> None:
    notes = ResourceManager(Note)
    info = notes.create(Note(title="a"))
    notes.update(info.resource_id, Note(title="b"))
    with pytest.raises(PreconditionFailedError) as err:
        notes.delete(info.resource_id, expected_revision_id=info.revision_id)
    assert err.value.details() == {
        "resource_id": info.resource_id,
        "expected": info.revision_id,
        "actual": f"{info.resource_id}:2",
    }
    assert err.value.code == "precondition_failed"


class Doc(msgspec.Struct, kw_only=True):
    owner: str
    title: str
    secret: str = ""


class OwnRows:
    """Users see their own rows; 'root' sees everything; 'nobody' sees nothing."""

    def check(self, ctx: OperationContext) -> None:
        return None

    def access_scope(self, ctx: OperationContext) -> Any:
        from specstar.core.pipeline import UNRESTRICTED

        if ctx.user == "root":
            return UNRESTRICTED
        if ctx.user == "nobody":
            return None
        return QB["owner"] == ctx.user

    def check_data(self, ctx: OperationContext) -> None:
        changed = ctx.previous is not None and ctx.data.secret != ctx.previous.secret
        if changed and ctx.user != "root":
            raise PermissionDeniedError("only root changes secrets", user=ctx.user)


def test_access_scope_applies_to_every_path() -> None:
    docs = ResourceManager(Doc, indexed_fields=["owner"], permission_checker=OwnRows())
    a = docs.create(Doc(owner="ann", title="a"), user="ann").resource_id
    b = docs.create(Doc(owner="bob", title="b"), user="bob").resource_id
    assert [m.resource_id for m in docs.search(user="ann")] == [a]
    assert docs.count(user="bob") == 1
    assert docs.count(user="root") == 2
    assert [r.resource_id for r in docs.search(QB["owner"] == "bob", user="ann")] == []
    with pytest.raises(PermissionDeniedError):
        docs.search(user="nobody")
    for call in (
        lambda: docs.get(b, user="ann"),
        lambda: docs.get_meta(b, user="ann"),
        lambda: docs.update(b, Doc(owner="ann", title="stolen"), user="ann"),
        lambda: docs.patch(b, [], user="ann"),
        lambda: docs.delete(b, user="ann"),
        lambda: docs.permanently_delete(b, user="ann"),
        lambda: docs.list_revisions(b, user="ann"),
    ):
        with pytest.raises(NotFoundError):
            call()
    with docs.using(user="ann"):
        assert docs.exists(a)
        assert not docs.exists(b)
    assert docs.get(b, user="root").data.title == "b"
    # paging a scoped listing with cursors keeps the scope
    for i in range(5):
        docs.create(Doc(owner="ann", title=f"n{i}"), user="ann")
    seen, page = [], docs.search_page(Query(limit=2), user="ann")
    seen += page.items
    while page.has_more:
        page = docs.search_page(Query(limit=2, cursor=page.next_cursor), user="ann")
        seen += page.items
    assert len(seen) == 6
    assert {m.indexed_data["owner"] for m in seen} == {"ann"}


def test_field_level_check_sees_old_and_new_data() -> None:
    docs = ResourceManager(Doc, indexed_fields=["owner"], permission_checker=OwnRows())
    rid = docs.create(Doc(owner="ann", title="a", secret="s"), user="ann").resource_id
    docs.merge_patch(rid, {"title": "renamed"}, user="ann")
    with pytest.raises(PermissionDeniedError):
        docs.merge_patch(rid, {"secret": "leak"}, user="ann")
    docs.merge_patch(rid, {"secret": "rotated"}, user="root")
    assert docs.get(rid, user="root").data.secret == "rotated"


def test_fluent_event_handlers_and_combination() -> None:
    from specstar.core import EventHandlers, combine_handlers

    seen: list[str] = []
    model_handlers = (
        EventHandlers()
        .before("create", lambda e: seen.append("model:before:create"))
        .on_success(
            ["update", "merge_patch"], lambda e: seen.append(f"model:ok:{e.context.action}")
        )
        .on_failure("*", lambda e: seen.append(f"model:failed:{type(e.error).__name__}"))
    )
    global_handlers = EventHandlers().after(
        "*", lambda e: seen.append(f"global:after:{e.context.action}")
    )
    notes = ResourceManager(
        Note, event_handlers=combine_handlers([global_handlers], [model_handlers])
    )
    rid = notes.create(Note(title="a")).resource_id
    notes.merge_patch(rid, {"words": 2})
    with pytest.raises(ValidationError):
        notes.merge_patch(rid, {"words": "x"})
    assert seen == [
        "model:before:create",
        "global:after:create",
        "model:ok:merge_patch",
        "global:after:merge_patch",
        "model:failed:ValidationError",
        "global:after:merge_patch",
    ]


def test_writes_cannot_leave_the_access_scope() -> None:
    docs = ResourceManager(Doc, indexed_fields=["owner"], permission_checker=OwnRows())
    rid = docs.create(Doc(owner="ann", title="a"), user="ann").resource_id
    with pytest.raises(PermissionDeniedError, match="outside their access scope"):
        docs.create(Doc(owner="bob", title="planted"), user="ann")
    with pytest.raises(PermissionDeniedError, match="outside their access scope"):
        docs.merge_patch(rid, {"owner": "bob"}, user="ann")
    assert docs.count(user="bob") == 0
    docs.merge_patch(rid, {"owner": "bob"}, user="root")
    assert docs.count(user="bob") == 1


def test_maintenance_bypasses_permission_checks() -> None:
    from specstar.core.permissions import RootOnly

    storage = MemoryStorage()
    ResourceManager(Note, storage=storage, name="note").create(Note(title="x", words=3))
    # a strict checker must not stop start-up backfilling of a new indexed field
    strict = ResourceManager(
        Note, storage=storage, name="note", indexed_fields=["words"], permission_checker=RootOnly()
    )
    assert strict.count(QB["words"] == 3, user="root") == 1
    with pytest.raises(PermissionDeniedError):
        strict.count(user="someone")


def test_validator_forms_give_field_errors() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Checked(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        title: str = pydantic.Field(min_length=2)
        words: int = pydantic.Field(ge=0)

    class NonNegative(IValidator):
        def validate(self, data: Any) -> None:
            if data.words < 0:
                raise ValueError("negative")

    by_class = ResourceManager(Note, validators=[NonNegative])
    with pytest.raises(ValidationError, match="negative"):
        by_class.create(Note(title="ok", words=-1))
    by_model = ResourceManager(Note, validators=[Checked])
    with pytest.raises(ValidationError) as err:
        by_model.create(Note(title="x", words=-1))
    assert {e.loc for e in err.value.errors} == {"/title", "/words"}
    own = ResourceManager(Checked)  # a Pydantic model validates itself by default
    with pytest.raises(ValidationError) as err:
        own.create({"title": "x", "words": 1})
    assert [e.loc for e in err.value.errors] == ["/title"]


def test_constraint_checker_factories_receive_the_manager() -> None:
    class NoDuplicateTitle(ConstraintChecker):
        def __init__(self, manager: ResourceManager[Note]) -> None:
            self.manager = manager

        def check(self, data: Any, *, exclude_resource_id: str | None = None) -> None:
            for meta in self.manager.search(QB["title"] == data.title):
                if meta.resource_id != exclude_resource_id:
                    raise ValueError(f"title {data.title!r} is taken")

    notes = ResourceManager(Note, indexed_fields=["title"], constraint_checkers=[NoDuplicateTitle])
    rid = notes.create(Note(title="a")).resource_id
    notes.update(rid, Note(title="a", words=1))  # its own title is fine
    with pytest.raises(ValidationError, match="taken"):
        notes.create(Note(title="a"))


def test_unpaired_surrogates_are_a_validation_error() -> None:
    notes = ResourceManager(Note)
    with pytest.raises(ValidationError, match="surrogate"):
        notes.create(Note(title="bad \ud800 text"))
    rid = notes.create(Note(title="ok")).resource_id
    with pytest.raises(ValidationError, match="surrogate"):
        notes.merge_patch(rid, {"title": "\udfff"})
    assert notes.get(rid).data.title == "ok"

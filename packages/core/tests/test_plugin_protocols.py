"""Plug-ins written to the decision and filtering protocols: when a ``check_permission``
checker is asked (and with what), how ``is_supported``/``handle_event`` handlers are fed, and
that a plug-in fitting no protocol is refused when it is set."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from specstar.core import (
    Event,
    NotFoundError,
    PermissionDeniedError,
    PermissionResult,
    ResourceManager,
    ResourceMetaSearchQuery,
)
from specstar.core.manager._partial import partial_struct
from specstar.core.pipeline import Pipeline


class Note(msgspec.Struct):
    text: str
    tags: list[str] = []


class Recorder:
    """Answers ``answer`` and records what it was asked, with what."""

    def __init__(self, parts: Any = (), answer: PermissionResult = PermissionResult.allow) -> None:
        self.required_resource_parts = parts
        self.answer = answer
        self.calls: list[tuple[str, bool, bool]] = []

    def check_permission(self, ctx: Any) -> PermissionResult:
        self.calls.append((str(ctx.action), ctx.meta is not None, ctx.data is not None))
        return self.answer

    def actions(self) -> list[str]:
        return [action for action, _, _ in self.calls]


def _notes(checker: Any) -> tuple[ResourceManager[Note], str]:
    notes = ResourceManager(Note)
    rid = notes.create(Note(text="a")).resource_id
    notes.pipeline.permission_checker = checker
    return notes, rid


def test_without_parts_it_is_asked_once_before_anything_is_read() -> None:
    rec = Recorder()
    notes, rid = _notes(rec)
    notes.get(rid)
    notes.update(rid, Note(text="b"))
    notes.count()
    assert rec.calls == [("get", False, False), ("update", False, False), ("count", False, False)]
    rec.answer = PermissionResult.deny
    with pytest.raises(PermissionDeniedError, match="deny"):
        notes.get("missing")  # denied before the read: no NotFoundError


def test_meta_part_is_given_once_the_meta_is_read() -> None:
    rec = Recorder(parts={"meta"})
    notes, rid = _notes(rec)
    notes.get_meta(rid)
    notes.delete(rid)
    notes.create(Note(text="c"))
    notes.search()
    assert rec.calls == [
        ("get_meta", True, False),
        ("delete", True, False),
        ("create", False, False),
        ("search", False, False),
    ]
    with pytest.raises(NotFoundError):
        notes.get("missing")  # nothing to decide on: the resource does not exist
    assert len(rec.calls) == 4
    assert not notes.exists("missing")
    assert len(rec.calls) == 4


def test_authorize_asks_a_meta_checker_about_the_resource() -> None:
    rec = Recorder(parts=["meta"], answer=PermissionResult.deny)
    notes, rid = _notes(rec)
    with pytest.raises(PermissionDeniedError):
        notes.authorize("publish", resource_id=rid)  # an application's action: at once
    with pytest.raises(PermissionDeniedError):
        notes.authorize("delete", resource_id=rid)  # the manager's: on the meta
    assert rec.calls == [("publish", False, False), ("delete", True, False)]


def test_data_part_is_given_once_the_new_data_is_known() -> None:
    seen: list[Any] = []

    class DataChecker(Recorder):
        def check_permission(self, ctx: Any) -> PermissionResult:
            seen.append((ctx.action, ctx.data, ctx.previous, ctx.meta is not None))
            return PermissionResult.allow

    notes, rid = _notes(DataChecker(parts=["data", "meta"]))
    notes.patch(rid, {"text": "b"})
    notes.get(rid)
    notes.delete(rid)
    assert seen == [
        ("merge_patch", Note(text="b"), Note(text="a"), True),
        ("get", None, None, True),
        ("delete", None, None, True),
    ]


def test_deny_and_not_applicable_deny_and_nothing_is_written() -> None:
    for answer in (PermissionResult.deny, PermissionResult.not_applicable):
        notes, rid = _notes(Recorder(parts=["data"], answer=answer))
        with pytest.raises(PermissionDeniedError, match=answer.value):
            notes.update(rid, Note(text="b"))
        notes.pipeline.permission_checker = Recorder()
        assert notes.get(rid).data == Note(text="a")


def test_a_checker_with_check_is_used_as_it_is() -> None:
    class Both:
        def __init__(self) -> None:
            self.checked = 0

        def check(self, ctx: Any) -> None:
            self.checked += 1

        def check_permission(self, ctx: Any) -> PermissionResult:
            raise AssertionError("check wins")

    both = Both()
    notes, rid = _notes(both)
    notes.get(rid)
    assert notes.pipeline.permission_checker is both
    assert both.checked == 1


def test_check_resource_of_a_native_checker_sees_the_meta() -> None:
    class NotMine:
        def check(self, ctx: Any) -> None:
            return None

        def check_resource(self, ctx: Any) -> None:
            if ctx.meta.created_by != ctx.user:
                raise PermissionDeniedError("not yours", user=ctx.user, action=ctx.action)

    notes = ResourceManager(Note, permission_checker=NotMine())
    rid = notes.create(Note(text="a"), user="ada").resource_id
    notes.get(rid, user="ada")
    with pytest.raises(PermissionDeniedError, match="not yours"):
        notes.get(rid, user="eve")


def test_filtering_handlers_get_the_events_they_support() -> None:
    got: list[tuple[str, str, str | None, Any]] = []

    class OnlyUpdates:
        def is_supported(self, event: Event) -> bool:
            return event.action == "update" and event.phase == "before"

        def handle_event(self, event: Event) -> None:
            got.append((event.action, event.user, event.resource_id, event.data))

    notes = ResourceManager(Note, event_handlers=[OnlyUpdates()])
    rid = notes.create(Note(text="a")).resource_id
    notes.update(rid, Note(text="b"), user="ada")
    notes.delete(rid)
    assert got == [("update", "ada", rid, Note(text="b"))]


def test_a_plugin_fitting_no_protocol_is_refused_when_set() -> None:
    class OnlyHandle:
        def handle_event(self, event: Event) -> None:
            return None

    with pytest.raises(TypeError, match=r"is_supported\(event\)"):
        Pipeline(event_handlers=[OnlyHandle()])
    with pytest.raises(TypeError, match=r"check\(ctx\)"):
        Pipeline(permission_checker=object())  # type: ignore[arg-type]
    pipeline = Pipeline()
    with pytest.raises(TypeError, match="not callable"):
        pipeline.event_handlers = ["nope"]  # type: ignore[list-item]
    with pytest.raises(TypeError, match="collection"):
        pipeline.permission_checker = Recorder(parts="meta")

    class Yes(Recorder):
        def check_permission(self, ctx: Any) -> PermissionResult:
            return "yes"  # type: ignore[return-value]

    notes, _ = _notes(Yes())
    with pytest.raises(TypeError, match="PermissionResult"):
        notes.count()


class Inner(msgspec.Struct):
    a: int
    b: int = 0


class Outer(msgspec.Struct):
    inner: Inner | None
    extra: dict[str, int] = {}


def test_partial_structs_follow_the_model() -> None:
    part = partial_struct(Outer, {"inner": {"a": 1}, "extra": {"k": 2}})
    assert type(part).__name__ == "PartialOuter"
    assert type(part.inner).__name__ == "PartialInner"  # type: ignore[attr-defined]
    assert part.inner.a == 1  # type: ignore[attr-defined]
    assert part.extra == {"k": 2}  # type: ignore[attr-defined]  # a dict member stays a dict
    assert type(partial_struct(Outer, {"extra": {}})) is type(partial_struct(Outer, {"extra": {}}))


def test_get_partial_refuses_calls_fitting_neither_form() -> None:
    notes = ResourceManager(Note)
    info = notes.create(Note(text="a", tags=["x"]))
    rid, rev = info.resource_id, info.revision_id
    assert notes.get_partial(rid, rev, ["tags"]).tags == ["x"]  # type: ignore[attr-defined]
    assert notes.get_partial(rid, revision_id=rev, partial=["text"]).text == "a"  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        notes.get_partial(rid)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        notes.get_partial(rid, rev, ["text"], ["tags"])  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="list of paths"):
        notes.get_partial(rid, rev, "text")
    with pytest.raises(TypeError, match="twice"):
        notes.get_partial(rid, rev, ["text"], revision_id=rev)  # type: ignore[call-overload]


def test_meta_search_query_refuses_what_it_cannot_mean() -> None:
    with pytest.raises(TypeError, match="created_bys"):
        ResourceMetaSearchQuery(created_bys="ada").to_query()
    with pytest.raises(TypeError, match="sorts"):
        ResourceMetaSearchQuery(sorts=[3]).to_query()  # type: ignore[list-item]
    query = ResourceMetaSearchQuery(is_deleted=None, limit=5, offset=2).to_query()
    assert (query.where, query.is_deleted, query.limit, query.offset) == (None, None, 5, 2)

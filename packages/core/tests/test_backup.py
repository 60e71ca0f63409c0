"""Backup archives: dump and load round trips, revision metadata kept, and every fault named
without losing what the target holds."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pytest

from specstar.core import (
    ArchiveError,
    DuplicateResourceError,
    OnDuplicate,
    PermissionDeniedError,
    ResourceManager,
    Unique,
    dump,
    load,
)
from specstar.core.backup import verify
from specstar.core.backup.format import MAGIC
from specstar.core.binary import Binary
from specstar.core.memory import MemoryStorageFactory
from specstar.core.types import RevisionStatus


class Account(msgspec.Struct, kw_only=True):
    email: Annotated[str, Unique()]
    name: str
    age: int = 0


class Doc(msgspec.Struct, kw_only=True):
    title: str
    file: Binary | None = None


T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0.replace(minute=minutes)


def make(factory: MemoryStorageFactory | None = None, **kw: Any) -> ResourceManager[Account]:
    return ResourceManager(
        Account, storage_factory=factory or MemoryStorageFactory(), indexed_fields=["age"], **kw
    )


def populate(m: ResourceManager[Account]) -> None:
    """Histories with updates, a switch back, a soft delete, a draft and a pruned revision."""
    m.create({"email": "a@x", "name": "A"}, resource_id="acc-a", user="alice", now=at(1))
    m.update("acc-a", {"email": "a@x", "name": "A2"}, user="bob", now=at(2))
    m.update("acc-a", {"email": "a@x", "name": "A3", "age": 3}, user="carol", now=at(3))
    m.switch("acc-a", "acc-a:2", user="dave", now=at(4))
    m.create({"email": "b@x", "name": "B"}, resource_id="acc-b", user="alice", now=at(5))
    m.delete("acc-b", user="erin", now=at(6))
    m.create(
        {"email": "c@x", "name": "C"},
        resource_id="acc-c",
        status=RevisionStatus.draft,
        user="frank",
        now=at(7),
    )
    m.create({"email": "d@x", "name": "D"}, resource_id="acc-d", user="gina", now=at(8))
    m.update("acc-d", {"email": "d@x", "name": "D2"}, user="gina", now=at(9))
    m.update("acc-d", {"email": "d@x", "name": "D3"}, user="gina", now=at(10))
    m.switch("acc-d", "acc-d:1", user="gina", now=at(11))
    assert m.storage.prune("acc-d", ["acc-d:2", "acc-d:3"]) == 2  # the sequence stays at 3


def archive(*managers: ResourceManager[Any], **kw: Any) -> bytes:
    out = io.BytesIO()
    dump(list(managers), out, **kw)
    return out.getvalue()


def state(m: ResourceManager[Any]) -> list[Any]:
    """Every meta (indexes included) and every revision with its data, for comparison."""
    rows = []
    for rid in sorted(
        x.resource_id
        for x in m.storage.search(m.resolve(None).replace(is_deleted=None, limit=1000)).items
    ):
        meta = m.storage.get_meta(rid)
        history = m.storage.get_history(rid)
        assert history is not None
        revs = m.storage.get_revisions([(rid, i) for i in history[1]])
        rows.append((meta, revs))
    return rows


def test_round_trip_keeps_everything() -> None:
    source = make()
    populate(source)
    data = archive(source)
    target = make()
    stats = load([target], io.BytesIO(data))
    assert stats["account"].loaded == 4
    assert stats["account"].failures == []
    assert state(target) == state(source)
    assert archive(target) == data
    # the loaded store goes on allocating after the archived ids
    info = target.update("acc-d", {"email": "d@x", "name": "D4"}, user="z", now=at(20))
    assert info.revision_id == "acc-d:4"
    assert info.parent_revision_id == "acc-d:1"


def test_load_rebuilds_indexes_and_unique_claims() -> None:
    source = make()
    populate(source)
    target = make()
    load([target], io.BytesIO(archive(source)))
    assert [
        x.resource_id for x in target.search(target.resolve(None).replace(where=None, limit=10))
    ] == ["acc-a", "acc-c", "acc-d"]
    from specstar.core import QB

    assert [x.resource_id for x in target.search(QB["age"] == 0)] == ["acc-a", "acc-c", "acc-d"]
    with pytest.raises(Exception, match="a@x"):
        target.create({"email": "a@x", "name": "again"}, user="u", now=at(30))


def test_model_queries_select_models_and_rows() -> None:
    source = make()
    populate(source)
    from specstar.core import QB

    data = archive(source, model_queries={"account": QB["$resource_id"] == "acc-a"})
    target = make()
    stats = load([target], io.BytesIO(data))
    assert stats["account"].loaded == 1
    with pytest.raises(ValueError, match="nope"):
        archive(source, model_queries={"nope": None})


def _corrupt(data: bytes) -> list[tuple[str, bytes]]:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    return [
        ("truncated", data[: len(data) - 7]),
        ("no trailer", data[: len(data) // 2]),
        ("flipped byte", bytes(flipped)),
        ("bad magic", b"X" + data[1:]),
        ("extra bytes", data + b"\0"),
        ("empty", b""),
    ]


@pytest.mark.parametrize("case", range(6))
def test_damaged_archive_is_named_and_loads_nothing(case: int) -> None:
    source = make()
    populate(source)
    name, damaged = _corrupt(archive(source))[case]
    target = make()
    target.create({"email": "keep@x", "name": "K"}, resource_id="acc-a", user="u", now=at(1))
    before = state(target)
    with pytest.raises(ArchiveError) as caught:
        load([target], io.BytesIO(damaged))
    assert caught.value.position is not None or name == "bad magic", name
    assert state(target) == before


def test_non_seekable_archive_is_spooled() -> None:
    source = make()
    populate(source)
    data = archive(source)

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def readinto(self, b: Any) -> int:
            chunk = self.inner.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    target = make()
    assert load([target], Pipe())["account"].loaded == 4  # type: ignore[arg-type]
    truncated = data[:-3]

    class Short(Pipe):
        def __init__(self) -> None:
            self.inner = io.BytesIO(truncated)

    other = make()
    with pytest.raises(ArchiveError, match="truncated"):
        load([other], Short())  # type: ignore[arg-type]
    assert state(other) == []


def test_unknown_model_loads_nothing() -> None:
    source = make()
    populate(source)
    docs = ResourceManager(Doc, storage_factory=MemoryStorageFactory())
    docs.create({"title": "t"}, user="u", now=at(1))
    data = archive(source, docs)
    target = make()
    with pytest.raises(ArchiveError, match="unknown model 'doc'"):
        load([target], io.BytesIO(data))
    assert state(target) == []


def test_unique_clash_is_reported_and_loses_nothing() -> None:
    source = make()
    populate(source)
    target = make()
    target.create({"email": "a@x", "name": "mine"}, resource_id="other", user="u", now=at(1))
    before = state(target)
    stats = load([target], io.BytesIO(archive(source)))["account"]
    assert stats.loaded == 3
    assert stats.failed == 1
    (failure,) = stats.failures
    assert failure.resource_id == "acc-a"
    assert "a@x" in failure.reason
    assert target.storage.get_meta("acc-a") is None
    assert state(target)[-1] == before[0]


def test_overwrite_replaces_history_and_rolls_back_on_failure() -> None:
    source = make()
    populate(source)
    data = archive(source)
    target = make()
    for n in range(5):
        target.create_or_update("acc-a", {"email": "a@x", "name": f"v{n}"}, user="u", now=at(n))
    stats = load([target], io.BytesIO(data), on_duplicate="overwrite")["account"]
    assert stats.loaded == 4
    assert target.storage.list_revision_ids("acc-a") == ["acc-a:1", "acc-a:2", "acc-a:3"]
    assert state(target) == state(source)

    # an overwrite whose new version clashes on a Unique value puts the old one back
    clash = make()
    clash.create({"email": "zz@x", "name": "old"}, resource_id="acc-b", user="u", now=at(1))
    clash.create({"email": "a@x", "name": "holder"}, resource_id="acc-z", user="u", now=at(1))
    clash.create({"email": "a2@x", "name": "old a"}, resource_id="acc-a", user="u", now=at(1))
    before = {s[0].resource_id: s for s in state(clash)}
    stats = load([clash], io.BytesIO(data))["account"]
    assert [f.resource_id for f in stats.failures] == ["acc-a"]
    after = {s[0].resource_id: s for s in state(clash)}
    assert after["acc-a"] == before["acc-a"]
    assert after["acc-z"] == before["acc-z"]


def test_skip_and_raise_error() -> None:
    source = make()
    populate(source)
    data = archive(source)
    target = make()
    target.create({"email": "x@x", "name": "mine"}, resource_id="acc-b", user="u", now=at(1))
    before = state(target)
    stats = load([target], io.BytesIO(data), on_duplicate=OnDuplicate.skip)["account"]
    assert (stats.loaded, stats.skipped, stats.total) == (3, 1, 4)
    assert [s for s in state(target) if s[0].resource_id == "acc-b"] == before
    again = make()
    again.create({"email": "x@x", "name": "mine"}, resource_id="acc-b", user="u", now=at(1))
    with pytest.raises(DuplicateResourceError, match="acc-b"):
        load([again], io.BytesIO(data), on_duplicate="raise_error")
    assert again.get("acc-b").data.name == "mine"
    with pytest.raises(ValueError, match="on_duplicate"):
        load([again], io.BytesIO(data), on_duplicate="merge")


def test_invalid_data_is_reported_per_record() -> None:
    source = make()
    populate(source)
    data = archive(source)

    def no_c(acc: Account) -> None:
        if acc.name == "C":
            raise ValueError("C is not allowed")

    target = make(validators=[no_c])
    stats = load([target], io.BytesIO(data))["account"]
    assert [(f.resource_id, "C is not allowed" in f.reason) for f in stats.failures] == [
        ("acc-c", True)
    ]
    assert target.storage.get_meta("acc-c") is None


def test_data_of_another_shape_is_refused() -> None:
    class Other(msgspec.Struct, kw_only=True):
        email: str
        name: int

    source = ResourceManager(Other, storage_factory=MemoryStorageFactory(), name="account")
    source.create({"email": "q@x", "name": 5}, resource_id="acc-q", user="u", now=at(1))
    target = make()
    stats = load([target], io.BytesIO(archive(source)))["account"]
    assert stats.failed == 1
    assert "acc-q:1" in stats.failures[0].reason


def test_permissions_dump_and_load() -> None:
    from specstar.core.permissions import ActionBasedChecker, admin_only, any_user

    checker = ActionBasedChecker({"read": any_user, "write": any_user, "*": admin_only("root")})
    source = make(permission_checker=checker)
    source.create({"email": "a@x", "name": "A"}, user="u", now=at(1))
    with pytest.raises(PermissionDeniedError):
        archive(source, user="u")
    data = archive(source, user="root")
    target = make(permission_checker=checker)
    with pytest.raises(PermissionDeniedError):
        load([target], io.BytesIO(data), user="u")
    assert load([target], io.BytesIO(data), user="root")["account"].loaded == 1


def test_blobs_travel_with_their_resources() -> None:
    source = ResourceManager(Doc, storage_factory=MemoryStorageFactory())
    content = bytes(range(256)) * 5000
    source.create({"title": "t", "file": {"data": content}}, resource_id="d1", user="u", now=at(1))
    data = archive(source)
    target = ResourceManager(Doc, storage_factory=MemoryStorageFactory())
    stats = load([target], io.BytesIO(data))["doc"]
    assert (stats.loaded, stats.blobs) == (1, 1)
    file = target.get("d1").data.file
    assert file is not None
    assert isinstance(file.file_id, str)
    assert target.get_blob(file.file_id).data == content
    assert archive(target) == data


def test_progress_reports_each_resource() -> None:
    source = make()
    populate(source)
    seen: list[Any] = []
    data = io.BytesIO()
    dump([source], data, progress=seen.append)
    assert [p.resources for p in seen if not p.done] == [1, 2, 3, 4]
    assert seen[-1].done
    assert seen[-1].total == 4
    assert seen[-1].bytes == len(data.getvalue())
    loaded: list[Any] = []
    load([make()], io.BytesIO(data.getvalue()), progress=loaded.append)
    assert loaded[-1].done
    assert loaded[-1].resources == 4


def test_verify_reads_the_models() -> None:
    source = make()
    populate(source)
    data = archive(source)
    assert data.startswith(MAGIC)
    assert verify(io.BytesIO(data)) == ["account"]

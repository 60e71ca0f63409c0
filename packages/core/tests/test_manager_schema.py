"""Schema versions through the manager: lazy reads, persisted migration, switch guard, bulk."""

from __future__ import annotations

import msgspec
import pytest

from specstar.core import QB, MemoryStorage, ResourceManager, ValidationError
from specstar.core.schema import RevisionNotMigratedError, Schema


class UserV1(msgspec.Struct, kw_only=True):
    name: str


class User(msgspec.Struct, kw_only=True):
    first: str
    last: str = ""


def split(old: UserV1) -> User:
    first, _, last = old.name.partition(" ")
    return User(first=first, last=last)


@pytest.fixture
def storage() -> MemoryStorage:
    store = MemoryStorage()
    v1 = ResourceManager(UserV1, storage=store, name="user", schema_version="v1")
    v1.create(UserV1(name="Ada Lovelace"), resource_id="ada")
    v1.update("ada", UserV1(name="Ada King"))
    v1.create(UserV1(name="Alan Turing"), resource_id="alan")
    return store


def v2(storage: MemoryStorage, **kwargs: object) -> ResourceManager[User]:
    schema = Schema(User, "v2").step("v1", split, source_type=UserV1)
    return ResourceManager(schema, storage=storage, name="user", indexed_fields=["last"], **kwargs)  # type: ignore[arg-type]


def test_reads_migrate_lazily(storage: MemoryStorage) -> None:
    users = v2(storage)
    ada = users.get("ada")
    assert ada.data == User(first="Ada", last="King")
    assert ada.info.schema_version == "v1"  # stored as it was
    assert users.get("ada", revision_id="ada:1").data.last == "Lovelace"
    assert users.get_meta("ada").schema_version == "v1"


def test_new_indexed_field_is_backfilled_from_migrated_data(storage: MemoryStorage) -> None:
    users = v2(storage)
    assert [m.resource_id for m in users.search(QB["last"] == "Turing")] == ["alan"]


def test_migrate_persists_as_a_new_revision(storage: MemoryStorage) -> None:
    users = v2(storage)
    meta = users.migrate("ada")
    assert meta.schema_version == "v2"
    assert meta.current_revision_id == "ada:3"
    assert users.list_revisions("ada") == ["ada:1", "ada:2", "ada:3"]
    assert users.migrate("ada") == meta  # already current: nothing to do
    raw = storage.get_revision("ada", "ada:1")
    assert raw is not None
    assert msgspec.json.decode(raw.data) == {"name": "Ada Lovelace"}  # history untouched


def test_switch_to_an_unmigrated_revision_is_refused(storage: MemoryStorage) -> None:
    users = v2(storage)
    users.migrate("ada")
    with pytest.raises(RevisionNotMigratedError) as err:
        users.switch("ada", "ada:1")
    assert err.value.revision_schema_version == "v1"
    assert "migrate" in str(err.value)
    meta = users.migrate("ada", revision_id="ada:1")
    assert users.get("ada").data == User(first="Ada", last="Lovelace")
    assert meta.current_revision_id == "ada:4"


def test_bulk_migration_is_resumable(storage: MemoryStorage) -> None:
    users = v2(storage)
    seen: list[tuple[int, int]] = []
    users.migrate("alan")  # as if an earlier run was interrupted after one resource
    assert users.migrate_all(progress=lambda done, total: seen.append((done, total))) == 1
    assert seen == [(1, 1)]
    assert users.migrate_all() == 0
    assert {m.schema_version for m in users.search()} == {"v2"}


def test_schema_validator_runs_on_writes(storage: MemoryStorage) -> None:
    def no_blank(user: User) -> None:
        if not user.first:
            raise ValueError("first name is required")

    schema = Schema(User, "v2", validator=no_blank).step("v1", split, source_type=UserV1)
    users = ResourceManager(schema, storage=storage, name="user")
    with pytest.raises(ValidationError, match="first name"):
        users.create(User(first=""))
    with pytest.raises(ValueError, match="either a Schema"):
        ResourceManager(schema, migration=schema)


def test_bulk_migration_goes_past_a_broken_resource(storage: MemoryStorage) -> None:
    from specstar.core.schema import BulkMigrationError

    def fragile(old: UserV1) -> User:
        if old.name.startswith("Alan"):
            raise RuntimeError("cannot split this one")
        return split(old)

    schema = Schema(User, "v2").step("v1", fragile, source_type=UserV1)
    users = ResourceManager(schema, storage=storage, name="user", auto_reindex=False)
    with pytest.raises(BulkMigrationError) as err:
        users.migrate_all()
    assert err.value.migrated == 1
    assert [rid for rid, _ in err.value.failures] == ["alan"]
    assert err.value.details()["failures"][0]["code"] == "migration_failed"
    assert users.get_meta("ada").schema_version == "v2"

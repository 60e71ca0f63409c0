"""What :meth:`Write.apply` tells an adapter to persist: ``appended`` and ``rewritten`` say
whether to insert the revision, replace the current one, or write no revision at all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from specstar.core import NotFoundError, PreconditionFailedError, ResourceManager, RevisionStatus
from specstar.core.commits import check_purge
from specstar.core.ports import NewRevision, RevisionRewrite, Write


class Note(msgspec.Struct, kw_only=True):
    text: str


NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _write(rid: str, expected: str | None, **change: Any) -> Write:
    return Write(resource_id=rid, expected_revision_id=expected, time=NOW, user="u", **change)


def test_appended_and_rewritten_tell_the_three_kinds_of_write_apart() -> None:
    notes = ResourceManager(Note, default_user="u")
    rid = notes.create(Note(text="a"), status=RevisionStatus.draft).resource_id
    meta = notes.get_meta(rid)
    draft = notes.get_revision_info(rid)
    first = meta.current_revision_id

    create = _write(
        "note:new",
        None,
        append=NewRevision(
            data=b"x", data_hash="h", schema_version=None, status=RevisionStatus.stable
        ),
    ).apply(None, None)
    assert (create.appended, create.rewritten) == (True, False)
    assert create.revision is not None

    rewrite = _write(
        rid,
        first,
        rewrite=RevisionRewrite(
            data=b"y", data_hash="h2", schema_version=None, status=RevisionStatus.draft
        ),
    ).apply(meta, draft)
    assert (rewrite.appended, rewrite.rewritten) == (False, True)
    assert rewrite.revision is not None
    assert rewrite.revision.revision_id == first

    append = _write(
        rid,
        first,
        append=NewRevision(
            data=b"z", data_hash="h3", schema_version=None, status=RevisionStatus.stable
        ),
    ).apply(meta, None)
    assert (append.appended, append.rewritten) == (True, False)

    switch = _write(rid, first, switch_to=first).apply(meta, draft)
    assert (switch.appended, switch.rewritten) == (False, False)
    assert switch.revision is None
    assert switch.result().revision is None


def test_touch_schema_version_and_the_switch_target_are_applied_as_given() -> None:
    notes = ResourceManager(Note, default_user="ann")
    rid = notes.create(Note(text="a"), now=datetime(2024, 1, 1, tzinfo=UTC)).resource_id
    notes.update(rid, Note(text="b"), now=datetime(2024, 1, 2, tzinfo=UTC))
    meta = notes.get_meta(rid)
    first, second = f"{rid}:1", meta.current_revision_id
    assert second != first
    old_info = notes.get_revision_info(rid, first)
    new_info = notes.get_revision_info(rid, second)

    touched = _write(rid, second, is_deleted=True).apply(meta, None).meta
    assert (touched.updated_time, touched.updated_by) == (NOW, "u")
    assert touched.schema_version == meta.schema_version  # UNSET keeps it
    quiet = _write(rid, second, indexed_data={"text": "b"}, touch=False, schema_version="v9")
    kept = quiet.apply(meta, None).meta
    assert (kept.updated_time, kept.updated_by) == (meta.updated_time, meta.updated_by)
    assert kept.schema_version == "v9"

    # the info read for the target must be the target's: any other revision is not found
    with pytest.raises(NotFoundError):
        _write(rid, second, switch_to=first).apply(meta, new_info)
    assert _write(rid, second, switch_to=first).apply(meta, old_info).meta.current_revision_id == (
        first
    )


def test_a_purge_names_the_current_revision_exactly() -> None:
    notes = ResourceManager(Note, default_user="u")
    rid = notes.create(Note(text="a")).resource_id
    notes.update(rid, Note(text="b"))
    meta = notes.get_meta(rid)
    assert meta.current_revision_id == f"{rid}:2"
    for stale in (f"{rid}:1", f"{rid}:3"):  # below and above the current one
        with pytest.raises(PreconditionFailedError):
            check_purge(meta, rid, stale)
    assert check_purge(meta, rid, f"{rid}:2") is meta

"""Reads that also give what a conditional request compares: the revision read
(``get_resource_with_info``) and the number of revisions (``list_revision_infos_with_total``),
each under the permission of its one verb."""

from __future__ import annotations

import msgspec
import pytest

from specstar.core import PermissionDeniedError, ResourceManager, entity_tag
from specstar.core.permissions import ActionBasedChecker, any_user


class Note(msgspec.Struct, kw_only=True):
    text: str
    tags: list[str] = []


def notes(*allowed: str) -> ResourceManager[Note]:
    return ResourceManager(
        Note,
        name="note",
        permission_checker=ActionBasedChecker(
            {"write": any_user, **dict.fromkeys(allowed, any_user)}
        ),
    )


def test_the_info_is_the_revision_read_whatever_is_returned() -> None:
    m = notes("read")
    first = m.create(Note(text="a"), resource_id="n1")
    second = m.update("n1", Note(text="b"))
    item, info = m.get_resource_with_info("n1")
    assert item == m.get_resource("n1")
    assert info == second
    item, info = m.get_resource_with_info("n1", returns=["data"], partial=["/text"])
    assert item.data == {"text": "b"}
    assert info == second
    item, info = m.get_resource_with_info("n1", returns=["info"], revision_id=first.revision_id)
    assert item.info == first
    assert info == first
    item, info = m.get_resource_with_info("n1", returns=["meta"], revision_id=first.revision_id)
    assert item == m.get_resource("n1", returns=["meta"])
    assert info == first
    item, info = m.get_resource_with_info("n1", returns=["meta"])
    assert info == second
    assert entity_tag(info) == second.revision_id


def test_a_meta_only_read_without_revision_info_permission_has_no_info() -> None:
    m = notes("get_meta")
    created = m.create(Note(text="a"), resource_id="n1")
    with pytest.raises(PermissionDeniedError):
        m.get_revision_info("n1")
    item, info = m.get_resource_with_info("n1", returns=["meta"])
    assert info is None
    assert isinstance(item.meta, msgspec.Struct)
    assert item.meta.current_revision_id == created.revision_id
    with pytest.raises(PermissionDeniedError):  # an explicit revision still needs the permission
        m.get_resource_with_info("n1", returns=["meta"], revision_id=created.revision_id)


def test_revision_page_and_total_need_only_list_revisions() -> None:
    m = notes("list_revisions")
    first = m.create(Note(text="a"), resource_id="n1")
    second = m.update("n1", Note(text="b"))
    third = m.update("n1", Note(text="c"))
    with pytest.raises(PermissionDeniedError):
        m.get_meta("n1")
    assert m.list_revision_infos_with_total("n1") == ([first, second, third], 3)
    assert m.list_revision_infos_with_total("n1", offset=1, limit=1) == ([second], 3)
    assert m.list_revision_infos("n1", offset=2) == [third]

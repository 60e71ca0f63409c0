"""Indexed text of any length: queries, order, pagination and ``Unique`` as for short text.

A database index entry has a size limit (PostgreSQL's B-tree and GIN entries hold about 2,700
bytes) that indexed values must not inherit: a value of 10,000 four-byte characters is stored,
found, sorted and kept unique exactly like a short one, and agrees with the reference
evaluator. The values below share long prefixes (longer than any prefix an index may hold), are
prefixes of each other, and mix one- and four-byte characters.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from specstar.core import QB, Query, ResourceManager, Sort, UniqueConstraintError
from specstar.core.spi import evaluate

from ..models import Item
from .base import SuiteBase


def _text(length: int, seed: int) -> str:
    """Incompressible text (a database may compress an index entry) of one- to four-byte
    characters."""
    rnd = random.Random(seed)
    ranges = ((0x61, 0x7A), (0xE9, 0xFF), (0x4E00, 0x9FFF), (0x1F300, 0x1F5FF))
    return "".join(chr(rnd.randint(*rnd.choice(ranges))) for _ in range(length))


#: A shared head longer than any index prefix (about 8,000 bytes), then long tails.
_HEAD = _text(3000, 1)
_TAIL = _text(5000, 2)
LONG_NAMES: list[str] = [
    _HEAD + "\U0001f600" + _TAIL,
    _HEAD + "\U0001f600" + _TAIL + "b",  # the previous one is its prefix
    _HEAD + "\U0001f601",
    _HEAD,
    _HEAD[:255] + "\U0001f5ff",
    _TAIL,
    _TAIL[:-1] + "\U0001f600",
    "short",
    "",
]


#: Code-point order (Python's, the reference's) of the names against some bounds.
GT = [i for i, name in enumerate(LONG_NAMES) if name > LONG_NAMES[0]]
LT = [i for i, name in enumerate(LONG_NAMES) if name < _HEAD + "\U0001f600"]
LTE = [i for i, name in enumerate(LONG_NAMES) if name <= _TAIL]


def _names(metas: list[Any]) -> list[str]:
    return [m.indexed_data["name"] for m in metas]


class LongValueTests(SuiteBase):
    @pytest.fixture
    def long_items(self, items: ResourceManager[Item]) -> ResourceManager[Item]:
        for number, name in enumerate(LONG_NAMES):
            items.create(Item(name=name, tags=[name, f"t{number}"]))
        return items

    def _long_reference(self, mgr: ResourceManager[Item], query: Query) -> list[str]:
        everything = list(mgr.iter_all(Query(is_deleted=None)))
        return _names(evaluate.run(everything, mgr.resolve(query)).items)

    LONG_CASES: list[tuple[str, Any, list[int]]] = [
        ("eq long", QB["name"] == LONG_NAMES[0], [0]),
        ("eq head only", QB["name"] == _HEAD, [3]),
        ("eq differs after the index prefix", QB["name"] == _HEAD + "\U0001f600" + _TAIL[1:], []),
        ("ne", QB["name"] != LONG_NAMES[1], [0, 2, 3, 4, 5, 6, 7, 8]),
        ("gt", QB["name"] > LONG_NAMES[0], GT),
        ("gte", QB["name"] >= LONG_NAMES[0], [0, *GT]),
        ("lt", QB["name"] < _HEAD + "\U0001f600", LT),
        ("lte", QB["name"] <= _TAIL, LTE),
        ("in", QB["name"].in_([LONG_NAMES[1], LONG_NAMES[6], _HEAD + "c"]), [1, 6]),
        ("not_in", QB["name"].not_in([LONG_NAMES[0], LONG_NAMES[2]]), [1, 3, 4, 5, 6, 7, 8]),
        ("starts_with long", QB["name"].starts_with(_HEAD + "\U0001f600" + _TAIL[:4000]), [0, 1]),
        ("ends_with", QB["name"].ends_with(_TAIL[1000:] + "b"), [1]),
        ("contains", QB["name"].contains(_HEAD[200:255] + "\U0001f5ff"), [4]),
        ("list contains long", QB["tags"].contains(LONG_NAMES[1]), [1]),
        ("list contains head", QB["tags"].contains(_HEAD), [3]),
        ("list contains_any", QB["tags"].contains_any([LONG_NAMES[0], _TAIL]), [0, 5]),
    ]

    @pytest.mark.parametrize(
        ("label", "where", "expected"), LONG_CASES, ids=[c[0] for c in LONG_CASES]
    )
    def test_long_value_filters(
        self, long_items: ResourceManager[Item], label: str, where: Any, expected: list[int]
    ) -> None:
        got = _names(long_items.search(Query(where=where, limit=100)))
        assert got == self._long_reference(long_items, Query(where=where, limit=100))
        assert sorted(got) == sorted(LONG_NAMES[i] for i in expected)
        assert long_items.count(where) == len(expected)
        for sort in ("name", "-name"):
            query = Query(where=where, sorts=(Sort.parse(sort),), limit=100)
            got = _names(long_items.search(query))
            assert got == sorted(got, reverse=sort == "-name")
            assert got == self._long_reference(long_items, query)

    @pytest.mark.parametrize("sort", ["name", "-name"])
    def test_long_value_order_and_cursor_pages(
        self, long_items: ResourceManager[Item], sort: str
    ) -> None:
        full = Query(sorts=(Sort.parse(sort),), limit=100)
        expected = sorted(LONG_NAMES, reverse=sort.startswith("-"))
        assert _names(long_items.search(full)) == expected
        assert _names(long_items.search(full)) == self._long_reference(long_items, full)
        got: list[str] = []
        query = full.replace(limit=2)
        while True:
            page = long_items.search_page(query)
            got.extend(_names(page.items))
            if not page.has_more:
                break
            query = query.replace(cursor=page.next_cursor)
        assert got == expected
        offsets = [
            name
            for offset in range(0, len(LONG_NAMES), 3)
            for name in _names(long_items.search(full.replace(limit=3, offset=offset)))
        ]
        assert offsets == expected

    def test_long_values_are_unique(self, items: ResourceManager[Item]) -> None:
        email = _HEAD + "@example.org"
        twin = _HEAD + "@example.com"  # differs only far past any prefix
        first = items.create(Item(name="a", email=email))
        items.create(Item(name="b", email=twin))
        with pytest.raises(UniqueConstraintError) as err:
            items.create(Item(name="c", email=email))
        assert err.value.conflicting_resource_id == first.resource_id
        assert items.count(QB["email"] == email) == 1
        items.delete(first.resource_id)  # a deleted holder frees the value
        again = items.create(Item(name="d", email=email))
        with pytest.raises(UniqueConstraintError):
            items.restore(first.resource_id)
        updated = items.update(again.resource_id, Item(name="d", email=email + "!"))
        assert items.search(QB["email"] == email + "!")[0].resource_id == updated.resource_id
        items.restore(first.resource_id)
        assert items.count(QB["email"].starts_with(_HEAD)) == 3

"""Models the conformance suites run against."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from specstar.core import Unique

__all__ = ["ITEM_INDEXES", "Address", "Item"]


class Address(msgspec.Struct, kw_only=True):
    city: str
    zip: str | None = None


class Item(msgspec.Struct, kw_only=True):
    """Covers every indexable kind, null/missing values, lists, nesting and a unique field."""

    name: str
    email: Annotated[str | None, Unique()] = None
    age: int | None = None
    score: float | None = None
    active: bool = True
    born: datetime | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    address: Address | None = None
    note: str = ""


#: Indexed paths of :class:`Item` (``email`` is indexed through ``Unique``).
ITEM_INDEXES = ["name", "age", "score", "active", "born", "tags", "address.city"]

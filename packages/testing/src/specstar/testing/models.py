"""Models the conformance suites run against."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from specstar.core import Job, Unique

__all__ = ["ITEM_INDEXES", "OWNED_INDEXES", "Address", "Errand", "ErrandJob", "Item", "Owned"]


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


class Owned(msgspec.Struct, kw_only=True):
    """A resource scoped by an owner that may be null, missing, or under a value of another type.

    ``owner`` is omitted from the stored document while unset; ``org`` holds anything (an object
    ``{"owner": ...}`` normally, but also null, a string, a list or a number).
    """

    title: str
    owner: str | msgspec.UnsetType | None = msgspec.UNSET
    org: Any = msgspec.UNSET


#: Indexed paths of :class:`Owned` (``org.owner`` is declared with its type: ``org`` is ``Any``).
OWNED_INDEXES: list[Any] = ["title", "owner", ("org.owner", str)]


class Errand(msgspec.Struct, kw_only=True):
    """The payload of :class:`ErrandJob`."""

    what: str


class ErrandJob(Job[Errand, str]):
    """A job model the multi-process suites enqueue from several processes."""

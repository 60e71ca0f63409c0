"""Negations pushed down to the conditions flatten into the junction around them (De Morgan):
``a AND NOT (b OR NOT (c AND ...))`` is one conjunction, however deep it is written, so it
stays within the nesting a database parses (SQLite: 24 levels)."""

from __future__ import annotations

import uuid

import msgspec

from specstar.core import QB, ResourceManager, StorageFactory
from specstar.core.query.ast import And, Expr, Not, Or


class Doc(msgspec.Struct, kw_only=True):
    size: int


def _docs(factory: StorageFactory) -> ResourceManager[Doc]:
    return ResourceManager(
        Doc,
        storage_factory=factory,
        name=f"neg-{uuid.uuid4().hex[:8]}",
        indexed_fields=["size"],
        default_user="tester",
    )


def _one_conjunction(levels: int) -> Expr:
    """``size >= 0 AND NOT (size == -1 OR NOT (size >= 0 AND NOT (size == -1 OR ...)))``:
    after De Morgan every level is a conjunct, ``size >= 0`` or ``size != -1``."""
    expr: Expr = QB["size"] >= 0
    for level in range(levels):
        negated = Not(expr)
        expr = And((QB["size"] >= 0, negated)) if level % 2 else Or((QB["size"] == -1, negated))
    return Not(expr) if levels % 2 else expr


def test_negated_junctions_flatten_into_one_conjunction(sql_factory: StorageFactory) -> None:
    docs = _docs(sql_factory)
    docs.create(Doc(size=1))
    docs.create(Doc(size=-1))
    where = _one_conjunction(60)
    assert docs.count(where) == 1
    assert [m.indexed_data["size"] for m in docs.search(where)] == [1]

"""A search written as separate meta filters (the older query form), converted to a
:class:`~specstar.core.query.ast.Query`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from ..types import RevisionStatus
from .ast import And, Condition, Expr, Field, Not, Op, Or, Query, Sort

__all__ = ["ResourceMetaSearchQuery"]


class ResourceMetaSearchQuery(msgspec.Struct, kw_only=True, frozen=True):
    """Meta filters, data conditions, order and page, all ANDed together.

    Accepted wherever a manager takes a query (``search``, ``count``, ``list``, ``iter_all``
    and their ``*_resources`` names); :meth:`to_query` gives the :class:`Query` it stands for.

    Attributes:
        is_deleted: ``True`` only soft-deleted, ``False`` only live (the default), ``None``
            both.
        created_time_start / created_time_end / updated_time_start / updated_time_end:
            inclusive time bounds.
        rev_statuses: the current revision's status is any of these (``draft``/``stable``).
        rev_created_time_start / rev_created_time_end / rev_updated_time_start /
            rev_updated_time_end: inclusive bounds of the current revision's created and
            updated times (``$rev_created_time``, ``$rev_updated_time``).
        created_bys / updated_bys: any of these users.
        data_conditions / conditions: expressions (``QB["age"] >= 18``, ``Condition``...).
        sorts: :class:`Sort` keys or their text form (``"-age"``, ``"$created_time"``).
        limit: page size (``UNSET``: the manager's default); offset: rows to skip.
    """

    is_deleted: bool | UnsetType | None = UNSET
    created_time_start: datetime | UnsetType = UNSET
    created_time_end: datetime | UnsetType = UNSET
    updated_time_start: datetime | UnsetType = UNSET
    updated_time_end: datetime | UnsetType = UNSET
    rev_statuses: Sequence[str] | UnsetType = UNSET
    rev_created_time_start: datetime | UnsetType = UNSET
    rev_created_time_end: datetime | UnsetType = UNSET
    rev_updated_time_start: datetime | UnsetType = UNSET
    rev_updated_time_end: datetime | UnsetType = UNSET
    created_bys: Sequence[str] | UnsetType = UNSET
    updated_bys: Sequence[str] | UnsetType = UNSET
    data_conditions: Sequence[Expr] | UnsetType = UNSET
    conditions: Sequence[Expr] | UnsetType = UNSET
    sorts: Sequence[Sort | str] | UnsetType = UNSET
    limit: int | UnsetType = UNSET
    offset: int = 0

    def to_query(self) -> Query:
        """The :class:`Query` of these filters.

        Raises:
            TypeError: a condition that is no expression, a sort that is neither a ``Sort``
                nor a string, or users or statuses that are not a list of strings.
            ValueError: a status in ``rev_statuses`` that is neither ``draft`` nor ``stable``.
        """
        parts: list[Expr] = []
        for name, op in (
            ("created_time_start", Op.gte),
            ("created_time_end", Op.lte),
            ("updated_time_start", Op.gte),
            ("updated_time_end", Op.lte),
            ("rev_created_time_start", Op.gte),
            ("rev_created_time_end", Op.lte),
            ("rev_updated_time_start", Op.gte),
            ("rev_updated_time_end", Op.lte),
        ):
            value = getattr(self, name)
            if not isinstance(value, UnsetType):
                field = name.rsplit("_", 1)[0]
                parts.append(Condition(Field(field, meta=True), op, value))
        for name, field in (("created_bys", "created_by"), ("updated_bys", "updated_by")):
            users = getattr(self, name)
            if not isinstance(users, UnsetType):
                if isinstance(users, str) or not all(isinstance(u, str) for u in users):
                    raise TypeError(f"{name} must be a list of user names, not {users!r}")
                parts.append(Condition(Field(field, meta=True), Op.in_, tuple(users)))
        if not isinstance(self.rev_statuses, UnsetType):
            parts.append(_rev_statuses(self.rev_statuses))
        for name in ("data_conditions", "conditions"):
            exprs: Any = getattr(self, name)
            if not isinstance(exprs, UnsetType):
                for expr in exprs:
                    if not isinstance(expr, Condition | And | Or | Not):
                        raise TypeError(f"{name} holds {expr!r}, not a query expression")
                    parts.append(expr)
        sorts: list[Sort] = []
        if not isinstance(self.sorts, UnsetType):
            for sort in self.sorts:
                if isinstance(sort, str):
                    sorts.append(Sort.parse(sort))
                elif isinstance(sort, Sort):
                    sorts.append(sort)
                else:
                    raise TypeError(f"sorts holds {sort!r}, neither a Sort nor its text form")
        where: Expr | None = None
        if len(parts) == 1:
            where = parts[0]
        elif parts:
            where = And(tuple(parts))
        return Query(
            where=where,
            sorts=tuple(sorts),
            limit=None if isinstance(self.limit, UnsetType) else self.limit,
            offset=self.offset,
            is_deleted=False if isinstance(self.is_deleted, UnsetType) else self.is_deleted,
        )


def _rev_statuses(statuses: Sequence[str]) -> Condition:
    """``$rev_status`` is one of ``statuses``, each checked to be a revision status."""
    if isinstance(statuses, str) or not all(isinstance(v, str) for v in statuses):
        raise TypeError(f"rev_statuses must be a list of statuses, not {statuses!r}")
    known = [status.value for status in RevisionStatus]
    for value in statuses:
        if value not in known:
            raise ValueError(
                f"rev_statuses: {value!r} is not a revision status; use one of {known}"
            )
    return Condition(Field("rev_status", meta=True), Op.in_, tuple(str(v) for v in statuses))

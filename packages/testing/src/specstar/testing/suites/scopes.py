"""Access scopes over rows whose scoped field is null, missing, or under a value of another type.

A scope condition on such a row is *unknown* in three-valued logic, and only a *true* scope
admits a row: every single-resource operation must report the row as not found (and leave it
unchanged), exactly as search and count leave it out. Each test runs one operation against
every such row, and against a row the user does own, so it fails both when an unknown row is
let through and when the operation refuses rows it should allow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from specstar.core import (
    UNRESTRICTED,
    AccessScope,
    NotFoundError,
    OperationContext,
    ResourceManager,
    RevisionStatus,
)
from specstar.core.spi import Condition, Expr, Field, Not, Op

from ..models import OWNED_INDEXES, Owned
from .base import SuiteBase

__all__ = ["SCOPE_SHAPES", "UNKNOWN_OWNER_ROWS", "PathScope", "ScopeTests"]

ADMIN = "root"
USER = "alice"
DRAFT = RevisionStatus.draft

#: Rows whose scope is unknown for every user: (case id, scoped path, stored data).
UNKNOWN_OWNER_ROWS: list[tuple[str, str, dict[str, Any]]] = [
    ("owner-null", "owner", {"owner": None}),
    ("owner-missing", "owner", {}),
    ("org-owner-null", "org.owner", {"org": {"owner": None}}),
    ("org-owner-missing", "org.owner", {"org": {}}),
    ("org-null", "org.owner", {"org": None}),
    ("org-missing", "org.owner", {}),
    ("org-string", "org.owner", {"org": USER}),
    ("org-list", "org.owner", {"org": [USER, {"owner": USER}]}),
    ("org-number", "org.owner", {"org": 7}),
]


def _eq(field: Field, user: str) -> Expr:
    return Condition(field, Op.eq, user)


def _not_other(field: Field, user: str) -> Expr:
    # true for every present owner except another user's: NOT(unknown) is still unknown
    return Not(Condition(field, Op.eq, f"not-{user}"))


def _among(field: Field, user: str) -> Expr:
    return Condition(field, Op.in_, [user, f"shared-with-{user}"])


#: Scope expressions of a user over a path: (shape id, builder).
SCOPE_SHAPES: dict[str, Callable[[Field, str], Expr]] = {
    "eq": _eq,
    "not-ne": _not_other,
    "in": _among,
}


class PathScope:
    """A checker allowing every action; non-admin users see the rows ``shape`` admits."""

    def __init__(self, path: str, shape: str) -> None:
        self.field = Field(path)
        self.build = SCOPE_SHAPES[shape]

    def check(self, ctx: OperationContext) -> None:
        """Allow everything: the scope alone decides."""

    def access_scope(self, ctx: OperationContext) -> AccessScope:
        """Everything for the admin, the scope shape for everyone else."""
        if ctx.user == ADMIN:
            return UNRESTRICTED
        return self.build(self.field, ctx.user)


def _owned_by(path: str, user: str) -> dict[str, Any]:
    return {"owner": user} if path == "owner" else {"org": {"owner": user}}


_Verb = Callable[[ResourceManager[Owned], str, dict[str, Any]], Any]


def _switch(m: ResourceManager[Owned], rid: str, data: dict[str, Any]) -> Any:
    return m.switch(rid, f"{rid}:1", user=USER)


#: Single-resource operations: name -> call(manager, resource id, the row's own data).
VERBS: dict[str, _Verb] = {
    "get": lambda m, rid, d: m.get(rid, user=USER),
    "get_resource": lambda m, rid, d: m.get_resource(rid, user=USER),
    "get_resource_with_info": lambda m, rid, d: m.get_resource_with_info(rid, user=USER),
    "get_partial": lambda m, rid, d: m.get_partial(rid, ["/title"], user=USER),
    "get_meta": lambda m, rid, d: m.get_meta(rid, user=USER),
    "get_revision_info": lambda m, rid, d: m.get_revision_info(rid, f"{rid}:1", user=USER),
    "get_revision": lambda m, rid, d: m.get(rid, revision_id=f"{rid}:1", user=USER),
    "list_revisions": lambda m, rid, d: m.list_revisions(rid, user=USER),
    "list_revision_infos": lambda m, rid, d: m.list_revision_infos(rid, user=USER),
    "update": lambda m, rid, d: m.update(rid, {**d, "title": "changed"}, user=USER),
    "patch": lambda m, rid, d: m.patch(
        rid, [{"op": "replace", "path": "/title", "value": "changed"}], user=USER
    ),
    "merge_patch": lambda m, rid, d: m.merge_patch(rid, {"title": "changed"}, user=USER),
    "modify": lambda m, rid, d: m.modify(rid, {**d, "title": "changed"}, user=USER),
    "switch": _switch,
    "delete": lambda m, rid, d: m.delete(rid, user=USER),
    "permanently_delete": lambda m, rid, d: m.permanently_delete(rid, user=USER),
}

#: Operations that act on a soft-deleted row.
DELETED_VERBS: dict[str, _Verb] = {
    "restore": lambda m, rid, d: m.restore(rid, user=USER),
    "get_deleted": lambda m, rid, d: m.get(rid, include_deleted=True, user=USER),
    "permanently_delete_deleted": lambda m, rid, d: m.permanently_delete(rid, user=USER),
}


class ScopeTests(SuiteBase):
    """Rows whose scope is unknown are invisible to every single-resource operation."""

    def _rows(
        self,
        make_manager: Callable[..., ResourceManager[Any]],
        shape: str,
        path: str,
        *,
        deleted: bool,
    ) -> tuple[ResourceManager[Owned], dict[str, dict[str, Any]], tuple[str, dict[str, Any]]]:
        """A manager scoped on ``path``, its unknown-scope rows by case id, and a row of USER.

        Every row has two revisions (so ``switch`` has a target), the second a draft (so
        ``modify`` may change it in place); ``deleted`` soft-deletes all.
        """
        m: ResourceManager[Owned] = make_manager(
            Owned, indexed_fields=OWNED_INDEXES, permission_checker=PathScope(path, shape)
        )
        rows: dict[str, dict[str, Any]] = {}
        for case, case_path, data in UNKNOWN_OWNER_ROWS:
            if case_path == path:
                rid = m.create({"title": case, **data}, user=ADMIN).resource_id
                m.update(rid, {"title": f"{case}-2", **data}, status=DRAFT, user=ADMIN)
                rows[rid] = {"title": f"{case}-2", **data}
        mine = _owned_by(path, USER)
        own = m.create({"title": "mine", **mine}, user=USER).resource_id
        m.update(own, {"title": "mine-2", **mine}, status=DRAFT, user=USER)
        if deleted:
            for rid in [*rows, own]:
                m.delete(rid, user=ADMIN)
        return m, rows, (own, {"title": "mine-2", **mine})

    def _check_hidden(
        self,
        m: ResourceManager[Owned],
        rows: dict[str, dict[str, Any]],
        own: tuple[str, dict[str, Any]],
        verb: str,
        call: _Verb,
    ) -> None:
        for rid, data in rows.items():
            before = m.get_resource(rid, include_deleted=True, user=ADMIN)
            try:
                call(m, rid, data)
            except NotFoundError:
                pass
            else:
                pytest.fail(f"{verb} reached {data['title']!r}, whose scope is unknown")
            after = m.get_resource(rid, include_deleted=True, user=ADMIN)
            assert after == before, f"{verb} changed {data['title']!r} while refusing it"
            assert not m.exists(rid, include_deleted=True, user=USER)
            assert not m.revision_exists(rid, f"{rid}:1", user=USER)
        call(m, *own)  # the user's own row: the same operation succeeds

    @pytest.mark.parametrize("shape", sorted(SCOPE_SHAPES))
    @pytest.mark.parametrize("path", ["owner", "org.owner"])
    @pytest.mark.parametrize("verb", sorted(VERBS))
    def test_scope_unknown_row_is_not_found(
        self,
        make_manager: Callable[..., ResourceManager[Any]],
        verb: str,
        path: str,
        shape: str,
    ) -> None:
        m, rows, own = self._rows(make_manager, shape, path, deleted=False)
        assert rows
        self._check_hidden(m, rows, own, verb, VERBS[verb])

    @pytest.mark.parametrize("shape", sorted(SCOPE_SHAPES))
    @pytest.mark.parametrize("path", ["owner", "org.owner"])
    @pytest.mark.parametrize("verb", sorted(DELETED_VERBS))
    def test_scope_unknown_deleted_row_is_not_found(
        self,
        make_manager: Callable[..., ResourceManager[Any]],
        verb: str,
        path: str,
        shape: str,
    ) -> None:
        m, rows, own = self._rows(make_manager, shape, path, deleted=True)
        self._check_hidden(m, rows, own, verb, DELETED_VERBS[verb])

    @pytest.mark.parametrize("shape", sorted(SCOPE_SHAPES))
    @pytest.mark.parametrize("path", ["owner", "org.owner"])
    def test_scope_unknown_rows_left_out_of_search(
        self, make_manager: Callable[..., ResourceManager[Any]], path: str, shape: str
    ) -> None:
        m, rows, own = self._rows(make_manager, shape, path, deleted=False)
        assert [r.resource_id for r in m.search(user=USER)] == [own[0]]
        assert m.count(user=USER) == 1
        assert {r.resource_id for r in m.search(user=ADMIN)} == {*rows, own[0]}

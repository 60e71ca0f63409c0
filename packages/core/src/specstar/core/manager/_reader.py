"""The read side of a manager: query resolution, scoped searches, listings, raw scans."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import msgspec
import msgspec.inspect as mi
from msgspec import UNSET, UnsetType

from .. import jsonpointer
from ..errors import QueryError
from ..pipeline import OperationContext, Unrestricted
from ..ports import Storage, StoredRevision
from ..query.ast import Expr, Field, Query
from ..query.resolve import resolve_query
from ..refs import RefField
from ..types import Page, ResourceMeta, RevisionInfo, SearchedResource
from ._binding import Binding
from ._guard import Guard

T = TypeVar("T")

#: What ``returns`` accepts, and its default.
RETURNS_ALL = ("data", "info", "meta")

#: The parts of ``returns`` read from a revision.
_REVISION_PARTS = frozenset({"data", "info"})


class IndexState:
    """Indexed paths not backfilled yet (see ``reindex``); queries on them fail. Shared by
    a manager and its ``using()`` views."""

    def __init__(self, stale: frozenset[str]) -> None:
        self.stale = stale


class Reader(Generic[T]):
    """Reads for one manager; permission decisions come from its guard."""

    def __init__(
        self,
        *,
        name: str,
        storage: Storage,
        guard: Guard,
        binding: Binding[T],
        default_limit: int,
        max_limit: int,
        index_state: IndexState,
    ) -> None:
        self.name = name
        self.storage = storage
        self.guard = guard
        self.binding = binding
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.index_state = index_state

    def resolve(self, query: Query | Expr | None) -> Query:
        """Validate and normalise a query for this model (see ``resolve_query``)."""
        resolved = resolve_query(
            query,
            self.binding.index_spec,
            default_limit=self.default_limit,
            max_limit=self.max_limit,
        )
        if self.index_state.stale:
            stale = sorted(_data_paths(resolved) & self.index_state.stale)
            if stale:
                raise QueryError(
                    f"indexed field(s) {', '.join(stale)} are not backfilled for existing "
                    "resources yet; run manager.reindex() first",
                    path=stale[0],
                )
        return resolved

    def scoped(self, ctx: OperationContext, query: Query | Expr | None) -> Query:
        """The resolved query with the user's access scope ANDed into its filter."""
        scope = self.guard.scope(ctx)
        if not isinstance(scope, Unrestricted):
            base = query if isinstance(query, Query) else Query(where=query)
            query = base.replace(where=scope if base.where is None else scope & base.where)
        return self.resolve(query)

    def scan(self, query: Query) -> Iterator[ResourceMeta]:
        """Every row of a query, straight from storage: no permission checks, so only for
        the framework's own maintenance (integrity, reindexing, migration)."""
        resolved = self.resolve(query.replace(limit=self.max_limit, cursor=None, offset=0))
        while True:
            page = self.storage.search(resolved)
            yield from page.items
            if not page.has_more:
                return
            resolved = resolved.replace(cursor=page.next_cursor)

    def referrer_metas(
        self, ref: RefField, target_id: str, *, include_deleted: bool
    ) -> Iterator[ResourceMeta]:
        """Metas whose reference field ``ref`` names ``target_id`` (no permission checks)."""
        query = Query(
            where=ref.names(target_id),
            is_deleted=None if include_deleted else False,
        )
        return self.scan(query)

    def load(self, rid: str, revision_id: str) -> tuple[RevisionInfo, T]:
        """A revision and its (migrated) data."""
        return self.binding.load(self.storage, rid, revision_id)

    def revision(
        self,
        current: tuple[ResourceMeta, StoredRevision],
        revision_id: str | None,
        schema_version: str | UnsetType | None = UNSET,
    ) -> tuple[RevisionInfo, T]:
        """The decoded current revision of ``current`` (a meta and its current revision, as
        read together), or the revision ``revision_id`` when it is another one.

        Raises:
            ``schema_version`` overrides the version recorded on the revision (see
        :meth:`Binding.decode`).

        Raises:
            NotFoundError: ``revision_id`` does not exist.
        """
        meta, stored = current
        if revision_id is None or revision_id == meta.current_revision_id:
            return self.binding.decode(stored, schema_version)
        return self.binding.load(self.storage, meta.resource_id, revision_id, schema_version)

    def info(self, rid: str, revision_id: str) -> RevisionInfo:
        """The information of one revision."""
        return self.binding.info(self.storage, rid, revision_id)

    def item(
        self,
        meta: ResourceMeta,
        revision: tuple[RevisionInfo, T] | None,
        wanted: set[str],
        pointers: list[str] | None,
    ) -> SearchedResource[T]:
        """One :class:`SearchedResource` with the ``wanted`` parts of ``meta`` and of a
        decoded ``revision`` (``None`` when neither data nor info is wanted)."""
        parts: dict[str, Any] = {}
        if "meta" in wanted:
            parts["meta"] = meta
        if revision is not None:
            info, data = revision
            if "info" in wanted:
                parts["info"] = info
            if "data" in wanted:
                parts["data"] = (
                    data
                    if pointers is None
                    else jsonpointer.project(msgspec.to_builtins(data), pointers)
                )
        return SearchedResource(**parts)

    def page(
        self, page: Page[ResourceMeta], wanted: set[str], pointers: list[str] | None
    ) -> Page[SearchedResource[T]]:
        """A page of metas as listing items, their revisions read in one storage call."""
        metas = page.items
        items: list[SearchedResource[T]] = []
        if wanted & _REVISION_PARTS:
            refs = [(meta.resource_id, meta.current_revision_id) for meta in metas]
            for meta, stored in zip(metas, self.storage.get_revisions(refs), strict=True):
                if stored is None:
                    continue  # permanently deleted (or pruned) since the search
                items.append(self.item(meta, self.binding.decode(stored), wanted, pointers))
        else:
            items = [self.item(meta, None, wanted, pointers) for meta in metas]
        return Page(items=items, next_cursor=page.next_cursor, has_more=page.has_more)


def returns_set(returns: Iterable[str]) -> set[str]:
    """The parts ``returns`` asks for.

    Raises:
        QueryError: an unknown part.
    """
    wanted = set(returns)
    unknown = wanted - set(RETURNS_ALL)
    if unknown:
        raise QueryError(f"returns accepts data, info, meta — not {sorted(unknown)}")
    return wanted


def pointers_of(partial: Iterable[str] | None, model: type[Any] | None = None) -> list[str] | None:
    """JSON pointers from JSON pointers or dotted paths (``None`` for the whole data).

    Raises:
        QueryError: with ``model``, a path that names nothing the model declares.
    """
    if partial is None:
        return None
    out: list[str] = []
    for path in partial:
        tokens = jsonpointer.to_pointer(path)
        if model is not None and not _declares(_type_info(model), tokens):
            raise QueryError(f"partial path {path!r} names nothing in {model.__name__}", path=path)
        out.append(jsonpointer.format_pointer(tokens))
    return out


_TYPE_INFO: dict[object, mi.Type] = {}


def _type_info(model: object) -> mi.Type:
    found = _TYPE_INFO.get(model)
    if found is None:
        found = _TYPE_INFO[model] = mi.type_info(model)
    return found


def _declares(t: mi.Type, tokens: Sequence[str]) -> bool:
    """Whether the type ``t`` has a member at the reference ``tokens`` (any union member)."""
    if not tokens:
        return True
    token, rest = tokens[0], tokens[1:]
    if isinstance(t, mi.Metadata):
        return _declares(t.type, tokens)
    if isinstance(t, mi.UnionType):
        return any(_declares(member, tokens) for member in t.types)
    if isinstance(t, mi.StructType):
        return any(f.encode_name == token and _declares(f.type, rest) for f in t.fields)
    if isinstance(t, mi.DictType | mi.AnyType):
        return True
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return jsonpointer.is_array_index(token) and _declares(t.item_type, rest)
    if isinstance(t, mi.TupleType):
        if not jsonpointer.is_array_index(token) or int(token) >= len(t.item_types):
            return False
        return _declares(t.item_types[int(token)], rest)
    return False


def _data_paths(query: Query) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if node is None:
            return
        field = getattr(node, "field", None)
        if isinstance(field, Field) and not field.meta:
            found.add(field.path)
        for child in getattr(node, "items", ()):
            walk(child)
        walk(getattr(node, "item", None))

    walk(query.where)
    for sort in query.sorts:
        if not sort.field.meta:
            found.add(sort.field.path)
    return found

"""The search verbs of a manager: pages of meta records, counts, listings with data."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from msgspec import UNSET, UnsetType

from ..actions import Action
from ..ports import Storage
from ..query.ast import Expr, Query
from ..query.meta_search import ResourceMetaSearchQuery
from ..types import Page, ResourceMeta, SearchedResource
from ._guard import Guard
from ._reader import RETURNS_ALL, Reader, pointers_of, returns_set

T = TypeVar("T")


class ResourceSearch(Generic[T]):
    """The searches of a :class:`~specstar.core.manager.ResourceManager`, which builds the
    pieces declared here; each search is authorized through the guard and narrowed to the
    user's access scope (see :meth:`~specstar.core.manager._reader.Reader.scoped`), while
    :meth:`resolve` only validates."""

    model: type[T]
    storage: Storage
    max_limit: int
    _guard: Guard
    _reader: Reader[T]

    def resolve(self, query: SearchQuery = None) -> Query:
        """Validate and normalise a query for this model (see ``resolve_query``)."""
        return self._reader.resolve(_as_query(query))

    def search_page(
        self, query: SearchQuery = None, *, user: str | UnsetType = UNSET
    ) -> Page[ResourceMeta]:
        """One page of matching meta records, with the cursor to the next page."""
        query = _as_query(query)
        ctx = self._guard.context(Action.SEARCH, user, UNSET, query=query)
        return self.storage.search(self._reader.scoped(ctx, query))

    def search(
        self, query: SearchQuery = None, *, user: str | UnsetType = UNSET
    ) -> list[ResourceMeta]:
        """Matching meta records (one page: ``limit`` rows at most)."""
        return self.search_page(query, user=user).items

    search_resources = search

    def count(self, query: SearchQuery = None, *, user: str | UnsetType = UNSET) -> int:
        """Number of matching resources (limit/offset/cursor are ignored)."""
        query = _as_query(query)
        ctx = self._guard.context(Action.COUNT, user, UNSET, query=query)
        return self.storage.count(self._reader.scoped(ctx, query))

    count_resources = count

    def list_page(
        self,
        query: SearchQuery = None,
        *,
        returns: Iterable[str] = RETURNS_ALL,
        partial: Iterable[str] | None = None,
        user: str | UnsetType = UNSET,
    ) -> Page[SearchedResource[T]]:
        """Like :meth:`search_page` with each row's data and revision info.

        Args:
            returns: which of ``"data"``, ``"info"``, ``"meta"`` to fill.
            partial: JSON pointers / dotted paths; ``data`` then holds only those parts.
        """
        wanted = returns_set(returns)
        pointers = pointers_of(partial, self.model)
        return self._reader.page(self.search_page(query, user=user), wanted, pointers)

    def list_batches(
        self,
        query: Query | Expr | None = None,
        *,
        returns: Iterable[str] = RETURNS_ALL,
        partial: Iterable[str] | None = None,
        user: str | UnsetType = UNSET,
        batch_size: int = 50,
    ) -> tuple[Page[ResourceMeta], Iterator[list[SearchedResource[T]]]]:
        """The page :meth:`list_page` gives, read lazily: its meta records (searched and
        authorized now, so every error of the query is raised here) and an iterator over its
        items in batches of ``batch_size``, each batch's revisions read when the iterator
        reaches it. A large page then never has all its data in memory at once (the HTTP
        adapter encodes and sends batch after batch).

        A row permanently deleted between the search and its batch is left out, as in
        :meth:`list_page`; revisions are immutable, so every other row holds the data of the
        revision the search found.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        wanted = returns_set(returns)
        pointers = pointers_of(partial, self.model)
        page = self.search_page(query, user=user)

        def batches() -> Iterator[list[SearchedResource[T]]]:
            metas = page.items
            for start in range(0, len(metas), batch_size):
                part = Page(items=metas[start : start + batch_size], next_cursor=None)
                yield self._reader.page(part, wanted, pointers).items

        return page, batches()

    def list(
        self,
        query: SearchQuery = None,
        *,
        returns: Iterable[str] = RETURNS_ALL,
        partial: Iterable[str] | None = None,
        user: str | UnsetType = UNSET,
    ) -> list[SearchedResource[T]]:
        """Matching resources (one page) with data, info and meta."""
        return self.list_page(query, returns=returns, partial=partial, user=user).items

    list_resources = list

    def iter_all(
        self,
        query: SearchQuery = None,
        *,
        page_size: int | None = None,
        user: str | UnsetType = UNSET,
    ) -> Iterator[ResourceMeta]:
        """Every matching meta record the user may see, page by page with a cursor."""
        query = _as_query(query)
        base = query if isinstance(query, Query) else Query(where=query)
        q = base.replace(limit=page_size or self.max_limit, cursor=None, offset=0)
        while True:
            page = self.search_page(q, user=user)
            yield from page.items
            if not page.has_more:
                return
            q = q.replace(cursor=page.next_cursor)


#: What the search verbs take.
SearchQuery = Query | Expr | ResourceMetaSearchQuery | None


def _as_query(query: SearchQuery) -> Query | Expr | None:
    return query.to_query() if isinstance(query, ResourceMetaSearchQuery) else query

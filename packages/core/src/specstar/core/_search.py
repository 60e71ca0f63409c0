"""Search, listing and index maintenance of the ResourceManager."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from . import jsonpointer
from ._access import READ_ACTIONS
from ._manager_core import ManagerCore
from .errors import (
    GoneError,
    NotFoundError,
    PermissionDeniedError,
    QueryError,
    SpecStarError,
)
from .pipeline import OperationContext, Unrestricted
from .ports import Write
from .query.ast import Condition, Expr, Field, Op, Or, Query, Sort
from .query.resolve import resolve_query
from .refs import RefField
from .schema import BulkMigrationError
from .types import (
    Page,
    ResourceMeta,
    SearchedResource,
)

T = TypeVar("T")
log = logging.getLogger("specstar.manager")

RETURNS_ALL = ("data", "info", "meta")


class SearchOps(ManagerCore[T]):
    """resolve, search, count, list, iteration and reindexing."""

    # == search =================================================================================

    def resolve(self, query: Query | Expr | None = None) -> Query:
        """Validate and normalise a query for this model (see ``resolve_query``)."""
        resolved = resolve_query(
            query, self.index_spec, default_limit=self.default_limit, max_limit=self.max_limit
        )
        if self._stale_paths:
            used = _data_paths(resolved)
            stale = sorted(used & self._stale_paths)
            if stale:
                raise QueryError(
                    f"indexed field(s) {', '.join(stale)} are not backfilled for existing "
                    "resources yet; run manager.reindex() first",
                    path=stale[0],
                )
        return resolved

    def _scoped(self, ctx: OperationContext, query: Query | Expr | None) -> Query:
        """The resolved query with the user's access scope ANDed into its filter."""
        scope = self._scope(ctx)
        if not isinstance(scope, Unrestricted):
            base = query if isinstance(query, Query) else Query(where=query)
            query = base.replace(where=scope if base.where is None else scope & base.where)
        return self.resolve(query)

    def authorize(
        self, action: str, *, user: str | UnsetType = UNSET, resource_id: str | None = None
    ) -> Expr | Unrestricted:
        """Ask the permission checker whether ``user`` may perform ``action`` at all.

        For operations an application runs over many resources (batches, custom actions),
        before it runs them one by one: the checker's ``check`` runs (with ``resource_id``
        when given), and the user's access scope for the action is returned: a filter the
        rows they may act on match, or ``UNRESTRICTED``. Nothing is read or changed.

        Raises:
            PermissionDeniedError: the checker denies the action, or its scope is empty.
            MissingOperationContextError: a write action without a user, under
                ``strict_operation_context``.
        """
        write = action not in READ_ACTIONS
        ctx = self._context(action, user, UNSET, write=write, resource_id=resource_id)
        return self._scope(ctx)

    def _referrer_metas(
        self, ref: RefField, target_id: str, *, include_deleted: bool
    ) -> Iterator[ResourceMeta]:
        """Metas whose reference field ``ref`` names ``target_id`` (no permission checks)."""
        field = Field(ref.path)
        op = Op.contains if ref.is_list else Op.eq
        query = Query(
            where=Condition(field, op, target_id), is_deleted=None if include_deleted else False
        )
        return self._scan(query)

    def _scan(self, query: Query) -> Iterator[ResourceMeta]:
        """Every row of a query, straight from storage: no permission checks, so only for
        the framework's own maintenance (integrity, reindexing, migration)."""
        resolved = self.resolve(query.replace(limit=self.max_limit, cursor=None, offset=0))
        while True:
            page = self.storage.search(resolved)
            yield from page.items
            if not page.has_more:
                return
            resolved = resolved.replace(cursor=page.next_cursor)

    def search_page(
        self, query: Query | Expr | None = None, *, user: str | UnsetType = UNSET
    ) -> Page[ResourceMeta]:
        """One page of matching meta records, with the cursor to the next page."""
        ctx = self._context("search", user, UNSET, write=False, query=query)
        return self.storage.search(self._scoped(ctx, query))

    def search(
        self, query: Query | Expr | None = None, *, user: str | UnsetType = UNSET
    ) -> list[ResourceMeta]:
        """Matching meta records (one page: ``limit`` rows at most)."""
        return self.search_page(query, user=user).items

    search_resources = search

    def count(self, query: Query | Expr | None = None, *, user: str | UnsetType = UNSET) -> int:
        """Number of matching resources (limit/offset/cursor are ignored)."""
        ctx = self._context("count", user, UNSET, write=False, query=query)
        return self.storage.count(self._scoped(ctx, query))

    count_resources = count

    def list_page(
        self,
        query: Query | Expr | None = None,
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
        wanted = set(returns)
        unknown = wanted - set(RETURNS_ALL)
        if unknown:
            raise QueryError(f"returns accepts data, info, meta — not {sorted(unknown)}")
        pointers = (
            None
            if partial is None
            else [jsonpointer.format_pointer(jsonpointer.to_pointer(p)) for p in partial]
        )
        page = self.search_page(query, user=user)
        items: list[SearchedResource[T]] = []
        for meta in page.items:
            parts: dict[str, Any] = {}
            if "meta" in wanted:
                parts["meta"] = meta
            if wanted & {"data", "info"}:
                try:
                    info, data = self._load(meta.resource_id, meta.current_revision_id)
                except NotFoundError:
                    continue  # permanently deleted since the search
                if "info" in wanted:
                    parts["info"] = info
                if "data" in wanted:
                    parts["data"] = (
                        data
                        if pointers is None
                        else jsonpointer.project(msgspec.to_builtins(data), pointers)
                    )
            items.append(SearchedResource(**parts))
        return Page(items=items, next_cursor=page.next_cursor, has_more=page.has_more)

    def list(
        self,
        query: Query | Expr | None = None,
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
        query: Query | Expr | None = None,
        *,
        page_size: int | None = None,
        user: str | UnsetType = UNSET,
    ) -> Iterator[ResourceMeta]:
        """Every matching meta record the user may see, page by page with a cursor."""
        base = query if isinstance(query, Query) else Query(where=query)
        q = base.replace(limit=page_size or self.max_limit, cursor=None, offset=0)
        while True:
            page = self.search_page(q, user=user)
            yield from page.items
            if not page.has_more:
                return
            q = q.replace(cursor=page.next_cursor)

    # == maintenance ============================================================================

    def reindex(self, *, progress: Callable[[int, int], None] | None = None) -> int:
        """Recompute ``indexed_data`` of every resource (deleted ones too) from its current
        revision, then mark the indexed fields as backfilled. Returns how many metas changed.

        ``progress(done, total)`` is called every 500 resources and at the end; by default
        progress goes to the ``specstar.manager`` logger.
        """
        stale, self._stale_paths = self._stale_paths, frozenset()
        try:
            everything = Query(is_deleted=None)
            total = self.storage.count(self.resolve(everything))
            changed = 0
            for done, meta in enumerate(self._scan(everything), start=1):
                changed += self._reindex_one(meta.resource_id)
                if done % 500 == 0 or done == total:
                    if progress:
                        progress(done, total)
                    else:
                        log.info("reindex %s: %d/%d", self.name, done, total)
        except BaseException:
            self._stale_paths = stale
            raise
        self.storage.mark_indexed(self.index_spec.paths)
        return changed

    def migrate_all(
        self,
        *,
        progress: Callable[[int, int], None] | None = None,
        user: str | UnsetType = UNSET,
        on_start: Callable[[int], None] | None = None,
    ) -> int:
        """Migrate every live resource whose current revision is not in the target schema
        version (see :meth:`migrate`). Returns how many were migrated.

        The user is authorized once for the action ``migrate`` before anything is read, and
        only the resources inside their ``migrate`` access scope are migrated (each one is
        authorized again by :meth:`migrate`).

        A resource whose data cannot be migrated does not stop the run: the others are
        migrated, then :class:`~specstar.core.schema.BulkMigrationError` lists the failures
        (their errors are logged). A permission refusal stops the run at once.

        Safe to interrupt and run again: each resource migrates in its own atomic write, and
        a rerun only finds the ones still left. ``on_start(total)`` is called once the
        resources to migrate are known, before the first is migrated; ``progress(done,
        total)`` is called every 100 resources and at the end (by default progress goes to
        the ``specstar.manager`` log).
        """
        ctx = self._context("migrate", user, UNSET, write=True)
        target = self.schema_version
        field = Field("schema_version", meta=True)
        where: Expr | None = None
        if target is not None:
            where = Or((Condition(field, Op.ne, target), Condition(field, Op.is_null, True)))
            scope = self._scope(ctx)
            if not isinstance(scope, Unrestricted):
                where = scope & where
        todo = (
            []
            if where is None
            else [
                meta.resource_id
                for meta in self._scan(
                    Query(
                        where=where,
                        sorts=(Sort(Field("resource_id", meta=True)),),
                        limit=self.max_limit,
                    )
                )
            ]
        )
        total = len(todo)
        if on_start is not None:
            on_start(total)
        done = 0
        failures: list[tuple[str, SpecStarError]] = []
        for resource_id in todo:
            try:
                self.migrate(resource_id, user=user)  # type: ignore[attr-defined]
            except (NotFoundError, GoneError):
                pass  # deleted meanwhile: nothing left to migrate
            except PermissionDeniedError:
                raise  # a refusal stops the run
            except SpecStarError as exc:  # one broken resource must not block the others
                log.warning("migrate %s %s failed: %s", self.name, resource_id, exc)
                failures.append((resource_id, exc))
            done += 1
            if done % 100 == 0 or done == total:
                if progress:
                    progress(done, total)
                else:
                    log.info("migrate %s: %d/%d", self.name, done, total)
        if failures:
            raise BulkMigrationError(self.name, done - len(failures), failures)
        return done

    def _reindex_one(self, rid: str) -> int:
        def attempt() -> int:
            meta = self.storage.get_meta(rid)
            if meta is None:
                return 0
            _, data = self._load(rid, meta.current_revision_id)
            indexed = self._indexed(data)
            if indexed == meta.indexed_data:
                return 0
            self.storage.commit(
                Write(
                    resource_id=rid,
                    expected_revision_id=meta.current_revision_id,
                    time=meta.updated_time,
                    user=meta.updated_by,
                    indexed_data=indexed,
                    touch=False,
                )
            )
            return 1

        n: int = self._retry_conflicts(None, attempt)
        return n


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

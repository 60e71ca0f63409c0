"""The storage logic shared by SQLite and PostgreSQL: the registry, reads and search; the
write transactions are in :mod:`._commit`.

A resource type has two tables, ``<base>_meta`` (one row per resource: the meta record, its
``indexed_data`` as msgpack, and per indexed path a typed value column ``ix_<n>`` and a presence
column ``p_<n>``) and ``<base>_rev`` (one row per revision, keyed by ``(resource_id, seq)``).
The ``specstar_fields`` registry records, per resource type, which column holds which
``(path, kind, is_list)`` and whether its values are known for every row (backfilled).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from specstar.core import (
    Capabilities,
    IndexSpec,
    Page,
    PayloadStore,
    Query,
    ResourceMeta,
    RevisionInfo,
    SpecStarError,
    Storage,
    StorageError,
)
from specstar.core.spi import (
    DEFAULT_LIMIT,
    Adoption,
    CommitResult,
    PayloadEntry,
    StoredRevision,
    Write,
    encode_cursor,
)

from ._adoption import Adopter
from ._backend import Backend, Tx, iter_chunks
from ._commit import Commits
from ._compile import Compiler, Sql
from ._layout import IndexColumn, ident, table_base
from ._plan import SizeHint, SortIndexWalk
from ._registry import Registry
from ._revisions import RevisionTable, storable_id
from ._rows import META_SELECT, META_WIDTH, REV_INFO_SELECT, Rows, qualified
from ._shapes import ShapeCache

__all__ = ["SQLStorage"]

_ATTEMPTS = 3
#: Ids per ``IN (...)`` list of a batched read.
_IDS_PER_SELECT = 400
#: Default age beyond which an unnamed payload counts as an orphan.
_GRACE = timedelta(hours=1)


class SQLStorage(Storage):
    """Meta records and revisions of one resource type in SQL tables.

    Built by a storage factory; :meth:`setup` must run (the manager calls it) before use.
    """

    capabilities = Capabilities(durable=True, multi_process=True)

    def __init__(
        self, backend: Backend, resource_name: str, payloads: PayloadStore | None = None
    ) -> None:
        self.resource_name = resource_name
        self._backend = backend
        self._base = table_base(resource_name)
        self.meta_table = f"{backend.prefix}{ident(self._base + '_meta')}"
        self.revision_table = f"{backend.prefix}{ident(self._base + '_rev')}"
        self._registry = Registry(backend, resource_name, self._base)
        self._rows = Rows(backend)
        self._revs = RevisionTable(backend, self.revision_table, self._rows, payloads)
        self._columns: dict[str, IndexColumn] | None = None
        self._adopter = Adopter(backend, self.meta_table, self._revs, self._rows, self._ready)
        self._commits = Commits(
            backend,
            self.meta_table,
            self._revs,
            self._rows,
            ready=self._ready,
            get_meta=self.get_meta,
        )
        self._shapes = ShapeCache()
        self._size = SizeHint()
        #: The statement of get_current, built once (it runs for every read by id).
        self._current_sql = (
            f"SELECT {qualified(META_SELECT, 'm')}, {self._revs.select('r')} "
            f"FROM {self.meta_table} m LEFT JOIN {self.revision_table} r "
            "ON r.resource_id = m.resource_id "
            "AND r.seq = CAST(substr(m.current_revision_id, ?) AS BIGINT) "
            "WHERE m.resource_id = ?"
        )

    @property
    def payload_store(self) -> PayloadStore | None:
        """Where revision data lives when not in the revision rows (``None``: in the rows)."""
        return self._revs.payloads

    # -- schema -------------------------------------------------------------------------------

    def setup(self, spec: IndexSpec) -> frozenset[str]:
        self._columns, stale = self._registry.sync(spec)
        # a fresh cache after the columns: a search that read the new cache reads these columns
        self._shapes = ShapeCache()
        return stale

    def mark_indexed(self, paths: Sequence[str]) -> None:
        columns = self._ready()
        self._registry.mark_backfilled([columns[p].number for p in paths if p in columns])

    def _ready(self) -> dict[str, IndexColumn]:
        if self._columns is None:
            raise StorageError(f"{self.resource_name}: call setup() before using the storage")
        return self._columns

    # -- reads --------------------------------------------------------------------------------

    def get_meta(self, resource_id: str) -> ResourceMeta | None:
        if not storable_id(resource_id):
            return None
        with self._backend.read() as tx:
            row = tx.one(
                f"SELECT {META_SELECT} FROM {self.meta_table} WHERE resource_id = ?",
                (resource_id,),
            )
        return None if row is None else self._rows.meta(row)

    def get_metas(self, resource_ids: Sequence[str]) -> list[ResourceMeta | None]:
        """The meta rows of ``resource_ids`` in one ``SELECT`` (per 400 ids)."""
        wanted = sorted({rid for rid in resource_ids if storable_id(rid)})
        found: dict[str, ResourceMeta] = {}
        if wanted:
            with self._backend.read() as tx:
                for chunk in iter_chunks(wanted, _IDS_PER_SELECT):
                    rows = tx.all(
                        f"SELECT {META_SELECT} FROM {self.meta_table} "
                        f"WHERE resource_id IN ({', '.join('?' * len(chunk))})",
                        chunk,
                    )
                    found.update((str(r[0]), self._rows.meta(r)) for r in rows)
        return [found.get(rid) for rid in resource_ids]

    def get_current(self, resource_id: str) -> tuple[ResourceMeta, StoredRevision] | None:
        """The meta and its current revision in one ``SELECT`` (a join on the revision key);
        with a payload store, plus one payload read."""
        if not storable_id(resource_id):
            return None
        for _ in range(_ATTEMPTS):
            with self._backend.read() as tx:
                row = tx.one(self._current_sql, (len(resource_id) + 2, resource_id))
            if row is None:
                return None
            meta = self._rows.meta(row[:META_WIDTH])
            if row[META_WIDTH] is None:
                raise StorageError(f"{resource_id!r}: the current revision is missing")
            stored = self._revs.stored(row[META_WIDTH:])
            if stored is not None:
                return meta, stored
            # the payload went with a prune or purge committed after the row was read
        raise StorageError(f"{resource_id!r}: the current revision's payload is missing")

    def get_revision(self, resource_id: str, revision_id: str) -> StoredRevision | None:
        with self._backend.read() as tx:
            return self._revs.get(tx, resource_id, revision_id)

    def get_revisions(self, refs: Sequence[tuple[str, str]]) -> list[StoredRevision | None]:
        """The revisions of ``refs`` in one ``SELECT`` (per 400 pairs)."""
        if not refs:
            return []
        with self._backend.read() as tx:
            return self._revs.get_many(tx, refs)

    def get_revision_info(self, resource_id: str, revision_id: str) -> RevisionInfo | None:
        with self._backend.read() as tx:
            return self._revs.info(tx, resource_id, revision_id)

    def list_revisions(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[RevisionInfo]:
        rows = self._list(REV_INFO_SELECT, resource_id, offset, limit)
        return [self._rows.revision(r) for r in rows]

    def list_revision_ids(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """Revision ids from the ``seq`` column alone (no other column is read or decoded)."""
        return [f"{resource_id}:{r[0]}" for r in self._list("seq", resource_id, offset, limit)]

    def get_history(self, resource_id: str) -> tuple[ResourceMeta, list[str]] | None:
        """The meta row and the ``seq`` of every revision in one ``SELECT`` (a ``UNION ALL``
        of the meta row, sorted first, and the revision keys), so the two are consistent."""
        if not storable_id(resource_id):
            return None
        blanks = ", ".join(["NULL"] * META_WIDTH)
        with self._backend.read() as tx:
            rows = tx.all(
                f"SELECT {META_SELECT}, -1 AS seq FROM {self.meta_table} WHERE resource_id = ? "
                f"UNION ALL SELECT {blanks}, seq FROM {self.revision_table} "
                "WHERE resource_id = ? ORDER BY seq",
                (resource_id, resource_id),
            )
        if not rows or rows[0][META_WIDTH] != -1:
            return None  # no meta row: the resource does not exist
        meta = self._rows.meta(rows[0][:META_WIDTH])
        return meta, [f"{resource_id}:{r[META_WIDTH]}" for r in rows[1:]]

    def get_histories(
        self, resource_ids: Sequence[str]
    ) -> list[tuple[ResourceMeta, list[str]] | None]:
        """The histories of ``resource_ids`` in one ``SELECT`` per 400 ids: the
        ``UNION ALL`` of :meth:`get_history` over the whole chunk (its meta rows, sorted
        first, and its revision keys), so each history is consistent on its own."""
        wanted = sorted({rid for rid in resource_ids if storable_id(rid)})
        metas: dict[str, ResourceMeta] = {}
        seqs: dict[str, list[int]] = {}
        blanks = ", ".join(["NULL"] * (META_WIDTH - 1))
        if wanted:
            with self._backend.read() as tx:
                for chunk in iter_chunks(wanted, _IDS_PER_SELECT):
                    marks = ", ".join("?" * len(chunk))
                    rows = tx.all(
                        f"SELECT {META_SELECT}, -1 AS seq FROM {self.meta_table} "
                        f"WHERE resource_id IN ({marks}) UNION ALL "
                        f"SELECT resource_id, {blanks}, seq FROM {self.revision_table} "
                        f"WHERE resource_id IN ({marks}) ORDER BY seq",
                        [*chunk, *chunk],
                    )
                    for row in rows:
                        rid, seq = str(row[0]), row[META_WIDTH]
                        if seq == -1:
                            metas[rid] = self._rows.meta(row[:META_WIDTH])
                        else:
                            seqs.setdefault(rid, []).append(seq)
        return [
            (metas[rid], [f"{rid}:{s}" for s in seqs.get(rid, [])]) if rid in metas else None
            for rid in resource_ids
        ]

    def _list(
        self, columns: str, resource_id: str, offset: int, limit: int | None
    ) -> list[tuple[Any, ...]]:
        if not storable_id(resource_id):
            return []
        sql = f"SELECT {columns} FROM {self.revision_table} WHERE resource_id = ? ORDER BY seq"
        with self._backend.read() as tx:
            if offset < 0 or (limit is not None and limit < 0):  # Python slice semantics
                rows = tx.all(sql, (resource_id,))
                end = None if limit is None else offset + limit
                return rows[offset:end]
            return tx.all(
                sql + " LIMIT ? OFFSET ?",
                (resource_id, self._backend.no_limit if limit is None else limit, offset),
            )

    # -- search -------------------------------------------------------------------------------

    def _compiled(self, tx: Tx, query: Query) -> tuple[Compiler, Sql]:
        shapes = self._shapes  # before the columns (see setup)
        compiler = Compiler(
            self._backend.dialect,
            self._ready(),
            self._backend.regex_hook(tx, self.meta_table),
            shapes,
        )
        return compiler, compiler.where(query, compiler.decode_cursor(query))

    def _search_sql(self, compiler: Compiler, where: Sql, query: Query, limit: int) -> Sql:
        sql = (
            f"SELECT {META_SELECT} FROM {self.meta_table} WHERE {where.text} "
            f"ORDER BY {compiler.order_by(query)} LIMIT ? OFFSET ?"
        )
        return Sql(sql, (*where.params, limit + 1, query.offset))

    def _search_rows(self, tx: Tx, query: Query, limit: int) -> tuple[Sql, list[tuple[Any, ...]]]:
        """The statement that gave the page's rows (``limit + 1`` at most), and the rows: from
        a walk of the sort index where the database cannot choose that plan (see ``_plan``),
        else from the plain search."""
        compiler, where = self._compiled(tx, query)
        walk = (
            None
            if self._size.small()
            else SortIndexWalk.plan(compiler, self.meta_table, query, limit)
        )
        found = None if walk is None else walk.run(tx, self._size)
        if found is not None:
            return found
        sql = self._search_sql(compiler, where, query, limit)
        return sql, tx.all(sql.text, sql.params)

    def search(self, query: Query) -> Page[ResourceMeta]:
        limit = DEFAULT_LIMIT if query.limit is None else max(query.limit, 0)
        with self._backend.read() as tx:
            _, rows = self._search_rows(tx, query, limit)
        metas = [self._rows.meta(r) for r in rows]
        items = metas[:limit]
        has_more = len(metas) > limit
        next_cursor = encode_cursor(query, items[-1]) if has_more and items else None
        return Page[ResourceMeta](items=items, next_cursor=next_cursor, has_more=has_more)

    def count(self, query: Query) -> int:
        with self._backend.read() as tx:
            _, where = self._compiled(tx, query.replace(cursor=None))
            row = tx.one(f"SELECT count(*) FROM {self.meta_table} WHERE {where.text}", where.params)
        assert row is not None
        return int(row[0])

    def explain(self, query: Query) -> list[str]:
        """The database's plan for the statement that answers :meth:`search` of a resolved
        query (a walk of the sort index or the plain query), one line per step."""
        limit = DEFAULT_LIMIT if query.limit is None else max(query.limit, 0)
        with self._backend.read(snapshot=True) as tx:
            sql, _ = self._search_rows(tx, query, limit)
            return self._backend.explain(tx, sql.text, sql.params)

    def analyze(self) -> None:
        """Refresh the planner's statistics of the meta table (after bulk loads)."""
        with self._backend.read() as tx:
            self._backend.analyze(tx, self.meta_table)

    # -- writes -------------------------------------------------------------------------------

    def commit(self, write: Write) -> CommitResult:
        """Apply one write in one transaction (see :mod:`._commit`)."""
        return self._commits.commit(write)

    def adopt_resource(
        self,
        meta: ResourceMeta,
        revisions: Sequence[StoredRevision],
        indexed_data: dict[str, Any],
        *,
        replaces: ResourceMeta | None = None,
    ) -> ResourceMeta:
        """The resource in one transaction (see :mod:`._adoption`)."""
        adoption = Adoption(
            meta=meta, revisions=revisions, indexed_data=indexed_data, replaces=replaces
        )
        (outcome,) = self.adopt_resources([adoption])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def adopt_resources(
        self, adoptions: Sequence[Adoption]
    ) -> list[ResourceMeta | SpecStarError | ValueError]:
        """The batch in one transaction, a savepoint per resource when one is refused (see
        :mod:`._adoption`)."""
        self._ready()
        return self._adopter.run(adoptions)

    def purge(self, resource_id: str, expected_revision_id: str) -> ResourceMeta:
        return self._commits.purge(resource_id, expected_revision_id)

    def prune(self, resource_id: str, revision_ids: Sequence[str]) -> int:
        return self._commits.prune(resource_id, revision_ids)

    # -- payloads -----------------------------------------------------------------------------

    def orphan_payloads(self, older_than: timedelta = _GRACE) -> list[PayloadEntry]:
        """Payloads no revision names, stored more than ``older_than`` ago (younger ones may
        belong to a write between its put and its commit). Empty without a payload store."""
        store = self._revs.payloads
        if store is None:
            return []
        limit = datetime.now(UTC) - older_than
        candidates = [e for e in store.list() if e.stored_time < limit]
        with self._backend.read() as tx:
            named = self._revs.referenced(tx, [(e.resource_id, e.key) for e in candidates])
        return [e for e in candidates if (e.resource_id, e.key) not in named]

    def collect_orphan_payloads(self, older_than: timedelta = _GRACE) -> int:
        """Delete :meth:`orphan_payloads`; returns how many were deleted."""
        store = self._revs.payloads
        orphans = self.orphan_payloads(older_than)
        return sum(store.delete(e.resource_id, e.key) for e in orphans) if store else 0

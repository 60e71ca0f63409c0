"""Ports: the contracts between the core and the storage adapters.

The manager talks to persistence only through :class:`Storage` (one per resource type, built by
a :class:`StorageFactory`) and :class:`BlobStore`. Every adapter proves it keeps these contracts by
running the conformance suites of ``specstar.testing``.

Invariants every :class:`Storage` holds (see also docs/architecture.md):

1. ``meta.current_revision_id`` always names an existing revision: a new revision is stored
   before the pointer moves; a crash in between leaves at most an orphan revision.
2. Moving the pointer is a compare-and-swap on ``Write.expected_revision_id``: of two writes
   expecting the same revision, exactly one succeeds; the other raises
   :class:`~specstar.core.errors.PreconditionFailedError`.
3. Revision ids are allocated inside the same atomic step (``"{resource_id}:{seq}"`` with
   ``seq = meta.revision_seq + 1``); no two revisions of a resource ever share an id.
4. ``Unique`` fields are enforced atomically by the store among non-deleted resources
   (``None`` may repeat) — never check-then-write.
5. Acknowledged writes survive a crash of the writer process when ``capabilities.durable``.
6. ``search``/``count`` return exactly the rows, in exactly the order, of the reference evaluator
   :func:`specstar.core.query.evaluate.run` for the same resolved query.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec

from .adoption import Adoption, adopt_by_commits
from .blobs import BlobInfo, BlobStore
from .commits import (
    AdoptedRevision,
    AppliedWrite,
    CommitResult,
    NewRevision,
    RevisionRewrite,
    StoredRevision,
    Write,
    check_prune,
    check_purge,
)
from .errors import SpecStarError, StorageError, StorageUnavailableError
from .indexes import IndexSpec
from .query.ast import Query
from .types import Page, ResourceMeta, RevisionInfo

__all__ = [
    "AdoptedRevision",
    "Adoption",
    "AppliedWrite",
    "BlobInfo",
    "BlobStore",
    "CachingStorageFactory",
    "Capabilities",
    "CommitResult",
    "NewRevision",
    "RevisionRewrite",
    "Storage",
    "StorageFactory",
    "StoredRevision",
    "Write",
    "check_prune",
    "check_purge",
]

#: How often :meth:`Storage.get_current` re-reads when the pointer moves under it.
_READ_ATTEMPTS = 5


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What an adapter guarantees beyond the base contract; suites skip tests on these flags.

    Attributes:
        durable: acknowledged writes survive a ``kill -9`` of the writing process.
        multi_process: several OS processes may open the same store concurrently
            (the process suites rebuild the factory in child processes from the test's
            ``factory_recipe`` fixture).
    """

    durable: bool = False
    multi_process: bool = False


class Storage(abc.ABC):
    """Meta records and immutable revisions of one resource type, with an atomic commit.

    Implementations must be safe to call from many threads at once.
    """

    capabilities: Capabilities = Capabilities()

    @abc.abstractmethod
    def setup(self, spec: IndexSpec) -> frozenset[str]:
        """Declare the indexed fields; idempotent, called once by the manager before use.

        Stores create typed columns, indexes and unique indexes here. Returns the paths whose
        values are not known for existing resources (fields added since the store last saw the
        spec, while resources exist); the manager backfills them with ``commit`` writes carrying
        ``indexed_data`` and then calls :meth:`mark_indexed`. Until then queries on those paths
        must not be trusted, so the manager refuses them.
        """

    @abc.abstractmethod
    def mark_indexed(self, paths: Sequence[str]) -> None:
        """Record that ``paths`` have been backfilled for every existing resource."""

    @abc.abstractmethod
    def get_meta(self, resource_id: str) -> ResourceMeta | None:
        """The meta record, deleted or not; ``None`` when the resource does not exist."""

    def get_metas(self, resource_ids: Sequence[str]) -> list[ResourceMeta | None]:
        """Several meta records at once: for each id of ``resource_ids``, in order, the meta
        record (deleted or not) or ``None``. Duplicates are allowed.

        This default calls :meth:`get_meta` per id; adapters should read the batch in one
        round trip (a backup load looks up every archived id).
        """
        return [self.get_meta(rid) for rid in resource_ids]

    @abc.abstractmethod
    def get_revision(self, resource_id: str, revision_id: str) -> StoredRevision | None:
        """One stored revision, or ``None``."""

    def get_revision_info(self, resource_id: str, revision_id: str) -> RevisionInfo | None:
        """Information about one revision without its data (adapters may do this cheaper)."""
        rev = self.get_revision(resource_id, revision_id)
        return None if rev is None else rev.info

    def get_current(self, resource_id: str) -> tuple[ResourceMeta, StoredRevision] | None:
        """The meta record (deleted or not) and its current revision, read together.

        ``None`` when the resource does not exist. The pair is consistent: the revision is the
        one the returned meta names. This default composes :meth:`get_meta` and
        :meth:`get_revision` (retrying when a write moves the pointer and a prune removes the
        revision in between); adapters should read both in one round trip (a join on SQL).
        """
        for _ in range(_READ_ATTEMPTS):
            meta = self.get_meta(resource_id)
            if meta is None:
                return None
            rev = self.get_revision(resource_id, meta.current_revision_id)
            if rev is not None:
                return meta, rev
        raise StorageError(f"{resource_id!r}: the current revision is missing")

    def get_revisions(self, refs: Sequence[tuple[str, str]]) -> list[StoredRevision | None]:
        """Several revisions at once: for each ``(resource_id, revision_id)`` of ``refs``, in
        order, the stored revision or ``None``. Duplicates are allowed.

        This default calls :meth:`get_revision` per pair; adapters should read the batch in
        one round trip (one statement on SQL), since a list page reads one revision per row.
        """
        return [self.get_revision(rid, rev_id) for rid, rev_id in refs]

    def list_revision_ids(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """The revision ids of a resource in allocation order (oldest first), like
        :meth:`list_revisions` but without building the infos; empty when the resource does
        not exist (an existing resource always has its current revision)."""
        return [i.revision_id for i in self.list_revisions(resource_id, offset=offset, limit=limit)]

    def get_history(self, resource_id: str) -> tuple[ResourceMeta, list[str]] | None:
        """The meta record (deleted or not) and every revision id of the resource, oldest
        first, read together; ``None`` when the resource does not exist.

        The ids are those :meth:`list_revision_ids` returns, and the list always holds the
        meta's ``current_revision_id``. This default composes :meth:`get_meta` and
        :meth:`list_revision_ids` (re-reading when a write lands in between); adapters should
        read both in one round trip, since it answers every ``list_revisions`` call.
        """
        for _ in range(_READ_ATTEMPTS):
            meta = self.get_meta(resource_id)
            if meta is None:
                return None
            ids = self.list_revision_ids(resource_id)
            if meta.current_revision_id in ids:
                return meta, ids
        raise StorageError(f"{resource_id!r}: the current revision is missing")

    def get_histories(
        self, resource_ids: Sequence[str]
    ) -> list[tuple[ResourceMeta, list[str]] | None]:
        """Several histories at once: for each id of ``resource_ids``, in order, what
        :meth:`get_history` returns for it (the meta record, deleted or not, and every revision
        id oldest first; ``None`` when the resource does not exist). Duplicates are allowed.

        Each item is consistent on its own, as :meth:`get_history` guarantees (its ids hold
        its meta's ``current_revision_id``); different items may be read at different moments.
        This default calls :meth:`get_history` per id; adapters should read the batch in a
        few round trips, not one per id (a backup dump reads a page of resources at a time).
        """
        return [self.get_history(rid) for rid in resource_ids]

    @abc.abstractmethod
    def list_revisions(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[RevisionInfo]:
        """Revisions of a resource in allocation order (oldest first); empty if none."""

    @abc.abstractmethod
    def commit(self, write: Write) -> CommitResult:
        """Apply one :class:`Write` atomically (see its docstring for the exact semantics).

        An adapter does only this inside its atomic step: read the meta (and the info of
        :attr:`Write.revision_to_read`), call :meth:`Write.apply`, persist the result with a
        compare-and-swap on the revision read, and enforce ``Unique`` atomically. Revision
        data kept outside the atomic step (a :class:`~specstar.core.payloads.PayloadStore`)
        is written before it, so the pointer never names missing data.
        """

    def adopt_resource(
        self,
        meta: ResourceMeta,
        revisions: Sequence[StoredRevision],
        indexed_data: dict[str, Any],
        *,
        replaces: ResourceMeta | None = None,
    ) -> ResourceMeta:
        """Store a whole resource as a backup holds it, in one atomic step; returns the
        stored meta (:meth:`Adoption.stored_meta`).

        ``revisions`` (oldest first) are stored exactly as described — ids, parents, status,
        schema versions, times, users, data — and the meta record is ``meta`` with the
        revision count, ``indexed_data`` and the ``rev_*`` fields of the current revision.
        ``indexed_data`` is indexed, and ``Unique`` fields are enforced as by :meth:`commit`.

        With ``replaces`` the resource must exist with ``replaces.current_revision_id`` as
        its current revision (compare-and-swap); it is replaced, history and unique claims
        included. Without it the resource must not exist.

        All or nothing: on any error the store holds what it held before (the old resource
        when replacing). Adapters with transactions do it in one (the S3-only store: one log
        entry); this default commits
        write by write (:func:`~specstar.core.adoption.adopt_by_commits`) and undoes what it
        stored when a write fails, so a crash in the middle can leave a partial resource.

        Raises:
            ValueError: malformed revisions (see :meth:`Adoption.stored_meta`).
            AlreadyExistsError: the resource exists and ``replaces`` is ``None``.
            PreconditionFailedError: ``replaces`` is stale (another current revision, or the
                resource is gone) — a :class:`~specstar.core.errors.ConflictError`.
            UniqueConstraintError: another resource holds a ``Unique`` value.
            ValidationError: a value the store cannot hold.
        """
        adoption = Adoption(
            meta=meta, revisions=revisions, indexed_data=indexed_data, replaces=replaces
        )
        return adopt_by_commits(self, adoption)

    def adopt_resources(
        self, adoptions: Sequence[Adoption]
    ) -> list[ResourceMeta | SpecStarError | ValueError]:
        """:meth:`adopt_resource` for several resources, in order: for each, the stored meta,
        or the error that refused it (each resource is atomic on its own, and one refused
        leaves the others stored).

        Adapters may store the batch in fewer transactions (SQL: one, with a savepoint per
        resource when one is refused). When the store cannot be reached mid-way
        (:class:`~specstar.core.errors.StorageUnavailableError`) it is raised, and which
        resources were stored is what the store holds. This default calls
        :meth:`adopt_resource` for each.
        """
        out: list[ResourceMeta | SpecStarError | ValueError] = []
        for a in adoptions:
            try:
                out.append(
                    self.adopt_resource(a.meta, a.revisions, a.indexed_data, replaces=a.replaces)
                )
            except StorageUnavailableError:
                raise
            except (SpecStarError, ValueError) as exc:
                out.append(exc)
        return out

    @abc.abstractmethod
    def purge(self, resource_id: str, expected_revision_id: str) -> ResourceMeta:
        """Permanently remove the resource, all its revisions and its unique claims.

        Compare-and-swap like :meth:`commit` (the checks are :func:`check_purge`). Returns the
        last meta.
        """

    @abc.abstractmethod
    def prune(self, resource_id: str, revision_ids: Sequence[str]) -> int:
        """Remove non-current revisions; returns how many were removed.

        Refuses (``ConflictError``) to remove the current revision; unknown ids are ignored
        (the checks are :func:`check_prune`).
        ``meta.total_revision_count`` drops accordingly; ``revision_seq`` never does.
        """

    @abc.abstractmethod
    def search(self, query: Query) -> Page[ResourceMeta]:
        """Rows matching a *resolved* query (see ``query.resolve.resolve_query``), paged."""

    @abc.abstractmethod
    def count(self, query: Query) -> int:
        """Number of rows matching a resolved query, ignoring limit/offset/cursor."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (connections, files). The default does nothing."""


class StorageFactory(abc.ABC):
    """Builds the :class:`Storage` of each resource type and the shared :class:`BlobStore`."""

    @abc.abstractmethod
    def build(self, resource_name: str) -> Storage:
        """The storage for one resource type (the same name always reaches the same data)."""

    @abc.abstractmethod
    def blob_store(self) -> BlobStore:
        """The blob store shared by all resource types of this factory."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release everything the factory opened."""


S = TypeVar("S", bound=Storage)


class CachingStorageFactory(StorageFactory, Generic[S]):
    """A factory that creates each resource name's storage once and then hands out that one.

    Subclasses implement :meth:`create`; :meth:`build` is thread-safe.
    """

    def __init__(self) -> None:
        self._stores_lock = threading.Lock()
        self._stores: dict[str, S] = {}

    @abc.abstractmethod
    def create(self, resource_name: str) -> S:
        """Make the storage of a resource name (called once per name)."""

    def build(self, resource_name: str) -> S:
        with self._stores_lock:
            store = self._stores.get(resource_name)
            if store is None:
                store = self._stores[resource_name] = self.create(resource_name)
            return store

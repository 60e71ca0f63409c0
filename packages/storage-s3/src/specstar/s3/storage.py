"""A database-free storage: S3 is the source of truth, shared by any number of processes.

Layout of one resource type under ``<prefix><type>/`` (see :mod:`._log`)::

    log/00000000000000000001      one object per committed write, created with If-None-Match
    checkpoint/00000000000000000256  the state after an entry, every ``checkpoint_every`` entries
    payloads/<resource id>/<key>  revision data, immutable (the S3 payload store)

Each process keeps a replica of the state in memory (:mod:`.replica`) and brings it up to date
from the log before every read and search (one ``GET`` of the next entry, answered 404 when
nothing is new), so it sees every write acknowledged before the call started (with
``max_staleness=s`` a read skips that request when the replica caught up less than ``s`` seconds
ago: reads may then miss other processes' writes of the last ``s`` seconds, never the process's
own). A write is checked against the replica, its payload object is put, and its log entry is
created at the next sequence number with ``If-None-Match: *``: when another writer took that
number first (412), the replica catches up and the write is checked again on the newer state —
optimistic concurrency, with compare-and-swap, revision ids and ``Unique`` all decided by that
one conditional create. Searches run on the replica's secondary indexes (``IndexSet`` of
``specstar.core.spi``, the memory store's), which answer as the reference evaluator does.

:meth:`S3Storage.compact` deletes the entries and checkpoints an old enough checkpoint covers
and the payloads of removed revisions; a replica that may have been left behind by it lists
the checkpoints before trusting a 404 probe (the argument is in :mod:`.compaction`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from specstar.core import (
    AlreadyExistsError,
    Page,
    PreconditionFailedError,
    ResourceMeta,
    RevisionInfo,
    SpecStarError,
    StorageError,
    StorageUnavailableError,
)
from specstar.core.spi import (
    DEFAULT_QUERY_TIMEOUT,
    Adoption,
    Capabilities,
    CommitResult,
    IndexSpec,
    PayloadEntry,
    Query,
    Storage,
    StoredRevision,
    Write,
    check_prune,
    check_purge,
    check_timeout,
    new_payload_key,
    query_budget,
)

from . import _log
from ._log import Adopt, Commit, Entry, Mark, Prune, Purge, State
from .compaction import DEFAULT_RETENTION, Compaction, check_keep, compact
from .payloads import S3PayloadStore
from .replica import Replica

__all__ = ["S3Storage"]

#: Default age beyond which an unnamed payload counts as an orphan.
_GRACE = timedelta(hours=1)
_READ_ATTEMPTS = 5
#: Payloads up to this size are repeated in their log entry (see :class:`_log.Commit`).
_INLINE_BYTES = 64 * 1024


class S3Storage(Storage):
    """Meta records and revisions of one resource type in S3 (see the module docstring).

    Built by :class:`S3StorageFactory`; thread-safe (one lock per type and process serialises
    replica updates and log appends).
    """

    capabilities = Capabilities(durable=True, multi_process=True)

    def __init__(
        self,
        client: Any,
        bucket: str,
        base: str,
        *,
        checkpoint_every: int = 256,
        query_timeout: float | None = DEFAULT_QUERY_TIMEOUT,
        max_staleness: float = 0.0,
        log_retention: float = DEFAULT_RETENTION,
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.base = base
        self._timeout = check_timeout(query_timeout)
        self.payloads = S3PayloadStore(client, bucket, f"{base}payloads/")
        #: this process's replica of the type's log
        self.replica = Replica(
            client,
            bucket,
            base,
            self.payloads,
            checkpoint_every=checkpoint_every,
            max_staleness=max_staleness,
            log_retention=log_retention,
        )
        self._retention = self.replica.retention

    # -- compaction ---------------------------------------------------------------------------

    def compact(self, *, keep_seconds: float | None = None) -> Compaction:
        """Delete the log entries and checkpoints before the latest checkpoint that is at least
        ``keep_seconds`` old (on S3's clock), and the payload objects of revisions removed since
        they were written; first write a checkpoint of the current state when the latest one
        is older, so the next compaction removes what was purged until now.

        ``keep_seconds`` defaults to the ``log_retention`` this storage was built with and may
        not be lower: every process trusts its log probes for half the retention after it last
        caught up (see :mod:`.compaction` for the argument). Safe to run from any process, at
        any time, concurrently with writers, readers and other compactions.
        """
        return compact(
            self._client,
            self.bucket,
            self.base,
            check_keep(keep_seconds, self._retention),
            checkpoint=self.replica.checkpoint_after,
            named=self.replica.named_payloads,
            payload_key=self.payloads.object_key,
        )

    # -- schema -------------------------------------------------------------------------------

    def setup(self, spec: IndexSpec) -> frozenset[str]:
        wanted = set(spec.paths)

        def make(state: State, token: str) -> Entry | None:
            if state.metas or wanted <= state.known:
                return None
            return Mark(token=token, paths=sorted(wanted))

        with self.replica.lock:
            self.replica.append(make)
            state = self.replica.sync()[0]
            self.replica.spec = spec
            state.declare(spec)
            return frozenset(wanted - state.known) if state.metas else frozenset()

    def mark_indexed(self, paths: Sequence[str]) -> None:
        wanted = set(paths)

        def make(state: State, token: str) -> Entry | None:
            if wanted <= state.known:
                return None
            return Mark(token=token, paths=sorted(wanted))

        self.replica.append(make)

    # -- reads --------------------------------------------------------------------------------

    def get_meta(self, resource_id: str) -> ResourceMeta | None:
        return self.replica.current().metas.get(resource_id)

    def _located(self, resource_id: str, revision_id: str) -> tuple[RevisionInfo, str] | None:
        with self.replica.lock:
            return self.replica.read().revisions.get(resource_id, {}).get(revision_id)

    def get_revision_info(self, resource_id: str, revision_id: str) -> RevisionInfo | None:
        found = self._located(resource_id, revision_id)
        return None if found is None else found[0]

    def get_revision(self, resource_id: str, revision_id: str) -> StoredRevision | None:
        for _ in range(_READ_ATTEMPTS):
            found = self._located(resource_id, revision_id)
            if found is None:
                return None
            data = self.payloads.get(resource_id, found[1])
            if data is not None:
                return StoredRevision(found[0], data)
            # pruned, purged or rewritten (a draft) since located: locate it again, fresh
            self.replica.forget_sync()
        raise StorageError(f"the payload of revision {revision_id!r} is missing")

    def get_current(self, resource_id: str) -> tuple[ResourceMeta, StoredRevision] | None:
        for _ in range(_READ_ATTEMPTS):
            with self.replica.lock:
                state = self.replica.read()
                meta = state.metas.get(resource_id)
                if meta is None:
                    return None
                info, key = state.revisions[resource_id][meta.current_revision_id]
            data = self.payloads.get(resource_id, key)
            if data is not None:
                return meta, StoredRevision(info, data)
            self.replica.forget_sync()
        raise StorageError(f"{resource_id!r}: the current revision's payload is missing")

    def get_revisions(self, refs: Sequence[tuple[str, str]]) -> list[StoredRevision | None]:
        with self.replica.lock:
            state = self.replica.read()
            found = [state.revisions.get(rid, {}).get(rev_id) for rid, rev_id in refs]
        wanted = [(rid, f[1]) for (rid, _), f in zip(refs, found, strict=True) if f is not None]
        fetched = iter(self.payloads.get_many(wanted))
        out: list[StoredRevision | None] = []
        for (rid, rev_id), f in zip(refs, found, strict=True):
            data = None if f is None else next(fetched)
            if f is not None and data is None:  # gone since located: read it alone
                out.append(self.get_revision(rid, rev_id))
            else:
                out.append(None if f is None or data is None else StoredRevision(f[0], data))
        return out

    def list_revisions(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[RevisionInfo]:
        with self.replica.lock:
            revs = list(self.replica.read().revisions.get(resource_id, {}).values())
        end = None if limit is None else offset + limit
        return [info for info, _ in revs[offset:end]]

    def list_revision_ids(
        self, resource_id: str, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        with self.replica.lock:
            ids = list(self.replica.read().revisions.get(resource_id, {}))
        end = None if limit is None else offset + limit
        return ids[offset:end]

    def get_history(self, resource_id: str) -> tuple[ResourceMeta, list[str]] | None:
        return self.get_histories([resource_id])[0]

    def get_metas(self, resource_ids: Sequence[str]) -> list[ResourceMeta | None]:
        """The metas from one up-to-date replica (one log probe for all of them)."""
        metas = self.replica.current().metas
        return [metas.get(rid) for rid in resource_ids]

    def get_histories(
        self, resource_ids: Sequence[str]
    ) -> list[tuple[ResourceMeta, list[str]] | None]:
        """The histories from one up-to-date replica (one log probe for all of them)."""
        with self.replica.lock:
            state = self.replica.read()
            out: list[tuple[ResourceMeta, list[str]] | None] = []
            for rid in resource_ids:
                meta = state.metas.get(rid)
                out.append(None if meta is None else (meta, list(state.revisions.get(rid, {}))))
            return out

    def search(self, query: Query) -> Page[ResourceMeta]:
        with self.replica.lock:
            state = self.replica.read()
            with query_budget(self._timeout):
                return state.index.search(state.metas, query)

    def count(self, query: Query) -> int:
        with self.replica.lock:
            state = self.replica.read()
            with query_budget(self._timeout):
                return state.index.count(state.metas, query)

    # -- writes -------------------------------------------------------------------------------

    def commit(self, write: Write) -> CommitResult:
        """Check the write on the replica, put its payload, then create its log entry (see the
        module docstring). A refused write deletes its payload again; when the outcome is
        unknown the payload stays (at worst an orphan)."""
        write = msgspec.structs.replace(write, time=_utc(write.time))
        part = write.append or write.rewrite or write.adopt
        key = None if part is None else new_payload_key(part.data)
        put: list[bool] = []

        def put_payload() -> None:
            if part is not None and key is not None:
                put.append(True)
                self.payloads.put(write.resource_id, key, part.data)

        def make(state: State, token: str) -> Entry | None:
            rid = write.resource_id
            old = state.metas.get(rid)
            wanted = write.revision_to_read
            found = state.revisions.get(rid, {}).get(wanted) if wanted is not None else None
            applied = write.apply(old, None if found is None else found[0])
            state.check_unique(applied.meta)
            inline = part.data if part is not None and len(part.data) <= _INLINE_BYTES else None
            return Commit(
                token=token, meta=applied.meta, revision=applied.revision, key=key, data=inline
            )

        try:
            entry = self.replica.append(make, put_payload)
        except StorageUnavailableError:
            raise
        except BaseException:
            if key is not None and put:
                self._drop([(write.resource_id, key)])
            raise
        assert isinstance(entry, Commit)
        stored = _log.decode_entry(_log.encode(entry))  # as every replica holds it
        assert isinstance(stored, Commit)
        return CommitResult(stored.meta, stored.revision)

    def adopt_resource(
        self,
        meta: ResourceMeta,
        revisions: Sequence[StoredRevision],
        indexed_data: dict[str, Any],
        *,
        replaces: ResourceMeta | None = None,
    ) -> ResourceMeta:
        """The whole resource in one log entry (:class:`._log.Adopt`): every payload is put
        first (concurrently), then one conditional create names them all, so a crash at any
        point leaves all of the resource or none of it (payloads of an entry that was never
        created are orphans, collected as any). The checks — exists, compare-and-swap on
        ``replaces``, ``Unique`` — are made on the state the entry follows, as a commit's.
        An overwrite deletes the old revisions' payloads once its entry is in."""
        adoption = Adoption(
            meta=meta, revisions=revisions, indexed_data=indexed_data, replaces=replaces
        )
        stored = adoption.stored_meta()
        stored = msgspec.structs.replace(
            stored, created_time=_utc(stored.created_time), updated_time=_utc(stored.updated_time)
        )
        rid = stored.resource_id
        keys = [new_payload_key(r.data) for r in revisions]
        pairs = [(r.info, key) for r, key in zip(revisions, keys, strict=True)]
        inline = [r.data if len(r.data) <= _INLINE_BYTES else None for r in revisions]
        old_keys: list[tuple[str, str]] = []
        put: list[bool] = []

        def put_payloads() -> None:
            put.append(True)
            self.payloads.put_many(
                [(rid, key, r.data) for r, key in zip(revisions, keys, strict=True)]
            )

        def make(state: State, token: str) -> Entry | None:
            current = state.metas.get(rid)
            if replaces is None:
                if current is not None:
                    raise AlreadyExistsError(rid)
            else:
                expected = replaces.current_revision_id
                actual = None if current is None else current.current_revision_id
                if actual != expected:
                    raise PreconditionFailedError(rid, expected, actual)
            state.check_unique(stored)
            old_keys[:] = sorted(state.payload_keys([rid]))
            return Adopt(token=token, meta=stored, revisions=pairs, data=inline)

        try:
            entry = self.replica.append(make, put_payloads)
        except StorageUnavailableError:
            raise  # the entry may have landed: its payloads must stay
        except BaseException:
            if put:
                self._drop([(rid, key) for key in keys])
            raise
        assert entry is not None
        self._drop(old_keys)
        landed = _log.decode_entry(_log.encode(entry))  # as every replica holds it
        assert isinstance(landed, Adopt)
        return landed.meta

    def purge(self, resource_id: str, expected_revision_id: str) -> ResourceMeta:
        keys: list[tuple[str, str]] = []
        last: list[ResourceMeta] = []

        def make(state: State, token: str) -> Entry | None:
            meta = check_purge(state.metas.get(resource_id), resource_id, expected_revision_id)
            keys[:] = sorted(state.payload_keys([resource_id]))
            last[:] = [meta]
            return Purge(token=token, resource_id=resource_id)

        self.replica.append(make)
        self._drop(keys)
        return last[0]

    def prune(self, resource_id: str, revision_ids: Sequence[str]) -> int:
        keys: list[tuple[str, str]] = []

        def make(state: State, token: str) -> Entry | None:
            meta = check_prune(state.metas.get(resource_id), resource_id, revision_ids)
            revs = state.revisions.get(resource_id, {})
            removed = sorted({r for r in revision_ids if r in revs})
            keys[:] = [(resource_id, revs[r][1]) for r in removed]
            if not removed:
                return None
            count = meta.total_revision_count - len(removed)
            new = msgspec.structs.replace(meta, total_revision_count=count)
            return Prune(token=token, meta=new, revision_ids=removed)

        entry = self.replica.append(make)
        if entry is None:
            return 0
        self._drop(keys)
        assert isinstance(entry, Prune)
        return len(entry.revision_ids)

    def _drop(self, refs: Sequence[tuple[str, str]]) -> None:
        """Delete payloads no entry names any more (best effort: what stays is an orphan)."""
        for rid, key in refs:
            with contextlib.suppress(SpecStarError):
                self.payloads.discard(rid, key)

    # -- orphans ------------------------------------------------------------------------------

    def orphan_payloads(self, older_than: timedelta = _GRACE) -> list[PayloadEntry]:
        """Payload objects no revision names, stored more than ``older_than`` ago (younger
        ones may belong to a write between its put and its log entry)."""
        limit = datetime.now(UTC) - older_than
        candidates = [e for e in self.payloads.list() if e.stored_time < limit]
        named = self.replica.named_payloads()
        return [e for e in candidates if (e.resource_id, e.key) not in named]

    def collect_orphan_payloads(self, older_than: timedelta = _GRACE) -> int:
        """Delete :meth:`orphan_payloads`; returns how many were deleted."""
        return sum(
            self.payloads.delete(e.resource_id, e.key) for e in self.orphan_payloads(older_than)
        )

    def close(self) -> None:
        self.payloads.close()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

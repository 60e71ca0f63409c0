"""The write path: the one retry skeleton, the pipeline stages and the storage commit.

Every write runs ``WritePath.run``: an *attempt* reads what it needs, prepares the new state
(``check_data`` → scope of the result → validators → references → constraints → ``before``
events) and commits it with a compare-and-swap on the revision it read. An attempt that loses
the race is run again on the fresh state until ``conflict_timeout`` — unless the caller gave
an expected revision, whose mismatch goes straight back as :class:`PreconditionFailedError`.
``before`` handlers therefore run once per attempt; ``on_success``/``on_failure`` and
``after`` run once per write, with the outcome.

Writes of one resource through one manager queue on a lock of that resource in the process
(:class:`ResourceQueue`): of several threads patching one resource, only one has an attempt
in flight, so they never make each other's attempts lose; only writes from other processes
(or other managers) can. Without it, on a store whose attempt spans several round trips
(S3: a read, a payload put and a log append), 16 threads patching one resource kept losing
to each other, and some writes gave up after ``conflict_timeout`` (30 s) with most of their
attempts lost.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import msgspec

from ..errors import ConflictError, PreconditionFailedError, UniqueConstraintError
from ..etags import Precondition
from ..pipeline import EventPhase, OperationContext, Pipeline
from ..ports import CommitResult, Storage, StoredRevision, Write
from ..types import ResourceMeta, RevisionInfo, RevisionStatus
from ._binding import Binding
from ._guard import Guard

T = TypeVar("T")
R = TypeVar("R")

#: Checks the references of new data: ``(context, data, previous)``; raises
#: ``ValidationError``.
RefCheck = Callable[[OperationContext, Any, Any], None]


class _Turns:
    """A first-come, first-served re-entrant lock (a ticket lock)."""

    def __init__(self) -> None:
        self.next_ticket = 0
        self.serving = 0
        self.owner: int | None = None
        self.depth = 0
        self.waiting = 0


class ResourceQueue:
    """A first-come, first-served, re-entrant lock per resource id, kept while a write holds or
    waits for it."""

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._turns: dict[str, _Turns] = {}

    @contextmanager
    def hold(self, resource_id: str) -> Iterator[None]:
        me = threading.get_ident()
        with self._changed:
            turns = self._turns.setdefault(resource_id, _Turns())
            if turns.owner == me:  # a nested write of the same resource in this thread
                turns.depth += 1
            else:
                ticket = turns.next_ticket
                turns.next_ticket += 1
                turns.waiting += 1
                while turns.serving != ticket:
                    self._changed.wait()
                turns.waiting -= 1
                turns.owner, turns.depth = me, 1
        try:
            yield
        finally:
            with self._changed:
                turns.depth -= 1
                if turns.depth == 0:
                    turns.owner = None
                    turns.serving += 1
                    if turns.waiting == 0 and turns.serving == turns.next_ticket:
                        del self._turns[resource_id]
                    self._changed.notify_all()


class WritePath(Generic[T]):
    """Runs writes for one manager: retries, pipeline stages, commit and events."""

    def __init__(
        self,
        *,
        storage: Storage,
        guard: Guard,
        binding: Binding[T],
        pipeline: Pipeline,
        conflict_timeout: float,
        check_refs: RefCheck | None,
    ) -> None:
        self.storage = storage
        self.guard = guard
        self.binding = binding
        self.pipeline = pipeline
        self.conflict_timeout = conflict_timeout
        self.check_refs = check_refs
        self.queue = ResourceQueue()

    # == the skeleton ===========================================================================

    def retry(self, expected: Precondition | None, attempt: Callable[[], R]) -> R:
        """Run ``attempt`` until it does not lose a compare-and-swap race.

        With an explicit ``expected`` revision the conflict goes to the caller at once;
        otherwise the attempt re-reads and re-applies (so concurrent patches are never lost),
        backing off at random, until ``conflict_timeout`` seconds have passed.
        """
        deadline = time.monotonic() + self.conflict_timeout
        delay = 0.0005
        while True:
            try:
                return attempt()
            except PreconditionFailedError:
                if expected is not None:
                    raise
                if time.monotonic() > deadline:
                    raise ConflictError(
                        f"gave up after {self.conflict_timeout}s of concurrent-write conflicts"
                    ) from None
                time.sleep(random.uniform(0, delay))
                delay = min(delay * 2, 0.05)

    def run(
        self, ctx: OperationContext, expected: Precondition | None, attempt: Callable[[], R]
    ) -> R:
        """Run one write: ``attempt`` under :meth:`retry` (queued behind the process's other
        writes of the same resource), then the outcome events."""
        try:
            if ctx.resource_id is None:
                result = self.retry(expected, attempt)
            else:
                with self.queue.hold(ctx.resource_id):
                    result = self.retry(expected, attempt)
        except Exception as exc:
            self.pipeline.emit(EventPhase.on_failure, ctx, error=exc)
            self.pipeline.emit(EventPhase.after, ctx, error=exc)
            raise
        self.pipeline.emit(EventPhase.on_success, ctx, result=result)
        self.pipeline.emit(EventPhase.after, ctx, result=result)
        return result

    def run_on_meta(
        self,
        ctx: OperationContext,
        expected: Precondition | None,
        step: Callable[[ResourceMeta, RevisionInfo | None], R],
        *,
        include_deleted: bool = False,
    ) -> R:
        """Run a write on the existing resource of ``ctx``.

        Each attempt reads the meta the user may see, checks ``expected`` against it and
        hands it to ``step`` — with the current revision's info when ``expected`` compares
        an entity tag (``None`` otherwise; the step passes it on to :meth:`commit`).
        """
        assert ctx.resource_id is not None
        rid = ctx.resource_id

        def attempt() -> R:
            meta = self.guard.visible_meta(ctx, self.storage, include_deleted=include_deleted)
            info = None
            if expected is not None and expected.needs_revision:
                info = self.storage.get_revision_info(rid, meta.current_revision_id)
            if expected is not None:
                expected.check(meta, info)
            return step(meta, info)

        return self.run(ctx, expected, attempt)

    def run_on_current(
        self,
        ctx: OperationContext,
        expected: Precondition | None,
        step: Callable[[ResourceMeta, StoredRevision], R],
        *,
        include_deleted: bool = False,
    ) -> R:
        """Like :meth:`run_on_meta` for a step that needs the current revision too: each
        attempt reads the meta and the current revision in one storage call."""

        def attempt() -> R:
            meta, stored = self.guard.visible_current(
                ctx, self.storage, include_deleted=include_deleted
            )
            if expected is not None:
                expected.check(meta, stored.info)
            return step(meta, stored)

        return self.run(ctx, expected, attempt)

    # == the stages =============================================================================

    def prepare(
        self,
        ctx: OperationContext,
        data: T,
        indexed: dict[str, Any],
        *,
        previous: T | None,
        meta: ResourceMeta | None,
    ) -> OperationContext:
        """``check_data`` → scope of the result → validate → references → constraints →
        ``before`` events, for new data; returns the context carrying the data.

        ``meta`` is the resource's meta before the write (``None`` for creates) and
        ``indexed`` the indexed values the write stores. The context carries the data only
        when a stage looks at it (a ``check_data`` or an event handler).
        """
        if self.pipeline.stages.sees_data:
            ctx = msgspec.structs.replace(ctx, data=data, previous=previous, meta=meta)
        self.guard.check_data(ctx)
        self.guard.check_result(ctx, meta, indexed, self.binding.schema_version)
        self.pipeline.validate(data)
        if self.check_refs is not None:
            self.check_refs(ctx, data, previous)
        self.pipeline.check_constraints(data, resource_id=ctx.resource_id, previous=previous)
        self.pipeline.emit(EventPhase.before, ctx)
        return ctx

    def before(self, ctx: OperationContext) -> None:
        """``before`` events of a write that carries no new data (delete, purge, prune)."""
        self.pipeline.emit(EventPhase.before, ctx)

    def commit(
        self,
        ctx: OperationContext,
        expected: str | None,
        read: RevisionInfo | None = None,
        **changes: Any,
    ) -> CommitResult:
        """One storage commit for the resource of ``ctx``, by its user at its time.

        ``expected`` is the revision id read; ``read`` its info, when the attempt read it.
        A draft is rewritten in place, so when ``read`` is a draft the store also compares
        its content (``Write.expected_draft_hash``): a write computed from a draft never
        lands on another version of it.
        """
        assert ctx.resource_id is not None
        if read is not None and read.status == RevisionStatus.draft and "switch_to" not in changes:
            changes["expected_draft_hash"] = read.data_hash
        try:
            return self.storage.commit(
                Write(
                    resource_id=ctx.resource_id,
                    expected_revision_id=expected,
                    time=ctx.now,
                    user=ctx.user,
                    **changes,
                )
            )
        except UniqueConstraintError as exc:
            field = self.binding.index_spec.reported_field(exc.field)
            if field == exc.field:
                raise
            # a normalised key clashed: name the field, and the value as the writer gave it
            indexed = changes.get("indexed_data") or {}
            value = indexed.get(field, exc.value)
            raise UniqueConstraintError(field, value, exc.conflicting_resource_id) from None

"""The write path: the one retry skeleton, the pipeline stages and the storage commit.

Every write runs ``WritePath.run``: an *attempt* reads what it needs, prepares the new state
(``check_data`` → scope of the result → validators → references → constraints → ``before``
events) and commits it with a compare-and-swap on the revision it read. An attempt that loses
the race is run again on the fresh state until ``conflict_timeout`` — unless the caller gave
an expected revision, whose mismatch goes straight back as :class:`PreconditionFailedError`.
``before`` handlers therefore run once per attempt; ``on_success``/``on_failure`` and
``after`` run once per write, with the outcome.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
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
        """Run one write: ``attempt`` under :meth:`retry`, then the outcome events."""
        try:
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

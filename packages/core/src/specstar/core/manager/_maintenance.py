"""Maintenance of a manager's resources: backfilling indexes and migrating schema versions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Generic, Protocol, TypeVar

from ..errors import (
    BulkMigrationError,
    GoneError,
    NotFoundError,
    PermissionDeniedError,
    SpecStarError,
)
from ..pipeline import OperationContext, Unrestricted
from ..ports import Write
from ..query.ast import Condition, Expr, Field, Op, Or, Query, Sort
from ..types import ResourceMeta, UnsetType
from ._reader import Reader
from ._write_path import WritePath

T = TypeVar("T")
log = logging.getLogger("specstar.manager")


class Migrator(Protocol):
    """Migrates one resource as a user (the manager's ``migrate`` verb)."""

    def __call__(self, resource_id: str, *, user: str | UnsetType = ...) -> ResourceMeta: ...


class Maintenance(Generic[T]):
    """``reindex`` and ``migrate_all`` of one manager."""

    def __init__(self, *, name: str, reader: Reader[T], path: WritePath[T], migrate: Migrator):
        self.name = name
        self.reader = reader
        self.path = path
        self.migrate = migrate

    def reindex(self, progress: Callable[[int, int], None] | None) -> int:
        """Recompute ``indexed_data`` of every resource; see ``ResourceManager.reindex``."""
        state = self.reader.index_state
        storage = self.reader.storage
        stale, state.stale = state.stale, frozenset()
        try:
            everything = Query(is_deleted=None)
            total = storage.count(self.reader.resolve(everything))
            changed = 0
            for done, meta in enumerate(self.reader.scan(everything), start=1):
                changed += self.path.retry(None, partial(self._reindex, meta.resource_id))
                if done % 500 == 0 or done == total:
                    if progress:
                        progress(done, total)
                    else:
                        log.info("reindex %s: %d/%d", self.name, done, total)
        except BaseException:
            state.stale = stale
            raise
        storage.mark_indexed(self.reader.binding.index_spec.paths)
        return changed

    def _reindex(self, rid: str) -> int:
        meta = self.reader.storage.get_meta(rid)
        if meta is None:
            return 0
        _, data = self.reader.load(rid, meta.current_revision_id)
        indexed = self.reader.binding.indexed(data)
        if indexed == meta.indexed_data:
            return 0
        self.reader.storage.commit(
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

    def migrate_all(
        self,
        ctx: OperationContext,
        user: str | UnsetType,
        progress: Callable[[int, int], None] | None,
        on_start: Callable[[int], None] | None,
    ) -> int:
        """Migrate every live resource not in the target version inside the user's scope
        (``ctx`` is the authorized ``migrate`` context); see ``ResourceManager.migrate_all``."""
        target = self.reader.binding.schema_version
        field = Field("schema_version", meta=True)
        todo: list[str] = []
        if target is not None:
            where: Expr = Or((Condition(field, Op.ne, target), Condition(field, Op.is_null, True)))
            scope = self.reader.guard.scope(ctx)
            if not isinstance(scope, Unrestricted):
                where = scope & where
            query = Query(
                where=where,
                sorts=(Sort(Field("resource_id", meta=True)),),
                limit=self.reader.max_limit,
            )
            todo = [meta.resource_id for meta in self.reader.scan(query)]
        total = len(todo)
        if on_start is not None:
            on_start(total)
        done = 0
        failures: list[tuple[str, SpecStarError]] = []
        for resource_id in todo:
            try:
                self.migrate(resource_id, user=user)
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

"""The ResourceManager: the single entry point to the resources of one model."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import msgspec
from msgspec import UNSET, UnsetType

from . import jsonpointer, models
from .annotations import Unique
from .codec import Codec, Encoding
from .context import ContextDefaults, NowSource, Scope, UserSource, resolve_context, scope_var
from .errors import (
    AlreadyExistsError,
    ConflictError,
    GoneError,
    NotFoundError,
    PatchError,
    PreconditionFailedError,
    QueryError,
    RevisionNotDraftError,
)
from .indexes import IndexedField, IndexSpec, build_spec, extract_indexed
from .memory import MemoryStorage
from .naming import check_resource_id, default_id_generator, kebab_case
from .patch import apply_json_patch, apply_merge_patch
from .pipeline import (
    ConstraintChecker,
    EventHandler,
    EventPhase,
    OperationContext,
    PermissionChecker,
    Pipeline,
    ValidatorLike,
)
from .ports import NewRevision, RevisionRewrite, Storage, StorageFactory, Write
from .query.ast import Expr, Field, Query
from .query.resolve import resolve_query
from .types import (
    Page,
    Resource,
    ResourceMeta,
    RevisionInfo,
    RevisionStatus,
    SearchedResource,
)

__all__ = ["ResourceManager", "ResourceOps"]

T = TypeVar("T")
log = logging.getLogger("specstar.manager")

RETURNS_ALL = ("data", "info", "meta")


class ResourceManager(Generic[T]):
    """Versioned resources of one model: create, read, change, search, history.

    Args:
        model: a ``msgspec.Struct`` type (or a Pydantic v2 model, converted to a Struct).
        storage: the :class:`~specstar.core.ports.Storage` to use; by default a new
            :class:`~specstar.core.memory.MemoryStorage` (or one from ``storage_factory``).
        storage_factory: builds the storage from the resource name when ``storage`` is not given.
        name: resource name (default: the model name in kebab-case).
        indexed_fields: data paths to extract for search: ``"path"``, ``("path", type)`` or
            :class:`~specstar.core.indexes.IndexedField`. ``Unique`` fields are added.
        id_generator: makes ids for created resources (default ``"{name}:{hex}"``).
        default_status: status of new revisions (``stable`` by default).
        default_user / default_now: context defaults (see :mod:`specstar.core.context`).
        strict_operation_context: writes without a resolved user/time raise.
        encoding: ``"json"`` or ``"msgpack"`` for stored revision data.
        schema_version: version recorded on every revision written.
        default_limit / max_limit: page size when a query gives none, and its upper bound.
        permission_checker, validators, constraint_checkers, event_handlers: pipeline stages.
        conflict_timeout: seconds a write without ``expected_revision_id`` keeps retrying
            compare-and-swap conflicts before raising :class:`ConflictError`.
        auto_reindex: when the store reports indexed fields added since it last saw this
            model, backfill them at start-up (:meth:`reindex`); otherwise queries on them
            raise :class:`QueryError` until :meth:`reindex` runs.
    """

    def __init__(
        self,
        model: type[T],
        *,
        storage: Storage | None = None,
        storage_factory: StorageFactory | None = None,
        name: str | None = None,
        indexed_fields: Iterable[str | tuple[str, Any] | IndexedField] = (),
        id_generator: Callable[[], str] | None = None,
        default_status: RevisionStatus = RevisionStatus.stable,
        default_user: UserSource | UnsetType = UNSET,
        default_now: NowSource | UnsetType = UNSET,
        strict_operation_context: bool = False,
        encoding: Encoding = "json",
        schema_version: str | None = None,
        default_limit: int = 50,
        max_limit: int = 1000,
        permission_checker: PermissionChecker | None = None,
        validators: Sequence[ValidatorLike] = (),
        constraint_checkers: Sequence[ConstraintChecker] = (),
        event_handlers: Iterable[EventHandler | Callable[[Any], Any]] = (),
        conflict_timeout: float = 30.0,
        auto_reindex: bool = True,
    ) -> None:
        self.model: type[T] = models.as_struct_type(model)  # type: ignore[assignment]
        self.source_model = model
        self.name = name or kebab_case(getattr(model, "__name__", "resource"))
        if storage is None:
            storage = storage_factory.build(self.name) if storage_factory else MemoryStorage()
        self.storage = storage
        unique = [path for path, _ in models.find_annotated_fields(self.model, Unique)]
        self.index_spec: IndexSpec = build_spec(self.model, indexed_fields, unique)
        self.codec: Codec[T] = Codec(self.model, encoding)
        self.schema_version = schema_version
        self.default_status = RevisionStatus(default_status)
        self.id_generator = id_generator or default_id_generator(self.name)
        self.defaults = ContextDefaults(
            user=default_user, now=default_now, strict=strict_operation_context
        )
        if not 1 <= default_limit <= max_limit:
            raise ValueError("need 1 <= default_limit <= max_limit")
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.pipeline = Pipeline(
            permission_checker=permission_checker,
            validators=validators,
            constraint_checkers=constraint_checkers,
            event_handlers=event_handlers,
        )
        self.conflict_timeout = conflict_timeout
        self._scopes = scope_var(self.name)
        self._bound: Scope | None = None
        self._active = True
        self._stale_paths: frozenset[str] = self.storage.setup(self.index_spec)
        if self._stale_paths and auto_reindex:
            log.info(
                "%s: backfilling new indexed field(s) %s", self.name, sorted(self._stale_paths)
            )
            self.reindex()

    # == context ================================================================================

    @contextmanager
    def using(
        self, *, user: str | UnsetType = UNSET, now: datetime | UnsetType = UNSET
    ) -> Iterator[ResourceOps[T]]:
        """Bind a user and/or time for the calls in a ``with`` block.

        Calls on the manager inside the block use the innermost binding; the yielded
        :class:`ResourceOps` keeps its own binding even when blocks nest, and stops working
        when its block ends.
        """
        if self._bound is not None:
            raise RuntimeError("using() cannot be called on a ResourceOps; use the manager")
        scope = Scope(user=user, now=now)
        ops = ResourceOps._bind(self, scope)
        token = self._scopes.set((scope, *self._scopes.get()))
        try:
            yield ops
        finally:
            self._scopes.reset(token)
            ops._active = False

    def _context(
        self,
        action: str,
        user: str | UnsetType,
        now: datetime | UnsetType,
        *,
        write: bool,
        resource_id: str | None = None,
        **inputs: Any,
    ) -> OperationContext:
        if not self._active:
            raise RuntimeError("this ResourceOps was used outside its using() block")
        scopes = self._scopes.get()
        if self._bound is not None:
            scopes = (self._bound, *scopes)
        u, n = resolve_context(
            action, user=user, now=now, scopes=scopes, defaults=self.defaults, write=write
        )
        ctx = OperationContext(
            action=action,
            resource_name=self.name,
            user=u,
            now=n,
            resource_id=resource_id,
            inputs=inputs,
        )
        self.pipeline.authorize(ctx)
        return ctx

    # == data helpers ===========================================================================

    def _coerce(self, data: Any) -> T:
        return cast(T, models.decode_data(cast(Any, self.model), data))

    def _builtins(self, data: T) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(data, builtin_types=(datetime,))
        return out

    def _indexed(self, data: T) -> dict[str, Any]:
        return extract_indexed(self._builtins(data), self.index_spec)

    def _load(self, rid: str, revision_id: str) -> tuple[RevisionInfo, T]:
        stored = self.storage.get_revision(rid, revision_id)
        if stored is None:
            raise NotFoundError(
                f"revision {revision_id!r} of {rid!r} does not exist",
                resource_id=rid,
                revision_id=revision_id,
            )
        return stored.info, self.codec.decode(stored.data)

    def _meta(self, rid: str, *, include_deleted: bool = False) -> ResourceMeta:
        meta = self.storage.get_meta(rid)
        if meta is None:
            raise NotFoundError(f"{self.name} {rid!r} does not exist", resource_id=rid)
        if meta.is_deleted and not include_deleted:
            raise GoneError(rid)
        return meta

    def _check_expected(self, meta: ResourceMeta, expected: str | None) -> None:
        if expected is not None and meta.current_revision_id != expected:
            raise PreconditionFailedError(meta.resource_id, expected, meta.current_revision_id)

    def _prepare(self, ctx: OperationContext, data: T, *, previous: T | None) -> OperationContext:
        """validate → constraints → before events, for the data about to be written."""
        ctx = msgspec.structs.replace(ctx, data=data)
        self.pipeline.validate(data)
        self.pipeline.check_constraints(data, resource_id=ctx.resource_id, previous=previous)
        self.pipeline.emit(EventPhase.before, ctx)
        return ctx

    def _finish(self, ctx: OperationContext, result: Any) -> None:
        self.pipeline.emit(EventPhase.on_success, ctx, result=result)
        self.pipeline.emit(EventPhase.after, ctx, result=result)

    def _fail(self, ctx: OperationContext, error: BaseException) -> None:
        self.pipeline.emit(EventPhase.on_failure, ctx, error=error)
        self.pipeline.emit(EventPhase.after, ctx, error=error)

    def _retry_conflicts(self, expected: str | None, attempt: Callable[[], Any]) -> Any:
        """Run ``attempt`` until it does not lose a compare-and-swap race.

        With an explicit ``expected`` revision the conflict goes to the caller at once;
        otherwise the attempt re-reads and re-applies (so concurrent patches are never lost).
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

    def _run_write(
        self, ctx: OperationContext, expected: str | None, body: Callable[[], Any]
    ) -> Any:
        try:
            result = self._retry_conflicts(expected, body)
        except Exception as exc:
            self._fail(ctx, exc)
            raise
        self._finish(ctx, result)
        return result

    def _new_revision(self, data: T, status: RevisionStatus | None) -> NewRevision:
        return NewRevision(
            data=self.codec.encode(data),
            data_hash=models.data_hash(data),
            schema_version=self.schema_version,
            status=RevisionStatus(status) if status is not None else self.default_status,
        )

    # == create =================================================================================

    def create(
        self,
        data: T | Mapping[str, Any],
        *,
        resource_id: str | None = None,
        status: RevisionStatus | None = None,
        if_not_exists: bool = False,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Create a resource with its first revision.

        Args:
            resource_id: use this id instead of a generated one.
            if_not_exists: when the id exists already, return its current revision info
                instead of raising :class:`~specstar.core.errors.AlreadyExistsError`.

        Raises:
            ValidationError, AlreadyExistsError, UniqueConstraintError, PermissionDeniedError.
        """
        rid = check_resource_id(resource_id) if resource_id is not None else self.id_generator()
        ctx = self._context("create", user, now, write=True, resource_id=rid, status=status)
        obj = self._coerce(data)

        def attempt() -> RevisionInfo:
            prepared = self._prepare(ctx, obj, previous=None)
            write = Write(
                resource_id=rid,
                expected_revision_id=None,
                time=prepared.now,
                user=prepared.user,
                append=self._new_revision(obj, status),
                indexed_data=self._indexed(obj),
            )
            result = self.storage.commit(write)
            assert result.revision is not None
            return result.revision

        try:
            info: RevisionInfo = self._run_write(ctx, None, attempt)
        except AlreadyExistsError:
            if if_not_exists:
                meta = self._meta(rid, include_deleted=True)
                return self._info(rid, meta.current_revision_id)
            raise
        return info

    # == reads ==================================================================================

    def _info(self, rid: str, revision_id: str) -> RevisionInfo:
        info = self.storage.get_revision_info(rid, revision_id)
        if info is None:
            raise NotFoundError(
                f"revision {revision_id!r} of {rid!r} does not exist",
                resource_id=rid,
                revision_id=revision_id,
            )
        return info

    def get(
        self,
        resource_id: str,
        *,
        revision_id: str | None = None,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> Resource[T]:
        """The current revision (or ``revision_id``) with its data.

        Raises:
            NotFoundError: no such resource or revision. GoneError: soft-deleted.
        """
        self._context("get", user, UNSET, write=False, resource_id=resource_id)
        meta = self._meta(resource_id, include_deleted=include_deleted)
        info, data = self._load(resource_id, revision_id or meta.current_revision_id)
        return Resource(info=info, data=data)

    get_resource_revision = get

    def get_partial(
        self,
        resource_id: str,
        partial: Iterable[str],
        *,
        revision_id: str | None = None,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> dict[str, Any]:
        """Only the parts of the data named by JSON pointers (``"/a/b"``) or dotted paths."""
        pointers = [jsonpointer.format_pointer(jsonpointer.to_pointer(p)) for p in partial]
        res = self.get(
            resource_id, revision_id=revision_id, include_deleted=include_deleted, user=user
        )
        return jsonpointer.project(msgspec.to_builtins(res.data), pointers)

    def get_meta(
        self, resource_id: str, *, include_deleted: bool = False, user: str | UnsetType = UNSET
    ) -> ResourceMeta:
        """The meta record. Raises NotFoundError, or GoneError unless ``include_deleted``."""
        self._context("get_meta", user, UNSET, write=False, resource_id=resource_id)
        return self._meta(resource_id, include_deleted=include_deleted)

    def get_revision_info(
        self,
        resource_id: str,
        revision_id: str | None = None,
        *,
        include_deleted: bool = False,
        user: str | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Information about the current revision (or ``revision_id``)."""
        self._context("get_revision_info", user, UNSET, write=False, resource_id=resource_id)
        meta = self._meta(resource_id, include_deleted=include_deleted)
        return self._info(resource_id, revision_id or meta.current_revision_id)

    def list_revisions(
        self, resource_id: str, *, include_deleted: bool = True, user: str | UnsetType = UNSET
    ) -> list[str]:
        """Ids of all stored revisions, oldest first."""
        return [
            i.revision_id
            for i in self.list_revision_infos(
                resource_id, limit=None, include_deleted=include_deleted, user=user
            )
        ]

    def list_revision_infos(
        self,
        resource_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        include_deleted: bool = True,
        user: str | UnsetType = UNSET,
    ) -> list[RevisionInfo]:
        """Revision information, oldest first, optionally paged."""
        if offset < 0 or (limit is not None and limit < 1):
            raise QueryError("offset must be >= 0 and limit >= 1")
        self._context("list_revisions", user, UNSET, write=False, resource_id=resource_id)
        self._meta(resource_id, include_deleted=include_deleted)
        return self.storage.list_revisions(resource_id, offset=offset, limit=limit)

    def exists(self, resource_id: str, *, include_deleted: bool = False) -> bool:
        """Whether the resource exists (and is not soft-deleted, unless asked)."""
        meta = self.storage.get_meta(resource_id)
        return meta is not None and (include_deleted or not meta.is_deleted)

    def revision_exists(self, resource_id: str, revision_id: str) -> bool:
        """Whether this revision of the resource is stored."""
        return self.storage.get_revision_info(resource_id, revision_id) is not None

    # == changes that append a revision =========================================================

    def _append(
        self,
        action: str,
        resource_id: str,
        make: Callable[[T], T],
        *,
        expected_revision_id: str | None,
        status: RevisionStatus | None,
        user: str | UnsetType,
        now: datetime | UnsetType,
        inputs: dict[str, Any],
    ) -> RevisionInfo:
        ctx = self._context(action, user, now, write=True, resource_id=resource_id, **inputs)

        def attempt() -> RevisionInfo:
            meta = self._meta(resource_id)
            self._check_expected(meta, expected_revision_id)
            current_info, current = self._load(resource_id, meta.current_revision_id)
            new = make(current)
            new_status = RevisionStatus(status) if status is not None else self.default_status
            if models.data_hash(new) == current_info.data_hash and (
                status is None or new_status == current_info.status
            ):
                return current_info  # identical data: no new revision
            prepared = self._prepare(ctx, new, previous=current)
            result = self.storage.commit(
                Write(
                    resource_id=resource_id,
                    expected_revision_id=meta.current_revision_id,
                    time=prepared.now,
                    user=prepared.user,
                    append=self._new_revision(new, status),
                    indexed_data=self._indexed(new),
                )
            )
            assert result.revision is not None
            return result.revision

        info: RevisionInfo = self._run_write(ctx, expected_revision_id, attempt)
        return info

    def update(
        self,
        resource_id: str,
        data: T | Mapping[str, Any],
        *,
        expected_revision_id: str | None = None,
        status: RevisionStatus | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Replace the data with a new revision (no new revision when the data is identical)."""
        obj = self._coerce(data)
        return self._append(
            "update",
            resource_id,
            lambda _current: obj,
            expected_revision_id=expected_revision_id,
            status=status,
            user=user,
            now=now,
            inputs={},
        )

    def create_or_update(
        self,
        resource_id: str,
        data: T | Mapping[str, Any],
        *,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Create the resource with this id, or update it when it exists."""
        while True:
            try:
                return self.update(resource_id, data, user=user, now=now)
            except NotFoundError as exc:
                if exc.resource_id != resource_id or exc.revision_id is not None:
                    raise
            try:
                return self.create(data, resource_id=resource_id, user=user, now=now)
            except AlreadyExistsError:
                continue  # created concurrently: update it

    def _patched(self, current: T, apply: Callable[[Any], Any]) -> T:
        doc = msgspec.to_builtins(current)
        return self._coerce(apply(doc))

    def patch(
        self,
        resource_id: str,
        operations: Sequence[Mapping[str, Any]],
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Apply an RFC 6902 JSON Patch to the current data as a new revision.

        Without ``expected_revision_id`` a concurrent write makes the patch re-apply to the
        fresh data, so concurrent patches are never lost.
        """
        if isinstance(operations, Mapping) or not isinstance(operations, Sequence):
            raise PatchError("a JSON Patch is a list of operations")
        ops = list(operations)
        return self._append(
            "patch",
            resource_id,
            lambda cur: self._patched(cur, lambda doc: apply_json_patch(doc, ops)),
            expected_revision_id=expected_revision_id,
            status=None,
            user=user,
            now=now,
            inputs={"operations": ops},
        )

    def merge_patch(
        self,
        resource_id: str,
        document: Mapping[str, Any],
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Apply an RFC 7386 JSON merge patch to the current data as a new revision."""
        if not isinstance(document, Mapping):
            raise PatchError("a merge patch document must be a JSON object")
        doc = dict(document)
        return self._append(
            "merge_patch",
            resource_id,
            lambda cur: self._patched(cur, lambda d: apply_merge_patch(d, doc)),
            expected_revision_id=expected_revision_id,
            status=None,
            user=user,
            now=now,
            inputs={"document": doc},
        )

    # == in-place edit of drafts ================================================================

    def modify(
        self,
        resource_id: str,
        data: T | Mapping[str, Any] | Sequence[Mapping[str, Any]] | UnsetType = UNSET,
        status: RevisionStatus | UnsetType = UNSET,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> RevisionInfo:
        """Edit the current revision in place; allowed only while it is a draft.

        ``data`` is new data or a JSON Patch (list of operations); ``status`` may move the
        revision from draft to stable, after which it is immutable.

        Raises:
            RevisionNotDraftError: the current revision is stable.
        """
        ctx = self._context("modify", user, now, write=True, resource_id=resource_id)
        new_obj: T | None = None
        ops: list[Mapping[str, Any]] | None = None
        if isinstance(data, list | tuple):
            ops = list(data)
        elif data is not UNSET:
            new_obj = self._coerce(data)

        def attempt() -> RevisionInfo:
            meta = self._meta(resource_id)
            self._check_expected(meta, expected_revision_id)
            info, current = self._load(resource_id, meta.current_revision_id)
            if info.status != RevisionStatus.draft:
                raise RevisionNotDraftError(resource_id, info.revision_id)
            if ops is not None:
                new = self._patched(current, lambda doc: apply_json_patch(doc, ops))
            else:
                new = new_obj if new_obj is not None else current
            new_status = info.status if status is UNSET else RevisionStatus(status)
            digest = models.data_hash(new)
            if digest == info.data_hash and new_status == info.status:
                return info
            prepared = self._prepare(ctx, new, previous=current)
            result = self.storage.commit(
                Write(
                    resource_id=resource_id,
                    expected_revision_id=meta.current_revision_id,
                    time=prepared.now,
                    user=prepared.user,
                    rewrite=RevisionRewrite(
                        data=self.codec.encode(new),
                        data_hash=digest,
                        schema_version=self.schema_version,
                        status=new_status,
                    ),
                    indexed_data=self._indexed(new),
                )
            )
            assert result.revision is not None
            return result.revision

        info: RevisionInfo = self._run_write(ctx, expected_revision_id, attempt)
        return info

    # == pointer and flag changes ===============================================================

    def switch(
        self,
        resource_id: str,
        revision_id: str,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Make an existing revision current again (no revision is written or changed)."""
        ctx = self._context(
            "switch", user, now, write=True, resource_id=resource_id, revision_id=revision_id
        )

        def attempt() -> ResourceMeta:
            meta = self._meta(resource_id)
            self._check_expected(meta, expected_revision_id)
            if meta.current_revision_id == revision_id:
                return meta
            _, target = self._load(resource_id, revision_id)
            _, current = self._load(resource_id, meta.current_revision_id)
            prepared = self._prepare(ctx, target, previous=current)
            return self.storage.commit(
                Write(
                    resource_id=resource_id,
                    expected_revision_id=meta.current_revision_id,
                    time=prepared.now,
                    user=prepared.user,
                    switch_to=revision_id,
                    indexed_data=self._indexed(target),
                )
            ).meta

        meta: ResourceMeta = self._run_write(ctx, expected_revision_id, attempt)
        return meta

    def delete(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Soft-delete: hidden from reads and searches, history kept, unique values released.

        Raises:
            GoneError: already deleted.
        """
        ctx = self._context("delete", user, now, write=True, resource_id=resource_id)

        def attempt() -> ResourceMeta:
            meta = self._meta(resource_id)
            self._check_expected(meta, expected_revision_id)
            self.pipeline.emit(EventPhase.before, ctx)
            return self.storage.commit(
                Write(
                    resource_id=resource_id,
                    expected_revision_id=meta.current_revision_id,
                    time=ctx.now,
                    user=ctx.user,
                    is_deleted=True,
                )
            ).meta

        meta: ResourceMeta = self._run_write(ctx, expected_revision_id, attempt)
        return meta

    def restore(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Undo a soft delete (a live resource is returned unchanged).

        Raises:
            UniqueConstraintError: another resource took one of its unique values meanwhile.
        """
        ctx = self._context("restore", user, now, write=True, resource_id=resource_id)

        def attempt() -> ResourceMeta:
            meta = self._meta(resource_id, include_deleted=True)
            self._check_expected(meta, expected_revision_id)
            if not meta.is_deleted:
                return meta
            _, current = self._load(resource_id, meta.current_revision_id)
            prepared = self._prepare(ctx, current, previous=None)
            return self.storage.commit(
                Write(
                    resource_id=resource_id,
                    expected_revision_id=meta.current_revision_id,
                    time=prepared.now,
                    user=prepared.user,
                    is_deleted=False,
                )
            ).meta

        meta: ResourceMeta = self._run_write(ctx, expected_revision_id, attempt)
        return meta

    def permanently_delete(
        self,
        resource_id: str,
        *,
        expected_revision_id: str | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> ResourceMeta:
        """Remove the resource and its whole history for good. Returns the last meta."""
        ctx = self._context("permanently_delete", user, now, write=True, resource_id=resource_id)

        def attempt() -> ResourceMeta:
            meta = self._meta(resource_id, include_deleted=True)
            self._check_expected(meta, expected_revision_id)
            self.pipeline.emit(EventPhase.before, ctx)
            return self.storage.purge(resource_id, meta.current_revision_id)

        meta: ResourceMeta = self._run_write(ctx, expected_revision_id, attempt)
        return meta

    def prune_revisions(
        self,
        resource_id: str,
        *,
        keep_last_n: int | None = None,
        before: datetime | None = None,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
    ) -> int:
        """Remove old revisions; the current one is always kept. Returns how many went.

        Args:
            keep_last_n: keep the newest ``n`` revisions (by allocation order).
            before: only remove revisions created before this time.
            At least one of the two is required; with both, a revision goes only when it is
            outside the newest ``n`` *and* older than ``before``.
        """
        if keep_last_n is None and before is None:
            raise ValueError("prune_revisions needs keep_last_n and/or before")
        if keep_last_n is not None and keep_last_n < 0:
            raise ValueError("keep_last_n must be >= 0")
        ctx = self._context(
            "prune", user, now, write=True, resource_id=resource_id, keep_last_n=keep_last_n
        )

        def attempt() -> int:
            meta = self._meta(resource_id, include_deleted=True)
            infos = self.storage.list_revisions(resource_id)
            if keep_last_n is not None:
                candidates = infos[: max(0, len(infos) - keep_last_n)]
            else:
                candidates = infos
            if before is not None:
                cutoff = before if before.tzinfo else before.astimezone()
                candidates = [i for i in candidates if i.created_time < cutoff]
            victims = [
                i.revision_id for i in candidates if i.revision_id != meta.current_revision_id
            ]
            if not victims:
                return 0
            self.pipeline.emit(EventPhase.before, ctx)
            try:
                return self.storage.prune(resource_id, victims)
            except ConflictError as exc:
                # the current revision moved into the victims meanwhile: recompute
                raise PreconditionFailedError(resource_id, meta.current_revision_id, None) from exc

        removed: int = self._run_write(ctx, None, attempt)
        return removed

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

    def search_page(
        self, query: Query | Expr | None = None, *, user: str | UnsetType = UNSET
    ) -> Page[ResourceMeta]:
        """One page of matching meta records, with the cursor to the next page."""
        resolved = self.resolve(query)
        self._context("search", user, UNSET, write=False, query=resolved)
        return self.storage.search(resolved)

    def search(
        self, query: Query | Expr | None = None, *, user: str | UnsetType = UNSET
    ) -> list[ResourceMeta]:
        """Matching meta records (one page: ``limit`` rows at most)."""
        return self.search_page(query, user=user).items

    search_resources = search

    def count(self, query: Query | Expr | None = None, *, user: str | UnsetType = UNSET) -> int:
        """Number of matching resources (limit/offset/cursor are ignored)."""
        resolved = self.resolve(query)
        self._context("count", user, UNSET, write=False, query=resolved)
        return self.storage.count(resolved)

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
        self, query: Query | Expr | None = None, *, page_size: int | None = None
    ) -> Iterator[ResourceMeta]:
        """Every matching meta record, page by page with a cursor (for bulk work)."""
        base = query if isinstance(query, Query) else Query(where=query)
        q = base.replace(limit=page_size or self.max_limit, cursor=None, offset=0)
        while True:
            page = self.search_page(q)
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
            total = self.count(Query(is_deleted=None))
            changed = 0
            for done, meta in enumerate(self.iter_all(Query(is_deleted=None)), start=1):
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

    def __repr__(self) -> str:
        return f"ResourceManager({self.model.__name__}, name={self.name!r})"


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


class ResourceOps(ResourceManager[T]):
    """A view of a manager bound to the user/time of a ``using()`` block.

    It shares the manager's storage and configuration; calling it after its block ended raises
    ``RuntimeError``, and ``using()`` cannot be nested on it.
    """

    @classmethod
    def _bind(cls, manager: ResourceManager[T], scope: Scope) -> ResourceOps[T]:
        ops: ResourceOps[T] = cls.__new__(cls)
        ops.__dict__.update(manager.__dict__)
        ops._bound = scope
        ops._active = True
        return ops

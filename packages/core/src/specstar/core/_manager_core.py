"""Shared state and helpers of the ResourceManager (context, data, pipeline plumbing)."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import msgspec
from msgspec import UNSET, UnsetType

from . import models
from .annotations import Unique
from .codec import Codec, Encoding
from .context import ContextDefaults, NowSource, Scope, UserSource, resolve_context, scope_var
from .errors import (
    ConflictError,
    FieldError,
    GoneError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    ValidationError,
)
from .indexes import IndexedField, IndexSpec, build_spec, extract_indexed
from .memory import MemoryStorage
from .naming import default_id_generator, kebab_case
from .pipeline import (
    ConstraintChecker,
    EventHandler,
    EventPhase,
    OperationContext,
    PermissionChecker,
    Pipeline,
    Unrestricted,
    ValidatorLike,
)
from .ports import CommitResult, NewRevision, Storage, StorageFactory, Write
from .query import evaluate
from .query.ast import Expr
from .query.resolve import resolve_query
from .refs import RefField, RefType, Registry, collect_refs
from .schema import Schema, make_validator
from .types import (
    ResourceMeta,
    RevisionInfo,
    RevisionStatus,
)

T = TypeVar("T")
log = logging.getLogger("specstar.manager")


class ManagerCore(Generic[T]):
    """State and helpers shared by the manager's operation groups."""

    def __init__(
        self,
        model: type[T] | Schema[T],
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
        constraint_checkers: Sequence[ConstraintChecker | Callable[[Any], ConstraintChecker]] = (),
        event_handlers: Iterable[EventHandler | Callable[[Any], Any]] = (),
        conflict_timeout: float = 30.0,
        auto_reindex: bool = True,
        registry: Registry | None = None,
        validate_refs: bool = False,
        migration: Schema[T] | None = None,
    ) -> None:
        if isinstance(model, Schema):
            if migration is not None:
                raise ValueError("pass either a Schema or migration=, not both")
            migration, model = model, model.resource_type
        if migration is not None:
            if schema_version is not None and schema_version != migration.version:
                raise ValueError(
                    f"schema_version {schema_version!r} contradicts the Schema's "
                    f"{migration.version!r}"
                )
            schema_version = migration.version
            migration.set_encoding(encoding)
            if migration.has_validator:
                validators = [migration.validate, *validators]
        elif models.is_pydantic_model(model) and not validators:
            validators = [model]  # a Pydantic model validates its own data by default
        self.schema: Schema[T] | None = migration
        self.model: type[T] = models.as_struct_type(model)  # type: ignore[assignment]
        self.source_model = model
        self.name = name or kebab_case(getattr(model, "__name__", "resource"))
        if storage is None:
            storage = storage_factory.build(self.name) if storage_factory else MemoryStorage()
        self.storage = storage
        unique = [path for path, _ in models.find_annotated_fields(self.model, Unique)]
        self.refs: list[RefField] = collect_refs(self.model)
        declared = list(indexed_fields)
        for ref in self.refs:  # resource references are indexed so referrers are found fast
            if ref.ref_type is RefType.resource_id and ref.path not in _paths(declared):
                declared.append(ref.path)
        self.index_spec: IndexSpec = build_spec(self.model, declared, unique)
        self.registry = registry
        self.validate_refs = validate_refs
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
            validators=[make_validator(v) for v in validators],
            constraint_checkers=[
                c if isinstance(c, ConstraintChecker) else c(self) for c in constraint_checkers
            ],
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
        if registry is not None:
            registry.add(self)  # type: ignore[arg-type]

    def reindex(self, *, progress: Callable[[int, int], None] | None = None) -> int:
        """Backfill indexed values; implemented by the search operations."""
        raise NotImplementedError

    # == context ================================================================================

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
        info = stored.info
        if self.schema is not None and info.schema_version != self.schema_version:
            return info, self.schema.migrate(stored.data, info.schema_version)  # lazy migration
        return info, self.codec.decode(stored.data)

    def _info(self, rid: str, revision_id: str) -> RevisionInfo:
        info = self.storage.get_revision_info(rid, revision_id)
        if info is None:
            raise NotFoundError(
                f"revision {revision_id!r} of {rid!r} does not exist",
                resource_id=rid,
                revision_id=revision_id,
            )
        return info

    def _meta(self, ctx: OperationContext, *, include_deleted: bool = False) -> ResourceMeta:
        """The meta of ``ctx.resource_id`` as this user may see it.

        Raises:
            NotFoundError: it does not exist, or lies outside the user's access scope.
            GoneError: it is soft-deleted (unless ``include_deleted``).
            PermissionDeniedError: the user's access scope is empty.
        """
        rid = ctx.resource_id
        assert rid is not None
        meta = self.storage.get_meta(rid)
        if meta is None or not self._in_scope(ctx, meta):
            raise NotFoundError(f"{self.name} {rid!r} does not exist", resource_id=rid)
        if meta.is_deleted and not include_deleted:
            raise GoneError(rid)
        return meta

    def _scope(self, ctx: OperationContext) -> Expr | Unrestricted:
        """The user's row filter for this action; an empty scope is a permission error."""
        scope = self.pipeline.access_scope(ctx)
        if scope is None:
            raise PermissionDeniedError(
                f"{ctx.user!r} may not access any {self.name}", user=ctx.user, action=ctx.action
            )
        return scope

    def _in_scope(self, ctx: OperationContext, meta: ResourceMeta) -> bool:
        scope = self._scope(ctx)
        return isinstance(scope, Unrestricted) or evaluate.matches(
            resolve_query(scope, self.index_spec).where, meta
        )

    def _check_expected(self, meta: ResourceMeta, expected: str | None) -> None:
        if expected is not None and meta.current_revision_id != expected:
            raise PreconditionFailedError(meta.resource_id, expected, meta.current_revision_id)

    def _prepare(
        self, ctx: OperationContext, data: T, *, previous: T | None, meta: ResourceMeta | None
    ) -> OperationContext:
        """authorize the data → validate → constraints → before events, for new data.

        ``meta`` is the resource's meta before the write (``None`` for creates); the row the
        write produces must lie inside the user's access scope too, so a write can neither
        create a row its author could not see nor move one out of their sight.
        """
        ctx = msgspec.structs.replace(ctx, data=data, previous=previous)
        self.pipeline.authorize_data(ctx)
        self._check_scope_after(ctx, data, meta)
        self.pipeline.validate(data)
        if self.validate_refs and self.registry is not None:
            self.registry.check_refs(self, data, previous)  # type: ignore[arg-type]
        self.pipeline.check_constraints(data, resource_id=ctx.resource_id, previous=previous)
        self.pipeline.emit(EventPhase.before, ctx)
        return ctx

    def _check_scope_after(self, ctx: OperationContext, data: T, meta: ResourceMeta | None) -> None:
        scope = self._scope(ctx)
        if isinstance(scope, Unrestricted):
            return
        assert ctx.resource_id is not None
        if meta is None:
            meta = ResourceMeta(
                resource_id=ctx.resource_id,
                current_revision_id="",
                schema_version=self.schema_version,
                total_revision_count=0,
                revision_seq=0,
                created_time=ctx.now,
                created_by=ctx.user,
                updated_time=ctx.now,
                updated_by=ctx.user,
            )
        after = msgspec.structs.replace(
            meta,
            indexed_data=self._indexed(data),
            updated_time=ctx.now,
            updated_by=ctx.user,
            is_deleted=False,
        )
        if not evaluate.matches(resolve_query(scope, self.index_spec).where, after):
            raise PermissionDeniedError(
                f"{ctx.user!r} may not {ctx.action} {self.name} {ctx.resource_id!r} into this "
                "state: the result would lie outside their access scope",
                user=ctx.user,
                action=ctx.action,
            )

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

    def _commit(
        self, ctx: OperationContext, expected_revision_id: str | None, **changes: Any
    ) -> CommitResult:
        """One storage commit for the resource of ``ctx``, by its user at its time."""
        assert ctx.resource_id is not None
        return self.storage.commit(
            Write(
                resource_id=ctx.resource_id,
                expected_revision_id=expected_revision_id,
                time=ctx.now,
                user=ctx.user,
                **changes,
            )
        )

    def _encode(self, data: T) -> tuple[bytes, str]:
        """The bytes to store and the content hash, from one canonical encoding.

        With JSON storage the canonical JSON (members sorted) is stored as it is, so the data
        is encoded once per write.
        """
        try:
            canonical = models.canonical_json(data)
        except UnicodeEncodeError as exc:
            raise ValidationError(
                "text must be valid Unicode: unpaired surrogate characters cannot be stored",
                [FieldError("", f"unpaired surrogate {exc.object[exc.start : exc.end]!r}")],
            ) from None
        digest = "sha256:" + hashlib.sha256(canonical).hexdigest()
        stored = canonical if self.codec.encoding == "json" else self.codec.encode(data)
        return stored, digest

    def _new_revision(
        self, encoded: tuple[bytes, str], status: RevisionStatus | None
    ) -> NewRevision:
        return NewRevision(
            data=encoded[0],
            data_hash=encoded[1],
            schema_version=self.schema_version,
            status=RevisionStatus(status) if status is not None else self.default_status,
        )


def _paths(declared: Iterable[str | tuple[str, Any] | IndexedField]) -> set[str]:
    return {
        d if isinstance(d, str) else d.path if isinstance(d, IndexedField) else str(d[0])
        for d in declared
    }

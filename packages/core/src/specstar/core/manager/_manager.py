"""The ResourceManager: the public verbs, each resolving its context through the guard and
running a read or a write through the pieces of this package."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from msgspec import UNSET, UnsetType

from .. import models
from ..annotations import Unique
from ..binary import Binary, find_binaries, has_binary_fields, load_binaries, store_binaries
from ..blobs import DEFAULT_MAX_FILE_BYTES, BlobStore
from ..codec import Encoding
from ..context import ContextDefaults, NowSource, Scope, UserSource
from ..errors import NotFoundError
from ..indexes import IndexedField, IndexSpec, build_spec
from ..naming import check_resource_id, default_id_generator, kebab_case
from ..pipeline import (
    CheckerLike,
    ConstraintChecker,
    HandlerLike,
    OperationContext,
    Pipeline,
    Unrestricted,
    ValidatorLike,
)
from ..ports import Storage, StorageFactory
from ..query.ast import Expr
from ..refs import RefField, RefType, Registry, collect_refs
from ..schema import IMigration, Schema, make_validator
from ..types import (
    RevisionStatus,
)
from ._binding import Binding
from ._changes import Changes
from ._defaults import default_blob_store, default_storage
from ._guard import Guard
from ._maintenance import Maintenance
from ._reader import IndexState, Reader
from ._write_path import WritePath
from ._writer import ResourceWriter

__all__ = ["ResourceManager", "ResourceOps"]

T = TypeVar("T")
log = logging.getLogger("specstar.manager")


class ResourceManager(ResourceWriter[T]):
    """Versioned resources of one model: create, read, change, search, history.

    Args:
        model: a ``msgspec.Struct`` type, a Pydantic v2 model (converted to a Struct and used
            as validator), or a :class:`~specstar.core.schema.Schema` (version, migrations
            and validator in one).
        storage: the :class:`~specstar.core.ports.Storage` to use; by default one from
            ``storage_factory``, else the package default (a new in-memory storage).
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
        permission_checker, validators, constraint_checkers, event_handlers: pipeline stages;
            validators may be callables, ``IValidator`` instances or classes, or Pydantic
            models; a constraint checker may be given as a factory called with the manager.
            ``before`` handlers run once per compare-and-swap attempt (see
            :class:`~specstar.core.pipeline.EventPhase`).
        conflict_timeout: seconds a write without ``expected_revision_id`` keeps retrying
            compare-and-swap conflicts before raising :class:`ConflictError`.
        auto_reindex: when the store reports indexed fields added since it last saw this
            model, backfill them at start-up (:meth:`reindex`); otherwise queries on them
            raise :class:`QueryError` until :meth:`reindex` runs.
        registry: the :class:`~specstar.core.refs.Registry` of the application; references
            to and from this model are followed through it.
        validate_refs: reject writes whose new references name no live resource.
        migration: a :class:`~specstar.core.schema.Schema` for a plain ``model``, or an
            :class:`~specstar.core.schema.IMigration` (wrapped by ``Schema.from_legacy``).
        allow_unknown_fields: accept (and drop) members of written data that the model does
            not declare; by default such a member is a :class:`ValidationError` naming it
            (JSON Patch and merge patch results included). Stored data read through a
            ``Schema``'s migrations is never affected.
        client_ids: whether a create may choose its resource id (``create(resource_id=)``,
            ``put``/``create_or_update`` of a new id). With ``False`` every id is generated,
            and a client-chosen one raises :class:`~specstar.core.errors.ClientIdsDisabledError`
            before anything is read: client-chosen ids answer whether an id is taken, even
            one the user may not see, so models whose ids must not be probed turn them off.
        blob_store: where :class:`~specstar.core.binary.Binary` fields keep their files
            (default: ``storage_factory.blob_store()``, else the package default, a blob
            store in memory shared by such managers).
    """

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
        permission_checker: CheckerLike | None = None,
        validators: Sequence[ValidatorLike] = (),
        constraint_checkers: Sequence[ConstraintChecker | Callable[[Any], ConstraintChecker]] = (),
        event_handlers: Iterable[HandlerLike] = (),
        conflict_timeout: float = 30.0,
        auto_reindex: bool = True,
        registry: Registry[Any] | None = None,
        validate_refs: bool = False,
        migration: Schema[T] | IMigration | None = None,
        allow_unknown_fields: bool = False,
        client_ids: bool = True,
        blob_store: BlobStore | None = None,
    ) -> None:
        if isinstance(model, Schema):
            if migration is not None:
                raise ValueError("pass either a Schema or migration=, not both")
            migration, model = model, model.resource_type
        elif migration is not None and not isinstance(migration, Schema):
            migration = Schema.from_legacy(migration, model)
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
        if not 1 <= default_limit <= max_limit:
            raise ValueError("need 1 <= default_limit <= max_limit")
        self.schema: Schema[T] | None = migration
        self.model: type[T] = models.as_struct_type(model)  # type: ignore[assignment]
        self.source_model = model
        self.name = name or kebab_case(getattr(model, "__name__", "resource"))
        if storage is None:
            storage = storage_factory.build(self.name) if storage_factory else None
        self.storage: Storage = storage or default_storage(self.name)
        if blob_store is None and storage_factory is not None:
            blob_store = storage_factory.blob_store()
        self._blob_store = blob_store
        #: Called with the file ids a write references before it commits (the blob
        #: collector's claims, :class:`~specstar.core.blob_gc.BlobClaims`; ``None``: none).
        self.blob_claims: Callable[[set[str]], None] | None = None
        #: The longest inline ``Binary`` data a write may carry, in bytes (``SpecStar`` sets
        #: the app's ``max_file_bytes``); longer data is a ``ContentTooLargeError``.
        self.max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
        self.has_binary_fields = has_binary_fields(self.model)
        unique = {
            path: marker.normalize
            for path, marker in models.find_annotated_fields(self.model, Unique)
        }
        self.refs: list[RefField] = collect_refs(self.model)
        declared = list(indexed_fields)
        for ref in self.refs:  # resource references are indexed so referrers are found fast
            if ref.ref_type is RefType.resource_id and ref.path not in _paths(declared):
                declared.append(ref.path)
        self.index_spec: IndexSpec = build_spec(self.model, declared, unique)
        self.registry = registry
        self.validate_refs = validate_refs
        self.schema_version = schema_version
        self.default_status = RevisionStatus(default_status)
        self.id_generator = id_generator or default_id_generator(self.name)
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.conflict_timeout = conflict_timeout
        self._binding: Binding[T] = Binding(
            self.model,
            encoding=encoding,
            index_spec=self.index_spec,
            schema=migration,
            schema_version=schema_version,
            default_status=self.default_status,
            allow_unknown_fields=allow_unknown_fields,
            store_binaries=self._store_binaries if self.has_binary_fields else None,
        )
        self.allow_unknown_fields = allow_unknown_fields
        if not isinstance(client_ids, bool):
            raise TypeError(f"client_ids must be a bool, not {client_ids!r}")
        self.client_ids = client_ids
        self.codec = self._binding.codec
        self.pipeline = Pipeline(
            permission_checker=permission_checker,
            validators=[make_validator(v) for v in validators],
            constraint_checkers=[
                c if isinstance(c, ConstraintChecker) else c(self) for c in constraint_checkers
            ],
            event_handlers=event_handlers,
        )
        defaults = ContextDefaults(
            user=default_user, now=default_now, strict=strict_operation_context
        )
        guard = Guard(self.name, self.pipeline, defaults, self.index_spec)
        self._index_state = IndexState(self.storage.setup(self.index_spec))
        self._assemble(guard)
        if self._index_state.stale and auto_reindex:
            stale = sorted(self._index_state.stale)
            log.info("%s: backfilling new indexed field(s) %s", self.name, stale)
            self.reindex()
        if registry is not None:
            registry.add(self)

    def _assemble(self, guard: Guard) -> None:
        """Compose the pieces around ``guard`` (the manager's, or a ``using()`` view's)."""
        self._guard = guard
        self._reader: Reader[T] = Reader(
            name=self.name,
            storage=self.storage,
            guard=guard,
            binding=self._binding,
            default_limit=self.default_limit,
            max_limit=self.max_limit,
            index_state=self._index_state,
        )
        path: WritePath[T] = WritePath(
            storage=self.storage,
            guard=guard,
            binding=self._binding,
            pipeline=self.pipeline,
            conflict_timeout=self.conflict_timeout,
            check_refs=self._check_refs if self.validate_refs else None,
        )
        self._changes: Changes[T] = Changes(path)
        self._maintenance: Maintenance[T] = Maintenance(
            name=self.name, reader=self._reader, path=path, migrate=self.migrate
        )

    def _check_refs(self, ctx: OperationContext, data: T, previous: T | None) -> None:
        if self.registry is not None:
            as_user = None if self._guard.system else ctx.user
            self.registry.check_refs(
                self, data, previous, user=as_user, resource_id=ctx.resource_id
            )

    def _for_system(self) -> ResourceManager[T]:
        view: ResourceManager[T] = ResourceManager.__new__(ResourceManager)
        view.__dict__.update(self.__dict__)
        view._assemble(self._guard.for_system())
        return view

    @property
    def _stale_paths(self) -> frozenset[str]:
        return self._index_state.stale

    # == context ================================================================================

    @contextmanager
    def using(
        self,
        *,
        user: str | UnsetType = UNSET,
        now: datetime | UnsetType = UNSET,
        resource_id: str | UnsetType = UNSET,
    ) -> Iterator[ResourceOps[T]]:
        """Bind a user, a time and/or a resource id for the calls in a ``with`` block.

        Calls on the manager inside the block use the innermost binding; the yielded
        :class:`ResourceOps` keeps its own binding even when blocks nest, and stops working
        when its block ends. ``resource_id`` is the id a ``create`` without an explicit
        ``resource_id`` gives the resource it creates.
        """
        if self._guard.bound is not None:
            raise RuntimeError("using() cannot be called on a ResourceOps; use the manager")
        if not isinstance(resource_id, UnsetType):
            check_resource_id(resource_id)
        scope = Scope(user=user, now=now, resource_id=resource_id)
        ops = ResourceOps._bind(self, scope)
        token = self._guard.scopes.set((scope, *self._guard.scopes.get()))
        try:
            yield ops
        finally:
            self._guard.scopes.reset(token)
            ops._guard.active = False

    def authorize(
        self, action: str, *, user: str | UnsetType = UNSET, resource_id: str | None = None
    ) -> Expr | Unrestricted:
        """Ask the permission checker whether ``user`` may perform ``action`` at all.

        For operations an application runs over many resources (batches, custom actions),
        before it runs them one by one: the checker's ``check`` runs (with ``resource_id``
        when given, and its ``check_resource`` on that resource's meta when it has one), and
        the user's access scope for the action is returned: a filter the rows they may act on
        match, or ``UNRESTRICTED``. Nothing is changed.

        Raises:
            PermissionDeniedError: the checker denies the action, or its scope is empty.
            MissingOperationContextError: a write action without a user, under
                ``strict_operation_context``.
        """
        ctx = self._guard.context(action, user, UNSET, resource_id=resource_id)
        if resource_id is not None and self.pipeline.stages.check_resource is not None:
            meta = self.storage.get_meta(resource_id)  # the checker decides on the meta
            if meta is not None:
                self._guard.admits(ctx, meta)
        return self._guard.scope(ctx)

    # == blobs ==================================================================================

    @property
    def blob_store(self) -> BlobStore:
        """The store of this model's files (see the ``blob_store`` argument)."""
        if self._blob_store is None:
            self._blob_store = default_blob_store(self.name)
        return self._blob_store

    def _store_binaries(self, data: Any) -> Any:
        stored = store_binaries(data, self.blob_store, max_bytes=self.max_file_bytes)
        claims = self.blob_claims
        if claims is not None:  # the files leave the blob collector's quarantine
            claims({b.file_id for _, b in find_binaries(stored) if isinstance(b.file_id, str)})
        return stored

    def get_blob(self, file_id: str) -> Binary:
        """A stored file with its content.

        Raises:
            NotFoundError: no file has this id.
        """
        info, data = self.blob_store.get(file_id)
        return Binary(
            file_id=info.file_id, size=info.size, content_type=info.content_type, data=data
        )

    def get_blob_url(self, file_id: str) -> str | None:
        """A URL that downloads the file directly where the blob store has such URLs
        (presigned, expiring), else ``None``.

        Raises:
            NotFoundError: no file has this id.
        """
        if self.blob_store.info(file_id) is None:
            raise NotFoundError(f"blob {file_id!r} does not exist")
        return self.blob_store.url(file_id)

    def load_blobs(self, data: T) -> T:
        """``data`` (as read) with the content of every :class:`Binary` in its ``data``.

        Raises:
            NotFoundError: a referenced file is missing.
        """
        return load_binaries(data, self.blob_store)

    def __repr__(self) -> str:
        return f"ResourceManager({self.model.__name__}, name={self.name!r})"


class ResourceOps(ResourceManager[T]):
    """A view of a manager bound to the user/time of a ``using()`` block.

    It shares the manager's storage and configuration; calling it after its block ended raises
    ``RuntimeError``, and ``using()`` cannot be nested on it.
    """

    @classmethod
    def _bind(cls, manager: ResourceManager[T], scope: Scope) -> ResourceOps[T]:
        ops: ResourceOps[T] = cls.__new__(cls)
        ops.__dict__.update(manager.__dict__)
        ops._assemble(manager._guard.bind(scope))
        return ops


def _paths(declared: Iterable[str | tuple[str, Any] | IndexedField]) -> set[str]:
    return {
        d if isinstance(d, str) else d.path if isinstance(d, IndexedField) else str(d[0])
        for d in declared
    }

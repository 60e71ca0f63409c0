"""The :class:`SpecStar` app object: register models, generate their REST API."""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, BinaryIO, Literal, TypeVar, cast

import msgspec
from msgspec import UNSET, UnsetType
from starlette.exceptions import HTTPException

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from specstar.core import (
    BackgroundTaskAccepted,
    BlobClaims,
    BlobUploads,
    BlobUploadSession,
    CheckerLike,
    ConstraintChecker,
    DumpStats,
    Encoding,
    HandlerLike,
    IMigration,
    IndexedField,
    IValidator,
    JobHandler,
    JobManager,
    JobRedirectInfo,
    LoadStats,
    Lock,
    LockBackend,
    Locks,
    MemoryMessageQueueFactory,
    MemoryStorageFactory,
    MessageQueueFactory,
    ModelQuery,
    OnDuplicate,
    ProgressCallback,
    Registry,
    ResourceManager,
    RevisionInfo,
    RevisionStatus,
    Schema,
    SpecStarError,
    Storage,
    StorageFactory,
    combine_handlers,
    dump,
    is_job_model,
    load,
    relationships,
)
from specstar.core.spi import DEFAULT_MAX_FILE_BYTES, check_max_file_bytes

from ._admin import enable_admin
from ._route_order import unshadowed
from .action_jobs import make_job_handler, make_job_model, payload_fields
from .custom_actions import CustomAction, action_extensions, make_action
from .dependencies import DependencyProvider
from .naming import NAME_RE, ModelNaming, resource_name
from .openapi import build_components, install_openapi
from .problems import handle_http_exception, handle_request_validation_error, handle_specstar_error
from .routes import (
    DEFAULT_TEMPLATES,
    ActionRouteTemplate,
    BaseRouteTemplate,
    BlobRouteTemplate,
    MigrateRouteTemplate,
    RouteTemplate,
)

__all__ = ["ModelNaming", "SpecStar", "crud", "install_problem_handlers"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

ValidatorLike = Callable[[Any], Any] | IValidator | type
TemplateSpec = Sequence[RouteTemplate] | Mapping[type[RouteTemplate], Mapping[str, Any]]


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` an ``application/problem+json`` response.

    The generated routes do this on their own; this also covers the app's other routes:
    :class:`~specstar.core.SpecStarError` raised anywhere, invalid parameters (422) and
    Starlette's HTTP errors such as an unknown path (404) or method (405).
    """
    app.add_exception_handler(SpecStarError, handle_specstar_error)
    app.add_exception_handler(RequestValidationError, handle_request_validation_error)
    app.add_exception_handler(HTTPException, handle_http_exception)


class SpecStar:
    """Registers resource models and generates their REST API on a FastAPI app or router.

    Typical setup::

        app = FastAPI()
        crud.configure(storage_factory=SQLiteStorageFactory("./data"))
        crud.add_model(Book, indexed_fields=["year"])
        crud.apply(app)

    Args:
        model_naming: how a model class becomes its resource name (the URL path segment):
            ``"kebab"`` (default, ``UserProfile`` → ``user-profile``), ``"snake"``,
            ``"camel"``, ``"pascal"``, ``"same"`` or a callable ``(type) -> str``.
        route_templates: the templates to apply: ``None`` for the defaults, a dict
            ``{TemplateClass: kwargs}`` to configure (or add) some, or a list used as is.
        storage_factory: builds the storage of models registered without ``storage=``
            (default: in memory).
        message_queue_factory: builds the queue of each job model (a subclass of
            :class:`~specstar.core.Job`; default: an in-process queue per model).
        permission_checker: the checker of every model that does not set its own (a model's
            own checker replaces it, it is not combined with it). A checker may have
            ``check(ctx)`` (raise to deny) or ``check_permission(ctx)`` returning allow /
            deny / not_applicable.
        admin: role-based access control with this user as root: registers the resources
            ``rbac-role``, ``rbac-membership`` and ``rbac-rule`` and makes an
            :class:`~specstar.core.RBACChecker` over them the global checker. Not together
            with ``permission_checker``.
        dependency_provider: how routes get the acting user and time (e.g. from your
            authentication dependency); see :class:`DependencyProvider`.
        event_handlers: handlers of every model; a model's own handlers run after these.
        encoding: ``"json"`` or ``"msgpack"`` for stored revision data.
        default_user: user for operations that do not name one (a ``str`` or a callable);
            models may override it.
        default_now: clock for operations that do not give a time; models may override it.
        strict_operation_context: writes with no user or time from any source raise
            :class:`~specstar.core.MissingOperationContextError` (HTTP 401).
        strict_query_parameters: a generated route refuses a query parameter it does not
            read with a 400 ``unknown_parameter`` problem (default). ``False`` leaves such
            parameters unread, for clients or proxies that add their own (a template's own
            ``strict_query_parameters`` wins over this).
        lock_backend: where the leases of :meth:`try_lock` and :meth:`lock` live (default: in
            this process's memory; use ``PostgresLockBackend`` or ``RedisLockBackend`` when
            several workers or hosts must exclude each other).
        max_file_bytes: the largest file accepted, in bytes (default 5 GiB): uploads and
            upload sessions (:attr:`blob_uploads`; HTTP 413 ``content_too_large``) and inline
            ``Binary`` data of every model. Changing it with :meth:`configure` applies to the
            models registered already too.
    """

    def __init__(
        self,
        *,
        model_naming: ModelNaming = "kebab",
        route_templates: TemplateSpec | None = None,
        storage_factory: StorageFactory | None = None,
        message_queue_factory: MessageQueueFactory | None = None,
        permission_checker: CheckerLike | None = None,
        dependency_provider: DependencyProvider | None = None,
        event_handlers: Sequence[HandlerLike] | None = None,
        encoding: Encoding = "json",
        default_user: str | Callable[[], str] | UnsetType = UNSET,
        default_now: Callable[[], datetime] | UnsetType = UNSET,
        strict_operation_context: bool = False,
        strict_query_parameters: bool = True,
        admin: str | None = None,
        lock_backend: LockBackend | None = None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> None:
        self.resource_managers: OrderedDict[str, ResourceManager[Any]] = OrderedDict()
        #: Resolves ``Ref`` fields between the registered models (referential integrity).
        self.registry: Registry[ResourceManager[Any]] = Registry()
        self.model_names: dict[type, list[str]] = {}
        self.model_naming: ModelNaming = "kebab"
        self.route_templates: list[RouteTemplate] = []
        self.storage_factory: StorageFactory = MemoryStorageFactory()
        self.message_queue_factory: MessageQueueFactory = MemoryMessageQueueFactory()
        self.permission_checker: CheckerLike | None = None
        self.dependency_provider = DependencyProvider()
        self.event_handlers: Sequence[HandlerLike] | None = None
        self.default_encoding: Encoding = "json"
        self.default_user: str | Callable[[], str] | UnsetType = UNSET
        self.default_now: Callable[[], datetime] | UnsetType = UNSET
        self.strict_operation_context = False
        self.strict_query_parameters = True
        #: Resource names registered with ``migrate_route=True``.
        self.migrate_route_models: set[str] = set()
        #: The application's lease locks (see :meth:`try_lock`).
        self.locks = Locks()
        self._blob_uploads: BlobUploads | None = None
        self.max_file_bytes = DEFAULT_MAX_FILE_BYTES
        self._blob_claims: BlobClaims | None = None
        #: The actions registered by :meth:`create_action` and :meth:`update_action`.
        self.custom_actions: list[CustomAction] = []
        self.configure(
            model_naming=model_naming,
            route_templates=route_templates,
            storage_factory=storage_factory or MemoryStorageFactory(),
            message_queue_factory=message_queue_factory or MemoryMessageQueueFactory(),
            permission_checker=permission_checker,
            dependency_provider=dependency_provider or DependencyProvider(),
            event_handlers=event_handlers,
            encoding=encoding,
            default_user=default_user,
            default_now=default_now,
            strict_operation_context=strict_operation_context,
            strict_query_parameters=strict_query_parameters,
            admin=admin,
            lock_backend=lock_backend,
            max_file_bytes=max_file_bytes,
        )

    # -- configuration --------------------------------------------------------------------------

    def configure(
        self,
        *,
        model_naming: ModelNaming | UnsetType = UNSET,
        route_templates: TemplateSpec | UnsetType | None = UNSET,
        storage_factory: StorageFactory | UnsetType = UNSET,
        message_queue_factory: MessageQueueFactory | UnsetType = UNSET,
        permission_checker: CheckerLike | UnsetType | None = UNSET,
        dependency_provider: DependencyProvider | UnsetType = UNSET,
        event_handlers: Sequence[HandlerLike] | UnsetType | None = UNSET,
        encoding: Encoding | UnsetType = UNSET,
        default_user: str | Callable[[], str] | UnsetType = UNSET,
        default_now: Callable[[], datetime] | UnsetType = UNSET,
        strict_operation_context: bool | UnsetType = UNSET,
        strict_query_parameters: bool | UnsetType = UNSET,
        admin: str | UnsetType | None = UNSET,
        lock_backend: LockBackend | UnsetType | None = UNSET,
        max_file_bytes: int | UnsetType = UNSET,
    ) -> None:
        """Change settings (before registering models: registered ones keep theirs, except
        ``max_file_bytes``, which applies to every model and the uploads at once).

        Every argument left out keeps its current value; see the class for their meaning.

        Raises:
            ValueError: ``admin`` with a ``permission_checker`` (given now or before),
                ``admin`` a second time, or ``max_file_bytes`` below 1 (``TypeError``: not
                an ``int``).
        """
        if not isinstance(max_file_bytes, UnsetType):
            check_max_file_bytes(max_file_bytes)
        if isinstance(admin, str):
            given = permission_checker if permission_checker is not UNSET else None
            if given is not None or self.permission_checker is not None:
                raise ValueError(
                    "admin= sets up role-based access control as the permission checker; "
                    "it cannot be combined with permission_checker="
                )
        if model_naming is not UNSET:
            self.model_naming = model_naming
        if route_templates is not UNSET:
            self.route_templates = _templates(route_templates)
        if storage_factory is not UNSET:
            self.storage_factory = storage_factory
            self._blob_claims = None  # models added from now on claim on the new factory
        if message_queue_factory is not UNSET:
            self.message_queue_factory = message_queue_factory
        if permission_checker is not UNSET:
            self.permission_checker = permission_checker
        if dependency_provider is not UNSET:
            self.dependency_provider = dependency_provider
        if event_handlers is not UNSET:
            self.event_handlers = event_handlers
        if encoding is not UNSET:
            self.default_encoding = encoding
        if default_user is not UNSET:
            self.default_user = default_user
        if default_now is not UNSET:
            self.default_now = default_now
        if strict_operation_context is not UNSET:
            self.strict_operation_context = strict_operation_context
        if strict_query_parameters is not UNSET:
            self.strict_query_parameters = strict_query_parameters
        if isinstance(admin, str):
            self.permission_checker = enable_admin(self.add_model, admin)
        if lock_backend is not UNSET:
            self.locks = Locks(lock_backend)
        if not isinstance(max_file_bytes, UnsetType):
            self.max_file_bytes = max_file_bytes
            if self._blob_uploads is not None:
                self._blob_uploads.max_file_bytes = max_file_bytes
            for manager in self.resource_managers.values():
                manager.max_file_bytes = max_file_bytes

    # -- lease locks ----------------------------------------------------------------------------

    def try_lock(self, key: str, ttl: float) -> Lock | None:
        """Take a lease of ``key`` for ``ttl`` seconds without waiting; ``None`` when another
        owner holds it. Renew with :meth:`renew_lock` while the work outruns the lease.

        Raises:
            ValueError: an empty ``key`` or a ``ttl`` that is not a positive number of seconds
                (``TypeError`` for a wrong type); both name the argument.
        """
        return self.locks.try_lock(key, ttl)

    def renew_lock(self, lock: Lock, ttl: float) -> Lock:
        """Extend a held lease to end ``ttl`` seconds from now; returns the updated handle.

        Raises:
            LockNotOwnedError: the lease expired, was released, or belongs to another owner.
        """
        return self.locks.renew_lock(lock, ttl)

    def release_lock(self, lock: Lock) -> None:
        """Release a held lease.

        Raises:
            LockNotOwnedError: the handle does not own the lease (stale or forged).
        """
        self.locks.release_lock(lock)

    def lock(
        self, key: str, ttl: float, *, timeout: float | None = 0.0
    ) -> AbstractContextManager[Lock]:
        """Hold ``key`` for a ``with`` block and release it at the end.

        Args:
            key: the key to lock.
            ttl: the lease length in seconds.
            timeout: how long to wait for a held key, with backoff (default 0: raise at once;
                ``None``: wait for ever).

        Raises:
            LockHeldError: the key was still held when ``timeout`` ran out.
            LockNotOwnedError: at the end of a block that outlived its lease.
        """
        return self.locks.lock(key, ttl, timeout=timeout)

    @property
    def blob_uploads(self) -> BlobUploads:
        """Uploads and upload sessions over the storage factory's blob store (records kept as
        the resource ``blob-upload``), made on first use; replace it before ``apply`` to
        change e.g. the session ``ttl`` (``max_file_bytes`` comes from :meth:`configure`)."""
        if self._blob_uploads is None:
            self._blob_uploads = BlobUploads(
                storage_factory=self.storage_factory,
                default_user=self.default_user,
                max_file_bytes=self.max_file_bytes,
            )
        return self._blob_uploads

    @blob_uploads.setter
    def blob_uploads(self, uploads: BlobUploads) -> None:
        self._blob_uploads = uploads

    @property
    def blob_claims(self) -> BlobClaims:
        """What a write referencing files claims from the blob collector's quarantine (kept on
        the storage factory as the resource ``blob-quarantine``, where a ``BlobCollector``
        built with ``storage_factory=`` the same factory keeps it), made on first use; every
        model with a ``Binary`` field writes through it."""
        if self._blob_claims is None:
            self._blob_claims = BlobClaims(storage_factory=self.storage_factory)
        return self._blob_claims

    def add_route_template(self, template: RouteTemplate) -> None:
        """Add a route template; one of the same class already present is replaced."""
        self.route_templates = [t for t in self.route_templates if type(t) is not type(template)]
        self.route_templates.append(template)

    # -- models ---------------------------------------------------------------------------------

    def add_model(
        self,
        model: type[Any] | Schema[Any],
        *,
        name: str | None = None,
        id_generator: Callable[[], str] | None = None,
        storage: Storage | None = None,
        migration: Schema[Any] | IMigration | None = None,
        indexed_fields: Iterable[str | tuple[str, Any] | IndexedField] | None = None,
        event_handlers: Sequence[HandlerLike] | None = None,
        permission_checker: CheckerLike | None = None,
        encoding: Encoding | None = None,
        default_status: RevisionStatus | None = None,
        default_user: str | Callable[[], str] | UnsetType = UNSET,
        default_now: Callable[[], datetime] | UnsetType = UNSET,
        validator: ValidatorLike | Sequence[ValidatorLike] | None = None,
        constraint_checkers: Sequence[ConstraintChecker | Callable[[Any], ConstraintChecker]]
        | None = None,
        validate_refs: bool = True,
        default_limit: int = 50,
        max_limit: int = 1000,
        migrate_route: bool = False,
        allow_unknown_fields: bool = False,
        client_ids: bool = True,
        message_queue_factory: MessageQueueFactory | UnsetType | None = UNSET,
        job_handler: JobHandler | None = None,
        job_handler_factory: Callable[[], JobHandler] | None = None,
        job_options: Mapping[str, Any] | None = None,
    ) -> ResourceManager[Any]:
        """Register a model and create its :class:`~specstar.core.ResourceManager`.

        Args:
            model: a ``msgspec.Struct`` or Pydantic model class, or a
                :class:`~specstar.core.Schema` (version, migrations, validator).
            name: the resource name (URL path segment); default from ``model_naming``.
            id_generator: makes ids of created resources (default ``"{name}:{hex}"``).
            storage: this model's storage (default: built by ``storage_factory``).
            migration: a :class:`~specstar.core.Schema` for a plain model class.
            indexed_fields: data paths to make searchable (``Unique`` and ``Ref`` fields are
                added).
            event_handlers: this model's handlers; they run after the global ones (both run:
                ``combine_handlers(global, model)``).
            permission_checker: this model's checker, used instead of the global one (the
                global one when ``None``).
            encoding: stored data encoding (the global default when ``None``).
            default_status: status of new revisions (``stable`` unless given).
            default_user: this model's default user (the global one when unset).
            default_now: this model's clock (the global one when unset).
            validator: a callable, :class:`~specstar.core.IValidator` (instance or class) or
                Pydantic model that rejects data by raising ``ValueError`` (HTTP 422); or
                several of them.
            constraint_checkers: checkers, or factories given the manager.
            validate_refs: writes whose ``Ref`` fields name no live resource of a registered
                model are refused (HTTP 422).
            default_limit: page size of listings that give none.
            max_limit: largest page size a listing may ask for.
            migrate_route: also serve ``POST /m/_migrate`` (every resource, progress streamed
                as NDJSON) and ``POST /m/{id}/migrate`` (one resource), authorized as the
                action ``migrate``; needs a :class:`~specstar.core.Schema`.
            allow_unknown_fields: accept (and drop) body members the model does not declare;
                by default such a member is a 422 naming it.
            client_ids: whether clients may choose resource ids (``POST /m?resource_id=``,
                ``PUT`` of a new id). ``False`` refuses both with a 422
                ``client_ids_disabled`` (the same answer for a taken id and a free one), so
                ids cannot be probed; ``PUT`` still replaces existing resources.
            message_queue_factory: for a job model (a subclass of
                :class:`~specstar.core.Job`): its queue factory (default: the app's);
                ``None`` registers it as a plain resource, with no queue and no workers.
            job_handler: the handler of a job model (see :class:`~specstar.core.JobManager`).
            job_handler_factory: builds the handler lazily, in the worker.
            job_options: more :class:`~specstar.core.JobManager` arguments
                (``default_max_retries``, ``lease_seconds``, ``retry_backoff_seconds``, ...).

        Returns:
            The new manager (also available from :meth:`get_resource_manager`).

        Raises:
            ValueError: the resource name is taken or not URL-path-safe, ``migrate_route``
                without a schema version, or a ``Schema`` together with ``validator=``.
            TypeError: the model is not a supported model class, or job arguments for a
                model that is not a job model.
        """
        if isinstance(model, Schema) and validator is not None:
            raise ValueError(
                "a Schema carries its own validator: pass Schema(model, version, validator=...) "
                "instead of validator="
            )
        model_type = model.resource_type if isinstance(model, Schema) else model
        queue_factory = (
            self.message_queue_factory if message_queue_factory is UNSET else message_queue_factory
        )
        as_job = is_job_model(model_type) and queue_factory is not None
        job_args = (job_handler, job_handler_factory, job_options)
        if not as_job and any(a is not None for a in job_args):
            raise TypeError(
                f"job_handler, job_handler_factory and job_options need a job model with a "
                f"queue; {model_type!r} is "
                + ("registered without a queue" if is_job_model(model_type) else "not a Job")
            )
        rname = name or resource_name(model_type, self.model_naming)
        if not NAME_RE.fullmatch(rname):
            raise ValueError(f"resource name {rname!r} is not a safe URL path segment")
        if rname in self.resource_managers:
            raise ValueError(f"a model named {rname!r} is registered already")
        if migrate_route and not isinstance(model, Schema) and migration is None:
            raise ValueError(
                f"migrate_route=True for {rname!r} needs a Schema (model=Schema(...) or "
                "migration=Schema(...)): without schema versions there is nothing to migrate"
            )
        validators: list[ValidatorLike] = []
        if isinstance(validator, Sequence):
            validators.extend(validator)
        elif validator is not None:
            validators.append(validator)
        extra: dict[str, Any] = {}
        manager_class: type[ResourceManager[Any]] = ResourceManager
        if as_job:
            manager_class = JobManager
            extra = {
                **dict(job_options or {}),
                "message_queue_factory": queue_factory,
                "job_handler": job_handler,
                "job_handler_factory": job_handler_factory,
                "storage_factory": self.storage_factory,
            }
        manager: ResourceManager[Any] = manager_class(
            model,
            **extra,
            storage=storage if storage is not None else self.storage_factory.build(rname),
            name=rname,
            indexed_fields=indexed_fields or (),
            id_generator=id_generator,
            default_status=default_status or RevisionStatus.stable,
            default_user=default_user if default_user is not UNSET else self.default_user,
            default_now=default_now if default_now is not UNSET else self.default_now,
            strict_operation_context=self.strict_operation_context,
            encoding=encoding or self.default_encoding,
            default_limit=default_limit,
            max_limit=max_limit,
            permission_checker=permission_checker
            if permission_checker is not None
            else self.permission_checker,
            validators=validators,
            constraint_checkers=constraint_checkers or (),
            event_handlers=combine_handlers(self.event_handlers, event_handlers),
            registry=self.registry,
            validate_refs=validate_refs,
            migration=migration,
            allow_unknown_fields=allow_unknown_fields,
            client_ids=client_ids,
            blob_store=self.storage_factory.blob_store(),
        )
        manager.max_file_bytes = self.max_file_bytes
        if manager.has_binary_fields:
            manager.blob_claims = self.blob_claims
        self.resource_managers[rname] = manager
        if migrate_route:
            self.migrate_route_models.add(rname)
        self.model_names.setdefault(manager.model, []).append(rname)
        if manager.source_model is not manager.model:
            self.model_names.setdefault(manager.source_model, []).append(rname)
        self._register_action_jobs()
        return manager

    # -- custom actions -------------------------------------------------------------------------

    def create_action(
        self,
        resource_name: str,
        *,
        path: str | None = None,
        label: str | None = None,
        async_mode: Literal["job", "background"] | None = None,
        job_name: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated FastAPI endpoint as a create action: ``POST /m/{path}``.

        The handler takes what any endpoint takes (``Body``, ``Query``, ``Depends``,
        ``UploadFile``; a ``msgspec.Struct`` or Pydantic model as the body). When it returns an
        instance of the model it is created (201 with the revision info, ``Location`` and
        ``ETag``); ``None`` writes nothing (200, ``null``). The action is authorised as
        ``action:{path}`` first, then the create as ``create``. Lazy: the route is made by
        :meth:`apply`, so this may come before or after :meth:`add_model`.

        Args:
            resource_name: the resource the action creates.
            path: the URL segment (default: the function name with hyphens).
            label: a name for people (default: the path title-cased).
            async_mode: ``"job"``: a job model ``job_name`` (default
                ``"{resource}-{path}-job"``) is registered, the request creates a job (202
                with :class:`~specstar.core.JobRedirectInfo`) and a worker runs the handler,
                storing the revision info as the job's artifact. ``"background"``: 202 with
                :class:`~specstar.core.BackgroundTaskAccepted`, the handler runs after the
                response; its failures are logged.
            job_name: the job model's resource name (only with ``async_mode="job"``).

        Raises:
            ValueError: an invalid argument, or the path is taken by another action.
            TypeError: a job action whose parameters a job cannot carry (a dependency, ...).
        """

        def register(handler: F) -> F:
            self._add_action(
                make_action(
                    "create",
                    resource_name,
                    handler,
                    path=path,
                    label=label,
                    async_mode=async_mode,
                    job_name=job_name,
                )
            )
            return handler

        return register

    def update_action(
        self,
        resource_name: str,
        *,
        path: str | None = None,
        label: str | None = None,
        mode: Literal["update", "modify"] = "update",
        existing_param: str = "existing",
        info_param: str = "info",
        meta_param: str = "meta",
        async_mode: Literal["job", "background"] | None = None,
        job_name: str | None = None,
        retry_on_conflict: int = 0,
    ) -> Callable[[F], F]:
        """Register the decorated FastAPI endpoint as an update action:
        ``POST /m/{resource_id}/{path}``.

        The handler gets the current data, revision info and meta in the parameters named
        ``existing_param``, ``info_param`` and ``meta_param`` (those it declares). What it
        returns becomes the new data (``mode="update"``: a new revision; ``"modify"``: the
        draft edited in place), written with compare-and-swap against the revision the
        handler was given: a concurrent change is a 409 ``concurrent_change`` (or, with
        ``If-Match``, a 412), never a lost update; with ``retry_on_conflict=n`` the handler
        runs again on the fresh data up to ``n`` times first (for handlers safe to repeat).
        The action is authorised as ``action:{path}`` on the target (outside the user's
        scope for it: 404), then the write as ``update``/``modify``. Other arguments as
        :meth:`create_action`.

        Raises:
            ValueError: an invalid argument, or the path is taken by another action.
            TypeError: a job action whose parameters a job cannot carry.
        """

        def register(handler: F) -> F:
            self._add_action(
                make_action(
                    "update",
                    resource_name,
                    handler,
                    path=path,
                    label=label,
                    async_mode=async_mode,
                    job_name=job_name,
                    mode=mode,
                    existing_param=existing_param,
                    info_param=info_param,
                    meta_param=meta_param,
                    retry_on_conflict=retry_on_conflict,
                )
            )
            return handler

        return register

    def _add_action(self, spec: CustomAction) -> None:
        for other in self.custom_actions:
            if (other.resource_name, other.kind, other.path) == (
                spec.resource_name,
                spec.kind,
                spec.path,
            ):
                raise ValueError(
                    f"{spec.resource_name} has a {spec.kind} action {spec.path!r} already"
                )
            if spec.job_name is not None and other.job_name == spec.job_name:
                raise ValueError(f"job_name {spec.job_name!r} is used by another action")
        if spec.async_mode == "job":
            payload_fields(spec)  # refuse what a job cannot carry now, not at apply()
        self.custom_actions.append(spec)
        self._register_action_jobs()

    def _register_action_jobs(self) -> None:
        """Register the job model of every job action whose resource is registered (workers
        loading the app find them without :meth:`apply`)."""
        for spec in self.custom_actions:
            name = spec.job_name
            if name is None or name in self.resource_managers:
                continue
            if spec.resource_name not in self.resource_managers:
                continue
            self.add_model(
                make_job_model(spec),
                name=name,
                job_handler=make_job_handler(spec, self.resource_managers),
            )

    def get_resource_manager(self, model: type[T] | str) -> ResourceManager[T]:
        """The manager of a registered model, by model class or resource name.

        Raises:
            KeyError: not registered.
            ValueError: the class is registered under several names (ask by name).
        """
        if isinstance(model, str):
            if model not in self.resource_managers:
                raise KeyError(f"no model named {model!r} is registered")
            return cast(ResourceManager[T], self.resource_managers[model])
        names = self.model_names.get(model, [])
        if not names:
            raise KeyError(f"{getattr(model, '__name__', model)!r} is not registered")
        if len(names) > 1:
            raise ValueError(
                f"{model.__name__} is registered as {', '.join(names)}: ask by resource name"
            )
        return cast(ResourceManager[T], self.resource_managers[names[0]])

    # -- backup ---------------------------------------------------------------------------------

    def dump(
        self,
        bio: BinaryIO,
        model_queries: Mapping[str, ModelQuery] | None = None,
        *,
        user: str | UnsetType = UNSET,
        progress: ProgressCallback | None = None,
    ) -> dict[str, DumpStats]:
        """Write a backup archive of the registered models to ``bio`` (streamed).

        Args:
            bio: a binary stream, written sequentially.
            model_queries: ``{model name: query}``: only these models, each restricted to
                what its query selects (``None``: all of it). By default every model.
            user: who dumps (authorized as the action ``dump``).
            progress: called after each resource (see :class:`specstar.core.backup.Progress`).

        Raises:
            ValueError: ``model_queries`` names an unregistered model.
            PermissionDeniedError: ``user`` may not dump a model (nothing is written).
        """
        return dump(
            list(self.resource_managers.values()),
            bio,
            model_queries=model_queries,
            user=user,
            progress=progress,
        )

    def load(
        self,
        bio: BinaryIO,
        on_duplicate: OnDuplicate | str | None = None,
        *,
        user: str | UnsetType = UNSET,
        progress: ProgressCallback | None = None,
    ) -> dict[str, LoadStats]:
        """Load a backup archive into the registered models.

        The archive is checked whole first; each resource is then checked as a write would
        be and stored atomically with its revisions as archived. Refused records are listed
        in the returned stats with their reason.

        Args:
            bio: a binary stream (one that cannot seek is spooled to a temporary file).
            on_duplicate: ``overwrite`` (default), ``skip`` or ``raise_error``.
            user: who loads (authorized as the action ``load``).
            progress: called after each resource.

        Raises:
            ArchiveError: the archive is damaged or names an unregistered model.
            DuplicateResourceError: a duplicate under ``raise_error``.
            PermissionDeniedError: ``user`` may not load a model (nothing is loaded).
        """
        return load(
            list(self.resource_managers.values()),
            bio,
            on_duplicate=OnDuplicate.overwrite if on_duplicate is None else on_duplicate,
            user=user,
            progress=progress,
        )

    # -- routes ---------------------------------------------------------------------------------

    def apply(
        self,
        app: FastAPI | APIRouter,
        *,
        router: APIRouter | None = None,
        structs: Sequence[type] | None = None,
        auto_include: bool = True,
    ) -> APIRouter:
        """Generate the routes of every registered model.

        Args:
            app: a FastAPI app or an ``APIRouter``. With an app, its OpenAPI document gets
                the model schemas (:meth:`openapi`) and SpecStar errors raised by the app's
                other routes become problem documents too.
            router: generate on this router instead of ``app``.
            structs: extra msgspec types for ``components.schemas``.
            auto_include: with an app and a ``router``, include the router in the app.

        Returns:
            The router the routes were added to.
        """
        unknown = sorted(
            {a.resource_name for a in self.custom_actions} - set(self.resource_managers)
        )
        if unknown:
            raise ValueError(f"custom actions of unregistered models: {', '.join(unknown)}")
        self._register_action_jobs()
        target: APIRouter
        if router is not None:
            target = router
        elif isinstance(app, FastAPI):
            target = app.router
        else:
            target = app
        first_new = len(target.routes)
        for template in sorted(self._templates_to_apply(), key=lambda t: t.order):
            if isinstance(template, BaseRouteTemplate):
                if template.dependency_provider is None:
                    template.dependency_provider = self.dependency_provider
                if template.strict_query_parameters is None:
                    template.strict_query_parameters = self.strict_query_parameters
            if isinstance(template, BlobRouteTemplate):
                if template.uploads is None:
                    template.uploads = self.blob_uploads
                if template.permission_checker is UNSET:
                    template.permission_checker = self.permission_checker
            for rname, manager in self.resource_managers.items():
                template.apply(rname, manager, target)
            template.apply_global(self.resource_managers, target)
        target.routes[first_new:] = unshadowed(target.routes[first_new:])
        if isinstance(app, FastAPI):
            if router is not None and auto_include:
                app.include_router(router)
            app.add_exception_handler(SpecStarError, handle_specstar_error)
            self.openapi(app, structs=structs)
        return target

    def _templates_to_apply(self) -> list[RouteTemplate]:
        """The configured templates, plus the migrate routes of models that asked for them
        (unless a :class:`MigrateRouteTemplate` is configured, which then decides)."""
        templates = list(self.route_templates)
        if self.migrate_route_models and not any(
            isinstance(t, MigrateRouteTemplate) for t in templates
        ):
            templates.append(MigrateRouteTemplate(models=sorted(self.migrate_route_models)))
        if self.custom_actions:
            templates.append(ActionRouteTemplate(self.custom_actions, self.resource_managers))
        return templates

    def openapi(self, app: FastAPI, structs: Sequence[type] | None = None) -> None:
        """Add the model and core schemas to ``app``'s OpenAPI document (3.1).

        Called by :meth:`apply` when given an app; call it yourself after applying to a
        bare router that you include in the app.
        """
        extra = tuple(structs or ())
        if any(m.has_binary_fields for m in self.resource_managers.values()):
            extra = (*extra, BlobUploadSession)
        if self.custom_actions:
            extra = (*extra, RevisionInfo, JobRedirectInfo, BackgroundTaskAccepted)

        @functools.cache
        def components() -> dict[str, Any]:
            models = [m.model for m in self.resource_managers.values()]
            return build_components(models, extra)

        @functools.cache
        def extensions() -> dict[str, Any]:
            return {
                "x-specstar-relationships": msgspec.to_builtins(
                    relationships(self.resource_managers)
                ),
                "x-specstar-indexed-fields": {
                    name: [_indexed_field(f) for f in manager.index_spec.fields]
                    for name, manager in self.resource_managers.items()
                },
                **action_extensions(self.custom_actions),
            }

        install_openapi(app, components, extensions)


def _indexed_field(field: Any) -> dict[str, Any]:
    """One entry of ``x-specstar-indexed-fields``: path, kind, is_list and unique, plus the
    source and normalisers of a normalised unique key (only for such a key)."""
    entry: dict[str, Any] = msgspec.to_builtins(field)
    if not field.normalize:
        entry.pop("source", None)
        entry.pop("normalize", None)
    return entry


def _templates(spec: TemplateSpec | None) -> list[RouteTemplate]:
    if spec is None:
        return [cls() for cls in DEFAULT_TEMPLATES]
    if isinstance(spec, Mapping):
        classes = list(DEFAULT_TEMPLATES) + [c for c in spec if c not in DEFAULT_TEMPLATES]
        return [cls(**dict(spec.get(cls, {}))) for cls in classes]
    return list(spec)


#: The module-level instance: ``from specstar.fastapi import crud``.
crud = SpecStar()

"""The :class:`SpecStar` app object: register models, generate their REST API.

This module holds its configuration and lease locks; its other parts have modules of their
own, each a base class of :class:`SpecStar` over the state in ``_app_state``: ``_app_models``
(``add_model``), ``_app_actions`` (custom actions), ``_app_routes`` (``apply``, OpenAPI) and
``_app_backup`` (``dump``, ``load``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from msgspec import UNSET, UnsetType
from starlette.exceptions import HTTPException

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from specstar.core import (
    CheckerLike,
    Encoding,
    HandlerLike,
    Lock,
    LockBackend,
    Locks,
    MemoryMessageQueueFactory,
    MemoryStorageFactory,
    MessageQueueFactory,
    SpecStarError,
    StorageFactory,
)
from specstar.core.spi import DEFAULT_MAX_FILE_BYTES, check_max_file_bytes

from ._admin import enable_admin
from ._app_actions import ActionRegistration
from ._app_backup import Backups
from ._app_routes import RouteGeneration, TemplateSpec, templates_from
from .dependencies import DependencyProvider
from .naming import ModelNaming
from .problems import handle_http_exception, handle_request_validation_error, handle_specstar_error

__all__ = ["ModelNaming", "SpecStar", "crud", "install_problem_handlers"]


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` an ``application/problem+json`` response.

    The generated routes do this on their own; this also covers the app's other routes:
    :class:`~specstar.core.SpecStarError` raised anywhere, invalid parameters (422) and
    Starlette's HTTP errors such as an unknown path (404) or method (405).
    """
    app.add_exception_handler(SpecStarError, handle_specstar_error)
    app.add_exception_handler(RequestValidationError, handle_request_validation_error)
    app.add_exception_handler(HTTPException, handle_http_exception)


class SpecStar(ActionRegistration, RouteGeneration, Backups):
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
        super().__init__()
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
            self.route_templates = templates_from(route_templates)
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


#: The module-level instance: ``from specstar.fastapi import crud``.
crud = SpecStar()

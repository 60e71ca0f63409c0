"""Model registration of a :class:`~specstar.fastapi.SpecStar` app: ``add_model`` and the
managers it makes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from msgspec import UNSET, UnsetType

from specstar.core import (
    CheckerLike,
    ConstraintChecker,
    Encoding,
    HandlerLike,
    IMigration,
    IndexedField,
    IValidator,
    JobHandler,
    JobManager,
    MessageQueueFactory,
    ResourceManager,
    RevisionStatus,
    Schema,
    Storage,
    combine_handlers,
    is_job_model,
)

from ._app_state import AppState
from .action_jobs import make_job_handler, make_job_model
from .naming import NAME_RE, resource_name

__all__ = ["ModelRegistration", "ValidatorLike"]

T = TypeVar("T")

ValidatorLike = Callable[[Any], Any] | IValidator | type


class ModelRegistration(AppState):
    """The models part of :class:`~specstar.fastapi.SpecStar`: register models (and the job
    models of job actions) and find their managers."""

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

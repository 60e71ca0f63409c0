"""The ResourceManager: the single entry point to the resources of one model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from msgspec import UNSET, UnsetType

from ._reads import ReadOps
from ._search import SearchOps
from ._writes import WriteOps
from .context import Scope

__all__ = ["ResourceManager", "ResourceOps"]

T = TypeVar("T")


class ResourceManager(WriteOps[T], SearchOps[T], ReadOps[T]):
    """Versioned resources of one model: create, read, change, search, history.

    Args:
        model: a ``msgspec.Struct`` type, a Pydantic v2 model (converted to a Struct and used
            as validator), or a :class:`~specstar.core.schema.Schema` (version, migrations
            and validator in one).
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
        permission_checker, validators, constraint_checkers, event_handlers: pipeline stages;
            validators may be callables, ``IValidator`` instances or classes, or Pydantic
            models; a constraint checker may be given as a factory called with the manager.
        conflict_timeout: seconds a write without ``expected_revision_id`` keeps retrying
            compare-and-swap conflicts before raising :class:`ConflictError`.
        auto_reindex: when the store reports indexed fields added since it last saw this
            model, backfill them at start-up (:meth:`reindex`); otherwise queries on them
            raise :class:`QueryError` until :meth:`reindex` runs.
        registry: the :class:`~specstar.core.refs.Registry` of the application; references
            to and from this model are followed through it.
        validate_refs: reject writes whose new references name no live resource.
        migration: a :class:`~specstar.core.schema.Schema` for a plain ``model``.
    """

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
        ops._bound = scope
        ops._active = True
        return ops

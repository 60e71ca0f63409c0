"""The reference API's names for SpecStar's types, errors and plug-in interfaces.

Code written against the reference imports from here and keeps working; each name is the
SpecStar object itself (an alias), or, where the reference's call shape differs, a thin
adapter that builds the SpecStar object. ``specstar.fastapi.compat`` adds the names of the
web layer (``AutoCRUD``, ``crud``, ``IRouteTemplate``...).

==============================  =============================================================
reference name                  SpecStar
==============================  =============================================================
``ResourceIDNotFoundError``     :class:`~specstar.core.errors.NotFoundError`
``ResourceIsDeletedError``      :class:`~specstar.core.errors.GoneError`
``DuplicateResourceError``      :class:`~specstar.core.errors.AlreadyExistsError` (a load's
                                :class:`~specstar.core.errors.DuplicateResourceError` is one)
``CannotModifyResourceError``   :class:`~specstar.core.errors.RevisionNotDraftError`
``ResourceConflictError``       :class:`~specstar.core.errors.ConflictError`
``SchemaConflictError``         :class:`~specstar.core.errors.SchemaConflictError`
``IndexableField(path, type)``  builds an :class:`~specstar.core.indexes.IndexedField`
``ResourceMetaSearchQuery``     :class:`~specstar.core.query.meta_search.ResourceMetaSearchQuery`
``Encoding.json``/``.msgpack``  the strings ``"json"``/``"msgpack"`` SpecStar takes
``IPermissionChecker``          base class for ``check_permission(ctx)`` checkers
``IEventHandler``               base class for ``is_supported``/``handle_event`` handlers
``IStorage``/``IStorageFactory`` :class:`~specstar.core.ports.Storage`/``StorageFactory``
``IResourceManager``            :class:`~specstar.core.manager.ResourceManager`
==============================  =============================================================
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Collection
from typing import Any

from msgspec import UNSET, UnsetType

from ._result_checker import PermissionResult
from .annotations import DisplayName, Unique
from .backup import LoadStats, OnDuplicate
from .binary import Binary
from .errors import (
    AlreadyExistsError,
    ConflictError,
    GoneError,
    LockHeldError,
    LockNotOwnedError,
    MissingOperationContextError,
    NotFoundError,
    PermissionDeniedError,
    RevisionNotDraftError,
    RevisionNotMigratedError,
    SchemaConflictError,
    UniqueConstraintError,
    ValidationError,
)
from .indexes import IndexedField, kind_of_type
from .jobs import BackgroundTaskAccepted, JobRedirectInfo
from .locks import Lock, MemoryLockBackend
from .manager import ResourceManager, ResourceOps
from .memory import MemoryStorageFactory
from .pipeline import AllowAll, Event, IConstraintChecker, IValidator, OperationContext
from .ports import Storage, StorageFactory
from .query import QB, Query
from .query.meta_search import ResourceMetaSearchQuery
from .refs import OnDelete, Ref, RefRevision, RefType
from .schema import IMigration, Schema
from .types import Resource, ResourceMeta, RevisionInfo, RevisionStatus, SearchedResource
from .uploads import BlobUploadSession

__all__ = [
    "QB",
    "UNSET",
    "AllowAll",
    "BackgroundTaskAccepted",
    "Binary",
    "BlobUploadSession",
    "CannotModifyResourceError",
    "DisplayName",
    "DuplicateResourceError",
    "Encoding",
    "IConstraintChecker",
    "IEventHandler",
    "IMigration",
    "IPermissionChecker",
    "IResourceManager",
    "IStorage",
    "IStorageFactory",
    "IValidator",
    "InMemoryLockBackend",
    "IndexableField",
    "JobRedirectInfo",
    "LoadStats",
    "LockHandle",
    "LockHeldError",
    "LockNotOwnedError",
    "MemoryStorageFactory",
    "MissingOperationContextError",
    "OnDelete",
    "OnDuplicate",
    "PermissionDeniedError",
    "PermissionResult",
    "Query",
    "Ref",
    "RefRevision",
    "RefType",
    "Resource",
    "ResourceConflictError",
    "ResourceIDNotFoundError",
    "ResourceIsDeletedError",
    "ResourceManager",
    "ResourceMeta",
    "ResourceMetaSearchQuery",
    "ResourceOps",
    "RevisionInfo",
    "RevisionNotMigratedError",
    "RevisionStatus",
    "Schema",
    "SchemaConflictError",
    "SearchedResource",
    "Unique",
    "UniqueConstraintError",
    "UnsetType",
    "ValidationError",
]

ResourceIDNotFoundError = NotFoundError
ResourceIsDeletedError = GoneError
DuplicateResourceError = AlreadyExistsError
CannotModifyResourceError = RevisionNotDraftError
ResourceConflictError = ConflictError
IStorage = Storage
IStorageFactory = StorageFactory
IResourceManager = ResourceManager
LockHandle = Lock
InMemoryLockBackend = MemoryLockBackend


class Encoding(enum.StrEnum):
    """Stored data encodings; each member *is* the string SpecStar takes."""

    json = "json"
    msgpack = "msgpack"


def IndexableField(field_path: str, field_type: Any) -> IndexedField:
    """The :class:`IndexedField` for ``field_path`` holding values of ``field_type`` (a
    scalar type, or a list of one).

    Raises:
        SpecStarError: values of ``field_type`` cannot be indexed.
    """
    kind, is_list = kind_of_type(field_type)
    return IndexedField(field_path, kind, is_list=is_list)


class IPermissionChecker(abc.ABC):
    """A checker that decides by returning a :class:`PermissionResult`.

    ``check_permission`` receives the :class:`~specstar.core.pipeline.OperationContext`
    (``user``, ``now``, ``action``, ``resource_name``, ``resource_id``, and ``meta``/``data``
    as ``required_resource_parts`` asks; see :mod:`specstar.core._result_checker` for when it
    is asked). ``not_applicable`` denies unless another checker decides.
    """

    #: What the checker looks at: a collection of ``"meta"`` and ``"data"``.
    required_resource_parts: Collection[str] = frozenset()

    @abc.abstractmethod
    def check_permission(self, ctx: OperationContext) -> PermissionResult:
        """Allow, deny, or say the checker does not apply."""


class IEventHandler(abc.ABC):
    """A handler that filters the events it receives.

    ``handle_event`` receives the :class:`~specstar.core.pipeline.Event` (``phase``,
    ``context``, and the shortcuts ``action``, ``user``, ``now``, ``resource_name``,
    ``resource_id``, ``data``) when ``is_supported`` returns true for it.
    """

    @abc.abstractmethod
    def is_supported(self, event: Event) -> bool:
        """Whether :meth:`handle_event` wants this event."""

    @abc.abstractmethod
    def handle_event(self, event: Event) -> None:
        """React to the event; raising in the ``before`` phase aborts the write."""

"""The state of a :class:`~specstar.fastapi.SpecStar` app: its settings, registered models
and actions, and the file services made from its settings."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from msgspec import UNSET, UnsetType

from specstar.core import (
    BlobClaims,
    BlobUploads,
    CheckerLike,
    Encoding,
    HandlerLike,
    Locks,
    MemoryMessageQueueFactory,
    MemoryStorageFactory,
    MessageQueueFactory,
    Registry,
    ResourceManager,
    StorageFactory,
)
from specstar.core.spi import DEFAULT_MAX_FILE_BYTES

from .custom_actions import CustomAction
from .dependencies import DependencyProvider
from .naming import ModelNaming
from .routes import RouteTemplate

__all__ = ["AppState"]


class AppState:
    """What every part of :class:`~specstar.fastapi.SpecStar` works on, with its defaults
    (``SpecStar.configure`` changes the settings)."""

    def __init__(self) -> None:
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

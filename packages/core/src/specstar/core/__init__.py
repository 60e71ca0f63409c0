"""SpecStar core: versioned resources declared from a model.

Everything a service needs without a web framework: :class:`ResourceManager`, the query
language (:data:`QB`, :class:`Query`), the domain types, the error tree, the storage ports and
the in-memory adapters.
"""

from .annotations import DisplayName, Unique
from .codec import Encoding
from .errors import (
    AlreadyExistsError,
    ConflictError,
    FieldError,
    GoneError,
    MissingOperationContextError,
    NotFoundError,
    PatchError,
    PatchTestFailedError,
    PermissionDeniedError,
    PreconditionFailedError,
    QueryError,
    RevisionNotDraftError,
    SpecStarError,
    StorageError,
    UniqueConstraintError,
    ValidationError,
)
from .indexes import IndexedField, IndexSpec
from .manager import ResourceManager, ResourceOps
from .memory import MemoryBlobStore, MemoryStorage, MemoryStorageFactory
from .pipeline import (
    AllowAll,
    ConstraintChecker,
    Event,
    EventHandler,
    EventPhase,
    IConstraintChecker,
    IValidator,
    OperationContext,
    PermissionChecker,
)
from .ports import BlobInfo, BlobStore, Capabilities, Storage, StorageFactory
from .query import (
    QB,
    And,
    Condition,
    Field,
    Not,
    Op,
    Or,
    Query,
    Sort,
    format_condition,
    format_sorts,
    parse_condition,
    parse_sorts,
)
from .types import (
    UNSET,
    Page,
    Resource,
    ResourceMeta,
    RevisionInfo,
    RevisionStatus,
    SearchedResource,
    UnsetType,
)

__all__ = [
    "QB",
    "UNSET",
    "AllowAll",
    "AlreadyExistsError",
    "And",
    "BlobInfo",
    "BlobStore",
    "Capabilities",
    "Condition",
    "ConflictError",
    "ConstraintChecker",
    "DisplayName",
    "Encoding",
    "Event",
    "EventHandler",
    "EventPhase",
    "Field",
    "FieldError",
    "GoneError",
    "IConstraintChecker",
    "IValidator",
    "IndexSpec",
    "IndexedField",
    "MemoryBlobStore",
    "MemoryStorage",
    "MemoryStorageFactory",
    "MissingOperationContextError",
    "Not",
    "NotFoundError",
    "Op",
    "OperationContext",
    "Or",
    "Page",
    "PatchError",
    "PatchTestFailedError",
    "PermissionChecker",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "Query",
    "QueryError",
    "Resource",
    "ResourceManager",
    "ResourceMeta",
    "ResourceOps",
    "RevisionInfo",
    "RevisionNotDraftError",
    "RevisionStatus",
    "SearchedResource",
    "Sort",
    "SpecStarError",
    "Storage",
    "StorageError",
    "StorageFactory",
    "Unique",
    "UniqueConstraintError",
    "UnsetType",
    "ValidationError",
    "__version__",
    "format_condition",
    "format_sorts",
    "parse_condition",
    "parse_sorts",
]

from ._version import __version__

"""SpecStar core: versioned resources declared from a model.

Everything a service needs without a web framework: :class:`ResourceManager`, the query
language (:data:`QB`, :class:`Query`), the domain types, the error tree, the storage ports and
the in-memory adapters.
"""

try:  # name the distribution when a dependency is missing (installed with --no-deps, or removed)
    import msgspec as _msgspec  # noqa: F401
except ModuleNotFoundError as _missing:
    raise ModuleNotFoundError(
        f"specstar.core needs {_missing.name!r}, a dependency of the specstar-core "
        f"distribution that is not installed: pip install {_missing.name}",
        name=_missing.name,
    ) from _missing

from .actions import Action
from .annotations import DisplayName, Unique
from .batch import BatchFailure, BatchOutcome, batch_delete, batch_filter, batch_restore
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
    StorageUnavailableError,
    UniqueConstraintError,
    ValidationError,
    WriteOutcomeUnknownError,
)
from .etags import entity_tag, revision_of_tag
from .events import EventHandlers, combine_handlers
from .indexes import IndexedField, IndexSpec
from .manager import ResourceManager, ResourceOps
from .manager._defaults import set_default_storage
from .memory import (
    MemoryBlobStore,
    MemoryPayloadStore,
    MemoryPayloadStoreFactory,
    MemoryStorage,
    MemoryStorageFactory,
)
from .payloads import PayloadStore, PayloadStoreFactory
from .permissions import (
    ACLChecker,
    ACLEntry,
    ActionBasedChecker,
    CompositeChecker,
    FieldLevelChecker,
    Membership,
    OwnershipChecker,
    PermissionRule,
    RBACChecker,
    Role,
    RootOnly,
)
from .pipeline import (
    UNRESTRICTED,
    AccessScope,
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
from .redaction import (
    HiddenUniqueConstraintError,
    RedactedReferenceError,
    is_visible,
    redact_conflict,
)
from .referrers import Referrer, Relationship, find_referrers, relationships
from .refs import OnDelete, Ref, ReferenceRestrictedError, RefRevision, RefType, Registry
from .schema import MigrationError, MigrationPathError, RevisionNotMigratedError, Schema
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
    "UNRESTRICTED",
    "UNSET",
    "ACLChecker",
    "ACLEntry",
    "AccessScope",
    "Action",
    "ActionBasedChecker",
    "AllowAll",
    "AlreadyExistsError",
    "And",
    "BatchFailure",
    "BatchOutcome",
    "BlobInfo",
    "BlobStore",
    "Capabilities",
    "CompositeChecker",
    "Condition",
    "ConflictError",
    "ConstraintChecker",
    "DisplayName",
    "Encoding",
    "Event",
    "EventHandler",
    "EventHandlers",
    "EventPhase",
    "Field",
    "FieldError",
    "FieldLevelChecker",
    "GoneError",
    "HiddenUniqueConstraintError",
    "IConstraintChecker",
    "IValidator",
    "IndexSpec",
    "IndexedField",
    "Membership",
    "MemoryBlobStore",
    "MemoryPayloadStore",
    "MemoryPayloadStoreFactory",
    "MemoryStorage",
    "MemoryStorageFactory",
    "MigrationError",
    "MigrationPathError",
    "MissingOperationContextError",
    "Not",
    "NotFoundError",
    "OnDelete",
    "Op",
    "OperationContext",
    "Or",
    "OwnershipChecker",
    "Page",
    "PatchError",
    "PatchTestFailedError",
    "PayloadStore",
    "PayloadStoreFactory",
    "PermissionChecker",
    "PermissionDeniedError",
    "PermissionRule",
    "PreconditionFailedError",
    "Query",
    "QueryError",
    "RBACChecker",
    "RedactedReferenceError",
    "Ref",
    "RefRevision",
    "RefType",
    "ReferenceRestrictedError",
    "Referrer",
    "Registry",
    "Relationship",
    "Resource",
    "ResourceManager",
    "ResourceMeta",
    "ResourceOps",
    "RevisionInfo",
    "RevisionNotDraftError",
    "RevisionNotMigratedError",
    "RevisionStatus",
    "Role",
    "RootOnly",
    "Schema",
    "SearchedResource",
    "Sort",
    "SpecStarError",
    "Storage",
    "StorageError",
    "StorageFactory",
    "StorageUnavailableError",
    "Unique",
    "UniqueConstraintError",
    "UnsetType",
    "ValidationError",
    "WriteOutcomeUnknownError",
    "__version__",
    "batch_delete",
    "batch_filter",
    "batch_restore",
    "combine_handlers",
    "entity_tag",
    "find_referrers",
    "format_condition",
    "format_sorts",
    "is_visible",
    "parse_condition",
    "parse_sorts",
    "redact_conflict",
    "relationships",
    "revision_of_tag",
]

from ._version import __version__

# The composition point: a manager given no storage gets a new in-memory one.
set_default_storage(lambda _name: MemoryStorage())

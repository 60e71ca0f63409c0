"""The service provider interface: what adapters may import from core.

Applications use :mod:`specstar.core` (its ``__all__``). Adapters — storage (``specstar.sql``,
future S3 stores), queues, the conformance suites (``specstar.testing``) and driving adapters
(``specstar.fastapi``) — may also use the names re-exported here, and nothing else of core's
modules: these are the contracts (ports and the commit semantics beside them), the pieces an
adapter needs to agree with the reference semantics (index extraction and normalisation, the
query AST, its resolution, evaluation and cursors), and the model helpers adapters build on.
Everything else in core is internal and may change without notice.

Groups:

* ports: :class:`Storage`, :class:`StorageFactory`, :class:`CachingStorageFactory`,
  :class:`BlobStore`, :class:`BlobInfo`, :class:`Capabilities`, :class:`Write`,
  :class:`CommitResult`, :class:`NewRevision`, :class:`RevisionRewrite`, :class:`AdoptedRevision`,
  :class:`StoredRevision`, :class:`Adoption` (a whole resource for
  :meth:`Storage.adopt_resources`), and the commit semantics beside them (:meth:`Write.apply`,
  :class:`AppliedWrite`, :func:`check_purge`, :func:`check_prune`);
* lease locks: :class:`LockBackend`, :class:`Lock`, the input checks every backend applies
  (:func:`check_lock_key`, :func:`check_lock_ttl`, :func:`check_lock`,
  :func:`check_lock_timeout`, :data:`MAX_LOCK_TTL`), :func:`new_lock_owner`, and the blocking
  helpers over any backend (:func:`acquire_lock`, :func:`hold_lock`);
* revision payloads: :class:`PayloadStore`, :class:`PayloadStoreFactory`,
  :class:`PayloadEntry`, :func:`new_payload_key`, :func:`is_payload_key`,
  :func:`check_payload_key`;
* indexes: :class:`IndexSpec`, :class:`IndexedField`, :class:`Kind`, :func:`normalize_scalar`,
  :func:`extract_indexed`, :func:`build_spec`, :func:`field_type`;
* query: the AST (:class:`Expr`, :data:`META_FIELDS`, :data:`PATH_RE`, ...),
  :func:`resolve_query` with :data:`DEFAULT_LIMIT`/:data:`MAX_LIMIT`, the reference evaluator
  module :mod:`evaluate`, cursors (:class:`CursorPosition`, :func:`encode_cursor`,
  :func:`decode_cursor`, :func:`effective_sorts`, :func:`sort_values`), the ``regex`` dialect
  (:func:`compile_regex`, :class:`Regex`, :class:`RegexSyntaxError`) and the time budget
  (:data:`DEFAULT_QUERY_TIMEOUT`, :func:`check_timeout`, :func:`query_budget`);
* models and naming: :func:`decode_data`, :func:`canonical_json`,
  :func:`find_annotated_fields`, :func:`kebab_case`, :mod:`jsonpointer`,
  :func:`apply_merge_patch`;
* references and permissions: :class:`RefField`, :func:`collect_refs`, :class:`Unrestricted`,
  :class:`~specstar.core.actions.Action` and its groups.
"""

from __future__ import annotations

from . import jsonpointer
from ._memory_index import IndexSet
from .actions import COLLECTION_ACTIONS, MAINTENANCE_ACTIONS, READ_ACTIONS, WRITE_ACTIONS, Action
from .adoption import Adoption
from .binary import find_binaries
from .blobs import (
    CHUNK_SIZE,
    DEFAULT_CONTENT_TYPE,
    DEFAULT_MAX_FILE_BYTES,
    MAX_PARTS,
    BlobCapabilities,
    BlobPart,
    BlobSource,
    BlobUpload,
    Hashing,
    check_digest,
    check_file_id,
    check_max_file_bytes,
    check_part_number,
    check_parts,
    check_range,
    check_upload_id,
    is_file_id,
    iter_chunks,
)
from .commits import AdoptedRevision, AppliedWrite, check_prune, check_purge, revision_seq
from .indexes import (
    IndexedField,
    IndexSpec,
    Kind,
    build_spec,
    extract_indexed,
    field_type,
    normalize_scalar,
)
from .locks import (
    MAX_LOCK_TTL,
    Lock,
    LockBackend,
    acquire_lock,
    check_lock,
    check_lock_key,
    check_lock_timeout,
    check_lock_ttl,
    hold_lock,
    new_lock_owner,
)
from .models import canonical_json, decode_data, find_annotated_fields
from .naming import kebab_case
from .patch import apply_merge_patch
from .payloads import (
    PayloadEntry,
    PayloadStore,
    PayloadStoreFactory,
    check_payload_key,
    is_payload_key,
    new_payload_key,
)
from .pipeline import Unrestricted
from .ports import (
    BlobInfo,
    BlobStore,
    CachingStorageFactory,
    Capabilities,
    CommitResult,
    NewRevision,
    RevisionRewrite,
    Storage,
    StorageFactory,
    StoredRevision,
    Write,
)
from .query import evaluate
from .query._budget import DEFAULT_QUERY_TIMEOUT, check_timeout, query_budget
from .query._regex import Regex, RegexSyntaxError, compile_regex
from .query.ast import (
    ASCII_FOLD,
    BLANK_CHARS,
    FIELD_FNS,
    META_FIELDS,
    PATH_RE,
    And,
    Condition,
    Expr,
    Field,
    Not,
    Op,
    Or,
    Query,
    Sort,
)
from .query.cursor import (
    CursorPosition,
    decode_cursor,
    effective_sorts,
    encode_cursor,
    sort_values,
)
from .query.resolve import DEFAULT_LIMIT, FLAG_OPS, MAX_LIMIT, resolve_query
from .refs import RefField, collect_refs

__all__ = [
    "ASCII_FOLD",
    "BLANK_CHARS",
    "CHUNK_SIZE",
    "COLLECTION_ACTIONS",
    "DEFAULT_CONTENT_TYPE",
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_QUERY_TIMEOUT",
    "FIELD_FNS",
    "FLAG_OPS",
    "MAINTENANCE_ACTIONS",
    "MAX_LIMIT",
    "MAX_LOCK_TTL",
    "MAX_PARTS",
    "META_FIELDS",
    "PATH_RE",
    "READ_ACTIONS",
    "WRITE_ACTIONS",
    "Action",
    "AdoptedRevision",
    "Adoption",
    "And",
    "AppliedWrite",
    "BlobCapabilities",
    "BlobInfo",
    "BlobPart",
    "BlobSource",
    "BlobStore",
    "BlobUpload",
    "CachingStorageFactory",
    "Capabilities",
    "CommitResult",
    "Condition",
    "CursorPosition",
    "Expr",
    "Field",
    "Hashing",
    "IndexSet",
    "IndexSpec",
    "IndexedField",
    "Kind",
    "Lock",
    "LockBackend",
    "NewRevision",
    "Not",
    "Op",
    "Or",
    "PayloadEntry",
    "PayloadStore",
    "PayloadStoreFactory",
    "Query",
    "RefField",
    "Regex",
    "RegexSyntaxError",
    "RevisionRewrite",
    "Sort",
    "Storage",
    "StorageFactory",
    "StoredRevision",
    "Unrestricted",
    "Write",
    "acquire_lock",
    "apply_merge_patch",
    "build_spec",
    "canonical_json",
    "check_digest",
    "check_file_id",
    "check_lock",
    "check_lock_key",
    "check_lock_timeout",
    "check_lock_ttl",
    "check_max_file_bytes",
    "check_part_number",
    "check_parts",
    "check_payload_key",
    "check_prune",
    "check_purge",
    "check_range",
    "check_timeout",
    "check_upload_id",
    "collect_refs",
    "compile_regex",
    "decode_cursor",
    "decode_data",
    "effective_sorts",
    "encode_cursor",
    "evaluate",
    "extract_indexed",
    "field_type",
    "find_annotated_fields",
    "find_binaries",
    "hold_lock",
    "is_file_id",
    "is_payload_key",
    "iter_chunks",
    "jsonpointer",
    "kebab_case",
    "new_lock_owner",
    "new_payload_key",
    "normalize_scalar",
    "query_budget",
    "resolve_query",
    "revision_seq",
    "sort_values",
]

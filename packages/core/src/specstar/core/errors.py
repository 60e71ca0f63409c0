"""The error tree of SpecStar.

Every error the framework raises on purpose derives from :class:`SpecStarError`, and every
error class of ``specstar.core`` is defined here (older import locations such as
``specstar.core.refs`` and ``specstar.core.schema`` re-export them). Core errors carry no
transport details (no HTTP status codes): a driving adapter such as the FastAPI one maps the
branches to its own protocol.

One style throughout: an error is a human-readable ``message`` plus structured attributes;
``detail_fields`` names the attributes :meth:`SpecStarError.details` reports, and an error whose
attributes need a plainer form for documents (lists of records) overrides ``details``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class SpecStarError(Exception):
    """Root of every error raised by SpecStar on purpose.

    Attributes:
        message: the human-readable description.
        code: a stable machine-readable name of the error kind.
        detail_fields: the attributes :meth:`details` reports.
    """

    code: str = "specstar_error"
    detail_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, Any]:
        """Machine-readable fields describing the error (for problem documents and logs)."""
        return {name: getattr(self, name) for name in self.detail_fields}


class NotFoundError(SpecStarError, LookupError):
    """The resource or revision does not exist (or was permanently deleted)."""

    code = "not_found"

    def __init__(
        self, message: str, *, resource_id: str | None = None, revision_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.resource_id = resource_id
        self.revision_id = revision_id

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.resource_id is not None:
            out["resource_id"] = self.resource_id
        if self.revision_id is not None:
            out["revision_id"] = self.revision_id
        return out


class GoneError(SpecStarError):
    """The resource exists but is soft-deleted; restore it to use it again."""

    code = "gone"
    detail_fields = ("resource_id",)

    def __init__(self, resource_id: str) -> None:
        super().__init__(f"resource {resource_id!r} is deleted (restore it to use it again)")
        self.resource_id = resource_id


class ConflictError(SpecStarError):
    """The write conflicts with the current state of the resource."""

    code = "conflict"


class AlreadyExistsError(ConflictError):
    """A resource with this id already exists."""

    code = "already_exists"
    detail_fields: ClassVar[tuple[str, ...]] = ("resource_id",)

    def __init__(self, resource_id: str) -> None:
        super().__init__(f"resource {resource_id!r} already exists")
        self.resource_id = resource_id


class PreconditionFailedError(ConflictError):
    """The caller's ``expected_revision_id`` does not name the current revision."""

    code = "precondition_failed"
    detail_fields = ("resource_id", "expected", "actual")

    def __init__(self, resource_id: str, expected: str, actual: str | None) -> None:
        super().__init__(
            f"resource {resource_id!r}: expected current revision {expected!r}, "
            f"but it is {actual!r}"
        )
        self.resource_id = resource_id
        self.expected = expected
        self.actual = actual


class RevisionNotDraftError(ConflictError):
    """``modify`` was asked to rewrite a stable revision; stable revisions are immutable."""

    code = "revision_not_draft"
    detail_fields = ("resource_id", "revision_id")

    def __init__(self, resource_id: str, revision_id: str) -> None:
        super().__init__(
            f"revision {revision_id!r} of {resource_id!r} is stable and can no longer be "
            "modified in place; use update to create a new revision"
        )
        self.resource_id = resource_id
        self.revision_id = revision_id


class PatchTestFailedError(ConflictError):
    """A JSON Patch ``test`` operation did not match the current data."""

    code = "patch_test_failed"
    detail_fields = ("path",)

    def __init__(self, path: str, expected: Any, actual: Any) -> None:
        super().__init__(f"patch test failed at {path!r}: expected {expected!r}, got {actual!r}")
        self.path = path
        self.expected = expected
        self.actual = actual


class JobStateError(ConflictError):
    """A job verb (rerun, cancel) does not apply to the job's current status."""

    code = "job_state"
    detail_fields = ("resource_id", "status", "verb")

    def __init__(self, resource_id: str, status: str, verb: str) -> None:
        super().__init__(f"cannot {verb} job {resource_id!r}: it is {status}")
        self.resource_id = resource_id
        self.status = status
        self.verb = verb


class IdempotencyConflictError(ConflictError):
    """A job was created with the idempotency key of an existing job but another payload."""

    code = "idempotency_conflict"
    detail_fields = ("idempotency_key", "existing_resource_id")

    def __init__(self, idempotency_key: str, existing_resource_id: str) -> None:
        super().__init__(
            f"idempotency key {idempotency_key!r} belongs to job {existing_resource_id!r}, "
            "whose payload differs"
        )
        self.idempotency_key = idempotency_key
        self.existing_resource_id = existing_resource_id


class LockHeldError(ConflictError):
    """A lease lock could not be acquired: another owner holds the key (until ``timeout``)."""

    code = "lock_held"
    detail_fields = ("key",)

    def __init__(self, key: str, timeout: float | None = None) -> None:
        waited = "" if not timeout else f" (waited {timeout:g} s)"
        super().__init__(f"lock {key!r} is held by another owner{waited}")
        self.key = key


class LockNotOwnedError(ConflictError):
    """A lease lock was renewed or released by a handle that no longer owns it.

    The handle is stale (its lease expired or was released, and maybe another owner took the
    key since) or was never issued for the key: nothing was changed.
    """

    code = "lock_not_owned"
    detail_fields = ("key", "token")

    def __init__(self, key: str, token: int) -> None:
        super().__init__(
            f"lock {key!r} is not owned by this handle (fencing token {token}): its lease "
            "expired or was released, or the handle was not issued by this backend"
        )
        self.key = key
        self.token = token


class UniqueConstraintError(ConflictError):
    """A ``Unique`` field already holds this value on another non-deleted resource."""

    code = "unique_violation"
    detail_fields = ("field", "value", "conflicting_resource_id")

    def __init__(self, field: str, value: Any, conflicting_resource_id: str | None) -> None:
        super().__init__(
            f"{field}={value!r} is already used by resource {conflicting_resource_id!r}"
        )
        self.field = field
        self.value = value
        self.conflicting_resource_id = conflicting_resource_id


class FieldError:
    """One problem with one field of submitted data."""

    __slots__ = ("loc", "message")

    def __init__(self, loc: str, message: str) -> None:
        self.loc = loc
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"loc": self.loc, "message": self.message}

    def __repr__(self) -> str:
        return f"FieldError({self.loc!r}, {self.message!r})"


class ValidationError(SpecStarError, ValueError):
    """Submitted data does not fit the model or a validator rejected it.

    Attributes:
        errors: per-field problems; ``loc`` is a JSON-pointer-like path (``$`` is the root).
    """

    code = "validation_error"

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors = list(errors)

    def details(self) -> dict[str, Any]:
        return {"errors": [e.as_dict() for e in self.errors]}


class ContentTooLargeError(ValidationError):
    """A file is larger than the limit the application accepts (``max_file_bytes``).

    Raised while the bytes are counted, before anything is kept: the stored content is dropped.
    It is a :class:`ValidationError` whose field error names the offending field (``size`` for
    an upload, ``/avatar/data`` for inline data of a model).

    Attributes:
        limit: the largest size accepted, in bytes.
        size: the size declared or counted so far, when known.
    """

    code = "content_too_large"

    def __init__(self, limit: int, *, size: int | None = None, field: str = "size") -> None:
        seen = "" if size is None else f" ({size} bytes)"
        message = f"the file is larger than the {limit} bytes accepted (max_file_bytes){seen}"
        super().__init__(message, [FieldError(field, message)])
        self.limit = limit
        self.size = size

    def details(self) -> dict[str, Any]:
        out = super().details()
        out["limit"] = self.limit
        return out


class ClientIdsDisabledError(ValidationError):
    """A create named its own resource id, but the model's ``client_ids`` setting is off.

    Raised before anything is read, for a missing id and a taken one alike, so the answer
    says nothing about which ids exist.
    """

    code = "client_ids_disabled"

    def __init__(self, resource_name: str) -> None:
        super().__init__(
            f"{resource_name} does not accept client-chosen resource ids (client_ids=False): "
            "create without an id and use the generated one",
            [FieldError("resource_id", "client-chosen ids are disabled (client_ids=False)")],
        )
        self.resource_name = resource_name


class PatchError(ValidationError):
    """A JSON Patch or merge patch document is malformed or cannot be applied."""

    code = "invalid_patch"


class PermissionDeniedError(SpecStarError):
    """The operation context's user may not perform this action."""

    code = "permission_denied"
    detail_fields = ("user", "action")

    def __init__(self, message: str, *, user: str | None = None, action: str | None = None):
        super().__init__(message)
        self.user = user
        self.action = action


class MissingOperationContextError(SpecStarError):
    """A write ran under ``strict_operation_context`` without a resolved user and/or time."""

    code = "missing_operation_context"
    detail_fields = ("method_name", "missing_fields")

    def __init__(self, method_name: str, missing_fields: Sequence[str]) -> None:
        super().__init__(
            f"{method_name}() needs {', '.join(missing_fields)}: pass them as keyword arguments, "
            "use manager.using(...), or configure default_user/default_now"
        )
        self.method_name = method_name
        self.missing_fields = list(missing_fields)


class QueryError(SpecStarError, ValueError):
    """A query is malformed, refers to an unindexed path, or compares incompatible types."""

    code = "invalid_query"

    def __init__(self, message: str, *, path: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.path = path
        self.extra: Mapping[str, Any] = extra

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        if self.path is not None:
            out["path"] = self.path
        return out


class StorageError(SpecStarError):
    """A storage adapter failed in a way the caller cannot fix by changing the request."""

    code = "storage_error"


class QueryTimeoutError(SpecStarError):
    """A query ran past the store's time budget and was stopped.

    The request may succeed later or with a narrower filter; nothing was changed.

    Attributes:
        budget: the budget in seconds.
    """

    code = "query_timeout"
    detail_fields = ("budget",)

    def __init__(self, budget: float) -> None:
        super().__init__(
            f"the query ran longer than the store's {budget:g} s budget; narrow the filter"
        )
        self.budget = budget


class StorageUnavailableError(StorageError):
    """The storage could not be reached (a lost connection, no free connection in time), and
    nothing was changed: the operation may be retried as it is.

    The message is written for the client and never holds the driver's text (the cause is
    chained for the logs).
    """

    code = "storage_unavailable"

    def __init__(
        self, message: str = "the storage is unavailable; the operation was not applied"
    ) -> None:
        super().__init__(message)


class WriteOutcomeUnknownError(StorageUnavailableError):
    """The connection was lost while a write was committing: it may or may not have been
    applied. Read the resource before retrying (a retried create may find it existing, a
    retried update with the old expected revision may find it moved on)."""

    code = "write_outcome_unknown"

    def __init__(
        self,
        message: str = (
            "the storage connection was lost while the write was committing; it may or may "
            "not have been applied: read the resource before retrying"
        ),
    ) -> None:
        super().__init__(message)


class ReferenceRestrictedError(ConflictError):
    """A delete was refused because live resources still reference the target.

    Attributes:
        target: the resource name of the resource being deleted.
        resource_id: its id.
        referrers: ``(resource name, field path, referrer id)`` of each blocking reference
            that may be named.
        hidden: how many more blocking references there are that are not named (see
            :class:`RedactedReferenceError`); ``0`` here.
    """

    code = "reference_restricted"

    def __init__(self, target: str, resource_id: str, referrers: list[tuple[str, str, str]]):
        count = len(referrers)
        shown = ", ".join(f"{name} {rid} ({path})" for name, path, rid in referrers[:5])
        more = f" and {count - 5} more" if count > 5 else ""
        super().__init__(
            f"{target} {resource_id!r} is still referenced {_times(count)}: {shown}{more}; "
            "delete or change those first"
        )
        self.target = target
        self.resource_id = resource_id
        self.referrers = referrers
        self.hidden = 0

    def details(self) -> dict[str, Any]:
        return {
            "resource_id": self.resource_id,
            "referrer_count": len(self.referrers) + self.hidden,
            "hidden_referrers": self.hidden,
            "referrers": [
                {"resource": name, "field": path, "resource_id": rid}
                for name, path, rid in self.referrers
            ],
        }


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


class HiddenUniqueConstraintError(UniqueConstraintError):
    """A unique value is taken by a resource the user may not see: the id is not named.

    ``conflicting_resource_id`` is ``None``; ``field`` and ``value`` (the user's own input)
    are kept.
    """

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(field, value, None)
        self.message = f"{field}={value!r} is already used by another resource"
        self.args = (self.message,)


class RedactedReferenceError(ReferenceRestrictedError):
    """A delete blocked by referrers, naming only those the user may see.

    ``referrers`` holds the visible ``(resource name, field path, resource id)`` triples and
    ``hidden`` counts the blocking references the user cannot see: the message says how many
    there are, never which.
    """

    def __init__(
        self, target: str, resource_id: str, shown: list[tuple[str, str, str]], hidden: int
    ) -> None:
        super().__init__(target, resource_id, shown)
        self.hidden = hidden
        if hidden:
            named = ", ".join(f"{name} {rid} ({path})" for name, path, rid in shown[:5])
            if len(shown) > 5:
                named += f" and {len(shown) - 5} more"
            others = f"{hidden} by resource{'s' if hidden != 1 else ''} you cannot see"
            by = f"{named}, and {others}" if named else others
            total = len(shown) + hidden
            self.message = (
                f"{target} {resource_id!r} is still referenced {_times(total)}: {by}; "
                "delete or change those first"
            )
            self.args = (self.message,)


class MigrationPathError(SpecStarError):
    """No steps lead from ``source`` to ``target``; ``known_versions`` are the schema's."""

    code = "migration_path_not_found"
    detail_fields = ("source", "target", "known_versions")

    def __init__(self, source: str | None, target: str, known_versions: Sequence[str | None]):
        super().__init__(
            f"no migration path from schema version {source!r} to {target!r} (known versions: "
            f"{', '.join(map(repr, known_versions))}); add a step from {source!r}"
        )
        self.source = source
        self.target = target
        self.known_versions = list(known_versions)


class MigrationError(SpecStarError):
    """Step ``from_version -> to_version`` (``step_name``) failed; ``__cause__`` says why."""

    code = "migration_failed"
    detail_fields = ("from_version", "to_version", "step_name")

    def __init__(self, from_version: str | None, to_version: str, step_name: str, error: Exception):
        super().__init__(
            f"migration step {from_version!r} -> {to_version!r} ({step_name}) failed: "
            f"{type(error).__name__}: {error}"
        )
        self.from_version = from_version
        self.to_version = to_version
        self.step_name = step_name


class SchemaConflictError(ConflictError):
    """Stored data and the schema's versions or migrations disagree (the branch of
    :class:`BulkMigrationError` and :class:`RevisionNotMigratedError`)."""

    code = "schema_conflict"


class BulkMigrationError(SchemaConflictError):
    """Some resources of a bulk migration failed; the others were migrated.

    A conflict between stored data and the migration steps: fix the data or the steps, then
    run the migration again.

    Attributes:
        migrated: how many resources were migrated.
        failures: ``(resource_id, error)`` of each resource that failed.
    """

    code = "bulk_migration_failed"

    def __init__(
        self, resource_name: str, migrated: int, failures: Sequence[tuple[str, SpecStarError]]
    ) -> None:
        first = failures[0]
        super().__init__(
            f"{len(failures)} {resource_name} resource(s) could not be migrated "
            f"({migrated} were); first: {first[0]} ({first[1].code}); the log has the errors"
        )
        self.migrated = migrated
        self.failures = list(failures)

    def details(self) -> dict[str, Any]:
        return {
            "migrated": self.migrated,
            "failures": [{"resource_id": rid, "code": err.code} for rid, err in self.failures[:50]],
        }


class RevisionNotMigratedError(SchemaConflictError):
    """A revision of another schema version than its resource's was to be made current.

    Attributes:
        resource_id: the resource being switched.
        revision_id: the revision that is not migrated yet.
        revision_schema_version: the schema version stored on that revision.
        current_schema_version: the resource's current (latest) schema version.
    """

    code = "revision_not_migrated"
    detail_fields = (
        "resource_id",
        "revision_id",
        "revision_schema_version",
        "current_schema_version",
    )

    def __init__(
        self,
        resource_id: str,
        revision_id: str,
        revision_schema_version: str | None,
        current_schema_version: str | None,
    ) -> None:
        super().__init__(
            f"revision {revision_id!r} of {resource_id!r} was written with schema version "
            f"{revision_schema_version!r}, but the resource is at {current_schema_version!r}; "
            f"migrate it first: migrate({resource_id!r}, revision_id={revision_id!r})"
        )
        self.resource_id = resource_id
        self.revision_id = revision_id
        self.revision_schema_version = revision_schema_version
        self.current_schema_version = current_schema_version


class DuplicateResourceError(AlreadyExistsError):
    """A backup being loaded holds a resource the target has already, and the load was told
    to raise on duplicates (``on_duplicate="raise_error"``)."""

    code = "duplicate_resource"
    detail_fields: ClassVar[tuple[str, ...]] = ("model", "resource_id")

    def __init__(self, model: str, resource_id: str) -> None:
        ConflictError.__init__(self, f"{model} {resource_id!r} exists already")
        self.model = model
        self.resource_id = resource_id


class ArchiveError(SpecStarError, ValueError):
    """A backup archive is malformed, truncated or corrupted, or names a model the target
    does not have; ``position`` is the byte offset where the problem was found."""

    code = "invalid_archive"
    detail_fields = ("position",)

    def __init__(self, message: str, *, position: int | None = None) -> None:
        where = "" if position is None else f" (at byte {position})"
        super().__init__(message + where)
        self.position = position

"""The error tree of SpecStar.

Every error the framework raises on purpose derives from :class:`SpecStarError`. Core errors
carry no transport details (no HTTP status codes): a driving adapter such as the FastAPI one maps
the branches to its own protocol.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class SpecStarError(Exception):
    """Root of every error raised by SpecStar on purpose."""

    code: str = "specstar_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, Any]:
        """Machine-readable fields describing the error (for problem documents and logs)."""
        return {}


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

    def __init__(self, resource_id: str) -> None:
        super().__init__(f"resource {resource_id!r} is deleted (restore it to use it again)")
        self.resource_id = resource_id

    def details(self) -> dict[str, Any]:
        return {"resource_id": self.resource_id}


class ConflictError(SpecStarError):
    """The write conflicts with the current state of the resource."""

    code = "conflict"


class AlreadyExistsError(ConflictError):
    """A resource with this id already exists."""

    code = "already_exists"

    def __init__(self, resource_id: str) -> None:
        super().__init__(f"resource {resource_id!r} already exists")
        self.resource_id = resource_id

    def details(self) -> dict[str, Any]:
        return {"resource_id": self.resource_id}


class PreconditionFailedError(ConflictError):
    """The caller's ``expected_revision_id`` does not name the current revision."""

    code = "precondition_failed"

    def __init__(self, resource_id: str, expected: str, actual: str | None) -> None:
        super().__init__(
            f"resource {resource_id!r}: expected current revision {expected!r}, "
            f"but it is {actual!r}"
        )
        self.resource_id = resource_id
        self.expected = expected
        self.actual = actual

    def details(self) -> dict[str, Any]:
        return {"resource_id": self.resource_id, "expected": self.expected, "actual": self.actual}


class RevisionNotDraftError(ConflictError):
    """``modify`` was asked to rewrite a stable revision; stable revisions are immutable."""

    code = "revision_not_draft"

    def __init__(self, resource_id: str, revision_id: str) -> None:
        super().__init__(
            f"revision {revision_id!r} of {resource_id!r} is stable and can no longer be "
            "modified in place; use update to create a new revision"
        )
        self.resource_id = resource_id
        self.revision_id = revision_id

    def details(self) -> dict[str, Any]:
        return {"resource_id": self.resource_id, "revision_id": self.revision_id}


class PatchTestFailedError(ConflictError):
    """A JSON Patch ``test`` operation did not match the current data."""

    code = "patch_test_failed"

    def __init__(self, path: str, expected: Any, actual: Any) -> None:
        super().__init__(f"patch test failed at {path!r}: expected {expected!r}, got {actual!r}")
        self.path = path
        self.expected = expected
        self.actual = actual

    def details(self) -> dict[str, Any]:
        return {"path": self.path}


class UniqueConstraintError(ConflictError):
    """A ``Unique`` field already holds this value on another non-deleted resource."""

    code = "unique_violation"

    def __init__(self, field: str, value: Any, conflicting_resource_id: str | None) -> None:
        super().__init__(
            f"{field}={value!r} is already used by resource {conflicting_resource_id!r}"
        )
        self.field = field
        self.value = value
        self.conflicting_resource_id = conflicting_resource_id

    def details(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "value": self.value,
            "conflicting_resource_id": self.conflicting_resource_id,
        }


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


class PatchError(ValidationError):
    """A JSON Patch or merge patch document is malformed or cannot be applied."""

    code = "invalid_patch"


class PermissionDeniedError(SpecStarError):
    """The operation context's user may not perform this action."""

    code = "permission_denied"

    def __init__(self, message: str, *, user: str | None = None, action: str | None = None):
        super().__init__(message)
        self.user = user
        self.action = action

    def details(self) -> dict[str, Any]:
        return {"user": self.user, "action": self.action}


class MissingOperationContextError(SpecStarError):
    """A write ran under ``strict_operation_context`` without a resolved user and/or time."""

    code = "missing_operation_context"

    def __init__(self, method_name: str, missing_fields: Sequence[str]) -> None:
        super().__init__(
            f"{method_name}() needs {', '.join(missing_fields)}: pass them as keyword arguments, "
            "use manager.using(...), or configure default_user/default_now"
        )
        self.method_name = method_name
        self.missing_fields = list(missing_fields)

    def details(self) -> dict[str, Any]:
        return {"method_name": self.method_name, "missing_fields": self.missing_fields}


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

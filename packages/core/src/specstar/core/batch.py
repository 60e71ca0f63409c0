"""Soft delete or restore every resource a filter matches, with per-row authorization.

A batch is not one transaction: it asks once whether the user may perform the action at all
(:class:`PermissionDeniedError` before anything is read), collects the ids of the rows that
match the filter *and* lie in both the user's ``search`` scope and their scope for the action,
then changes each one on its own, authorized on its own. A batch therefore never touches,
counts or names a row the user could not change by itself, and errors of single rows are
collected (conflicts redacted for the user, see :mod:`specstar.core.redaction`) instead of
stopping the batch.

Example::

    outcome = batch_delete(notes, QB["topic"] == "old", user="ann")
    print(outcome.matched, outcome.succeeded, [f.code for f in outcome.failed])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from .actions import Action
from .errors import FieldError, SpecStarError, ValidationError
from .manager import ResourceManager
from .pipeline import Unrestricted
from .query import And, Query, parse_condition
from .query.ast import Expr
from .redaction import redact_conflict
from .types import ResourceMeta

__all__ = ["BatchFailure", "BatchOutcome", "batch_delete", "batch_filter", "batch_restore"]


class BatchFailure(msgspec.Struct, frozen=True, kw_only=True):
    """One resource a batch could not change.

    Attributes:
        resource_id: the resource.
        error: why, as the acting user may see it (conflicts naming other resources are
            redacted for that user).
    """

    resource_id: str
    error: SpecStarError

    @property
    def code(self) -> str:
        """The error's stable code (``"reference_restricted"``, ``"permission_denied"``, …)."""
        return self.error.code

    @property
    def message(self) -> str:
        """The error's message."""
        return self.error.message


class BatchOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch delete or restore did.

    Attributes:
        action: ``"delete"`` or ``"restore"``.
        matched: how many resources matched the filter within the user's scope.
        succeeded: ids of the resources changed, in the order they were changed.
        failed: the resources that could not be changed, with why.
    """

    action: str
    matched: int
    succeeded: tuple[str, ...]
    failed: tuple[BatchFailure, ...]


def batch_filter(
    *,
    qb: str | None = None,
    conditions: Expr | Sequence[Expr] | None = None,
    confirm_all: bool = False,
) -> Expr | None:
    """The condition a batch applies to, from a string filter and/or condition trees.

    Every part given is ANDed: ``qb`` (the compact string form, parsed; blank counts as not
    given), and ``conditions`` (one condition, or a sequence of them, ANDed). With no part at
    all the batch would apply to every resource, which must be asked for explicitly.

    Args:
        qb: a filter in the compact string form.
        conditions: a condition, or a sequence of conditions.
        confirm_all: allow a batch without any filter.

    Returns:
        The condition, or ``None`` (every resource; only with ``confirm_all``).

    Raises:
        QueryError: ``qb`` does not parse.
        ValidationError: no filter and no ``confirm_all`` (at ``/confirm_all``).
    """
    parts: list[Expr] = []
    if qb is not None and qb.strip():
        parts.append(parse_condition(qb))
    if isinstance(conditions, Sequence):
        if conditions:
            parts.append(And(tuple(conditions)))
    elif conditions is not None:
        parts.append(conditions)
    if not parts:
        if not confirm_all:
            raise ValidationError(
                "a batch without qb or conditions applies to every resource: "
                "send confirm_all: true to do that",
                [FieldError("/confirm_all", "required when there is no filter")],
            )
        return None
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def batch_delete(
    manager: ResourceManager[Any],
    where: Expr | str | None = None,
    *,
    confirm_all: bool = False,
    user: str | UnsetType = UNSET,
    now: datetime | UnsetType = UNSET,
) -> BatchOutcome:
    """Soft-delete every live resource matching ``where`` that ``user`` may delete.

    Args:
        manager: the model's manager.
        where: a condition, or a filter in the compact string form; ``None`` (or a blank
            string) means every resource and needs ``confirm_all``.
        confirm_all: allow ``where=None``.
        user: the acting user (``UNSET``: the manager's default user).
        now: the time of the changes (``UNSET``: the manager's clock).

    Returns:
        What was matched, changed, and refused (with the errors, redacted for ``user``).

    Raises:
        ValidationError: no filter and no ``confirm_all``.
        QueryError: the filter does not parse, or uses an unindexed field.
        PermissionDeniedError: ``user`` may not ``delete`` at all (nothing was read).
    """
    return _run(
        manager,
        Action.DELETE,
        manager.delete,
        where,
        confirm_all=confirm_all,
        user=user,
        now=now,
        deleted=False,
    )


def batch_restore(
    manager: ResourceManager[Any],
    where: Expr | str | None = None,
    *,
    confirm_all: bool = False,
    user: str | UnsetType = UNSET,
    now: datetime | UnsetType = UNSET,
) -> BatchOutcome:
    """Restore every soft-deleted resource matching ``where`` that ``user`` may restore.

    Args and raises as :func:`batch_delete`, with ``restore`` as the action; a restore can
    fail per row (e.g. a unique value taken meanwhile), reported in ``failed``.
    """
    return _run(
        manager,
        Action.RESTORE,
        manager.restore,
        where,
        confirm_all=confirm_all,
        user=user,
        now=now,
        deleted=True,
    )


def _run(
    manager: ResourceManager[Any],
    action: str,
    op: Callable[..., ResourceMeta],
    where: Expr | str | None,
    *,
    confirm_all: bool,
    user: str | UnsetType,
    now: datetime | UnsetType,
    deleted: bool,
) -> BatchOutcome:
    """Check the filter and the permission, collect the ids, then change them one by one."""
    if isinstance(where, str):
        cond = batch_filter(qb=where, confirm_all=confirm_all)
    else:
        cond = batch_filter(conditions=where, confirm_all=confirm_all)
    scope = manager.authorize(action, user=user)
    if not isinstance(scope, Unrestricted):
        cond = scope if cond is None else And((scope, cond))
    query = Query(where=cond, is_deleted=deleted)
    # collect first: the changes move rows out of the filter
    ids = [meta.resource_id for meta in manager.iter_all(query, user=user)]
    succeeded: list[str] = []
    failed: list[BatchFailure] = []
    for rid in ids:
        try:
            op(rid, user=user, now=now)
        except SpecStarError as exc:
            error = redact_conflict(manager, exc, user)
            failed.append(BatchFailure(resource_id=rid, error=error))
        else:
            succeeded.append(rid)
    return BatchOutcome(
        action=action, matched=len(ids), succeeded=tuple(succeeded), failed=tuple(failed)
    )

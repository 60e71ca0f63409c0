"""Storing the checked resources of a load batch by batch, each resource atomically.

A batch goes to :meth:`Storage.adopt_resources` (one transaction on SQL). Every resource gets
its own outcome: its stored meta, or the error that refused it while the others were stored.
When the store fails the batch as a whole (a lost connection, say), each resource is tried
again on its own with :meth:`Storage.adopt_resource`, so one bad moment does not fail
resources that would have loaded — and one the failed batch did store is recognised as such.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..adoption import Adoption
from ..errors import SpecStarError
from ..ports import Storage
from ..types import ResourceMeta

__all__ = ["Outcome", "store_batch"]

#: What became of one resource: its stored meta, or why it was refused.
Outcome = ResourceMeta | SpecStarError | ValueError


def store_batch(storage: Storage, batch: Sequence[Adoption]) -> list[Outcome]:
    """Store ``batch``; for each resource, in order, its :data:`Outcome`."""
    if not batch:
        return []
    try:
        return storage.adopt_resources(batch)
    except (SpecStarError, ValueError):
        # the store failed as a whole (nothing of the batch or only part of it is stored):
        # each resource again on its own, so each gets its own outcome
        return [_alone(storage, a) for a in batch]


def _alone(storage: Storage, a: Adoption) -> Outcome:
    try:
        now = storage.get_meta(a.resource_id)
        if now is not None and _same(now, a):
            return now  # the failed batch stored it
        return storage.adopt_resource(a.meta, a.revisions, a.indexed_data, replaces=a.replaces)
    except (SpecStarError, ValueError) as exc:
        return exc


def _same(meta: ResourceMeta, a: Adoption) -> bool:
    """Whether the stored ``meta`` is the one ``a`` stores."""
    try:
        expected = a.stored_meta()
    except ValueError:
        return False
    return meta == expected and (a.replaces is None or a.replaces != meta)

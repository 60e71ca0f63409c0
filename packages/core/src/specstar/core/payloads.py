"""The payload port: revision data kept apart from the meta records (e.g. in S3).

A :class:`~specstar.core.ports.Storage` always keeps the meta records, the revision index
(:class:`~specstar.core.types.RevisionInfo` rows) and the atomic compare-and-swap. The encoded
data of each revision may instead live in a :class:`PayloadStore` — object storage, typically —
shaped after what such stores offer: immutable objects, put-if-absent, listing.

The contract with the storage that uses it:

* **Written before the pointer moves.** The storage puts the payload, then commits the revision
  row naming it. A crash in between leaves an *orphan payload* — never a revision without data.
* **Keys are never reused.** Each write gets a fresh key from :func:`new_payload_key` (the data's
  SHA-256 and a random part), so a key names exactly one byte string forever. A rewrite of a
  draft writes a new object under a new key instead of overwriting the one a reader may still be
  reading; the old object becomes an orphan.
* **Orphans are collected, not raced.** :meth:`PayloadStore.list` reports every object with the
  time it was stored; a collector deletes the ones no revision names and that are older than a
  grace period (longer than any write takes between its put and its commit).
"""

from __future__ import annotations

import abc
import hashlib
import re
import secrets
from collections.abc import Iterator, Sequence
from datetime import datetime

import msgspec

__all__ = [
    "PayloadEntry",
    "PayloadStore",
    "PayloadStoreFactory",
    "check_payload_key",
    "is_payload_key",
    "new_payload_key",
]

_KEY = re.compile(r"[0-9a-f]{64}-[0-9a-f]{16}")


def new_payload_key(data: bytes) -> str:
    """A fresh key for ``data``: ``"<sha256 hex>-<16 random hex digits>"``.

    The hash lets anyone verify an object against its key; the random part makes the key unique
    per write, even when two revisions hold the same bytes.
    """
    return f"{hashlib.sha256(data).hexdigest()}-{secrets.token_hex(8)}"


def is_payload_key(key: str) -> bool:
    """Whether ``key`` has the form :func:`new_payload_key` makes."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


class PayloadEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One stored object, as :meth:`PayloadStore.list` reports it.

    Attributes:
        resource_id: the resource the payload belongs to.
        key: its key (see :func:`new_payload_key`).
        size: its length in bytes.
        stored_time: when it was stored (aware, UTC).
    """

    resource_id: str
    key: str
    size: int
    stored_time: datetime


class PayloadStore(abc.ABC):
    """Immutable revision payloads of one resource type, addressed by ``(resource_id, key)``.

    Implementations must be safe to call from many threads (and, for shared backends, many
    processes) at once. ``key`` is always a :func:`new_payload_key` value; a store may refuse
    others with ``ValueError``.
    """

    @abc.abstractmethod
    def put(self, resource_id: str, key: str, data: bytes) -> None:
        """Store ``data`` under a key that must not hold anything else (put-if-absent).

        Putting the same bytes under the same key again does nothing (a retried put).

        Raises:
            ConflictError: the key already holds different bytes (objects are immutable).
        """

    @abc.abstractmethod
    def get(self, resource_id: str, key: str) -> bytes | None:
        """The stored bytes, or ``None`` when there is no such object."""

    def get_many(self, refs: Sequence[tuple[str, str]]) -> list[bytes | None]:
        """For each ``(resource_id, key)``, in order, the bytes or ``None``.

        This default calls :meth:`get` per reference; stores should fetch concurrently or in
        one request where they can.
        """
        return [self.get(rid, key) for rid, key in refs]

    @abc.abstractmethod
    def delete(self, resource_id: str, key: str) -> bool:
        """Remove one object; returns whether it existed."""

    @abc.abstractmethod
    def list(self, resource_id: str | None = None) -> Iterator[PayloadEntry]:
        """Every stored object (of one resource when ``resource_id`` is given), in no
        particular order; for orphan collection."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. The default does nothing."""


class PayloadStoreFactory(abc.ABC):
    """Builds the :class:`PayloadStore` of each resource type (the same name always reaches
    the same objects; different names never share one)."""

    @abc.abstractmethod
    def build(self, resource_name: str) -> PayloadStore:
        """The payload store of one resource type."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release everything the factory opened."""


def check_payload_key(key: str) -> None:
    """Raise ``ValueError`` unless ``key`` has the form :func:`new_payload_key` makes."""
    if not is_payload_key(key):
        raise ValueError(f"{key!r} is not a payload key (see new_payload_key)")

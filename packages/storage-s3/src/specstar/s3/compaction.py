"""Compaction of a type's commit log, and the rule that keeps replicas honest across it.

Compaction deletes the log entries a checkpoint covers, the checkpoints before it, and the
payload objects of revisions that are gone (purged, pruned, or drafts rewritten), so that
purged data leaves the bucket and the log stays bounded. It deletes the entries up to
checkpoint ``c`` only once ``c`` is at least the *retention* ``R`` old (``log_retention`` of
the factory, one hour by default), measured on S3's own clock: the ``Date`` of the listing's
answer against the checkpoint's ``LastModified``. It keeps ``c`` and every later object.

The danger: a replica at entry ``s`` probes ``log/<s+1>`` and reads 404 as "nothing new"; if
entries after ``s`` were compacted away it would serve a stale state, and a write would even
create ``log/<s+1>`` again (its ``If-None-Match`` no longer refuses a deleted key). Two facts
make a replica safe:

1. Whenever an entry has been deleted, a checkpoint at or after it exists (compaction keeps
   the checkpoint it compacted to, and deletes a checkpoint only when keeping a later one).
   So a replica whose probe of ``s+1`` is 404 and which then *lists* the checkpoints and
   finds none after ``s`` knows ``s+1`` was never written (S3 lists consistently); when it
   finds one, it reloads from the latest and goes on from there.
2. Each replica remembers its *anchor*: its clock's reading just before a request whose
   answer showed that no entry after its ``seq`` existed (a 404 probe it could trust, its own
   winning create, or a checkpoint listing). Every entry after ``seq`` was created after the
   anchor, so every checkpoint covering one was written after it, so none of them can be
   deleted before ``anchor + R`` (minus S3's one-second timestamp resolution). Within the
   *trust window* ``W = R / 2`` after its anchor a replica trusts a 404 probe (and creates
   entries) without listing; beyond it, a 404 costs one ``LIST`` of the checkpoints (fact 1).
   A replica that reads or writes at least once every ``W`` never pays that ``LIST``.

The invariant: **a process never answers from a replica that misses an acknowledged write made
before the call began, and never creates a log entry over a compacted one, as long as each of
its S3 requests reaches S3 less than ``R / 2 - 1`` seconds after the process decided to send it
(30 minutes with the default retention, where the client's own retries and timeouts give up
within about three minutes) and its clock does not lose time.** The process's clock is
``CLOCK_BOOTTIME`` where the platform has it (it keeps counting while the host is suspended),
else ``time.monotonic``; only its rate matters, not its agreement with other hosts: the
compactor measures ages on S3's clock, so clock drift *between hosts* plays no part (when a
service sends no ``Date`` header the compacting host's UTC clock stands in, and its lead over
S3's clock then counts as part of that delay). ``keep_seconds`` below the configured
retention is refused for this reason: the other processes trust their probes for ``R / 2``.

Purged data leaves the bucket within ``R`` plus twice the interval between compactions: each
compaction first writes a checkpoint of the current state (when the latest one is older), and
the first one at least ``R`` later deletes everything before it. ``R = 0`` compacts up to the
present at once; it is only safe while no other process writes (tests, maintenance).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from specstar.core import StorageUnavailableError

from . import _log
from ._client import read_object, unavailable

__all__ = [
    "DEFAULT_RETENTION",
    "Compaction",
    "Listing",
    "check_keep",
    "check_retention",
    "compact",
    "delete_objects",
    "elapsed_clock",
    "list_checkpoints",
    "list_entries",
    "removed_payloads",
    "seq_key",
]

#: Default seconds a checkpoint must have existed before the entries it covers are deleted.
DEFAULT_RETENTION = 3600.0
#: Objects one ``DeleteObjects`` request may name.
_DELETE_BATCH = 1000
#: Objects read at once while collecting the payload keys of removed revisions.
_PARALLEL_READS = 8


def _boot_clock() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


#: Seconds on a clock that never goes back and keeps counting while the host is suspended
#: (only differences count).
elapsed_clock: Callable[[], float] = (
    _boot_clock if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic
)


def check_retention(value: float, name: str = "log_retention") -> float:
    """``value`` as a retention in seconds (a finite number, 0 or more)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be 0 or more seconds, not {value!r}")
    return float(value)


def check_keep(keep_seconds: float | None, retention: float) -> float:
    """The age a checkpoint must have to be compacted to: ``keep_seconds``, or ``retention``
    when it is ``None``; never below ``retention``, which other processes rely on."""
    if keep_seconds is None:
        return retention
    keep = check_retention(keep_seconds, "keep_seconds")
    if keep < retention:
        raise ValueError(
            f"keep_seconds={keep_seconds!r} is below log_retention={retention:g}: other "
            f"processes trust their log probes for {retention / 2:g}s after they last caught up"
        )
    return keep


def seq_key(seq: int) -> str:
    """The key segment of log entry or checkpoint ``seq`` (sorts as the number does)."""
    return f"{seq:020d}"


@dataclass(frozen=True)
class Compaction:
    """What one compaction of a type did.

    Attributes:
        checkpoint: the checkpoint compacted to (``None``: none was old enough yet).
        written: the checkpoint this compaction wrote first (``None``: the latest one was
            already at the current entry, or the log is empty).
        entries: log entries deleted.
        checkpoints: older checkpoints deleted.
        payloads: payload objects of removed revisions deleted (or found already gone).
    """

    checkpoint: int | None
    written: int | None
    entries: int = 0
    checkpoints: int = 0
    payloads: int = 0


@dataclass(frozen=True)
class Listing:
    """The checkpoints of a type, ``(seq, LastModified)`` in order, and S3's time when it
    answered the listing."""

    checkpoints: list[tuple[int, datetime]]
    server_time: datetime

    @property
    def latest(self) -> int:
        """The latest checkpoint's entry (0: there is none)."""
        return self.checkpoints[-1][0] if self.checkpoints else 0

    def compactable(self, keep: float) -> int | None:
        """The latest checkpoint at least ``keep`` seconds old on S3's clock."""
        limit = self.server_time - timedelta(seconds=keep)
        old = [seq for seq, stored in self.checkpoints if keep == 0 or stored <= limit]
        return old[-1] if old else None


def _seqs(client: Any, bucket: str, prefix: str) -> tuple[list[tuple[int, datetime]], datetime]:
    """The objects ``<prefix><seq>`` with their ``LastModified``, and the ``Date`` of the
    first answer (S3's clock, or this host's when the service sends none)."""
    found: list[tuple[int, datetime]] = []
    server_time: datetime | None = None
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            if server_time is None:
                server_time = _server_time(page)
            for obj in page.get("Contents", ()):
                name = str(obj["Key"])[len(prefix) :]
                if name.isdigit():
                    stored: datetime = obj["LastModified"]
                    found.append((int(name), stored.astimezone(UTC)))
    except (ClientError, BotoCoreError) as exc:
        raise unavailable(exc, f"listing of {prefix!r}") from exc
    found.sort()
    return found, server_time or datetime.now(UTC)


def _server_time(page: dict[str, Any]) -> datetime | None:
    headers = page.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    date = headers.get("date")
    if not date:
        return None
    try:
        return parsedate_to_datetime(str(date)).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def list_checkpoints(client: Any, bucket: str, base: str) -> Listing:
    """The checkpoints of the type under ``base`` (one ``LIST`` per 1000)."""
    found, server_time = _seqs(client, bucket, f"{base}checkpoint/")
    return Listing(found, server_time)


def list_entries(client: Any, bucket: str, base: str, upto: int) -> list[int]:
    """The log entries still stored up to entry ``upto``."""
    found, _ = _seqs(client, bucket, f"{base}log/")
    return [seq for seq, _ in found if seq <= upto]


def removed_payloads(
    client: Any,
    bucket: str,
    base: str,
    entries: Sequence[int],
    checkpoints: Sequence[int],
    *,
    named: set[tuple[str, str]],
) -> set[tuple[str, str]]:
    """``(resource_id, key)`` of the payloads the given entries and checkpoints name and
    ``named`` (the state after all of them) does not: revisions removed since. A payload key
    is never reused, so such a payload is never named again."""
    keys = [(f"{base}log/{seq_key(seq)}", True) for seq in entries]
    keys += [(f"{base}checkpoint/{seq_key(seq)}", False) for seq in checkpoints]

    def read(item: tuple[str, bool]) -> set[tuple[str, str]]:
        key, is_entry = item
        data = read_object(client, bucket, key)
        if data is None:  # compacted meanwhile by another process: it read it
            return set()
        if is_entry:
            return _log.payload_refs(_log.decode_entry(data))
        checkpoint = _log.decode_checkpoint(data)
        return {(info.resource_id, key) for info, key in checkpoint.revisions}

    with ThreadPoolExecutor(_PARALLEL_READS, thread_name_prefix="s3-compaction") as pool:
        found: set[tuple[str, str]] = set().union(*pool.map(read, keys))
    return found - named


def delete_objects(client: Any, bucket: str, keys: Iterable[str]) -> int:
    """Delete ``keys`` (``DeleteObjects``, 1000 per request); returns how many were named.
    Deleting a missing key succeeds, so a concurrent compaction does no harm."""
    pending = list(keys)
    for start in range(0, len(pending), _DELETE_BATCH):
        batch = pending[start : start + _DELETE_BATCH]
        try:
            answer = client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        except (ClientError, BotoCoreError) as exc:
            raise _interrupted(f"{type(exc).__name__}: {exc}") from exc
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise _interrupted(
                f"{len(errors)} not deleted, e.g. {first.get('Key')!r}: {first.get('Code')}"
            )
    return len(pending)


def _interrupted(detail: str) -> StorageUnavailableError:
    return StorageUnavailableError(
        f"S3 compaction stopped part-way ({detail}); what it deleted was covered by a kept "
        "checkpoint, so every replica stays correct: run it again"
    )


def compact(
    client: Any,
    bucket: str,
    base: str,
    keep: float,
    *,
    checkpoint: Callable[[int], int | None],
    named: Callable[[], set[tuple[str, str]]],
    payload_key: Callable[[str, str], str],
) -> Compaction:
    """Compact the type under ``base`` (see the module docstring). ``checkpoint(latest)``
    writes a checkpoint of the current state when it is after entry ``latest`` and returns
    its entry; ``named()`` is the payloads the current state names; ``payload_key`` gives the
    object key of a payload."""
    listing = list_checkpoints(client, bucket, base)
    written = checkpoint(listing.latest)
    if written is not None:
        listing = list_checkpoints(client, bucket, base)
    target = listing.compactable(keep)
    if target is None:
        return Compaction(checkpoint=None, written=written)
    entries = list_entries(client, bucket, base, target)
    older = [seq for seq, _ in listing.checkpoints if seq < target]
    # the state after every entry read here (``target``'s included): what it names stays
    removed = removed_payloads(client, bucket, base, entries, [*older, target], named=named())
    # entries first: the kept checkpoint covers them; older checkpoints go after
    delete_objects(client, bucket, (f"{base}log/{seq_key(seq)}" for seq in entries))
    delete_objects(client, bucket, (f"{base}checkpoint/{seq_key(seq)}" for seq in older))
    delete_objects(client, bucket, (payload_key(rid, key) for rid, key in sorted(removed)))
    return Compaction(
        checkpoint=target,
        written=written,
        entries=len(entries),
        checkpoints=len(older),
        payloads=len(removed),
    )

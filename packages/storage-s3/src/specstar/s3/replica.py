"""One process's replica of a resource type's commit log (see :mod:`.storage` for the layout
and :mod:`.compaction` for why a 404 probe can be trusted): brought up to date before reads,
appended to by writes with one conditional create per entry."""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from specstar.core import SpecStarError, StorageUnavailableError, WriteOutcomeUnknownError
from specstar.core.spi import IndexSpec

from . import _log
from ._client import is_conflicting_write, is_precondition_failed, read_object, unavailable
from ._log import Adopt, Commit, Entry, State
from .compaction import Listing, check_retention, elapsed_clock, list_checkpoints, seq_key
from .payloads import S3PayloadStore

__all__ = ["Replica", "check_staleness"]

_log_ = logging.getLogger(__name__)

#: How long one write may keep losing the race for the next log entry before giving up.
_WRITE_BUDGET = 120.0
#: Attempts to load a checkpoint that a compaction keeps deleting under the reader.
_LOAD_ATTEMPTS = 5


def check_staleness(value: float) -> float:
    """``value`` as a staleness window in seconds (a finite number, 0 or more)."""
    return check_retention(value, "max_staleness")


class Replica:
    """The state of one type as the log says, kept up to date from S3 (thread-safe: every use
    of :attr:`state` holds :attr:`lock`).

    Args:
        client, bucket, base: where the type's objects are (``<base>log/``,
            ``<base>checkpoint/``).
        payloads: the type's payload store (learns the payloads entries repeat).
        checkpoint_every: a writer whose entry's number is a multiple of this writes a
            checkpoint after it.
        max_staleness: seconds a read may serve the replica without a probe.
        log_retention: the retention compaction honours; a 404 probe is trusted for half of
            it after the anchor.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        base: str,
        payloads: S3PayloadStore,
        *,
        checkpoint_every: int,
        max_staleness: float,
        log_retention: float,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.base = base
        self.payloads = payloads
        self._checkpoint_every = checkpoint_every
        self._staleness = check_staleness(max_staleness)
        self.retention = check_retention(log_retention)
        #: seconds after its anchor the replica trusts a 404 probe (see :mod:`.compaction`)
        self._trust = self.retention / 2
        #: the clock of the times below (only differences count; tests may replace it)
        self.clock = elapsed_clock
        #: when the replica last caught up with the log
        self._synced_at = float("-inf")
        #: the clock just before the last request showing no entry after the replica's seq
        self._anchor = float("-inf")
        self.lock = threading.RLock()
        self.state: State | None = None
        #: the indexes and unique fields a (re)loaded state is given
        self.spec = IndexSpec()

    def forget_sync(self) -> None:
        """Make the next read catch up with the log whatever ``max_staleness`` allows."""
        with self.lock:
            self._synced_at = float("-inf")

    def _entry_key(self, seq: int) -> str:
        return f"{self.base}log/{seq_key(seq)}"

    def _reload(self, listing: Listing | None = None, listed_at: float = 0.0) -> State:
        """The state of the latest checkpoint (or an empty one), from ``listing`` or a new
        one; the listing's time becomes the anchor (no later checkpoint existed then)."""
        for _ in range(_LOAD_ATTEMPTS):
            if listing is None:
                listed_at = self.clock()
                listing = list_checkpoints(self.client, self.bucket, self.base)
            state = State()
            if listing.latest:
                key = f"{self.base}checkpoint/{seq_key(listing.latest)}"
                data = read_object(self.client, self.bucket, key)
                if data is None:  # compacted away since listed: a later one exists
                    listing = None
                    continue
                state = State.restore(_log.decode_checkpoint(data))
            state.declare(self.spec)
            self._anchor = listed_at
            return state
        raise StorageUnavailableError(f"{self.base}: the checkpoints kept vanishing while loaded")

    def sync(self, watch: str | None = None) -> tuple[State, bool]:
        """Bring the replica up to date with the log (caller holds the lock); returns it and
        whether an entry with token ``watch`` was among those applied. A 404 probe more than
        the trust window after the anchor is checked against the checkpoints: when a later
        one exists, the entries were compacted and the replica reloads from it."""
        if self.state is None:
            self.state = self._reload()
        state, seen = self.state, False
        while True:
            probed_at = self.clock()
            data = read_object(self.client, self.bucket, self._entry_key(state.seq + 1))
            if data is None:
                anchor = probed_at
                if probed_at - self._anchor >= self._trust:
                    anchor = self.clock()
                    listing = list_checkpoints(self.client, self.bucket, self.base)
                    if listing.latest > state.seq:  # compacted past this replica
                        if watch is not None and not seen:
                            raise WriteOutcomeUnknownError()
                        state = self.state = self._reload(listing, anchor)
                        continue
                self._anchor = anchor
                self._synced_at = probed_at
                return state, seen
            entry = _log.decode_entry(data)
            seen = seen or (watch is not None and entry.token == watch)
            state.apply(state.seq + 1, entry)
            self._remember(entry)

    def _remember(self, entry: Entry) -> None:
        """Keep the payloads ``entry`` repeats in the payload cache."""
        if isinstance(entry, Commit) and entry.key is not None and entry.data is not None:
            self.payloads.remember(entry.meta.resource_id, entry.key, entry.data)
        elif isinstance(entry, Adopt):
            for (_, key), data in zip(entry.revisions, entry.data, strict=True):
                if data is not None:
                    self.payloads.remember(entry.meta.resource_id, key, data)

    def read(self) -> State:
        """The replica for a read (caller holds the lock): brought up to date, unless it
        caught up less than ``max_staleness`` seconds ago."""
        state = self.state
        if state is not None and self.clock() - self._synced_at < self._staleness:
            return state
        return self.sync()[0]

    def current(self) -> State:
        with self.lock:
            return self.read()

    def append(
        self,
        make: Callable[[State, str], Entry | None],
        before: Callable[[], None] | None = None,
    ) -> Entry | None:
        """Append the entry ``make(state, token)`` builds from the newest state (``None``: no
        entry needed); rebuild it after each lost race. ``before`` runs once, after the first
        successful ``make`` and before the first create (the payload put: data before pointer,
        and no upload for a write refused anyway). ``make`` raises the write's errors:
        when it raises on a replica that was not just brought up to date, it runs again on a
        fresh one, so a stale replica never refuses a valid write."""
        token = secrets.token_hex(12)
        deadline = time.monotonic() + _WRITE_BUDGET
        with self.lock:
            fresh = self.state is None
            state = self.sync()[0] if fresh else self.state
            assert state is not None
            checked = False
            while True:
                try:
                    entry = make(state, token)
                except (SpecStarError, ValueError):
                    if fresh:
                        raise
                    state, fresh = self.sync()[0], True
                    continue
                if entry is None:
                    if not fresh:  # nothing to do on this replica: make sure on a fresh one
                        state, fresh = self.sync()[0], True
                        continue
                    return None
                if before is not None:
                    before()
                    before = None
                sent_at = self.clock()
                if not checked and sent_at - self._anchor >= self._trust:
                    # past the trust window, the next entry may have been compacted away (and
                    # a create would then succeed over it): catch up, verified, first
                    state, fresh, checked = self.sync()[0], True, True
                    continue
                body = _log.encode(entry)
                seq = state.seq + 1
                outcome = self._create(self._entry_key(seq), body, token)
                if outcome == "won":
                    state.apply(seq, _log.decode_entry(body))
                    self._anchor = sent_at  # no entry after ``seq`` existed when it landed
                    if seq % self._checkpoint_every == 0:
                        self.put_checkpoint(state)
                    return entry
                if outcome == "landed":
                    return entry
                state, won = self.sync(watch=token)
                if won:  # our create succeeded but its answer was lost (a retried request)
                    return entry
                fresh = True
                if time.monotonic() > deadline:
                    raise StorageUnavailableError(
                        f"{self.base}: the write lost the race for the next log entry for "
                        f"{_WRITE_BUDGET:.0f}s; it was not applied"
                    )

    def _create(self, key: str, body: bytes, token: str) -> str:
        """Create ``key`` if absent: ``"won"``; ``"lost"`` when it exists (another writer
        won); ``"landed"`` when the answer was lost but the replica, brought up to date, holds
        the entry with ``token`` (already applied)."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
            return "won"
        except ClientError as exc:
            if is_precondition_failed(exc) or is_conflicting_write(exc):
                return "lost"
            raise unavailable(exc, f"create of {key!r}") from exc
        except EndpointConnectionError as exc:  # nothing was sent
            raise unavailable(exc, f"create of {key!r}") from exc
        except BotoCoreError as exc:  # sent, answer lost: find out whether it landed
            landed = False
            with contextlib.suppress(SpecStarError):
                landed = self.sync(watch=token)[1]
            if landed:
                return "landed"
            raise WriteOutcomeUnknownError() from exc

    def put_checkpoint(self, state: State) -> bool:
        """Write the checkpoint of ``state``; whether this call created it."""
        key = f"{self.base}checkpoint/{seq_key(state.seq)}"
        try:  # any writer may write it (same content for everyone): the first one wins
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=_log.encode(state.checkpoint()), IfNoneMatch="*"
            )
        except (ClientError, BotoCoreError) as exc:  # harmless: the log still has everything
            if not (isinstance(exc, ClientError) and is_precondition_failed(exc)):
                _log_.warning("checkpoint %s not written: %s", key, exc)
            return False
        return True

    def checkpoint_after(self, latest: int) -> int | None:
        """Write a checkpoint of the current state when it is after entry ``latest``; the
        entry it was written at (``None``: none written)."""
        with self.lock:
            state = self.sync()[0]
            return state.seq if state.seq > latest and self.put_checkpoint(state) else None

    def named_payloads(self) -> set[tuple[str, str]]:
        """``(resource_id, key)`` of every payload the current state names."""
        with self.lock:
            return self.sync()[0].payload_keys()

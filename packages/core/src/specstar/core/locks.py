"""Lease locks: the :class:`LockBackend` port, its in-memory adapter and the :class:`Locks` API.

A lease lock is *advisory* (callers cooperate by taking it before their work) and *leased*:
every grant carries a time to live, so a holder that crashed or hangs cannot keep the key past
its lease. Locks complement compare-and-swap: CAS detects a stale write after the fact, a lock
keeps a multi-step workflow ("rebuild this aggregate", "call that external API once") from
running twice at the same time across threads, processes and hosts.

A lease can end while its holder still works (a long pause, a lost connection). Every grant
therefore carries a **fencing token**: an integer that strictly increases per key, so a later
holder always has a larger token than every earlier one. A resource guarded by the lock can
refuse a write carrying a token smaller than the largest it has seen, which makes a late
writer harmless even when its lease ran out unnoticed.

Usage::

    locks = Locks(MemoryLockBackend())           # or PostgresLockBackend, RedisLockBackend
    with locks.lock("report:2024", ttl=30, timeout=10) as held:
        build_report(fencing_token=held.token)

    held = locks.try_lock("sync:users", ttl=60)  # None when another owner holds it
    if held is not None:
        held = locks.renew_lock(held, ttl=60)    # keep it while the work runs
        locks.release_lock(held)
"""

from __future__ import annotations

import abc
import itertools
import math
import random
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import msgspec

from .errors import LockHeldError, LockNotOwnedError
from .ports import Capabilities

__all__ = [
    "MAX_LOCK_TTL",
    "Lock",
    "LockBackend",
    "Locks",
    "MemoryLockBackend",
    "acquire_lock",
    "check_lock",
    "check_lock_key",
    "check_lock_timeout",
    "check_lock_ttl",
    "hold_lock",
    "new_lock_owner",
]

#: The longest lease a backend grants, in seconds (one year): longer ones are a mistake, and
#: every backend represents it exactly (Redis counts milliseconds in a signed 64-bit integer).
MAX_LOCK_TTL = 365 * 24 * 3600.0

#: Waits between attempts of a blocking acquire grow from the first to the last (seconds).
_BACKOFF_FIRST = 0.001
_BACKOFF_LAST = 0.1


class Lock(msgspec.Struct, frozen=True, kw_only=True):
    """A granted lease: the proof of ownership that :meth:`LockBackend.renew` and
    :meth:`LockBackend.release` require. Only a backend issues valid ones.

    Attributes:
        key: the locked key.
        token: the fencing token: strictly larger than the token of every earlier grant of the
            same key (by this backend's shared state), and the same across renewals.
        owner: a random secret naming this grant; a handle with another owner is refused.
        ttl: the lease length last granted, in seconds.
        deadline: ``time.monotonic()`` of this process before which the lease certainly holds
            (measured from before the request that granted or renewed it; a conservative
            local estimate that needs no clock agreement with a server).
    """

    key: str
    token: int
    owner: str
    ttl: float
    deadline: float

    def remaining(self) -> float:
        """Seconds the lease certainly still holds (0 once the local deadline has passed)."""
        return max(0.0, self.deadline - time.monotonic())


class LockBackend(abc.ABC):
    """Where lease locks live: the contract every lock adapter keeps (proven by ``LockSuite``).

    - **Mutual exclusion**: while a lease of a key is live, :meth:`try_lock` of that key
      returns ``None`` to every caller — other threads, processes and hosts sharing the
      backend's state alike (the latter only where ``capabilities.multi_process``).
    - **Expiry**: a lease ends ``ttl`` seconds after it was granted or last renewed, measured
      by one clock (the server's, for a shared backend); then the key may be granted again.
    - **Owner only**: :meth:`renew` and :meth:`release` succeed only for the live lease the
      handle names (same key, token and owner); any other handle — released, expired, forged,
      or superseded by a later owner — raises :class:`~specstar.core.LockNotOwnedError` and
      changes nothing.
    - **Fencing**: each grant of a key has a token strictly larger than every earlier grant
      of that key, after releases and expiries too; a renewal keeps the token.
    - **Input**: an empty or non-string key, a ``ttl`` that is not a finite number of
      seconds in ``(0, MAX_LOCK_TTL]``, or a handle that is not a :class:`Lock` raise
      ``ValueError``/``TypeError`` naming the argument (use :func:`check_lock_key`,
      :func:`check_lock_ttl`, :func:`check_lock`).

    Implementations must be safe to call from many threads at once. A backend that cannot
    reach its server raises :class:`~specstar.core.StorageUnavailableError`.
    """

    #: ``multi_process``: processes and hosts sharing the backend's server exclude each
    #: other (the suite rebuilds the backend in child processes from ``lock_recipe``);
    #: ``durable``: leases survive a restart of the process that granted them.
    capabilities: Capabilities = Capabilities()

    @abc.abstractmethod
    def try_lock(self, key: str, ttl: float) -> Lock | None:
        """Grant a lease of ``key`` for ``ttl`` seconds, or return ``None`` when it is held."""

    @abc.abstractmethod
    def renew(self, lock: Lock, ttl: float) -> Lock:
        """Extend a live lease to end ``ttl`` seconds from now; return the updated handle.

        Raises:
            LockNotOwnedError: the handle does not name the live lease of its key.
        """

    @abc.abstractmethod
    def release(self, lock: Lock) -> None:
        """End a live lease now, so the key may be granted again at once.

        Raises:
            LockNotOwnedError: the handle does not name the live lease of its key.
        """

    def close(self) -> None:  # noqa: B027 - a backend without resources has nothing to close
        """Free the backend's connections (leases held remain until they expire)."""


def check_lock_key(key: object) -> str:
    """``key`` as a lock key: a non-empty string without NUL characters."""
    if not isinstance(key, str):
        raise TypeError(f"lock key must be a str, got {type(key).__name__}: {key!r}")
    if not key:
        raise ValueError("lock key must not be empty")
    if "\x00" in key:
        raise ValueError(f"lock key must not contain NUL characters: {key!r}")
    return key


def check_lock_ttl(ttl: object, name: str = "ttl") -> float:
    """``ttl`` as a lease length: a finite number of seconds in ``(0, MAX_LOCK_TTL]``."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {type(ttl).__name__}: {ttl!r}")
    value = float(ttl)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {ttl!r}")
    if value > MAX_LOCK_TTL:
        raise ValueError(f"{name} must be at most {MAX_LOCK_TTL:g} seconds (one year), got {ttl!r}")
    return value


def check_lock(lock: object) -> Lock:
    """``lock`` as a handle: a :class:`Lock` (as a backend issued it)."""
    if not isinstance(lock, Lock):
        raise TypeError(f"lock must be a Lock handle, got {type(lock).__name__}: {lock!r}")
    check_lock_key(lock.key)
    if isinstance(lock.token, bool) or not isinstance(lock.token, int):
        raise TypeError(f"lock.token must be an int, got {lock.token!r}")
    if not 0 < lock.token < 2**63:
        raise ValueError(f"lock.token must be in 1..2**63-1, got {lock.token!r}")
    if not isinstance(lock.owner, str) or not lock.owner:
        raise ValueError(f"lock.owner must be a non-empty string, got {lock.owner!r}")
    return lock


def check_lock_timeout(timeout: object) -> float | None:
    """``timeout`` of a blocking acquire: ``None`` (wait forever) or finite seconds ``>= 0``."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if not math.isfinite(timeout) or timeout < 0:
        raise ValueError(f"timeout must be a finite number of seconds >= 0, got {timeout!r}")
    return float(timeout)


def new_lock_owner() -> str:
    """A fresh random owner secret for a grant."""
    return secrets.token_hex(16)


def acquire_lock(
    backend: LockBackend, key: str, ttl: float, *, timeout: float | None = 0.0
) -> Lock:
    """Take a lease of ``key``, waiting up to ``timeout`` seconds (``None``: forever).

    Attempts are spaced by an exponential backoff with jitter (1 ms growing to 100 ms), so
    waiters neither spin nor wake in lockstep; the last attempt is made at the timeout.

    Raises:
        LockHeldError: the key was still held when ``timeout`` ran out (at once for 0).
    """
    check_lock_key(key)
    check_lock_ttl(ttl)
    limit = check_lock_timeout(timeout)
    end = None if limit is None else time.monotonic() + limit
    delay = _BACKOFF_FIRST
    while True:
        lock = backend.try_lock(key, ttl)
        if lock is not None:
            return lock
        now = time.monotonic()
        if end is not None and now >= end:
            raise LockHeldError(key, limit)
        pause = random.uniform(delay / 2, delay)
        time.sleep(pause if end is None else min(pause, end - now))
        delay = min(delay * 2, _BACKOFF_LAST)


@contextmanager
def hold_lock(
    backend: LockBackend, key: str, ttl: float, *, timeout: float | None = 0.0
) -> Iterator[Lock]:
    """Hold a lease of ``key`` for a ``with`` block (see :func:`acquire_lock` for ``timeout``).

    On exit the lease is released. When the lease was lost before the block ended (it
    expired, so the block was not protected to its end), a block that completed raises
    :class:`~specstar.core.LockNotOwnedError`; a block that raised keeps its own exception,
    with a note that the lease had been lost.
    """
    lock = acquire_lock(backend, key, ttl, timeout=timeout)
    try:
        yield lock
    except BaseException as exc:
        try:
            backend.release(lock)
        except LockNotOwnedError as lost:
            exc.add_note(f"the lease was lost before the block ended: {lost}")
        raise
    backend.release(lock)


class Locks:
    """The lock API of an application: ``try_lock``, ``renew_lock``, ``release_lock`` and
    the ``lock`` context manager, over one :class:`LockBackend`.

    Args:
        backend: where the leases live (default: in this process's memory, which excludes
            threads only; use a PostgreSQL or Redis backend across processes and hosts).
    """

    def __init__(self, backend: LockBackend | None = None) -> None:
        if backend is not None and not isinstance(backend, LockBackend):
            raise TypeError(f"lock backend must be a LockBackend, got {backend!r}")
        self.backend: LockBackend = backend if backend is not None else MemoryLockBackend()

    def try_lock(self, key: str, ttl: float) -> Lock | None:
        """Take a lease of ``key`` for ``ttl`` seconds without waiting; ``None`` when held."""
        return self.backend.try_lock(key, ttl)

    def renew_lock(self, lock: Lock, ttl: float) -> Lock:
        """Extend a held lease to ``ttl`` seconds from now (raises ``LockNotOwnedError``)."""
        return self.backend.renew(lock, ttl)

    def release_lock(self, lock: Lock) -> None:
        """Release a held lease (raises ``LockNotOwnedError`` for a stale handle)."""
        self.backend.release(lock)

    def lock(
        self, key: str, ttl: float, *, timeout: float | None = 0.0
    ) -> AbstractContextManager[Lock]:
        """Hold ``key`` for a ``with`` block; wait up to ``timeout`` seconds (default: fail at
        once with :class:`~specstar.core.LockHeldError`, ``None``: wait forever)."""
        return hold_lock(self.backend, key, ttl, timeout=timeout)


class MemoryLockBackend(LockBackend):
    """Leases in this process's memory: excludes threads, not processes (no
    ``multi_process`` capability). Tokens come from one counter, so they increase per key."""

    capabilities = Capabilities(multi_process=False, durable=False)

    #: Above this many entries, a grant first drops the expired ones.
    _PURGE_ABOVE = 1024

    def __init__(self) -> None:
        self._leases: dict[str, tuple[str, int, float]] = {}  # key -> (owner, token, expiry)
        self._tokens = itertools.count(1)
        self._mutex = threading.Lock()

    def try_lock(self, key: str, ttl: float) -> Lock | None:
        check_lock_key(key)
        ttl = check_lock_ttl(ttl)
        with self._mutex:
            now = time.monotonic()
            held = self._leases.get(key)
            if held is not None and held[2] > now:
                return None
            if len(self._leases) > self._PURGE_ABOVE:
                self._leases = {k: v for k, v in self._leases.items() if v[2] > now}
            owner, token = new_lock_owner(), next(self._tokens)
            self._leases[key] = (owner, token, now + ttl)
            return Lock(key=key, token=token, owner=owner, ttl=ttl, deadline=now + ttl)

    def _owned(self, lock: Lock, now: float) -> bool:
        held = self._leases.get(lock.key)
        return held is not None and held[:2] == (lock.owner, lock.token) and held[2] > now

    def renew(self, lock: Lock, ttl: float) -> Lock:
        check_lock(lock)
        ttl = check_lock_ttl(ttl)
        with self._mutex:
            now = time.monotonic()
            if not self._owned(lock, now):
                raise LockNotOwnedError(lock.key, lock.token)
            self._leases[lock.key] = (lock.owner, lock.token, now + ttl)
            return msgspec.structs.replace(lock, ttl=ttl, deadline=now + ttl)

    def release(self, lock: Lock) -> None:
        check_lock(lock)
        with self._mutex:
            if not self._owned(lock, time.monotonic()):
                raise LockNotOwnedError(lock.key, lock.token)
            del self._leases[lock.key]

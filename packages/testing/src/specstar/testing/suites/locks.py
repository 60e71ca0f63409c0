"""Conformance suite for :class:`~specstar.core.LockBackend` adapters.

Mutual exclusion across threads and (for ``multi_process`` backends) OS processes, expiry,
renewal, release only by the owner, fencing tokens that strictly increase per key, and input
rejected with the argument named. Tests that wait for a lease to end poll for the outcome
with a generous deadline; none asserts how fast anything is.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import pytest

from specstar.core import LockHeldError, LockNotOwnedError, Locks
from specstar.core.spi import MAX_LOCK_TTL, Lock, LockBackend, hold_lock

from .. import _lock_workers
from .._lock_workers import LockRecipe
from .processes import _gather

__all__ = ["LockSuite"]


def _context() -> Any:
    """Fork-server children start fast and inherit no threads or connections."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["specstar.testing._lock_workers"])
    return ctx


def _eventually(grant: Callable[[], Lock | None], what: str, patience: float) -> Lock:
    """Poll ``grant`` until it returns a lock; fail after ``patience`` seconds."""
    end = time.monotonic() + patience
    while True:
        lock = grant()
        if lock is not None:
            return lock
        if time.monotonic() > end:
            pytest.fail(f"{what}: not granted within {patience:g}s")
        time.sleep(0.01)


def _strictly_increasing(tokens: list[int]) -> bool:
    return all(a < b for a, b in itertools.pairwise(tokens))


class LockSuite:
    """Every behaviour a lease lock backend must have.

    Wire an adapter in with one fixture (and, for a ``multi_process`` backend, a picklable
    recipe that rebuilds it in a child process)::

        class TestMyLocks(LockSuite):
            @pytest.fixture
            def lock_backend(self):
                backend = MyLockBackend(url, prefix=unique_prefix)
                yield backend
                backend.close()

            @pytest.fixture
            def lock_recipe(self):
                return ("my_package.locks:MyLockBackend", {"url": url, "prefix": unique_prefix})
    """

    #: threads incrementing one counter under the lock, and increments per thread
    lock_threads = 8
    increments_per_thread = 25
    #: processes incrementing one counter file under the lock, and increments per process
    lock_processes = 4
    increments_per_process = 25
    #: how long a test waits for a lease to end (or a holder to release) before it fails
    lock_patience = 20.0

    @pytest.fixture
    def lock_backend(self) -> LockBackend:
        raise NotImplementedError("the adapter's test class must define lock_backend")

    @pytest.fixture
    def lock_recipe(self, lock_backend: LockBackend) -> LockRecipe:
        if not lock_backend.capabilities.multi_process:
            pytest.skip("lock backend does not declare capability 'multi_process'")
        raise NotImplementedError("a multi-process lock backend's suite must define lock_recipe")

    @pytest.fixture
    def locks(self, lock_backend: LockBackend) -> Locks:
        return Locks(lock_backend)

    @pytest.fixture
    def key(self) -> str:
        return f"lock-{uuid.uuid4().hex}"

    # -- grants and fencing ---------------------------------------------------------------------

    def test_grant_excludes_until_release(self, locks: Locks, key: str) -> None:
        before = time.monotonic()
        held = locks.try_lock(key, 30)
        assert held is not None
        assert (held.key, held.ttl) == (key, 30.0)
        assert before + 30 <= held.deadline <= time.monotonic() + 30
        assert 0 < held.remaining() <= 30
        assert locks.try_lock(key, 30) is None
        assert locks.try_lock(key, 30) is None
        other = locks.try_lock(key + "-other", 30)  # keys are independent
        assert other is not None
        locks.release_lock(held)
        again = locks.try_lock(key, 30)
        assert again is not None
        assert again.token > held.token
        assert again.owner != held.owner
        locks.release_lock(again)
        locks.release_lock(other)

    def test_tokens_strictly_increase_per_key(self, locks: Locks, key: str) -> None:
        tokens = []
        for _ in range(10):
            held = locks.try_lock(key, 30)
            assert held is not None
            renewed = locks.renew_lock(held, 30)
            assert renewed.token == held.token, "a renewal changed the fencing token"
            tokens.append(held.token)
            locks.release_lock(renewed)
        assert _strictly_increasing(tokens), tokens

    def test_one_winner_of_a_race(self, locks: Locks, key: str) -> None:
        barrier = threading.Barrier(8)

        def attempt(_: int) -> Lock | None:
            barrier.wait()
            return locks.try_lock(key, 30)

        with ThreadPoolExecutor(8) as pool:
            granted = [lock for lock in pool.map(attempt, range(8)) if lock is not None]
        assert len(granted) == 1, granted
        locks.release_lock(granted[0])

    def test_mutual_exclusion_across_threads(self, lock_backend: LockBackend, key: str) -> None:
        n, per = self.lock_threads, self.increments_per_thread
        state = {"count": 0, "inside": 0, "most_inside": 0}
        tokens: list[int] = []
        guard = threading.Lock()  # protects only the bookkeeping of who is inside
        barrier = threading.Barrier(n)

        def worker(_: int) -> None:
            barrier.wait()
            for _ in range(per):
                with hold_lock(lock_backend, key, 30, timeout=60) as held:
                    with guard:
                        state["inside"] += 1
                        state["most_inside"] = max(state["most_inside"], state["inside"])
                    value = state["count"]
                    time.sleep(0.0005)  # widen the window a second holder would race in
                    state["count"] = value + 1
                    tokens.append(held.token)
                    with guard:
                        state["inside"] -= 1

        with ThreadPoolExecutor(n) as pool:
            list(pool.map(worker, range(n)))
        assert state["most_inside"] == 1, f"{state['most_inside']} holders at once"
        assert state["count"] == n * per, f"{n * per - state['count']} increments were lost"
        assert _strictly_increasing(tokens), "a later holder had a smaller fencing token"

    def test_mutual_exclusion_across_processes(
        self, lock_backend: LockBackend, lock_recipe: LockRecipe, key: str, tmp_path: Path
    ) -> None:
        counter = tmp_path / f"counter-{uuid.uuid4().hex[:6]}"
        counter.write_text("")
        n, per = self.lock_processes, self.increments_per_process
        job = {"recipe": lock_recipe, "key": key, "path": str(counter), "count": per}
        regressions = _gather(_context(), _lock_workers.counter_worker, [job] * n)
        value, last = _lock_workers.read_counter(str(counter))
        assert value == n * per, f"{n * per - value} increments were lost"
        assert [r for batch in regressions for r in batch] == []
        later = lock_backend.try_lock(key, 30)  # the parent's backend continues the sequence
        assert later is not None
        assert later.token > last
        lock_backend.release(later)

    def test_a_killed_holder_frees_the_key_when_its_lease_ends(
        self, lock_backend: LockBackend, lock_recipe: LockRecipe, key: str, tmp_path: Path
    ) -> None:
        granted = tmp_path / f"granted-{uuid.uuid4().hex[:6]}"
        proc = _context().Process(
            target=_lock_workers.hang_worker,
            args=(lock_recipe, key, 1.0, str(granted)),
            daemon=True,
        )
        proc.start()
        try:
            end = time.monotonic() + self.lock_patience
            while not granted.exists() or not granted.read_text():
                assert proc.is_alive(), "the holder process died before taking the lock"
                if time.monotonic() > end:
                    pytest.fail(f"the holder took no lock within {self.lock_patience:g}s")
                time.sleep(0.01)
            text = granted.read_text()
            assert text != "refused", "a fresh key was refused"
            assert lock_backend.try_lock(key, 30) is None, "the live holder was not excluding"
        finally:
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join()
        successor = _eventually(
            lambda: lock_backend.try_lock(key, 30),
            "after the holder was killed",
            self.lock_patience,
        )
        assert successor.token > int(text)
        lock_backend.release(successor)

    # -- expiry and renewal ---------------------------------------------------------------------

    def test_expiry_lets_another_owner_in(self, locks: Locks, key: str) -> None:
        first = locks.try_lock(key, 0.2)
        assert first is not None
        second = _eventually(
            lambda: locks.try_lock(key, 30), "after the first lease expired", self.lock_patience
        )
        assert time.monotonic() >= first.deadline, "granted again before the lease ended"
        assert second.token > first.token
        with pytest.raises(LockNotOwnedError):
            locks.renew_lock(first, 30)
        with pytest.raises(LockNotOwnedError):
            locks.release_lock(first)
        assert locks.try_lock(key, 30) is None, "the stale handle ended the new owner's lease"
        locks.release_lock(second)

    def test_an_expired_lease_is_not_owned(self, locks: Locks, key: str) -> None:
        held = locks.try_lock(key, 0.1)
        assert held is not None
        time.sleep(0.6)  # well past the lease (the assertion holds however late it runs)
        with pytest.raises(LockNotOwnedError):
            locks.renew_lock(held, 30)
        with pytest.raises(LockNotOwnedError):
            locks.release_lock(held)
        fresh = locks.try_lock(key, 30)
        assert fresh is not None
        assert fresh.token > held.token
        locks.release_lock(fresh)

    def test_renewal_keeps_the_lease(self, locks: Locks, key: str) -> None:
        held = locks.try_lock(key, 1.0)
        assert held is not None
        renewed = locks.renew_lock(held, 60)
        assert (renewed.key, renewed.token, renewed.owner) == (held.key, held.token, held.owner)
        assert renewed.ttl == 60.0
        assert renewed.deadline > held.deadline
        while time.monotonic() < held.deadline + 0.3:  # past the first lease's end
            time.sleep(0.05)
        assert locks.try_lock(key, 30) is None, "the renewed lease ended with the first one"
        renewed = locks.renew_lock(renewed, 60)  # and may be renewed again
        locks.release_lock(renewed)
        assert locks.try_lock(key, 30) is not None

    # -- ownership ------------------------------------------------------------------------------

    def test_release_and_renew_only_by_the_owner(self, locks: Locks, key: str) -> None:
        held = locks.try_lock(key, 30)
        assert held is not None
        forgeries = [
            msgspec.structs.replace(held, owner="0" * 32),
            msgspec.structs.replace(held, token=held.token + 1),
            msgspec.structs.replace(held, token=held.token - 1) if held.token > 1 else None,
            msgspec.structs.replace(held, key=key + "-other"),
        ]
        for forged in filter(None, forgeries):
            with pytest.raises(LockNotOwnedError) as caught:
                locks.release_lock(forged)
            assert caught.value.key == forged.key
            with pytest.raises(LockNotOwnedError):
                locks.renew_lock(forged, 30)
        assert locks.try_lock(key, 30) is None, "a refused release ended the lease"
        locks.release_lock(held)
        with pytest.raises(LockNotOwnedError):  # a second release
            locks.release_lock(held)
        successor = locks.try_lock(key, 30)
        assert successor is not None
        with pytest.raises(LockNotOwnedError):  # the old handle against the new owner
            locks.release_lock(held)
        with pytest.raises(LockNotOwnedError):
            locks.renew_lock(held, 30)
        assert locks.try_lock(key, 30) is None
        locks.release_lock(successor)

    # -- the context manager --------------------------------------------------------------------

    def test_lock_block_holds_and_releases(self, locks: Locks, key: str) -> None:
        with locks.lock(key, 30) as held:
            assert held.key == key
            assert locks.try_lock(key, 30) is None
        after = locks.try_lock(key, 30)
        assert after is not None
        assert after.token > held.token
        locks.release_lock(after)

    def test_lock_block_releases_on_error(self, locks: Locks, key: str) -> None:
        with pytest.raises(RuntimeError, match="inside"), locks.lock(key, 30):
            raise RuntimeError("inside")
        after = locks.try_lock(key, 30)
        assert after is not None
        locks.release_lock(after)

    def test_lock_refuses_a_held_key(self, locks: Locks, key: str) -> None:
        held = locks.try_lock(key, 30)
        assert held is not None
        with pytest.raises(LockHeldError) as caught, locks.lock(key, 30):
            pytest.fail("entered a held lock")
        assert caught.value.key == key
        with pytest.raises(LockHeldError), locks.lock(key, 30, timeout=0.2):
            pytest.fail("entered a held lock after waiting")
        locks.release_lock(held)

    def test_lock_waits_for_the_holder(self, locks: Locks, key: str) -> None:
        held = locks.try_lock(key, 30)
        assert held is not None
        releaser = threading.Timer(0.3, locks.release_lock, args=(held,))
        releaser.start()
        try:
            with locks.lock(key, 30, timeout=self.lock_patience) as mine:
                assert mine.token > held.token
        finally:
            releaser.join()

    def test_lock_block_reports_a_lost_lease(self, locks: Locks, key: str) -> None:
        with pytest.raises(LockNotOwnedError), locks.lock(key, 0.2) as held:
            taker = _eventually(
                lambda: locks.try_lock(key, 30), "while the block ran", self.lock_patience
            )
        assert taker.token > held.token
        locks.release_lock(taker)

    # -- input ----------------------------------------------------------------------------------

    @pytest.mark.parametrize("bad", ["", 5, None, b"key", "a\x00b"])
    def test_invalid_key_is_rejected(self, locks: Locks, key: str, bad: Any) -> None:
        with pytest.raises((TypeError, ValueError), match="key"):
            locks.try_lock(bad, 30)
        with pytest.raises((TypeError, ValueError), match="key"), locks.lock(bad, 30):
            pass

    @pytest.mark.parametrize(
        "bad", [0, 0.0, -1, -0.5, math.nan, math.inf, MAX_LOCK_TTL * 2, "30", True, None]
    )
    def test_invalid_ttl_is_rejected(self, locks: Locks, key: str, bad: Any) -> None:
        with pytest.raises((TypeError, ValueError), match="ttl"):
            locks.try_lock(key, bad)
        held = locks.try_lock(key, 30)
        assert held is not None, "a refused grant took the key"
        with pytest.raises((TypeError, ValueError), match="ttl"):
            locks.renew_lock(held, bad)
        renewed = locks.renew_lock(held, 30)  # the refused renewal changed nothing
        locks.release_lock(renewed)

    def test_invalid_handle_and_timeout_are_rejected(self, locks: Locks, key: str) -> None:
        for bad in (None, key, {"key": key, "token": 1}):
            with pytest.raises(TypeError, match="lock"):
                locks.release_lock(bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="lock"):
                locks.renew_lock(bad, 30)  # type: ignore[arg-type]
        timeouts: list[Any] = [-1, math.nan, math.inf, "1", True]
        for timeout in timeouts:
            with (
                pytest.raises((TypeError, ValueError), match="timeout"),
                locks.lock(key, 30, timeout=timeout),
            ):
                pass
        assert locks.try_lock(key, 30) is not None, "a refused lock() took the key"

"""The in-memory lock backend runs the lock suite (threads; it declares no multi-process)."""

from __future__ import annotations

import pytest

from specstar.core import LockBackend, Locks, MemoryLockBackend
from specstar.testing import LockSuite


class TestMemoryLocks(LockSuite):
    @pytest.fixture
    def lock_backend(self) -> MemoryLockBackend:
        return MemoryLockBackend()


def test_memory_backend_declares_threads_only() -> None:
    caps = MemoryLockBackend().capabilities
    assert not caps.multi_process
    assert not caps.durable


def test_locks_default_to_memory_and_refuse_other_backends() -> None:
    assert isinstance(Locks().backend, MemoryLockBackend)
    with pytest.raises(TypeError, match="LockBackend"):
        Locks(object())  # type: ignore[arg-type]


def test_expired_entries_are_dropped_when_many_keys_were_used() -> None:
    backend = MemoryLockBackend()
    for i in range(backend._PURGE_ABOVE + 1):
        assert backend.try_lock(f"k{i}", 1e-6) is not None
    assert backend.try_lock("last", 30) is not None
    assert set(backend._leases) <= {"last", *(f"k{i}" for i in range(3))}


def test_port_is_abstract() -> None:
    with pytest.raises(TypeError):
        LockBackend()  # type: ignore[abstract]

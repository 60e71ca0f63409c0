"""The app's lock API (``try_lock``, ``renew_lock``, ``release_lock``, ``lock``) and its
``lock_backend`` setting."""

from __future__ import annotations

import pytest

from specstar.core import LockHeldError, LockNotOwnedError, MemoryLockBackend
from specstar.fastapi import SpecStar


def test_app_locks_default_to_memory() -> None:
    crud = SpecStar()
    held = crud.try_lock("report", 30)
    assert held is not None
    assert crud.try_lock("report", 30) is None
    renewed = crud.renew_lock(held, 60)
    assert renewed.token == held.token
    crud.release_lock(renewed)
    with pytest.raises(LockNotOwnedError):
        crud.release_lock(renewed)
    with crud.lock("report", 30) as inside:
        assert inside.token > held.token
        with pytest.raises(LockHeldError, match="report"), crud.lock("report", 30):
            pass


def test_lock_backend_is_configurable() -> None:
    backend = MemoryLockBackend()
    crud = SpecStar(lock_backend=backend)
    held = crud.try_lock("k", 30)
    assert held is not None
    assert backend.try_lock("k", 30) is None  # the app's leases live in the given backend
    other = MemoryLockBackend()
    crud.configure(lock_backend=other)
    assert crud.locks.backend is other
    assert crud.try_lock("k", 30) is not None


def test_invalid_lock_backend_and_arguments_are_rejected() -> None:
    with pytest.raises(TypeError, match="LockBackend"):
        SpecStar(lock_backend="redis://127.0.0.1")  # type: ignore[arg-type]
    crud = SpecStar()
    with pytest.raises(ValueError, match="ttl"):
        crud.try_lock("k", 0)
    with pytest.raises(ValueError, match="key"):
        crud.try_lock("", 30)


def test_reference_lock_names() -> None:
    """Code written against the reference's lock API runs on the compat names."""
    from specstar.fastapi.compat import (
        AutoCRUD,
        InMemoryLockBackend,
        LockHandle,
        LockHeldError,
        LockNotOwnedError,
    )

    crud = AutoCRUD()
    crud.configure(lock_backend=InMemoryLockBackend())
    handle = crud.try_lock("job:1", 5.0)
    assert isinstance(handle, LockHandle)
    assert crud.try_lock("job:1", 5.0) is None
    handle = crud.renew_lock(handle, 10.0)
    with pytest.raises(LockHeldError), crud.lock("job:1", 5.0):
        pass
    crud.release_lock(handle)
    with pytest.raises(LockNotOwnedError):
        crud.release_lock(handle)
    with crud.lock("job:1", 5.0) as held:
        assert held.key == "job:1"

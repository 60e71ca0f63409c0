"""Code that runs in the child processes of :class:`~.suites.locks.LockSuite`.

Each worker rebuilds the lock backend from a picklable *recipe* ``("module:callable", kwargs)``
and increments a counter file under the lock: a read, a pause, a write — a lost update
whenever two processes are inside at once.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from specstar.core.spi import LockBackend, hold_lock

from ._workers import _run

__all__ = ["LockRecipe", "build_backend", "counter_worker", "hang_worker", "read_counter"]

#: How a child process rebuilds the lock backend: ``("package.module:Backend", kwargs)``.
LockRecipe = tuple[str, dict[str, Any]]


def build_backend(recipe: LockRecipe) -> LockBackend:
    """Call the recipe's callable with its keyword arguments."""
    target, kwargs = recipe
    module_name, _, attribute = target.partition(":")
    backend: LockBackend = getattr(importlib.import_module(module_name), attribute)(**kwargs)
    return backend


def read_counter(path: str) -> tuple[int, int]:
    """The counter file's ``(count, token of the last writer)``; ``(0, 0)`` when empty."""
    text = Path(path).read_text()
    if not text:
        return 0, 0
    count, token = text.split()
    return int(count), int(token)


def counter_worker(
    *,
    recipe: LockRecipe,
    key: str,
    path: str,
    count: int,
    index: int,
    barrier: Any,
    results: Any,
) -> None:
    """Increment the counter file ``count`` times, each under a lease of ``key``; report the
    fencing-token regressions seen (a token not larger than the previous writer's)."""

    def work() -> list[str]:
        backend = build_backend(recipe)
        regressions: list[str] = []
        try:
            barrier.wait()
            for _ in range(count):
                with hold_lock(backend, key, 60.0, timeout=120.0) as lock:
                    value, last = read_counter(path)
                    if lock.token <= last:
                        regressions.append(f"token {lock.token} after {last}")
                    time.sleep(0.001)  # widen the window a second holder would race in
                    Path(path).write_text(f"{value + 1} {lock.token}\n")
            return regressions
        finally:
            backend.close()

    _run(results, index, work)


def hang_worker(recipe: LockRecipe, key: str, ttl: float, path: str) -> None:
    """Take a lease of ``key``, write its token to ``path``, then hang until killed."""
    backend = build_backend(recipe)
    lock = backend.try_lock(key, ttl)
    Path(path).write_text("refused" if lock is None else str(lock.token))
    while True:
        time.sleep(60)

"""Writes of one resource through one manager queue in the process: concurrent patches never
make each other's attempts lose (every commit attempt succeeds), first come, first served."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from specstar.core import MemoryStorage, ResourceManager
from specstar.core.manager._write_path import ResourceQueue


class Counter(msgspec.Struct):
    tags: list[str] = []


class CountingStorage(MemoryStorage):
    """Counts commit attempts, and widens the window between an attempt's read and its
    commit, where a rival thread could slip in."""

    def __init__(self) -> None:
        super().__init__()
        self.commits = 0
        self.refused = 0
        self._count = threading.Lock()

    def commit(self, write: Any) -> Any:
        time.sleep(0.001)
        with self._count:
            self.commits += 1
        try:
            return super().commit(write)
        except Exception:
            with self._count:
                self.refused += 1
            raise


def test_concurrent_patches_of_one_resource_never_lose_an_attempt() -> None:
    storage = CountingStorage()
    items = ResourceManager(Counter, storage=storage, default_user="u")
    rid = items.create(Counter()).resource_id

    def worker(t: int) -> None:
        for j in range(10):
            items.patch(rid, [{"op": "add", "path": "/tags/-", "value": f"{t}-{j}"}])

    with ThreadPoolExecutor(16) as pool:
        for done in [pool.submit(worker, t) for t in range(16)]:
            done.result()
    assert len(items.get(rid).data.tags) == 160
    assert storage.refused == 0
    assert storage.commits == 161  # the create and one attempt per patch


def test_the_queue_serves_in_arrival_order_and_is_reentrant() -> None:
    queue = ResourceQueue()
    order: list[int] = []
    first_in = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with queue.hold("r"):
            with queue.hold("r"):  # the same thread again: no deadlock
                first_in.set()
                release.wait(5)
            order.append(0)

    def waiter(n: int, ready: threading.Event) -> None:
        ready.set()
        with queue.hold("r"):
            order.append(n)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    assert first_in.wait(5)
    for n in range(1, 6):  # queue up one at a time, so their arrival order is known
        ready = threading.Event()
        t = threading.Thread(target=waiter, args=(n, ready))
        t.start()
        assert ready.wait(5)
        while queue._turns["r"].waiting < n:
            time.sleep(0.001)
        threads.append(t)
    with queue.hold("other"):  # another resource is not held up
        pass
    release.set()
    for t in threads:
        t.join(5)
    assert order == [0, 1, 2, 3, 4, 5]
    assert queue._turns == {}  # nothing kept once nobody holds or waits

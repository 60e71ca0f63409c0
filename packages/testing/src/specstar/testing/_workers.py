"""Code that runs in the child processes of :class:`~.suites.processes.ProcessSuite`.

Each worker rebuilds the adapter's storage factory from a picklable *recipe*
``("module:callable", kwargs)`` and works on the resource type the parent names.
"""

from __future__ import annotations

import importlib
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

from specstar.core import (
    JobManager,
    MemoryMessageQueue,
    ResourceManager,
    StorageFactory,
    UniqueConstraintError,
)

from .models import ITEM_INDEXES, Errand, ErrandJob, Item

__all__ = ["FactoryRecipe", "build_factory"]

#: How a child process rebuilds the storage factory: ``("package.module:Factory", kwargs)``.
FactoryRecipe = tuple[str, dict[str, Any]]


def build_factory(recipe: FactoryRecipe) -> StorageFactory:
    """Call the recipe's factory with its keyword arguments."""
    target, kwargs = recipe
    module_name, _, attribute = target.partition(":")
    factory: StorageFactory = getattr(importlib.import_module(module_name), attribute)(**kwargs)
    return factory


def _manager(factory: StorageFactory, name: str, user: str) -> ResourceManager[Item]:
    return ResourceManager(
        Item, storage_factory=factory, name=name, indexed_fields=ITEM_INDEXES, default_user=user
    )


def _run(results: Any, index: int, work: Callable[[], Any]) -> None:
    try:
        results.put((index, "ok", work()))
    except BaseException:
        results.put((index, "crash", traceback.format_exc()))


def append_worker(
    *,
    recipe: FactoryRecipe,
    name: str,
    resource_id: str,
    count: int,
    index: int,
    barrier: Any,
    results: Any,
    in_place: bool = False,
) -> None:
    """Append ``count`` tags ``"{index}-{j}"`` to one resource with JSON patches (each a new
    revision, or with ``in_place`` a ``modify`` of its draft); reports the revision ids it
    was given."""

    def work() -> list[str]:
        factory = build_factory(recipe)
        try:
            items = _manager(factory, name, f"proc-{index}")
            barrier.wait()
            ids = []
            for j in range(count):
                op = {"op": "add", "path": "/tags/-", "value": f"{index}-{j}"}
                verb = items.modify if in_place else items.patch
                ids.append(verb(resource_id, [op]).revision_id)
            return ids
        finally:
            factory.close()

    _run(results, index, work)


def unique_worker(
    *,
    recipe: FactoryRecipe,
    name: str,
    creates: int,
    threads: int,
    index: int,
    barrier: Any,
    results: Any,
) -> None:
    """Create ``creates`` items with the same unique email from ``threads`` threads; reports
    ``("ok", resource_id)`` or ``("unique", field, conflicting id)`` or ``("error", repr)``."""

    def work() -> list[tuple[str, ...]]:
        factory = build_factory(recipe)
        try:
            items = _manager(factory, name, f"proc-{index}")
            outcomes: list[tuple[str, ...]] = []
            lock = threading.Lock()

            def create(k: int) -> None:
                try:
                    info = items.create(Item(name=f"{index}-{k}", email="same@example.com"))
                    outcome: tuple[str, ...] = ("ok", info.resource_id)
                except UniqueConstraintError as exc:
                    outcome = ("unique", exc.field, str(exc.conflicting_resource_id))
                except Exception as exc:
                    outcome = ("error", repr(exc))
                with lock:
                    outcomes.append(outcome)

            def thread_body(t: int) -> None:
                for k in range(t, creates, threads):
                    create(k)

            barrier.wait()
            pool = [threading.Thread(target=thread_body, args=(t,)) for t in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            return outcomes
        finally:
            factory.close()

    _run(results, index, work)


def enqueue_worker(
    *,
    recipe: FactoryRecipe,
    name: str,
    key: str,
    threads: int,
    index: int,
    barrier: Any,
    results: Any,
) -> None:
    """Enqueue the same :class:`ErrandJob` (idempotency ``key``) from ``threads`` threads at
    once; reports ``(resource_id, created)`` per thread, or ``("error", repr)``."""

    def work() -> list[tuple[str, Any]]:
        factory = build_factory(recipe)
        try:
            # the queue is not under test: the key is enforced by the job store
            jobs = JobManager(
                ErrandJob,
                storage_factory=factory,
                name=name,
                message_queue=MemoryMessageQueue(),
                default_user=f"proc-{index}",
            )
            outcomes: list[tuple[str, Any]] = []
            lock = threading.Lock()
            start = threading.Barrier(threads)

            def enqueue() -> None:
                start.wait()
                try:
                    info, created = jobs.enqueue(
                        ErrandJob(payload=Errand(what="once"), idempotency_key=key)
                    )
                    outcome: tuple[str, Any] = (info.resource_id, created)
                except Exception as exc:
                    outcome = ("error", repr(exc))
                with lock:
                    outcomes.append(outcome)

            barrier.wait()
            pool = [threading.Thread(target=enqueue) for _ in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            return outcomes
        finally:
            factory.close()

    _run(results, index, work)


def startup_worker(
    *, recipe: FactoryRecipe, name: str, index: int, barrier: Any, results: Any
) -> None:
    """Open the factory and a manager of a new resource type at the same moment as the other
    workers (idempotent concurrent start-up), then create one item."""

    def work() -> str:
        barrier.wait()
        factory = build_factory(recipe)
        try:
            items = _manager(factory, name, f"proc-{index}")
            return items.create(Item(name=f"start-{index}", email=f"{index}@x")).resource_id
        finally:
            factory.close()

    _run(results, index, work)


def writer_worker(
    recipe: FactoryRecipe, name: str, counter: str, ack_path: str, round_: int
) -> None:
    """Write until killed: alternately append a tag to ``counter`` and create an item. After
    each commit returns, append ``"<kind> <resource_id> <revision_id> <tag>"`` to the ack file
    (a line that is written was acknowledged)."""
    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        factory = build_factory(recipe)
        items = _manager(factory, name, f"writer-{round_}")
        j = 0
        while True:
            tag = f"{round_}-{j}"
            if j % 2 == 0:
                op = {"op": "add", "path": "/tags/-", "value": tag}
                info = items.patch(counter, [op])
                line = f"patch {counter} {info.revision_id} {tag}\n"
            else:
                info = items.create(Item(name=tag, email=f"{tag}@x"))
                line = f"create {info.resource_id} {info.revision_id} {tag}\n"
            os.write(fd, line.encode())
            j += 1
    except BaseException:
        os.write(fd, ("crash " + traceback.format_exc().replace("\n", " | ") + "\n").encode())
        raise
    finally:
        os.close(fd)

"""SpecStar's job queues as a jobs-section driver (``python -m benchmarks.jobs_ours CONFIG OUT``).

A no-op job model (payload: the job's number) in a :class:`~specstar.core.JobManager` whose
workers run as ``workers`` threads of this process (``start_consume(block=False)``):

* ``memory``: the in-process queue, job resources in memory;
* ``sqlite``: ``SQLiteMessageQueueFactory`` and ``SQLiteStorageFactory`` in one folder;
* ``postgres``: ``PostgresMessageQueueFactory`` and ``PostgresStorageFactory`` in one schema;
* ``rabbit`` / ``redis``: ``specstar.rabbit.RabbitMessageQueueFactory`` /
  ``specstar.redis.RedisMessageQueueFactory`` on the broker, job resources in PostgreSQL (the
  deployment a broker serves: workers on several hosts share the job state). When the package
  is not installed the result says so and nothing runs.

A job counts as done when its ``completed`` revision is written and its message acked: the
queue handed to the manager counts the acks that succeed.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec

from specstar.core import Job, JobManager, Lease, MessageQueue, Resource

from .jobs_measure import Probe, log, measure, write_result

BROKERS = {
    "rabbit": ("specstar.rabbit", "RabbitMessageQueueFactory"),
    "redis": ("specstar.redis", "RedisMessageQueueFactory"),
}


class Noop(msgspec.Struct):
    i: int


class NoopJob(Job[Noop, None]):
    """A job that does nothing: what the queue and the job states cost, alone."""


class CountingQueue(MessageQueue):
    """A queue that counts its successful acks (jobs done), passing every call through."""

    def __init__(self, inner: MessageQueue) -> None:
        self.inner = inner
        self.acked = 0
        self._lock = threading.Lock()

    def enqueue(self, job_id: str, *, delay: float = 0.0, partition_key: str | None = None) -> bool:
        return self.inner.enqueue(job_id, delay=delay, partition_key=partition_key)

    def claim(self, *, lease_seconds: float, wait: float = 0.0) -> Lease | None:
        return self.inner.claim(lease_seconds=lease_seconds, wait=wait)

    def extend(self, lease: Lease, *, lease_seconds: float) -> bool:
        return self.inner.extend(lease, lease_seconds=lease_seconds)

    def ack(self, lease: Lease) -> bool:
        done = self.inner.ack(lease)
        if done:
            with self._lock:
                self.acked += 1
        return done

    def retry(self, lease: Lease, *, delay: float = 0.0) -> bool:
        return self.inner.retry(lease, delay=delay)

    def dead_letter(self, lease: Lease, *, reason: str) -> bool:
        return self.inner.dead_letter(lease, reason=reason)

    def dead_letters(self) -> dict[str, str]:
        return self.inner.dead_letters()

    def recover(self) -> int:
        return self.inner.recover()

    def size(self) -> int:
        return self.inner.size()

    def close(self) -> None:
        self.inner.close()


def broker_factory(kind: str, url: str, prefix: str) -> Any:
    """The broker queue factory of ``kind``, or ``None`` when its package is not installed.

    Built with the broker's URL and, when the factory takes one, a key/queue-name prefix of
    this run's own."""
    module_name, cls_name = BROKERS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    cls = getattr(module, cls_name)
    params = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {}
    for name in ("prefix", "queue_prefix", "name_prefix"):
        if name in params:
            kwargs[name] = prefix
            break
    return cls(url, **kwargs)


class OursJobs:
    def __init__(self, config: dict[str, Any], probe: Probe) -> None:
        kind = self.kind = config["queue"]
        self.config = config
        workdir = Path(config["workdir"])
        workdir.mkdir(parents=True, exist_ok=True)
        self.closers: list[Any] = []
        storage_factory: Any = None
        if kind == "memory":
            from specstar.core import MemoryMessageQueueFactory

            queue_factory: Any = MemoryMessageQueueFactory()
        elif kind == "sqlite":
            from specstar.sql import SQLiteMessageQueueFactory, SQLiteStorageFactory

            storage_factory = SQLiteStorageFactory(workdir / "data")
            queue_factory = SQLiteMessageQueueFactory(workdir / "queue.db")
        else:
            from specstar.sql import PostgresMessageQueueFactory, PostgresStorageFactory

            dsn, schema = config["pg_dsn"], config["pg_schema"]
            storage_factory = PostgresStorageFactory(
                dsn, schema=schema, pool_size=config["workers"] + 2
            )
            if kind == "postgres":
                queue_factory = PostgresMessageQueueFactory(
                    dsn, schema=schema, pool_size=config["workers"] + 2
                )
            else:
                queue_factory = broker_factory(kind, config["broker_url"], config["prefix"])
        self.closers += [queue_factory, storage_factory]
        self.queue_factory = queue_factory

        def handler(job: Resource[NoopJob]) -> None:
            probe.started(job.data.payload.i)
            probe.finished()

        self.queue = CountingQueue(queue_factory.build("noop-job"))
        self.manager = JobManager(
            NoopJob,
            storage_factory=storage_factory,
            message_queue=self.queue,
            job_handler=handler,
            name="noop-job",
        )
        self.consumer = self.manager.start_consume(
            block=False, concurrency=config["workers"], poll_seconds=0.5
        )

    def enqueue(self, i: int) -> None:
        self.manager.create(NoopJob(payload=Noop(i=i)))

    def completed(self) -> int:
        return self.queue.acked

    def stop(self) -> None:
        self.consumer.stop(grace=10.0)
        if self.kind == "rabbit":  # this run's queues (the harness drops the PostgreSQL schema)
            self.queue_factory.delete_queues()
        for closer in self.closers:
            close = getattr(closer, "close", None)
            if close is not None:
                close()
        if self.kind == "redis":  # this run's keys (the harness drops the PostgreSQL schema)
            import redis

            client = redis.Redis.from_url(self.config["broker_url"])
            keys = list(client.scan_iter(match=f"{self.config['prefix']}*"))
            if keys:
                client.delete(*keys)
            client.close()


def main(config_path: str, out_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    kind = config["queue"]
    if kind in BROKERS:
        module_name = BROKERS[kind][0]
        try:
            importlib.import_module(module_name)
        except ImportError as exc:
            write_result(out_path, {"status": "not installed", "reason": f"{module_name}: {exc}"})
            return 0
    probe = Probe()
    driver = OursJobs(config, probe)
    try:
        result = measure(
            driver,
            probe,
            jobs=config["jobs"],
            latency_jobs=config["latency_jobs"],
            warmup=config["warmup"],
            progress=lambda line: log(f"{config['label']}: {line}"),
        )
    finally:
        driver.stop()
    write_result(out_path, {"status": "ok", "workers": config["workers"], **result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

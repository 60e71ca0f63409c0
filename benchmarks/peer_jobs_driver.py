"""The job queues of the ``specstar`` package from PyPI (the peer) as a jobs-section driver.

Runs only in the peer's venv (``benchmarks/.venv-peer``, see ``peer_env.py``):
``python peer_jobs_driver.py CONFIG OUT``. Public API only: ``SpecStar.add_model`` with
``job_handler`` and ``message_queue_factory``, ``ResourceManager.create`` (which queues the
job), the queues' ``start_consume`` / ``stop_consuming``.

* ``memory`` / ``sqlite`` / ``postgres``: its ``SimpleMessageQueueFactory`` (the default queue:
  workers look for pending jobs in the resource storage) over its memory storage, its SQLite
  meta store with revisions as files, and its PostgreSQL backend (a database of its own);
* ``rabbit``: its ``RabbitMQMessageQueueFactory`` on the same RabbitMQ, job resources in its
  PostgreSQL backend (as ours on the brokers).

Workers: its ``start_consume`` runs one consumer loop per queue object, so ``workers`` queue
objects are built from the same factory on the same resource manager, each consuming in a
thread of this process. A job counts as done when the handler returned (the probe); after the
throughput run, the harness also waits until its store shows every job ``completed``.
"""

import importlib.util
import json
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]


def _load_helper(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", _HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


jm = _load_helper("jobs_measure")


class PeerJobs:
    def __init__(self, config: dict[str, Any], probe: Any) -> None:
        import msgspec

        from specstar import SpecStar
        from specstar.types import Job

        class Noop(msgspec.Struct):
            i: int

        self.Noop, self.Job = Noop, Job
        kind = config["queue"]
        workdir = Path(config["workdir"])
        workdir.mkdir(parents=True, exist_ok=True)
        self.probe = probe
        self.broker_url = config["broker_url"] if kind == "rabbit" else None

        def handler(job: Any) -> None:
            probe.started(job.data.payload.i)
            probe.finished()

        if kind == "rabbit":
            from specstar.message_queue import RabbitMQMessageQueueFactory

            factory: Any = RabbitMQMessageQueueFactory(
                amqp_url=config["broker_url"], queue_prefix=config["prefix"]
            )
        else:
            from specstar.message_queue import SimpleMessageQueueFactory

            factory = SimpleMessageQueueFactory()
        add: dict[str, Any] = {"job_handler": handler, "message_queue_factory": factory}
        if kind == "memory":
            from specstar.resource_manager.storage_factory import MemoryStorageFactory

            crud = SpecStar(storage_factory=MemoryStorageFactory())
        elif kind == "sqlite":
            from specstar.resource_manager.core import SimpleStorage
            from specstar.resource_manager.meta_store.sqlite3 import FileSqliteMetaStore
            from specstar.resource_manager.resource_store.simple import DiskResourceStore

            crud = SpecStar()
            add["storage"] = SimpleStorage(
                FileSqliteMetaStore(db_filepath=workdir / "meta.db"),
                DiskResourceStore(rootdir=workdir / "data"),
            )
        else:
            from specstar import BackendBinding, BackendConfig, ConnectionProfile

            options = {"dsn": config["pg_dsn"], "minconn": 4, "maxconn": 16}
            crud = SpecStar(
                backend=BackendConfig(
                    connections={"pg": ConnectionProfile(type="postgres", options=options)},
                    meta=BackendBinding(use="pg"),
                    resource=BackendBinding(use="pg"),
                    blob=BackendBinding(type="memory"),
                )
            )
        crud.add_model(Job[Noop], name="noop-job", **add)
        self.manager = crud.get_resource_manager("noop-job")
        build = factory.build(handler)
        self.queues = [self.manager.message_queue] + [
            build(self.manager) for _ in range(config["workers"] - 1)
        ]
        self.threads = [
            threading.Thread(target=q.start_consume, daemon=True, name=f"peer-worker-{k}")
            for k, q in enumerate(self.queues)
        ]
        for t in self.threads:
            t.start()

    def enqueue(self, i: int) -> None:
        self.manager.create(self.Job(payload=self.Noop(i=i)))

    def completed(self) -> int:
        return int(self.probe.returned)

    def settle(self, n: int) -> tuple[int, float]:
        """Wait until the store shows ``n`` jobs finished (completed, or failed: its workers
        race for the same pending job on SQLite, and a loser's errors can use up a job's
        retries; :meth:`failed` counts those)."""
        from specstar import QB

        query = QB["status"].in_(["completed", "failed"]).build()
        return jm.wait_settled(lambda: int(self.manager.count_resources(query)), n)

    def failed(self) -> int:
        from specstar import QB

        return int(self.manager.count_resources((QB["status"] == "failed").build()))

    def stop(self) -> None:
        for q in self.queues:
            try:
                q.stop_consuming()
            except Exception as exc:  # reported, not fatal: the figures are taken
                jm.log(f"peer: stop_consuming failed: {exc}")
        for t in self.threads:
            t.join(5)
        if self.broker_url:  # this run's RabbitMQ queues (main, retry, dead)
            import pika

            first = self.queues[0]
            names = [first.queue_name, first.retry_queue_name, first.dead_queue_name]
            conn = pika.BlockingConnection(pika.URLParameters(self.broker_url))
            try:
                channel = conn.channel()
                for name in names:
                    channel.queue_delete(queue=name)
            finally:
                conn.close()


def main(config_path: str, out_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    probe = jm.Probe()
    driver = PeerJobs(config, probe)
    try:
        result = jm.measure(
            driver,
            probe,
            jobs=config["jobs"],
            latency_jobs=config["latency_jobs"],
            warmup=config["warmup"],
            progress=lambda line: jm.log(f"{config['label']}: {line}"),
        )
    finally:
        try:
            driver.stop()
        except Exception as exc:  # the figures are taken; a failed shutdown is only reported
            jm.log(f"{config['label']}: stopping the workers failed: {type(exc).__name__}: {exc}")
    result["failed"] = driver.failed()
    jm.write_result(out_path, {"status": "ok", "workers": config["workers"], **result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

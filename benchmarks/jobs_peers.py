"""Procrastinate, Celery and Dramatiq as jobs-section drivers.

Runs only in the job peers' venv (``benchmarks/.venv-jobpeers``, see ``peer_env.py``):
``python jobs_peers.py CONFIG OUT``. Each library runs a no-op task with its workers as
threads of this process, ``workers`` of them, on its defaults otherwise:

* ``procrastinate`` (PostgreSQL, a database of its own made by the harness): its worker with
  ``concurrency=workers`` in an asyncio loop on a thread (LISTEN/NOTIFY on, as by default),
  jobs deferred through a synchronous app on the same database. Done: the task returned; after
  the throughput run the harness also waits until its table shows every job ``succeeded``.
* ``celery-rabbit`` / ``celery-redis``: a Celery worker with the ``threads`` pool and
  ``concurrency=workers`` (``celery.contrib.testing.worker.start_worker``), no result backend;
  tasks on a queue of this run's own. Done: the task returned (Celery acks before it runs).
* ``dramatiq-rabbit`` / ``dramatiq-redis``: ``dramatiq.Worker`` with ``worker_threads=workers``,
  an actor without retries on a queue of this run's own. Done: the actor returned.

Queues and keys are named after the run (``config["prefix"]``) and removed at the end.
"""

import asyncio
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


class Procrastinate:
    def __init__(self, config: dict[str, Any], probe: Any) -> None:
        import procrastinate

        self.dsn = config["pg_dsn"]
        self.probe = probe
        app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=self.dsn))

        @app.task(name="noop", queue="bench")
        def noop(i: int) -> None:
            probe.started(i)
            probe.finished()

        self.task = noop
        app.open()
        app.schema_manager.apply_schema()
        self.app = app
        worker_app = app.with_connector(procrastinate.PsycopgConnector(conninfo=self.dsn))
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        self.error: BaseException | None = None

        async def serve() -> None:
            async with worker_app.open_async():
                self.started.set()
                await worker_app.run_worker_async(
                    queues=["bench"],
                    concurrency=config["workers"],
                    install_signal_handlers=False,
                    wait=True,
                )

        def run() -> None:
            try:
                self.future = asyncio.ensure_future(serve(), loop=self.loop)
                self.loop.run_until_complete(self.future)
            except (asyncio.CancelledError, Exception) as exc:  # a stop cancels it
                self.error = exc
            finally:
                self.started.set()

        self.thread = threading.Thread(target=run, name="procrastinate-worker", daemon=True)
        self.thread.start()
        self.started.wait(60)

    def enqueue(self, i: int) -> None:
        self.task.defer(i=i)

    def completed(self) -> int:
        return int(self.probe.returned)

    def settle(self, n: int) -> tuple[int, float]:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:

            def count() -> int:
                row = conn.execute(
                    "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
                ).fetchone()
                return int(row[0]) if row else 0

            return jm.wait_settled(count, n)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.future.cancel)
        self.thread.join(15)
        self.app.close()


class Celery:
    def __init__(self, config: dict[str, Any], probe: Any) -> None:
        from celery import Celery as CeleryApp
        from celery.contrib.testing.worker import start_worker

        self.probe = probe
        broker = config["broker"]
        self.queue = f"{config['prefix']}celery"
        app = CeleryApp("bench", broker=config["broker_url"])
        app.conf.task_default_queue = self.queue
        app.conf.task_ignore_result = True
        app.conf.worker_hijack_root_logger = False
        if broker == "redis":
            app.conf.broker_transport_options = {"global_keyprefix": config["prefix"]}

        @app.task(name="noop")
        def noop(i: int) -> None:
            probe.started(i)
            probe.finished()

        self.app, self.task = app, noop
        self.worker = start_worker(
            app,
            pool="threads",
            concurrency=config["workers"],
            perform_ping_check=False,
            loglevel="WARNING",
            shutdown_timeout=30.0,
        )
        self.worker.__enter__()

    def enqueue(self, i: int) -> None:
        self.task.delay(i)

    def completed(self) -> int:
        return int(self.probe.returned)

    def stop(self) -> None:
        self.worker.__exit__(None, None, None)
        with self.app.connection_for_write() as conn:
            conn.default_channel.queue_delete(self.queue)


class Dramatiq:
    def __init__(self, config: dict[str, Any], probe: Any) -> None:
        import dramatiq

        self.probe = probe
        self.queue = f"{config['prefix']}dramatiq".replace(":", "_")
        if config["broker"] == "redis":
            from dramatiq.brokers.redis import RedisBroker

            broker: Any = RedisBroker(url=config["broker_url"], namespace=config["prefix"])
        else:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker

            broker = RabbitmqBroker(url=config["broker_url"])
        dramatiq.set_broker(broker)

        @dramatiq.actor(queue_name=self.queue, max_retries=0, actor_name="noop")
        def noop(i: int) -> None:
            probe.started(i)
            probe.finished()

        self.broker, self.actor = broker, noop
        self.worker = dramatiq.Worker(broker, worker_threads=config["workers"])
        self.worker.start()

    def enqueue(self, i: int) -> None:
        self.actor.send(i)

    def completed(self) -> int:
        return int(self.probe.returned)

    def stop(self) -> None:
        self.worker.stop()
        if hasattr(self.broker, "channel"):  # RabbitMQ: its queue, delay and dead-letter queues
            for suffix in ("", ".DQ", ".XQ"):
                try:
                    self.broker.channel.queue_delete(self.queue + suffix)
                except Exception as exc:
                    jm.log(f"dramatiq: deleting {self.queue + suffix} failed: {exc}")
        else:
            client = self.broker.client
            keys = list(client.scan_iter(match=f"{self.broker.namespace}*"))
            if keys:
                client.delete(*keys)
        self.broker.close()


def _clean_redis_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


DRIVERS = {"procrastinate": Procrastinate, "celery": Celery, "dramatiq": Dramatiq}


def main(config_path: str, out_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    probe = jm.Probe()
    driver = DRIVERS[config["impl"]](config, probe)
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
        if config.get("broker") == "redis":
            _clean_redis_prefix(config["broker_url"], config["prefix"])
    jm.write_result(out_path, {"status": "ok", "workers": config["workers"], **result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

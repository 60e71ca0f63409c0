"""What survives a crash of the Redis server itself (``kill -9`` and a restart), on a private
``redis-server`` of the test's own: with the append-only file fsynced on every write the queue
comes back whole, leases included; without persistence it comes back empty and the job
resources re-queue their unfinished jobs. The shared test server is never restarted.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from specstar.core import JobManager, JobStatus
from specstar.core.memory import MemoryStorageFactory
from specstar.redis import RedisMessageQueueFactory
from specstar.testing.services import services_required
from specstar.testing.suites.jobs import Echo, EchoJob


class Server:
    """A ``redis-server`` on a free loopback port, in a folder of its own."""

    def __init__(self, folder: Path, *persistence: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.folder = folder
        self.args = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(folder),
            "--save",
            "",
            *persistence,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
            except redis.BusyLoadingError:
                time.sleep(0.02)
        client.close()

    def crash(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.crash()


@pytest.fixture
def server_folder(tmp_path: Path) -> Path:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if services_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return tmp_path


@pytest.fixture
def aof_server(server_folder: Path) -> Iterator[Server]:
    server = Server(server_folder, "--appendonly", "yes", "--appendfsync", "always")
    yield server
    server.stop()


@pytest.fixture
def volatile_server(server_folder: Path) -> Iterator[Server]:
    server = Server(server_folder, "--appendonly", "no")
    yield server
    server.stop()


def test_with_the_append_only_file_the_queue_survives_a_crash(aof_server: Server) -> None:
    factory = RedisMessageQueueFactory(aof_server.url, prefix="t:", retry_seconds=20)
    try:
        q = factory.build("jobs")
        for job_id in ("a", "b", "c"):
            q.enqueue(job_id)
        q.enqueue("later", delay=3600)
        q.enqueue("p1", partition_key="p")
        q.enqueue("p2", partition_key="p")
        held = q.claim(lease_seconds=600, wait=5)
        assert held is not None
        assert held.job_id == "a"
        aof_server.crash()
        aof_server.start()
        assert q.size() == 6  # the first call after the crash reconnects
        assert q.extend(held, lease_seconds=600) is True  # the lease survived with its token
        got = []
        while (lease := q.claim(lease_seconds=600, wait=0.2)) is not None:
            got.append(lease.job_id)
            assert q.ack(lease) is True
        assert got == ["b", "c", "p1", "p2"]  # "a" is still held, "later" an hour away
        assert q.ack(held) is True
        assert q.size() == 1
    finally:
        factory.close()


def test_without_persistence_unfinished_jobs_are_queued_again(volatile_server: Server) -> None:
    factory = RedisMessageQueueFactory(volatile_server.url, prefix="t:", retry_seconds=20)
    runs: list[int] = []
    try:
        mgr = JobManager(
            EchoJob,
            name="echo",
            job_handler=lambda job: runs.append(job.data.payload.n),
            storage_factory=MemoryStorageFactory(),
            message_queue_factory=factory,
            default_user="tester",
        )
        ids = [mgr.create(EchoJob(payload=Echo(n=i))).resource_id for i in range(3)]
        volatile_server.crash()
        volatile_server.start()
        assert mgr.message_queue.size() == 0  # Redis kept nothing: the messages are gone
        assert mgr.process_next(wait=0.2) is False
        consumer = mgr.start_consume(block=False, poll_seconds=0.1)  # re-queues unfinished jobs
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all(mgr.get(i).data.status is JobStatus.completed for i in ids):
                    break
                time.sleep(0.02)
        finally:
            consumer.stop(grace=5)
        assert sorted(runs) == [0, 1, 2]
    finally:
        factory.close()

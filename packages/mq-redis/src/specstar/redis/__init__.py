"""SpecStar on Redis: a job queue on Redis Streams and lease locks, shared by any number of
processes and hosts.

::

    from specstar.core import JobManager, Locks
    from specstar.redis import RedisLockBackend, RedisMessageQueueFactory

    queues = RedisMessageQueueFactory(url="redis://127.0.0.1:6379/0", prefix="myapp:")
    jobs = JobManager(MyJob, job_handler=handle, message_queue_factory=queues, ...)

    locks = Locks(RedisLockBackend("redis://127.0.0.1:6379/0"))
    with locks.lock("nightly-report", ttl=30, timeout=10) as held:
        ...  # held.token is the fencing token
"""

from __future__ import annotations

try:
    import redis as _redis  # noqa: F401
except ModuleNotFoundError as _missing:
    raise ModuleNotFoundError(
        f"specstar.redis needs {_missing.name!r}, a dependency of the specstar-mq-redis "
        f"distribution that is not installed: pip install {_missing.name}",
        name=_missing.name,
    ) from _missing

from ._version import __version__
from .locks import RedisLockBackend
from .queue import RedisMessageQueue, RedisMessageQueueFactory

__all__ = ["RedisLockBackend", "RedisMessageQueue", "RedisMessageQueueFactory", "__version__"]

"""SpecStar on Redis: a job queue on Redis Streams.

::

    from specstar.core import JobManager
    from specstar.redis import RedisMessageQueueFactory

    queues = RedisMessageQueueFactory(url="redis://127.0.0.1:6379/0", prefix="myapp:")
    jobs = JobManager(MyJob, job_handler=handle, message_queue_factory=queues, ...)
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
from .queue import RedisMessageQueue, RedisMessageQueueFactory

__all__ = ["RedisMessageQueue", "RedisMessageQueueFactory", "__version__"]

"""SpecStar on Redis: lease locks shared by any number of processes and hosts.

::

    from specstar.core import Locks
    from specstar.redis import RedisLockBackend

    locks = Locks(RedisLockBackend("redis://127.0.0.1:6379/0"))
    with locks.lock("nightly-report", ttl=30, timeout=10) as held:
        ...  # held.token is the fencing token
"""

from __future__ import annotations

from ._version import __version__
from .locks import RedisLockBackend

__all__ = [
    "RedisLockBackend",
    "__version__",
]

"""Lease locks in Redis: any number of processes on any number of hosts share them.

Each key has two Redis keys under the backend's prefix:

- ``{prefix}lease:{key}`` holds ``"{token}:{owner}"`` while a lease is live, with the lease
  as its time to live (``PX``), so Redis itself ends a lease on its own clock — hosts need not
  agree on theirs, and a crashed holder frees the key when its lease runs out;
- ``{prefix}fence:{key}`` is the fencing counter (``INCR``), kept without expiry so a later
  grant always gets a larger token, after releases and expiries too.

A grant is one Lua script (scripts run atomically): when no lease exists, ``INCR`` the
counter and ``SET`` the lease with ``NX PX``. Renewal and release are scripts that compare the
stored value with the handle's token and owner before they ``PEXPIRE`` or ``DEL``, so a stale
or forged handle changes nothing.

Limits: one Redis server (or a primary with replicas used for failover only) — a lease written
to a primary that fails before replicating it is lost with the primary; this backend does not
implement a multi-master quorum. When a connection drops during a call the outcome is unknown:
a grant may exist that nobody holds (it ends with its lease), and the call raises
:class:`~specstar.core.StorageUnavailableError`.
"""

from __future__ import annotations

import math
import time
from typing import Any

try:  # name the distribution when the client is missing (installed with --no-deps)
    import redis
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        f"specstar.redis needs {exc.name!r}, a dependency of the specstar-mq-redis "
        f"distribution that is not installed: pip install {exc.name}",
        name=exc.name,
    ) from exc

import msgspec

from specstar.core import (
    Capabilities,
    LockNotOwnedError,
    StorageError,
    StorageUnavailableError,
)
from specstar.core.spi import (
    Lock,
    LockBackend,
    check_lock,
    check_lock_key,
    check_lock_ttl,
    new_lock_owner,
)

__all__ = ["RedisLockBackend"]

_GRANT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])
return token
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def _millis(ttl: float) -> int:
    """A lease length in whole milliseconds, rounded up (Redis' ``PX`` needs at least 1)."""
    return max(1, math.ceil(ttl * 1000))


class RedisLockBackend(LockBackend):
    """Lease locks in one Redis database.

    Args:
        url: a Redis URL (``redis://host:port/db``); or give ``client``.
        client: a ``redis.Redis`` client to use instead of a URL (not closed by :meth:`close`).
        prefix: the prefix of every Redis key this backend writes.
    """

    capabilities = Capabilities(multi_process=True, durable=True)

    def __init__(
        self,
        url: str | None = None,
        *,
        client: redis.Redis | None = None,
        prefix: str = "specstar:lock:",
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("RedisLockBackend needs exactly one of url= and client=")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty string, got {prefix!r}")
        self.prefix = prefix
        self._owns_client = client is None
        if client is None:
            client = redis.Redis.from_url(str(url))
        self._client: redis.Redis = client
        self._grant = self._client.register_script(_GRANT)
        self._renew = self._client.register_script(_RENEW)
        self._release = self._client.register_script(_RELEASE)

    def _lease(self, key: str) -> str:
        return f"{self.prefix}lease:{key}"

    def _fence(self, key: str) -> str:
        return f"{self.prefix}fence:{key}"

    def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise StorageUnavailableError(
                "the Redis lock server is unavailable; the lock operation may not have applied"
            ) from exc
        except redis.RedisError as exc:
            raise StorageError(f"Redis lock backend: {exc}") from exc

    def try_lock(self, key: str, ttl: float) -> Lock | None:
        check_lock_key(key)
        ttl = check_lock_ttl(ttl)
        owner = new_lock_owner()
        start = time.monotonic()
        token = self._call(self._grant, [self._lease(key), self._fence(key)], [owner, _millis(ttl)])
        if token is None:
            return None
        return Lock(key=key, token=int(token), owner=owner, ttl=ttl, deadline=start + ttl)

    def renew(self, lock: Lock, ttl: float) -> Lock:
        check_lock(lock)
        ttl = check_lock_ttl(ttl)
        start = time.monotonic()
        value = f"{lock.token}:{lock.owner}"
        if not self._call(self._renew, [self._lease(lock.key)], [value, _millis(ttl)]):
            raise LockNotOwnedError(lock.key, lock.token)
        return msgspec.structs.replace(lock, ttl=ttl, deadline=start + ttl)

    def release(self, lock: Lock) -> None:
        check_lock(lock)
        value = f"{lock.token}:{lock.owner}"
        if not self._call(self._release, [self._lease(lock.key)], [value]):
            raise LockNotOwnedError(lock.key, lock.token)

    def close(self) -> None:
        """Close the connection pool (when the backend created the client)."""
        if self._owns_client:
            self._client.close()

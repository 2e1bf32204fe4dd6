"""L2/L3: a result-cache tier on any Redis-protocol server (Redis, Valkey, KeyDB,
DragonflyDB), through the ``redis`` asyncio client and a bounded connection pool.

The client is built to fail fast: no retries of its own and short socket timeouts. The
tiered cache wraps every call in a breaker and a deadline of a few milliseconds, so a
slow or dead server costs little and is never a user-visible error.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def redis_client(url: str, pool_size: int = 32, timeout_s: float = 1.0) -> aioredis.Redis:
    """A client of ``url`` (``redis://``, ``rediss://`` or ``unix://``) with its own pool.

    ``timeout_s`` bounds connecting and each socket read; callers add tighter deadlines.
    A burst beyond ``pool_size`` waits for a free connection rather than failing.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


class RedisCache:
    """``Cache`` on a Redis-protocol server; TTLs are set with ``SET … PX``."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str, pool_size: int = 32, timeout_s: float = 1.0) -> RedisCache:
        return cls(redis_client(url, pool_size, timeout_s))

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(key)
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.client.set(key, value, px=max(1, int(ttl_s * 1000)))

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()

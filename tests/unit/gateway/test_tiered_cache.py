"""Tiered cache: read order, populate upward, TTL jitter, XFetch, guarded failing tiers."""

from __future__ import annotations

import asyncio
from typing import Any

from vecfleet.gateway.breaker import CircuitBreaker
from vecfleet.gateway.cache.codec import Entry, pack, unpack
from vecfleet.gateway.cache.memory import MemoryCache
from vecfleet.gateway.cache.tiered import Tier, TieredCache


class Broken:
    """A networked tier that is down (``raise``) or hangs (``sleep``)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.calls = 0

    async def get(self, key: str) -> bytes | None:
        self.calls += 1
        if self.mode == "sleep":
            await asyncio.sleep(10)
        raise ConnectionError("connection refused")

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await self.get(key)

    async def aclose(self) -> None:
        pass


def tiers(l2: object | None = None) -> list[Tier]:
    second: Any = l2 if l2 is not None else MemoryCache(1 << 20)
    out = [Tier("l1", MemoryCache(1 << 20), 60.0)]
    out.append(Tier("l2", second, 300.0, CircuitBreaker(2, 60.0), 0.02))
    out.append(Tier("l3", MemoryCache(1 << 20), 3600.0, CircuitBreaker(2, 60.0), 0.02))
    return out


def test_miss_then_put_then_hit_in_l1() -> None:
    async def run() -> None:
        cache = TieredCache(tiers())
        assert await cache.get("k") is None
        await cache.put("k", b"body", 0.005)
        await cache.flush()
        hit = await cache.get("k")
        assert hit is not None and hit.tier == "l1" and hit.entry.body == b"body"
        assert [t.stats.requests for t in cache.tiers] == [
            {"miss": 1, "hit": 1},
            {"miss": 1},
            {"miss": 1},
        ]

    asyncio.run(run())


def test_a_lower_hit_populates_the_tiers_above() -> None:
    async def run() -> None:
        cache = TieredCache(tiers(), jitter=0.0)
        l1, l2, l3 = (t.cache for t in cache.tiers)
        await l3.set("k", pack(Entry(expires_at=1e12, compute_s=0.01, body=b"x")), 100)
        hit = await cache.get("k")
        assert hit is not None and hit.tier == "l3"
        await cache.flush()
        assert await l1.get("k") is not None and await l2.get("k") is not None
        hit = await cache.get("k")
        assert hit is not None and hit.tier == "l1"

    asyncio.run(run())


def test_ttls_are_per_tier_and_jittered_down() -> None:
    async def run() -> None:
        cache = TieredCache(tiers(), jitter=0.1, clock=lambda: 1000.0, rand=lambda: 0.5)
        await cache.put("k", b"v", 0.0)
        await cache.flush()
        expiries = [unpack((await t.cache.get("k")) or b"").expires_at for t in cache.tiers]
        assert expiries == [1000.0 + 60 * 0.95, 1000.0 + 300 * 0.95, 1000.0 + 3600 * 0.95]

    asyncio.run(run())


def test_xfetch_refreshes_early_with_rising_probability() -> None:
    async def run() -> None:
        now = [0.0]
        draws = iter([0.0] + [0.5] * 100)  # the write draws first (jitter)
        cache = TieredCache(
            [Tier("l1", MemoryCache(1 << 20), 100.0)],
            jitter=0.0,
            beta=1.0,
            clock=lambda: now[0],
            rand=lambda: next(draws),
        )
        await cache.put("k", b"v", compute_s=2.0)  # expires at 100
        # u = 0.5: early by 2 * ln 2 ≈ 1.39 s
        now[0] = 98.0
        assert await cache.get("k") is not None
        now[0] = 98.7
        assert await cache.get("k") is None
        assert cache.tiers[0].stats.requests == {"hit": 1, "refresh": 1}

    asyncio.run(run())


def test_a_dead_tier_is_skipped_after_its_breaker_opens() -> None:
    async def run() -> None:
        dead = Broken("raise")
        cache = TieredCache(tiers(dead))
        for _ in range(5):
            assert await cache.get("k") is None
        l2 = cache.tiers[1]
        assert dead.calls == 2  # threshold 2, then the breaker answers
        assert l2.stats.requests == {"error": 2, "open": 3}
        assert l2.breaker is not None and l2.breaker.state == "open"
        await cache.put("k", b"v", 0.0)
        await cache.flush()
        hit = await cache.get("k")
        assert hit is not None and hit.tier == "l1"

    asyncio.run(run())


def test_a_hanging_tier_costs_at_most_its_timeout() -> None:
    async def run() -> None:
        slow = Broken("sleep")
        cache = TieredCache(tiers(slow))
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await cache.get("k") is None
        assert loop.time() - started < 0.5
        assert cache.tiers[1].stats.requests == {"error": 1}

    asyncio.run(run())

"""L1 memory cache: bounded in bytes, least recently used first out, TTL per entry."""

from __future__ import annotations

import asyncio

from vecfleet.gateway.cache.memory import ENTRY_OVERHEAD_BYTES, MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cost(key: str, value: bytes) -> int:
    return len(key) + len(value) + ENTRY_OVERHEAD_BYTES


def test_size_never_exceeds_the_byte_bound() -> None:
    value = b"x" * 1000
    bound = 5 * cost("k0", value) + 10
    cache = MemoryCache(bound)
    for i in range(10):
        cache.set_now(f"k{i}", value, 60)
        assert cache.size_bytes <= bound
    assert len(cache) == 5
    assert cache.stats.evictions == 5
    assert [cache.get_now(f"k{i}") is not None for i in range(10)] == [False] * 5 + [True] * 5


def test_least_recently_used_goes_first() -> None:
    value = b"v" * 100
    cache = MemoryCache(3 * cost("a", value))
    for key in "abc":
        cache.set_now(key, value, 60)
    assert cache.get_now("a") == value  # a is now the most recently used
    cache.set_now("d", value, 60)
    assert cache.get_now("b") is None
    assert {k for k in "acd" if cache.get_now(k) is not None} == {"a", "c", "d"}


def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    cache = MemoryCache(10_000, clock)
    cache.set_now("short", b"1", 1.0)
    cache.set_now("long", b"2", 10.0)
    clock.now = 0.999
    assert cache.get_now("short") == b"1"
    clock.now = 1.0
    assert cache.get_now("short") is None
    assert cache.get_now("long") == b"2"
    assert cache.stats.expirations == 1
    assert cache.size_bytes == cost("long", b"2")


def test_overwrite_replaces_size_and_a_value_larger_than_the_bound_is_refused() -> None:
    cache = MemoryCache(1000)
    cache.set_now("k", b"a" * 10, 60)
    cache.set_now("k", b"b" * 20, 60)
    assert cache.size_bytes == cost("k", b"b" * 20) and len(cache) == 1
    cache.set_now("huge", b"x" * 2000, 60)
    assert cache.get_now("huge") is None and cache.stats.rejected == 1
    assert cache.get_now("k") == b"b" * 20


def test_async_protocol_methods() -> None:
    async def run() -> None:
        cache = MemoryCache(1000)
        await cache.set("k", b"v", 60)
        assert await cache.get("k") == b"v"
        assert await cache.get("missing") is None
        await cache.aclose()
        assert len(cache) == 0 and cache.size_bytes == 0

    asyncio.run(run())

"""Result cache over tiers: read L1 → L2 → L3, populate upward, never fail a request.

* **Reads** try each tier in order; the first hit is returned and copied into every tier
  above it (in-process tiers at once, networked tiers in the background).
* **Writes** (after a backend answer) go to every tier, each with its own TTL scaled by
  a random factor in ``(1 - jitter, 1]`` so entries written together do not expire
  together.
* **Early refresh (XFetch)**, Vattani et al., PVLDB 8(8), 2015: an entry that took
  ``delta`` seconds to compute is treated as a miss at time ``now`` with probability
  rising towards its expiry, when ``now - delta * beta * ln(u) >= expires_at`` for a
  uniform ``u`` in (0, 1]. One early caller recomputes and rewrites the entry while the
  others still hit, so a popular key never expires for everyone at once.
* **Networked tiers are guarded** by a circuit breaker and a deadline (``timeout_s``):
  a slow or dead server costs at most the deadline, then nothing while the breaker is
  open. Errors, timeouts and refused calls count per tier and read as misses.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vecfleet.gateway.breaker import CircuitBreaker
from vecfleet.gateway.cache.base import Cache, TierStats
from vecfleet.gateway.cache.codec import Entry, pack, unpack

log = logging.getLogger(__name__)

MAX_PENDING_WRITES = 1024


@dataclass
class Tier:
    """One cache tier; ``breaker`` and ``timeout_s`` are ``None`` for an in-process one."""

    name: str
    cache: Cache
    ttl_s: float
    breaker: CircuitBreaker | None = None
    timeout_s: float | None = None
    stats: TierStats = field(default_factory=TierStats)

    @property
    def guarded(self) -> bool:
        return self.breaker is not None or self.timeout_s is not None


@dataclass(frozen=True, slots=True)
class CacheHit:
    tier: str
    entry: Entry


class TieredCache:
    def __init__(
        self,
        tiers: list[Tier],
        jitter: float = 0.1,
        beta: float = 1.0,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 <= jitter < 1 or beta < 0:
            raise ValueError("jitter must be in [0, 1) and beta not negative")
        self.tiers = tiers
        self.jitter = jitter
        self.beta = beta
        self.dropped_writes = 0
        self._clock = clock
        self._rand = rand
        self._pending: set[asyncio.Task[None]] = set()

    async def get(self, key: str) -> CacheHit | None:
        """The entry from the highest tier that has a fresh one, copied to the tiers above."""
        for i, tier in enumerate(self.tiers):
            entry = await self._read(tier, key)
            if entry is not None:
                for upper in self.tiers[:i]:
                    await self._write(upper, key, entry.body, entry.compute_s)
                return CacheHit(tier.name, entry)
        return None

    async def put(self, key: str, body: bytes, compute_s: float) -> None:
        """Store ``body`` in every tier; networked tiers are written in the background."""
        for tier in self.tiers:
            await self._write(tier, key, body, compute_s)

    async def flush(self) -> None:
        """Wait for the background writes started so far."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def aclose(self, grace_s: float = 1.0) -> None:
        try:
            await asyncio.wait_for(self.flush(), grace_s)
        except TimeoutError:
            for task in list(self._pending):
                task.cancel()
        for tier in self.tiers:
            try:
                await tier.cache.aclose()
            except Exception as exc:  # closing a dead connection must not stop the rest
                log.debug("closing cache tier %s: %s", tier.name, exc)

    # ------------------------------------------------------------------ reads
    async def _read(self, tier: Tier, key: str) -> Entry | None:
        if not tier.guarded:
            started = time.perf_counter()
            value = await tier.cache.get(key)
            tier.stats.latency.observe(time.perf_counter() - started)
            return self._judge(tier, None if value is None else unpack(value))
        if tier.breaker is not None and not tier.breaker.allow():
            tier.stats.count("open")
            return None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(tier.timeout_s):
                value = await tier.cache.get(key)
            entry = None if value is None else unpack(value)
        except Exception as exc:
            tier.stats.latency.observe(time.perf_counter() - started)
            self._failed(tier, "read", exc)
            tier.stats.count("error")
            return None
        tier.stats.latency.observe(time.perf_counter() - started)
        if tier.breaker is not None:
            tier.breaker.record_success()
        return self._judge(tier, entry)

    def _judge(self, tier: Tier, entry: Entry | None) -> Entry | None:
        if entry is None:
            tier.stats.count("miss")
            return None
        u = 1.0 - self._rand()  # (0, 1]: log(0) is never taken
        if self._clock() - entry.compute_s * self.beta * math.log(u) >= entry.expires_at:
            tier.stats.count("refresh")
            return None
        tier.stats.count("hit")
        return entry

    # ------------------------------------------------------------------ writes
    async def _write(self, tier: Tier, key: str, body: bytes, compute_s: float) -> None:
        ttl_s = tier.ttl_s * (1.0 - self.jitter * self._rand())
        value = pack(Entry(self._clock() + ttl_s, compute_s, body))
        if not tier.guarded:
            await tier.cache.set(key, value, ttl_s)
            tier.stats.count_write("ok")
            return
        if len(self._pending) >= MAX_PENDING_WRITES:
            self.dropped_writes += 1
            tier.stats.count_write("dropped")
            return
        task = asyncio.ensure_future(self._guarded_write(tier, key, value, ttl_s))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _guarded_write(self, tier: Tier, key: str, value: bytes, ttl_s: float) -> None:
        if tier.breaker is not None and not tier.breaker.allow():
            tier.stats.count_write("open")
            return
        try:
            async with asyncio.timeout(tier.timeout_s):
                await tier.cache.set(key, value, ttl_s)
        except Exception as exc:
            self._failed(tier, "write", exc)
            tier.stats.count_write("error")
            return
        if tier.breaker is not None:
            tier.breaker.record_success()
        tier.stats.count_write("ok")

    def _failed(self, tier: Tier, what: str, exc: Exception) -> None:
        breaker = tier.breaker
        was_open = breaker is not None and breaker.state == "open"
        if breaker is not None:
            breaker.record_failure()
            if not was_open and breaker.state == "open":
                log.warning(
                    "cache tier %s failed (%s: %s); skipping it for %.1f s",
                    tier.name,
                    what,
                    type(exc).__name__,
                    breaker.reset_s,
                )
        log.debug("cache tier %s %s failed: %r", tier.name, what, exc)

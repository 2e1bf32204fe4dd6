"""The ``Cache`` protocol every result-cache tier implements, and its plain counters.

Implementations: ``MemoryCache`` (in-process L1), ``RedisCache`` (any Redis-protocol
server: L2 regional Redis, L3 DragonflyDB / KeyDB / Valkey). Tests use ``MemoryCache`` as
the fake, or a plain object with the two methods that sleeps or fails.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Protocol

# Upper bounds in seconds: an L1 hit is microseconds, a healthy Redis under a millisecond
# on a LAN, and the tier timeout (20 ms by default) caps everything else.
LATENCY_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


class Cache(Protocol):
    """Bytes under string keys, each with a time to live.

    ``get`` answers ``None`` for a missing or expired key. Either call may raise on a
    networked tier; the tiered cache counts that as an error and never shows it to users.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class LatencyCounts:
    """A histogram as plain counters: ``counts[i]`` observations ≤ ``bounds[i]``, the last
    slot for everything above; ``obs`` renders it as a Prometheus histogram."""

    bounds: tuple[float, ...] = LATENCY_BUCKETS_S
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_S) + 1))
    sum_s: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sum_s += seconds


@dataclass
class TierStats:
    """Per tier: reads by result (hit, miss, error, open, refresh), writes, latency."""

    requests: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=dict)
    latency: LatencyCounts = field(default_factory=LatencyCounts)

    def count(self, result: str) -> None:
        self.requests[result] = self.requests.get(result, 0) + 1

    def count_write(self, result: str) -> None:
        self.writes[result] = self.writes.get(result, 0) + 1

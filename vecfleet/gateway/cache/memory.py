"""L1: an in-process LRU cache bounded in bytes, with a time to live per entry."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# Rough per-entry cost of the dict slot, the tuple and the two objects' headers, so that
# a flood of tiny values cannot hold far more memory than the bound says.
ENTRY_OVERHEAD_BYTES = 120

Key = str | bytes  # its length counts against the bound


@dataclass
class MemoryStats:
    """Plain counters; ``obs`` renders them."""

    evictions: int = 0
    expirations: int = 0
    rejected: int = 0  # values larger than the whole cache


class MemoryCache:
    """``Cache`` held in this process: least recently used entries go first.

    ``max_bytes`` bounds keys plus values plus ``ENTRY_OVERHEAD_BYTES`` per entry. A value
    that alone exceeds the bound is not stored. ``clock`` is monotonic seconds (a test
    passes a fake). Not thread-safe: it is used from the event loop only.
    """

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.max_bytes = max_bytes
        self.size_bytes = 0
        self.stats = MemoryStats()
        self._clock = clock
        self._entries: OrderedDict[Key, tuple[bytes, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get_now(self, key: Key) -> bytes | None:
        """``get`` without a coroutine, for callers on the hot path."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            self._drop(key)
            self.stats.expirations += 1
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def set_now(self, key: Key, value: bytes, ttl_s: float) -> None:
        cost = _cost(key, value)
        if cost > self.max_bytes or ttl_s <= 0:
            self.stats.rejected += 1
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (value, self._clock() + ttl_s)
        self.size_bytes += cost
        while self.size_bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)
            self.stats.evictions += 1

    async def get(self, key: Key) -> bytes | None:
        return self.get_now(key)

    async def set(self, key: Key, value: bytes, ttl_s: float) -> None:
        self.set_now(key, value, ttl_s)

    async def aclose(self) -> None:
        self._entries.clear()
        self.size_bytes = 0

    def _drop(self, key: Key) -> None:
        value, _ = self._entries.pop(key)
        self.size_bytes -= _cost(key, value)


def _cost(key: Key, value: bytes) -> int:
    return len(key) + len(value) + ENTRY_OVERHEAD_BYTES

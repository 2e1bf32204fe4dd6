"""In-process embedding cache: LRU bounded by entry count, entries expire after a TTL.

Embedding a query costs milliseconds of model time; looking one up costs microseconds,
and analysts repeat queries. Keys are ``(model_id, normalise_text(text))``.

Text is normalised with NFKC, runs of whitespace collapsed to one space, and the ends
stripped: none of that changes what a reader means. It is **not** lower-cased: MiniLM's
tokenizer is uncased, so that would be a free hit for it, but cased models (most HTTP
embedding services) give different vectors for "US" and "us", and one key rule must be
right for every model. Callers must embed the normalised text (the batching embedder
does), so a cached vector is always the vector of its key.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vecfleet.errors import ValidationError
from vecfleet.types import Vector

CacheKey = tuple[str, str]


def normalise_text(text: str) -> str:
    """The cache's view of ``text``: NFKC, whitespace collapsed, ends stripped."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


@dataclass
class CacheStats:
    """Plain counters; ``obs`` renders them."""

    hits: int = 0
    misses: int = 0
    expirations: int = 0
    evictions: int = 0


class EmbeddingCache:
    """LRU with TTL, safe to share between threads.

    ``get`` refreshes recency but not age: an entry lives ``ttl_s`` from when it was put,
    however often it is read, so a changed model deployment is picked up within a TTL.
    """

    def __init__(
        self,
        max_entries: int = 100_000,
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValidationError(f"max_entries must be >= 1, got {max_entries}")
        if ttl_s <= 0:
            raise ValidationError(f"ttl_s must be > 0, got {ttl_s}")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.stats = CacheStats()
        self._clock = clock
        self._entries: OrderedDict[CacheKey, tuple[float, Vector]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(model_id: str, text: str) -> CacheKey:
        return (model_id, normalise_text(text))

    def get(self, model_id: str, text: str) -> Vector | None:
        """The cached vector (read-only) or ``None``; counts a hit or a miss."""
        key = self.key(model_id, text)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] <= now:
                del self._entries[key]
                self.stats.expirations += 1
                entry = None
            if entry is None:
                self.stats.misses += 1
                return None
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return entry[1]

    def put(self, model_id: str, text: str, vector: Vector) -> None:
        """Store a private read-only copy, evicting the least recently used past the cap."""
        stored = np.array(vector, dtype=np.float32)
        stored.setflags(write=False)
        key = self.key(model_id, text)
        expires_at = self._clock() + self.ttl_s
        with self._lock:
            self._entries[key] = (expires_at, stored)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self.stats.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

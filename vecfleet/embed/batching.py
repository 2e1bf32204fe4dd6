"""Micro-batching of concurrent embedding requests into one model call.

A model embeds 64 short texts in about the time it takes for a few single ones, so
texts that arrive close together are sent together. The first text to arrive while
the model is idle waits at most ``max_wait_s`` for company, or until ``max_batch`` texts
are queued; while a batch runs, new texts queue and go as soon as it returns, so a busy
model gets full batches and an idle one adds at most ``max_wait_s`` of latency.

Before the queue, the cache is asked; identical texts already queued or running share
that one result (counted as ``coalesced``). One batch runs at a time, in a worker thread,
because the model itself uses every core for a batch.

```
 embed_one / embed_many
    │ normalise
    ├─ cache hit ─────────────────────────────────────────► vector
    ├─ same text in flight ─ await its future ────────────► vector
    └─ queue ─ (full │ max_wait_s) ─ embedder.embed in thread ─ cache.put ─► vector
```
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from vecfleet.embed.base import Embedder, check_texts, empty_matrix
from vecfleet.embed.cache import EmbeddingCache, normalise_text
from vecfleet.errors import Unavailable, ValidationError
from vecfleet.types import Matrix, Vector

_Row = Vector | BaseException


@dataclass
class BatchStats:
    """Plain counters; ``sizes`` is a histogram keyed by power-of-two upper bound."""

    batches: int = 0
    texts: int = 0
    coalesced: int = 0
    failed_batches: int = 0
    largest: int = 0
    sizes: dict[int, int] = field(default_factory=dict)

    def record(self, size: int) -> None:
        self.batches += 1
        self.texts += size
        self.largest = max(self.largest, size)
        bucket = 1 << (size - 1).bit_length()
        self.sizes[bucket] = self.sizes.get(bucket, 0) + 1


class BatchingEmbedder:
    """Async front of a synchronous ``Embedder``: cache, de-duplication, batching.

    Bound to the event loop that first uses it. Returned arrays are the caller's own.
    """

    def __init__(
        self,
        embedder: Embedder,
        cache: EmbeddingCache | None = None,
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.002,
        executor: Executor | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValidationError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_s < 0:
            raise ValidationError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.embedder = embedder
        self.cache = cache
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self._executor = executor
        self._owns_executor = executor is None
        self._queue: list[str] = []
        self._inflight: dict[str, asyncio.Future[Vector]] = {}
        self._full = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def dim(self) -> int:
        return self.embedder.dim

    async def embed_one(self, text: str) -> Vector:
        """The vector of one text, batched with whatever else is in flight."""
        if not isinstance(text, str):
            raise ValidationError(f"text must be a string, got {type(text).__name__}")
        row: Vector = (await self.embed_many([text]))[0]
        return row

    async def embed_many(self, texts: Sequence[str]) -> Matrix:
        """Vectors for ``texts`` in order, as a new float32 ``(n, dim)`` array."""
        keys = [normalise_text(t) for t in check_texts(texts)]
        if not keys:
            return empty_matrix(self.dim)
        rows = [self._lookup(key) for key in keys]
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        for i, row in enumerate(rows):
            # shield: a caller that gives up must not cancel a result others await.
            out[i] = await asyncio.shield(row) if isinstance(row, asyncio.Future) else row
        return out

    async def aclose(self) -> None:
        """Stop the worker, fail what is still queued, release an owned thread."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for fut in self._inflight.values():
            fut.cancel()
        self._inflight.clear()
        self._queue.clear()
        if self._owns_executor and self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _lookup(self, key: str) -> Vector | asyncio.Future[Vector]:
        if self.cache is not None:
            hit = self.cache.get(self.model_id, key)
            if hit is not None:
                return hit
        fut = self._inflight.get(key)
        if fut is not None:
            self.stats.coalesced += 1
            return fut
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        self._queue.append(key)
        if len(self._queue) >= self.max_batch:
            self._full.set()
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain(), name="vecfleet-embed-batcher")
        return fut

    async def _drain(self) -> None:
        """Run batches until the queue is empty; waits for company only when idle."""
        try:
            self._full.clear()
            if len(self._queue) < self.max_batch and self.max_wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.max_wait_s):
                        await self._full.wait()
            while self._queue:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
                self._deliver(batch, await self._embed_isolating(batch))
        finally:
            self._worker = None

    async def _embed_isolating(self, keys: list[str]) -> list[_Row]:
        """Embed a batch; if the model refuses one text, retry singly so only it fails."""
        self.stats.record(len(keys))
        try:
            return list(await self._call_model(keys))
        except ValidationError as exc:
            if len(keys) == 1:
                return [exc]
            self.stats.failed_batches += 1
        except Exception as exc:
            self.stats.failed_batches += 1
            return [exc] * len(keys)
        rows: list[_Row] = []
        for key in keys:
            rows.extend(await self._embed_isolating([key]))
        return rows

    async def _call_model(self, keys: list[str]) -> Matrix:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="vecfleet-embed")
        loop = asyncio.get_running_loop()
        matrix = await loop.run_in_executor(self._executor, self.embedder.embed, keys)
        if matrix.shape != (len(keys), self.dim):
            raise Unavailable(
                f"embedder {self.model_id!r} returned shape {matrix.shape} for "
                f"{len(keys)} texts; expected ({len(keys)}, {self.dim})"
            )
        matrix = np.array(matrix, dtype=np.float32)
        matrix.setflags(write=False)
        return matrix

    def _deliver(self, keys: list[str], rows: list[_Row]) -> None:
        for key, row in zip(keys, rows, strict=True):
            fut = self._inflight.pop(key)
            if isinstance(row, BaseException):
                if not fut.done():
                    fut.set_exception(row)
                    fut.exception()  # marks it retrieved: a caller may have given up
                continue
            if self.cache is not None:
                self.cache.put(self.model_id, key, row)
            if not fut.done():
                fut.set_result(row)

"""Micro-batching: requests for the same key that arrive together travel as one call.

A search RPC to a node pays a fixed cost (framing, a network round trip, a hop onto the
node's search threads) on top of the per-query work; queries for the same node and
collection that arrive within a couple of milliseconds can share that cost as one
``call_batch(key, requests)``. Each caller still gets its own answer: the n-th result
goes to the n-th request, and a result that is an exception is raised to that caller
alone; an exception from the call itself reaches every caller of that batch, and only
them.

When a batch is sent, per key (``Lane``)::

    submit ─► pending ─┬─ max_batch pending ──────────────────────────► send  ("full")
                       ├─ fewer than eager_below batches in flight ───► send at the
                       │                                                next loop tick ("idle")
                       ├─ busy: wait for a batch to return ───────────► send  ("drain")
                       └─ busy: or max_wait_s since the window opened ► send  ("window")

An idle key sends at the next event-loop tick, not after ``max_wait_s``: everything
submitted in the same tick (a ``gather`` of shard calls, a burst from many connections)
still goes together, but a lone request adds no wait. While a batch is in flight,
requests gather until it returns or the window closes, so the batch size grows with load
by itself. This is the opposite of ``embed.BatchingEmbedder``, which waits when idle: a
model embeds 64 texts in the time of a few, while a node's per-query search work hardly
shrinks in a batch, so for nodes only the fixed cost is worth sharing. Measured
numbers are in ``docs/serving.md``.

A caller that is cancelled stops waiting; a request still pending is dropped from its
batch; a batch whose callers have all gone is cancelled. ``stats`` holds plain counters.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from vecfleet.errors import VecfleetError

K = TypeVar("K", bound=Hashable)
Req = TypeVar("Req")
Res = TypeVar("Res")
BatchCall = Callable[[K, list[Req]], Awaitable[Sequence[Res | BaseException]]]

SIZE_BOUNDS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FLUSH_REASONS: tuple[str, ...] = ("full", "idle", "drain", "window")


@dataclass
class BatchStats:
    """Plain counters; ``size_counts[i]`` batches of size ≤ ``SIZE_BOUNDS[i]``, last: above."""

    batches: int = 0
    items: int = 0
    failed: int = 0  # batches whose call raised
    cancelled: int = 0  # callers that stopped waiting
    flushes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FLUSH_REASONS, 0))
    size_counts: list[int] = field(default_factory=lambda: [0] * (len(SIZE_BOUNDS) + 1))

    def record(self, size: int, reason: str) -> None:
        self.batches += 1
        self.items += size
        self.flushes[reason] += 1
        self.size_counts[bisect.bisect_left(SIZE_BOUNDS, size)] += 1


class _Item(Generic[Req, Res]):
    __slots__ = ("batch", "future", "request")

    def __init__(self, request: Req, future: asyncio.Future[Res]) -> None:
        self.request = request
        self.future = future
        self.batch: _Batch[Req, Res] | None = None


class _Batch(Generic[Req, Res]):
    __slots__ = ("items", "task")

    def __init__(self, items: list[_Item[Req, Res]]) -> None:
        self.items = items
        self.task: asyncio.Task[None] | None = None


class _Lane(Generic[Req, Res]):
    """One key's pending requests and how many of its batches are in flight."""

    __slots__ = ("in_flight", "pending", "soon", "timer")

    def __init__(self) -> None:
        self.pending: list[_Item[Req, Res]] = []
        self.in_flight: set[asyncio.Task[None]] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.soon = False


class MicroBatcher(Generic[K, Req, Res]):
    """Groups ``submit(key, request)`` calls into ``call_batch(key, requests)`` calls."""

    def __init__(
        self,
        call_batch: BatchCall[K, Req, Res],
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.002,
        eager_below: int = 2,
        name: str = "search",
    ) -> None:
        if max_batch < 1 or max_wait_s < 0 or eager_below < 0:
            raise ValueError("max_batch must be >= 1, max_wait_s and eager_below >= 0")
        self.call_batch = call_batch
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.eager_below = eager_below
        self.name = name
        self.stats = BatchStats()
        self._lanes: dict[K, _Lane[Req, Res]] = {}

    def __len__(self) -> int:
        """Keys with requests pending or in flight (idle keys are forgotten)."""
        return len(self._lanes)

    async def submit(self, key: K, request: Req) -> Res:
        """``request``'s own result from the batch it travelled in, or its exception."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        item: _Item[Req, Res] = _Item(request, asyncio.get_running_loop().create_future())
        lane.pending.append(item)
        if len(lane.pending) >= self.max_batch:
            self._flush(key, lane, "full")
        elif len(lane.in_flight) < self.eager_below:
            if not lane.soon:
                lane.soon = True
                asyncio.get_running_loop().call_soon(self._on_tick, key, lane)
        elif lane.timer is None:
            lane.timer = asyncio.get_running_loop().call_later(
                self.max_wait_s, self._flush, key, lane, "window"
            )
        try:
            return await item.future
        except asyncio.CancelledError:
            if item.future.cancelled():
                self._forget(key, lane, item)
            raise

    async def aclose(self) -> None:
        """Cancel every pending request and batch in flight."""
        lanes, self._lanes = list(self._lanes.values()), {}
        tasks = [task for lane in lanes for task in lane.in_flight]
        for lane in lanes:
            if lane.timer is not None:
                lane.timer.cancel()
            for item in lane.pending:
                item.future.cancel()
            lane.pending.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _on_tick(self, key: K, lane: _Lane[Req, Res]) -> None:
        lane.soon = False
        if len(lane.in_flight) < self.eager_below:
            self._flush(key, lane, "idle")
        elif lane.pending and lane.timer is None:
            lane.timer = asyncio.get_running_loop().call_later(
                self.max_wait_s, self._flush, key, lane, "window"
            )

    def _flush(self, key: K, lane: _Lane[Req, Res], reason: str) -> None:
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None
        items = [item for item in lane.pending if not item.future.done()]
        lane.pending.clear()
        if not items:
            self._drop_if_idle(key, lane)
            return
        self.stats.record(len(items), reason)
        batch = _Batch(items)
        batch.task = asyncio.ensure_future(self._run(key, batch))
        batch.task.add_done_callback(lambda task: self._after(key, lane, batch, task))
        lane.in_flight.add(batch.task)
        for item in items:
            item.batch = batch

    async def _run(self, key: K, batch: _Batch[Req, Res]) -> None:
        items = batch.items
        try:
            results = await self.call_batch(key, [item.request for item in items])
            if len(results) != len(items):
                raise VecfleetError(
                    f"batcher {self.name!r}: call_batch returned {len(results)} results "
                    f"for {len(items)} requests; it must return one per request, in order"
                )
        except Exception as exc:
            self.stats.failed += 1
            results = [exc] * len(items)
        for item, result in zip(items, results, strict=True):
            if item.future.done():
                continue
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    def _after(
        self, key: K, lane: _Lane[Req, Res], batch: _Batch[Req, Res], task: asyncio.Task[None]
    ) -> None:
        """A batch ended: its callers are answered; send what gathered meanwhile."""
        lane.in_flight.discard(task)
        if task.cancelled():
            for item in batch.items:
                item.future.cancel()
        if lane.pending and len(lane.in_flight) < self.eager_below:
            self._flush(key, lane, "drain")
        else:
            self._drop_if_idle(key, lane)

    def _forget(self, key: K, lane: _Lane[Req, Res], item: _Item[Req, Res]) -> None:
        """A caller gave up: drop its pending request, or its batch if nobody else waits."""
        self.stats.cancelled += 1
        batch = item.batch
        if batch is None:
            with contextlib.suppress(ValueError):
                lane.pending.remove(item)
            self._drop_if_idle(key, lane)
        elif batch.task is not None and all(i.future.done() for i in batch.items):
            batch.task.cancel()

    def _drop_if_idle(self, key: K, lane: _Lane[Req, Res]) -> None:
        if not lane.pending and not lane.in_flight and self._lanes.get(key) is lane:
            if lane.timer is not None:
                lane.timer.cancel()
                lane.timer = None
            del self._lanes[key]

"""``NodeService``: the node's API over the shard replicas it hosts.

The engine is synchronous, so this module owns the thread pools that run it (STYLE 7):

* ``search`` — searches only, so a burst of scrolls or counts never queues ahead of them;
* ``read``   — get, count, scroll and status;
* ``wait``   — blocking ``ReplicaView.wait_for`` calls of session / strong reads. They
  hold a thread while the replica catches up, so they get their own, larger pool and
  cannot starve the other two.

Each call has a deadline (``timeout_s`` from now). A call whose work or wait does not
finish by then raises ``DeadlineExceeded`` straight away; the worker thread finishes in
the background (Python cannot interrupt it) and its result is dropped.

A read gated on ``min_seq`` gives the replica's ``wait_for`` slightly less than the whole
budget (``WAIT_RESERVE_S``), so "the replica is behind" reaches the caller as
``ReplicaBehind`` — retryable on another replica — before the caller's own deadline turns
it into an anonymous timeout.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from msgspec.structs import replace

from vecfleet.errors import DeadlineExceeded, ReplicaBehind, ShardNotHosted
from vecfleet.models import (
    Point,
    ReadGate,
    ScrollPage,
    SearchOptions,
    SearchResult,
    ShardCount,
    ShardGet,
    ShardScroll,
    ShardSearch,
)
from vecfleet.node.base import (
    DEFAULT_TIMEOUT_S,
    Filter,
    NodeHealth,
    NodeStatus,
    ReplicaStatus,
    ReplicaView,
)
from vecfleet.types import Matrix, PointId

T = TypeVar("T")

WAIT_RESERVE_S = 0.05
"""Budget kept back from ``wait_for`` (at most a tenth of the call's) to answer in time."""


class NodeService:
    """Serves ``NodeAPI`` calls from the replicas registered with ``add_replica``.

    ``counters`` are plain counts (calls by kind, queries, waits, refusals by error code)
    for ``obs`` to render.
    """

    def __init__(
        self,
        node_id: str,
        *,
        search_threads: int = 4,
        read_threads: int = 2,
        wait_threads: int = 16,
    ) -> None:
        self.node_id = node_id
        self.counters: Counter[str] = Counter()
        self._replicas: dict[tuple[str, int], ReplicaView] = {}
        self._serving = True
        self._search_pool = ThreadPoolExecutor(search_threads, f"vf-{node_id}-search")
        self._read_pool = ThreadPoolExecutor(read_threads, f"vf-{node_id}-read")
        self._wait_pool = ThreadPoolExecutor(wait_threads, f"vf-{node_id}-wait")

    # ------------------------------------------------------------------ replicas
    def add_replica(self, view: ReplicaView) -> ReplicaView | None:
        """Host ``view``; returns the replica of the same shard it replaces, for closing."""
        key = (view.collection, view.shard)
        previous = self._replicas.get(key)
        self._replicas[key] = view
        return previous

    def remove_replica(self, collection: str, shard: int) -> ReplicaView | None:
        """Stop hosting a shard; later calls for it raise ``ShardNotHosted``."""
        return self._replicas.pop((collection, shard), None)

    def replicas(self) -> list[ReplicaView]:
        return list(self._replicas.values())

    def drain(self) -> None:
        """Report not-serving in ``health`` so routers move away; calls are still answered."""
        self._serving = False

    # ------------------------------------------------------------------ reads
    async def search(self, request: ShardSearch) -> SearchResult:
        deadline = time.monotonic() + request.gate.timeout_s
        view = await self._ready(request.collection, request.shard, request.gate, deadline)
        self.counters["search_calls"] += 1
        self.counters["search_queries"] += len(request.vectors)
        run = functools.partial(_search, view, request.vectors, request.options)
        return await self._run(self._search_pool, deadline, run)

    async def get(self, request: ShardGet) -> list[Point]:
        deadline = time.monotonic() + request.gate.timeout_s
        view = await self._ready(request.collection, request.shard, request.gate, deadline)
        self.counters["get_calls"] += 1
        run = functools.partial(_get, view, request.ids, request.with_vectors)
        return await self._run(self._read_pool, deadline, run)

    async def count(self, request: ShardCount) -> int:
        deadline = time.monotonic() + request.gate.timeout_s
        view = await self._ready(request.collection, request.shard, request.gate, deadline)
        self.counters["count_calls"] += 1
        run = functools.partial(_count, view, request.filter)
        return await self._run(self._read_pool, deadline, run)

    async def scroll(self, request: ShardScroll) -> tuple[list[Point], int | None]:
        deadline = time.monotonic() + request.gate.timeout_s
        view = await self._ready(request.collection, request.shard, request.gate, deadline)
        self.counters["scroll_calls"] += 1
        run = functools.partial(_scroll, view, request.page)
        return await self._run(self._read_pool, deadline, run)

    async def status(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeStatus:
        deadline = time.monotonic() + timeout_s
        views = self.replicas()
        replicas = await self._run(self._read_pool, deadline, lambda: _statuses(views))
        return NodeStatus(self.node_id, replicas)

    async def health(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeHealth:
        return NodeHealth(self.node_id, self._serving, len(self._replicas))

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Drop queued work and release the pools; running engine calls finish on their own."""
        self._serving = False
        for pool in (self._search_pool, self._read_pool, self._wait_pool):
            pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ internals
    async def _ready(
        self, collection: str, shard: int, gate: ReadGate, deadline: float
    ) -> ReplicaView:
        """The replica, once it is fresh enough for this read (or an error saying why not)."""
        view = self._replicas.get((collection, shard))
        if view is None:
            self.counters["refused.shard_not_hosted"] += 1
            raise ShardNotHosted(collection, shard, self.node_id)
        max_lag_ms, min_seq = gate.max_lag_ms, gate.min_seq
        if max_lag_ms is not None:
            lag_ms = view.lag_ms()
            if lag_ms > max_lag_ms:
                self.counters["refused.replica_behind"] += 1
                raise ReplicaBehind(
                    f"replica of {collection!r} shard {shard} on node {self.node_id!r} lags "
                    f"{lag_ms:.0f} ms, more than the {max_lag_ms:.0f} ms this read allows",
                    **self._where(view),
                    lag_ms=lag_ms,
                    max_lag_ms=max_lag_ms,
                )
        if min_seq > view.applied_seq:
            await self._wait(view, min_seq, deadline)
        return view

    async def _wait(self, view: ReplicaView, min_seq: int, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        budget_s = max(0.0, remaining - min(WAIT_RESERVE_S, remaining / 10))
        self.counters["waits"] += 1
        caught_up = await self._run(
            self._wait_pool, deadline, functools.partial(view.wait_for, min_seq, budget_s)
        )
        if not caught_up:
            self.counters["refused.replica_behind"] += 1
            raise ReplicaBehind(
                f"replica of {view.collection!r} shard {view.shard} on node {self.node_id!r} "
                f"has applied seq {view.applied_seq} and did not reach {min_seq} within "
                f"{budget_s:.3f} s; retry on another replica or with a longer timeout",
                **self._where(view),
                min_seq=min_seq,
            )

    def _where(self, view: ReplicaView) -> dict[str, Any]:
        return {
            "collection": view.collection,
            "shard": view.shard,
            "node_id": self.node_id,
            "applied_seq": view.applied_seq,
        }

    async def _run(self, pool: ThreadPoolExecutor, deadline: float, call: Callable[[], T]) -> T:
        """``call()`` on ``pool``, abandoned with ``DeadlineExceeded`` at ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            self.counters["refused.deadline_exceeded"] += 1
            raise DeadlineExceeded("the call's time budget was spent before it could start")
        future = asyncio.get_running_loop().run_in_executor(pool, call)
        try:
            return await asyncio.wait_for(future, remaining)
        except TimeoutError as exc:
            self.counters["refused.deadline_exceeded"] += 1
            raise DeadlineExceeded(
                f"node {self.node_id!r} did not finish within the call's {remaining:.3f} s "
                "budget; retry with a longer timeout or on another replica",
                node_id=self.node_id,
            ) from exc


def _search(view: ReplicaView, vectors: Matrix, options: SearchOptions) -> SearchResult:
    handle = view.handle()
    # One engine call per batch: the same hits as query by query, at less cost per query
    # (docs/serving.md). The node answers the best ``depth`` hits with their scores cut at
    # the threshold; the gateway cuts the page after merging shards.
    shard_options = (
        options if options.offset == 0 else replace(options, offset=0, limit=options.depth)
    )
    hits = handle.query(vectors, shard_options)
    plan = handle.explain(None, options.filter, options.depth, options.params).plans
    return SearchResult(hits, plan)


def _get(view: ReplicaView, ids: Sequence[PointId], with_vectors: bool) -> list[Point]:
    return view.handle().get(ids, with_vectors)


def _count(view: ReplicaView, filter: Filter | None) -> int:
    return view.handle().count(filter)


def _scroll(view: ReplicaView, page: ScrollPage) -> tuple[list[Point], int | None]:
    return view.handle().scroll(page.filter, page.limit, page.cursor)


def _statuses(views: list[ReplicaView]) -> list[ReplicaStatus]:
    return [
        ReplicaStatus(view.collection, view.shard, view.applied_seq, view.lag_ms(), len(h))
        for view in views
        for h in (view.handle(),)
    ]


__all__ = ["WAIT_RESERVE_S", "NodeService"]

"""The read path: ask one replica of each shard a request can touch, then merge.

The same router serves both modes: embedded mode is one in-process node holding every
shard, cluster mode many nodes over gRPC; the router only sees ``NodeAPI`` handles in
``ReplicaSet``\\ s (``cluster_view.py``). Per shard it chooses a replica by the C3 score
of ``replicas.py``, hedges after the shard's p95 and fails over (``hedging.py``); the
shards a filter can match come from the shard map. Consistency becomes one
``models.ReadGate`` per shard:

* ``strong``: the replica first applies the shard's last record (its sequence is read
  from the shard log at request time);
* ``session``: it applies every record of its shard up to the caller's ``seq``;
* ``bounded``: its lag is at most ``max_lag_ms`` (the node refuses otherwise, and the
  router moves to another replica);
* ``eventual``: any replica.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from vecfleet.cluster.base import ShardLog
from vecfleet.engine.validate import check_ids
from vecfleet.errors import Unavailable, ValidationError
from vecfleet.gateway.cluster_view import ClusterView
from vecfleet.gateway.deadline import Deadline
from vecfleet.gateway.hedging import HedgeBudget, hedged_call
from vecfleet.gateway.merge import merge_hits, merge_plans
from vecfleet.gateway.reads import ReadOptions
from vecfleet.gateway.retry import RetryBudget
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
from vecfleet.node.base import Filter, NodeAPI
from vecfleet.types import Matrix, PointId

T = TypeVar("T")
CURSOR_SHIFT = 40  # scroll cursor = shard << 40 | the shard's own cursor
ATTEMPT_P99_FACTOR = 4.0

ShardCall = Callable[[NodeAPI, int, ReadGate], Awaitable[T]]


class Router:
    """Reads of every collection of ``view``; ``log`` answers ``strong`` reads' floors."""

    def __init__(
        self,
        view: ClusterView,
        log: ShardLog,
        *,
        hedge_floor_s: float = 0.005,
        min_attempt_s: float = 0.15,
    ) -> None:
        self.view = view
        self.log = log
        self.hedge_floor_s = hedge_floor_s
        self.min_attempt_s = min_attempt_s
        self.hedges = HedgeBudget()
        self.retries = RetryBudget()

    async def search(
        self, name: str, vectors: Matrix, options: SearchOptions, read: ReadOptions
    ) -> SearchResult:
        """The page ``options`` asks for, for each row of ``vectors`` (validated, n × dim)."""
        col = await self.view.known(name)
        shards = col.entry.sharding.shards_for_filter(options.filter)

        def call(node: NodeAPI, shard: int, gate: ReadGate) -> Awaitable[SearchResult]:
            return node.search(ShardSearch(name, shard, vectors, options, gate))

        answers = await self._ask(name, shards, read, call)
        ascending = col.config.metric == "l2"
        merged = [
            merge_hits([answer.hits[row] for answer in answers], options, ascending)
            for row in range(len(vectors))
        ]
        return SearchResult(merged, merge_plans([a.plan for a in answers], shards))

    async def get(
        self, name: str, ids: list[PointId], with_vectors: bool, read: ReadOptions
    ) -> list[Point]:
        col = await self.view.known(name)
        id_list = check_ids(ids)
        groups = col.entry.sharding.group_ids(id_list)

        def call(node: NodeAPI, shard: int, gate: ReadGate) -> Awaitable[list[Point]]:
            return node.get(ShardGet(name, shard, list(groups[shard]), with_vectors, gate))

        answers = await self._ask(name, sorted(groups), read, call)
        found = {p.id: p for answer in answers for p in answer}
        return [found[i] for i in id_list if i in found]

    async def count(self, name: str, filter: Filter | None, read: ReadOptions) -> int:
        col = await self.view.known(name)
        shards = col.entry.sharding.shards_for_filter(filter)

        def call(node: NodeAPI, shard: int, gate: ReadGate) -> Awaitable[int]:
            return node.count(ShardCount(name, shard, filter, gate))

        return int(sum(await self._ask(name, shards, read, call)))

    async def scroll(
        self, name: str, page: ScrollPage, read: ReadOptions
    ) -> tuple[list[Point], int | None]:
        """A page over the shards in order; the cursor names the shard and its position."""
        col = await self.view.known(name)
        shards = col.entry.sharding.shards_for_filter(page.filter)
        cursor = page.cursor
        if cursor is not None and (
            isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0
        ):
            raise ValidationError(
                "cursor must be a non-negative integer from a previous page", field="cursor"
            )
        first, inner = divmod(cursor or 0, 1 << CURSOR_SHIFT)
        points: list[Point] = []
        for s in [s for s in shards if s >= first]:
            ask = ScrollPage(page.filter, page.limit - len(points), inner if s == first else None)

            def call(
                node: NodeAPI, shard: int, gate: ReadGate, ask: ScrollPage = ask
            ) -> Awaitable[tuple[list[Point], int | None]]:
                return node.scroll(ShardScroll(name, shard, ask, gate))

            [(found, nxt)] = await self._ask(name, [s], read, call)
            points.extend(found)
            if nxt is not None:
                return points, (s << CURSOR_SHIFT) | nxt
            if len(points) >= page.limit:
                later = [t for t in shards if t > s]
                return points, (later[0] << CURSOR_SHIFT) if later else None
        return points, None

    # ------------------------------------------------------------------ scatter
    async def _floors(self, name: str, shards: list[int], read: ReadOptions) -> dict[int, int]:
        """Per shard, the sequence its replica must have applied before it answers."""
        if read.consistency == "strong":
            seqs = await asyncio.gather(*(self.log.last_seq(name, s) for s in shards))
            return dict(zip(shards, seqs, strict=True))
        if read.consistency == "session":
            # The replica waits for its shard's newest record at or below the caller's
            # write, which may have gone to another shard (Replica.wait_for).
            return dict.fromkeys(shards, read.min_seq)
        return dict.fromkeys(shards, 0)

    async def _ask(
        self, name: str, shards: list[int], read: ReadOptions, call: ShardCall[T]
    ) -> list[T]:
        """``call(node, shard, gate)`` on one replica per shard, hedged and failed over."""
        deadline = Deadline.from_timeout_s(read.timeout_s)
        floors = await self._floors(name, shards, read)
        max_lag = read.max_lag_ms if read.consistency == "bounded" else None

        async def one(shard: int) -> T:
            replicas = self.view.replica_set(name, shard)
            # An attempt may take a few times the shard's p99 before it is given up for
            # another replica: a stalled node costs that, not the whole deadline.
            p99 = replicas.latency.quantile(0.99) or 0.0
            attempt_s = max(self.min_attempt_s, ATTEMPT_P99_FACTOR * p99)
            floor = floors[shard]
            return await hedged_call(
                replicas,
                lambda ref: call(
                    ref.node,
                    shard,
                    ReadGate(floor, max_lag, min(deadline.remaining(), attempt_s)),
                ),
                deadline,
                self.hedges,
                retries=self.retries,
                floor_s=self.hedge_floor_s,
            )

        try:
            if len(shards) == 1:
                return [await one(shards[0])]
            return list(await asyncio.gather(*(one(s) for s in shards)))
        except TimeoutError as exc:
            raise Unavailable(
                f"collection {name!r}: no answer from every shard within "
                f"{read.timeout_s * 1000:.0f} ms"
            ) from exc


__all__ = ["CURSOR_SHIFT", "Router"]

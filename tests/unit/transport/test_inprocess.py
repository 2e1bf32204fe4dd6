"""``NodeService`` through ``InProcessNode``: freshness gates, deadlines, pools, replicas."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
import pytest

import vecfleet
from vecfleet.engine.api import CollectionHandle
from vecfleet.errors import DeadlineExceeded, ReplicaBehind, ShardNotHosted
from vecfleet.models import (
    ReadGate,
    ScrollPage,
    SearchOptions,
    ShardCount,
    ShardGet,
    ShardScroll,
    ShardSearch,
)
from vecfleet.node.base import NodeHealth, ReplicaView
from vecfleet.node.service import NodeService
from vecfleet.transport.inprocess import InProcessNode

T = TypeVar("T")
DIM = 8


class FakeReplica:
    """A replica over an embedded collection whose applied sequence the test controls."""

    def __init__(self, handle: CollectionHandle, collection: str = "docs", shard: int = 0):
        self.collection = collection
        self.shard = shard
        self._handle = handle
        self.applied = handle.applied_seq
        self.lag = 0.0
        self.threads: list[str] = []
        self.block_waits = threading.Event()  # set: wait_for ignores its timeout…
        self.unblock = threading.Event()  # …until this is set
        self._changed = threading.Condition()

    def handle(self) -> CollectionHandle:
        self.threads.append(threading.current_thread().name)
        return self._handle

    @property
    def applied_seq(self) -> int:
        return self.applied

    def lag_ms(self) -> float:
        return self.lag

    def advance(self, seq: int) -> None:
        with self._changed:
            self.applied = seq
            self._changed.notify_all()

    def wait_for(self, seq: int, timeout: float) -> bool:
        if self.block_waits.is_set():
            return self.unblock.wait(5.0)
        with self._changed:
            return self._changed.wait_for(lambda: self.applied >= seq, timeout)


@pytest.fixture
def replica(db: vecfleet.EmbeddedDatabase, rng: np.random.Generator) -> FakeReplica:
    col = db.create_collection("docs", DIM, payload_schema={"kind": "keyword"})
    col.upsert(
        [f"p{i}" for i in range(60)],
        rng.standard_normal((60, DIM)),
        [{"kind": "ab"[i % 2]} for i in range(60)],
    )
    return FakeReplica(col)


def run(replica: ReplicaView, scenario: Callable[[InProcessNode], Awaitable[T]]) -> T:
    service = NodeService("node-a")
    service.add_replica(replica)

    async def main() -> T:
        node = InProcessNode(service)
        try:
            return await scenario(node)
        finally:
            await node.aclose()

    try:
        return asyncio.run(main())
    finally:
        service.close()


def test_search_is_the_engines_and_without_payload_drops_payloads(
    replica: FakeReplica, rng: np.random.Generator
) -> None:
    queries = rng.standard_normal((3, DIM)).astype(np.float32)
    want = [replica.handle().search(q, 5, {"kind": "a"}) for q in queries]

    async def scenario(node: InProcessNode) -> tuple[Any, Any]:
        options = SearchOptions(limit=5, filter={"kind": "a"})
        full = await node.search(ShardSearch("docs", 0, queries, options))
        without = SearchOptions(limit=5, filter={"kind": "a"}, with_payload=False)
        bare = await node.search(ShardSearch("docs", 0, queries, without))
        return full.hits, bare.hits

    full, bare = run(replica, scenario)
    assert full == want
    assert [[(h.id, h.score) for h in hits] for hits in bare] == [
        [(h.id, h.score) for h in hits] for hits in want
    ]
    assert all(h.payload is None for hits in bare for h in hits)


def test_replicas_come_and_go_at_runtime(replica: FakeReplica) -> None:
    service = NodeService("node-a")
    node = InProcessNode(service)

    async def scenario() -> None:
        with pytest.raises(ShardNotHosted) as info:
            await node.count(ShardCount("docs", 0))
        assert (info.value.collection, info.value.shard) == ("docs", 0)
        assert "node-a" in info.value.message
        assert service.add_replica(replica) is None
        assert await node.count(ShardCount("docs", 0)) == 60
        assert service.add_replica(replica) is replica
        assert service.remove_replica("docs", 0) is replica
        with pytest.raises(ShardNotHosted):
            await node.count(ShardCount("docs", 0))

    try:
        asyncio.run(scenario())
    finally:
        service.close()
    assert service.counters["refused.shard_not_hosted"] == 2


def test_min_seq_waits_until_the_replica_applies_it(replica: FakeReplica) -> None:
    target = replica.applied + 5

    async def scenario(node: InProcessNode) -> float:
        start = time.monotonic()
        threading.Timer(0.15, replica.advance, (target,)).start()
        assert (
            await node.count(ShardCount("docs", 0, None, ReadGate(min_seq=target, timeout_s=5)))
            == 60
        )
        return time.monotonic() - start

    assert 0.1 < run(replica, scenario) < 2.0


def test_a_replica_that_does_not_catch_up_is_behind_before_the_deadline(
    replica: FakeReplica,
) -> None:
    async def scenario(node: InProcessNode) -> float:
        start = time.monotonic()
        with pytest.raises(ReplicaBehind) as info:
            gate = ReadGate(min_seq=10**6, timeout_s=1.0)
            await node.search(
                ShardSearch("docs", 0, np.ones((1, DIM), np.float32), SearchOptions(), gate)
            )
        assert info.value.details["min_seq"] == 10**6
        assert info.value.applied_seq == replica.applied
        return time.monotonic() - start

    assert run(replica, scenario) < 1.0


def test_bounded_staleness_refuses_a_lagging_replica_at_once(replica: FakeReplica) -> None:
    replica.lag = 1500.0

    async def scenario(node: InProcessNode) -> None:
        assert await node.count(ShardCount("docs", 0, None, ReadGate(max_lag_ms=2000))) == 60
        with pytest.raises(ReplicaBehind, match="lags 1500 ms") as info:
            await node.count(ShardCount("docs", 0, None, ReadGate(max_lag_ms=1000)))
        assert info.value.details["max_lag_ms"] == 1000

    run(replica, scenario)


def test_a_wait_that_overruns_the_deadline_is_deadline_exceeded(replica: FakeReplica) -> None:
    replica.block_waits.set()

    async def scenario(node: InProcessNode) -> float:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await node.get(
                ShardGet("docs", 0, ["p1"], False, ReadGate(min_seq=10**6, timeout_s=0.2))
            )
        return time.monotonic() - start

    try:
        assert run(replica, scenario) < 1.0
    finally:
        replica.unblock.set()


def test_a_spent_budget_is_deadline_exceeded(replica: FakeReplica) -> None:
    async def scenario(node: InProcessNode) -> None:
        with pytest.raises(DeadlineExceeded):
            await node.scroll(ShardScroll("docs", 0, ScrollPage(), ReadGate(timeout_s=0)))

    run(replica, scenario)


def test_searches_and_other_reads_run_on_separate_pools(
    replica: FakeReplica, rng: np.random.Generator
) -> None:
    async def scenario(node: InProcessNode) -> None:
        queries = rng.standard_normal((2, DIM)).astype(np.float32)
        await node.search(ShardSearch("docs", 0, queries, SearchOptions()))
        await node.count(ShardCount("docs", 0))
        await node.scroll(ShardScroll("docs", 0, ScrollPage(limit=5)))
        await node.get(ShardGet("docs", 0, ["p1"]))

    run(replica, scenario)
    assert replica.threads[0].startswith("vf-node-a-search")
    assert all(name.startswith("vf-node-a-read") for name in replica.threads[1:])


def test_status_and_health_and_drain(replica: FakeReplica) -> None:
    service = NodeService("node-a")
    service.add_replica(replica)
    node = InProcessNode(service)

    async def scenario() -> None:
        status = await node.status()
        assert status.node_id == "node-a"
        assert [(r.collection, r.shard, r.points) for r in status.replicas] == [("docs", 0, 60)]
        assert status.replicas[0].applied_seq == replica.applied
        assert await node.health() == NodeHealth("node-a", serving=True, replicas=1)
        service.drain()
        assert await node.health() == NodeHealth("node-a", serving=False, replicas=1)
        assert await node.count(ShardCount("docs", 0)) == 60  # draining still answers

    try:
        asyncio.run(scenario())
    finally:
        service.close()

"""The backend-call components' plain counters as Prometheus text."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from vecfleet.gateway.batcher import MicroBatcher
from vecfleet.gateway.breaker import CircuitBreaker
from vecfleet.gateway.hedging import HedgeBudget
from vecfleet.gateway.replicas import ReplicaSet
from vecfleet.gateway.retry import RetryBudget
from vecfleet.obs.metrics import BackendCollector


class FakeReplica:
    def __init__(self, name: str) -> None:
        self.name = name

    async def search(self) -> str:
        await asyncio.sleep(0.001)
        return self.name


def test_backend_metrics_render_batches_replicas_hedges_and_retries() -> None:
    async def echo(key: str, requests: list[int]) -> list[int]:
        return requests

    async def run() -> tuple[MicroBatcher[str, int, int], ReplicaSet[FakeReplica]]:
        batcher: MicroBatcher[str, int, int] = MicroBatcher(echo)
        await asyncio.gather(*(batcher.submit("k", i) for i in range(5)))
        rs = ReplicaSet([FakeReplica("n1"), FakeReplica("n2")], shard="incidents/0")
        choice = rs.choose(exclude={"n2"})
        assert choice is not None
        await rs.call(choice, lambda r: r.search())
        return batcher, rs

    batcher, rs = asyncio.run(run())
    rs.members[1].breaker = CircuitBreaker(1, 60.0)
    rs.members[1].breaker.record_failure()
    hedges, retries = HedgeBudget(), RetryBudget()
    hedges.stats.hedges_sent, hedges.stats.hedges_won = 4, 3
    retries.stats.retries = 2
    registry = CollectorRegistry()
    registry.register(
        BackendCollector(
            batchers=[batcher], replica_sets=lambda: [rs], hedges=hedges, retries=retries
        )
    )
    text = generate_latest(registry).decode()
    assert 'vecfleet_batch_size_bucket{batcher="search",le="4"} 0.0' in text
    assert 'vecfleet_batch_size_bucket{batcher="search",le="8"} 1.0' in text
    assert 'vecfleet_batch_size_sum{batcher="search"} 5.0' in text
    assert 'vecfleet_replica_breaker_state{replica="n1",shard="incidents/0"} 0.0' in text
    assert 'vecfleet_replica_breaker_state{replica="n2",shard="incidents/0"} 2.0' in text
    assert 'vecfleet_replica_in_flight{replica="n1",shard="incidents/0"} 0.0' in text
    assert 'vecfleet_replica_latency_ewma_seconds{replica="n1",shard="incidents/0"}' in text
    assert (
        'vecfleet_replica_calls_total{replica="n1",result="success",shard="incidents/0"} 1.0'
        in text
    )
    assert "vecfleet_hedges_sent_total 4.0" in text and "vecfleet_hedges_won_total 3.0" in text
    assert 'vecfleet_retries_total{result="allowed"} 2.0' in text

"""Hedged reads: a slow replica is raced by another, within budget, never past the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import pytest

from vecfleet.errors import Unavailable, ValidationError
from vecfleet.gateway.breaker import CircuitBreaker
from vecfleet.gateway.deadline import Deadline
from vecfleet.gateway.hedging import HedgeBudget, hedged_call
from vecfleet.gateway.replicas import LatencyWindow, ReplicaSet
from vecfleet.gateway.retry import RetryBudget


class FakeReplica:
    """A remote replica: answers its name after ``delay_s``, or raises ``error``."""

    def __init__(self, name: str, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.name = name
        self.delay_s = delay_s
        self.error = error
        self.calls = 0
        self.cancelled = 0

    async def search(self) -> str:
        self.calls += 1
        try:
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return self.name


def shard(
    *replicas: FakeReplica, p95_s: float | None = 0.002, **kwargs: Any
) -> ReplicaSet[FakeReplica]:
    """A replica set whose first replica is the first pick and whose p95 is ``p95_s``."""
    window = LatencyWindow(size=100_000, min_samples=20)
    if p95_s is not None:
        for _ in range(10_000):
            window.observe(p95_s)
    rs: ReplicaSet[FakeReplica] = ReplicaSet(list(replicas), window=window, **kwargs)
    now = time.monotonic()
    for i, member in enumerate(rs.members):
        member.stats.response_s = member.stats.service_s = 0.001 * (i + 1)
        member.stats.sampled_at = now
    return rs


def search(replica: FakeReplica) -> Awaitable[str]:
    return replica.search()


def test_a_slow_replica_is_hedged_the_fast_answer_wins_and_the_slow_call_is_cancelled() -> None:
    async def run() -> float:
        slow, fast = FakeReplica("slow", 1.0), FakeReplica("fast", 0.005)
        rs = shard(slow, fast)
        budget = HedgeBudget()
        started = time.perf_counter()
        answer = await hedged_call(rs, search, Deadline.from_timeout_ms(2000), budget)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.01)
        assert answer == "fast"
        assert budget.stats.hedges_sent == 1 and budget.stats.hedges_won == 1
        assert slow.cancelled == 1 and all(m.stats.outstanding == 0 for m in rs.members)
        return elapsed

    assert 0.005 <= asyncio.run(run()) < 0.5  # floor 5 ms, then the fast answer


def test_no_hedge_when_the_first_replica_answers_in_time() -> None:
    async def run() -> None:
        first, second = FakeReplica("a", 0.001), FakeReplica("b")
        rs = shard(first, second, p95_s=0.05)
        budget = HedgeBudget()
        assert await hedged_call(rs, search, Deadline.from_timeout_ms(1000), budget) == "a"
        assert budget.stats.hedges_sent == 0 and second.calls == 0

    asyncio.run(run())


def test_no_hedge_before_the_shard_has_a_p95() -> None:
    async def run() -> None:
        rs = shard(FakeReplica("a", 0.03), FakeReplica("b"), p95_s=None)
        budget = HedgeBudget()
        assert await hedged_call(rs, search, Deadline.from_timeout_ms(1000), budget) == "a"
        assert budget.stats.hedges_sent == 0

    asyncio.run(run())


def test_no_hedge_while_a_breaker_reports_overload() -> None:
    async def run() -> None:
        slow, spare, broken = FakeReplica("slow", 0.03), FakeReplica("spare"), FakeReplica("x")
        rs = shard(slow, spare, broken, breaker=lambda: CircuitBreaker(1, 60.0))
        rs.members[2].breaker.record_failure()
        budget = HedgeBudget()
        assert await hedged_call(rs, search, Deadline.from_timeout_ms(1000), budget) == "slow"
        assert spare.calls == 0 and budget.stats.skipped == {"overload": 1}

    asyncio.run(run())


def test_the_hedge_budget_caps_extra_calls_near_five_percent() -> None:
    async def run() -> None:
        replicas = [FakeReplica(n, 0.02) for n in "abc"]
        rs = shard(*replicas)  # every call is slower than p95: every call wants a hedge
        budget = HedgeBudget(ratio=0.05, burst=2)
        for _ in range(20):
            await asyncio.gather(
                *(
                    hedged_call(rs, search, Deadline.from_timeout_ms(2000), budget)
                    for _ in range(20)
                )
            )
        sent = budget.stats.hedges_sent
        assert 15 <= sent <= 2 + 0.05 * 400
        assert budget.stats.skipped["budget"] == 400 - sent
        assert sum(r.calls for r in replicas) == 400 + sent

    asyncio.run(run())


def test_hedge_budget_is_a_token_bucket_refilled_by_requests() -> None:
    budget = HedgeBudget(ratio=0.05, burst=3)
    spent = 0
    for _ in range(1000):
        budget.record_request()
        spent += budget.try_spend()
    assert 3 + 49 <= spent <= 3 + 50
    for _ in range(10_000):
        budget.record_request()
    assert budget.tokens == 3  # no more than the burst is ever saved


def test_an_error_fails_over_to_the_next_replica_and_spends_a_retry() -> None:
    async def run() -> None:
        down, up = FakeReplica("down", error=Unavailable("restarting")), FakeReplica("up")
        rs = shard(down, up)
        budget, retries = HedgeBudget(), RetryBudget()
        answer = await hedged_call(
            rs, search, Deadline.from_timeout_ms(1000), budget, retries=retries
        )
        assert answer == "up" and budget.stats.failovers == 1 and retries.stats.retries == 1

    asyncio.run(run())


def test_no_failover_once_the_retry_budget_is_spent() -> None:
    async def run() -> None:
        down, up = FakeReplica("down", error=Unavailable("restarting")), FakeReplica("up")
        rs = shard(down, up)
        retries = RetryBudget(ratio=0, min_per_s=0)
        with pytest.raises(Unavailable):
            await hedged_call(
                rs, search, Deadline.from_timeout_ms(1000), HedgeBudget(), retries=retries
            )
        assert up.calls == 0 and retries.stats.refused == 1

    asyncio.run(run())


def test_a_request_error_is_not_failed_over() -> None:
    async def run() -> None:
        bad, other = (
            FakeReplica("a", error=ValidationError("filter on unknown field")),
            FakeReplica("b"),
        )
        rs = shard(bad, other)
        with pytest.raises(ValidationError):
            await hedged_call(rs, search, Deadline.from_timeout_ms(1000), HedgeBudget())
        assert other.calls == 0

    asyncio.run(run())


def test_the_deadline_is_never_exceeded_and_every_attempt_is_cancelled() -> None:
    async def run() -> float:
        a, b = FakeReplica("a", 5.0), FakeReplica("b", 5.0)
        rs = shard(a, b)
        budget = HedgeBudget()
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await hedged_call(rs, search, Deadline.from_timeout_ms(60), budget)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.01)
        assert budget.stats.hedges_sent == 1 and budget.stats.timeouts == 1
        assert a.cancelled == 1 and b.cancelled == 1
        return elapsed

    assert 0.055 <= asyncio.run(run()) < 0.2


def test_a_shard_with_no_callable_replica_is_unavailable() -> None:
    async def run() -> None:
        rs = shard(FakeReplica("a"), breaker=lambda: CircuitBreaker(1, 60.0))
        rs.members[0].breaker.record_failure()
        with pytest.raises(Unavailable, match="no healthy replica"):
            await hedged_call(rs, search, Deadline.from_timeout_ms(100), HedgeBudget())

    asyncio.run(run())


def test_a_caller_that_goes_away_cancels_every_attempt() -> None:
    async def run() -> None:
        a, b = FakeReplica("a", 5.0), FakeReplica("b", 5.0)
        rs = shard(a, b)
        task = asyncio.ensure_future(
            hedged_call(rs, search, Deadline.from_timeout_ms(10_000), HedgeBudget())
        )
        await asyncio.sleep(0.05)  # past the hedge delay: both are running
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await asyncio.sleep(0.01)
        assert (a.cancelled, b.cancelled) == (1, 1)
        assert all(m.stats.outstanding == 0 for m in rs.members)

    asyncio.run(run())

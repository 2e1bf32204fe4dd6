"""Replica choice: C3 scores, breakers per replica, health checks, the shard's p95."""

from __future__ import annotations

import asyncio
import collections
import time

import pytest

from vecfleet.errors import Unavailable, ValidationError
from vecfleet.gateway.breaker import CircuitBreaker
from vecfleet.gateway.replicas import LatencyWindow, ReplicaSet


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class FakeReplica:
    """A remote replica with a controllable delay, error and health."""

    def __init__(self, name: str, delay_s: float = 0.0, error: Exception | None = None) -> None:
        self.name = name
        self.delay_s = delay_s
        self.error = error
        self.healthy = True
        self.calls = 0
        self.checks = 0

    async def search(self, query: object = None) -> str:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.name

    async def check(self) -> bool:
        self.checks += 1
        return self.healthy


async def call_once(rs: ReplicaSet[FakeReplica]) -> str:
    choice = rs.choose()
    assert choice is not None
    return await rs.call(choice, lambda r: r.search())


def test_score_is_the_c3_formula() -> None:
    rs = ReplicaSet([FakeReplica("a")])
    member = rs.members[0]
    member.stats.response_s, member.stats.service_s, member.stats.outstanding = 0.010, 0.004, 2
    member.stats.sampled_at = time.monotonic()
    assert rs.score(member) == pytest.approx(0.010 - 0.004 + 3**3 * 0.004)


def test_a_busy_fast_replica_loses_to_an_idle_slower_one() -> None:
    rs = ReplicaSet([FakeReplica("fast"), FakeReplica("slow")])
    fast, slow = rs.members
    now = time.monotonic()
    fast.stats.response_s = fast.stats.service_s = 0.002
    slow.stats.response_s = slow.stats.service_s = 0.010
    fast.stats.sampled_at = slow.stats.sampled_at = now
    choice = rs.choose()
    assert choice is not None and choice.name == "fast" and choice.reason == "lowest_score"
    fast.stats.outstanding = 3  # 4³ × 2 ms = 128 ms > 10 ms
    choice = rs.choose()
    assert choice is not None and choice.name == "slow"


def test_concurrent_calls_spread_over_equal_replicas_instead_of_herding() -> None:
    async def run() -> None:
        replicas = [FakeReplica(n, delay_s=0.02) for n in "abc"]
        rs = ReplicaSet(replicas)
        answers = await asyncio.gather(*(call_once(rs) for _ in range(30)))
        counts = collections.Counter(answers)
        assert set(counts) == {"a", "b", "c"} and min(counts.values()) >= 8
        assert all(m.stats.outstanding == 0 for m in rs.members)

    asyncio.run(run())


def test_traffic_moves_to_the_faster_replica() -> None:
    async def run() -> None:
        rs = ReplicaSet([FakeReplica("fast", 0.001), FakeReplica("slow", 0.02)])
        answers = [await call_once(rs) for _ in range(40)]
        assert answers.count("fast") >= 30

    asyncio.run(run())


def test_a_reported_service_time_feeds_the_service_average() -> None:
    async def run() -> None:
        rs = ReplicaSet([FakeReplica("a", 0.01)], service_time_of=lambda _: 0.002)
        await call_once(rs)
        stats = rs.members[0].stats
        assert stats.service_s == pytest.approx(0.002)
        assert stats.response_s is not None and stats.response_s >= 0.009

    asyncio.run(run())


def test_an_unsampled_replica_is_scored_like_its_peers() -> None:
    rs = ReplicaSet([FakeReplica("old"), FakeReplica("new")], prior_s=0.5)
    old, new = rs.members
    old.stats.response_s = old.stats.service_s = 0.004
    old.stats.sampled_at = time.monotonic()
    assert rs.score(new) == pytest.approx(rs.score(old))  # not prior_s, not zero


def test_failures_open_the_breaker_and_choose_skips_the_replica_until_it_probes() -> None:
    async def run() -> None:
        clock = Clock()
        bad = FakeReplica("bad", error=Unavailable("disk full"))
        rs = ReplicaSet(
            [bad, FakeReplica("good", 0.005)],
            breaker=lambda: CircuitBreaker(3, 1.0, clock),
        )
        rs.members[1].stats.response_s = 1.0  # make "bad" the first pick while closed
        rs.members[1].stats.sampled_at = time.monotonic()
        for _ in range(3):
            choice = rs.choose(exclude={"good"})
            assert choice is not None
            with pytest.raises(Unavailable):
                await rs.call(choice, lambda r: r.search())
        assert rs.members[0].breaker.state == "open" and rs.overloaded
        assert {rs.choose().name for _ in range(10)} == {"good"}  # type: ignore[union-attr]
        assert rs.choose(exclude={"good"}) is None
        clock.now += 1.0
        choice = rs.choose(exclude={"good"})
        assert choice is not None and choice.name == "bad" and choice.reason == "probe"

    asyncio.run(run())


def test_a_failing_replica_looks_slower_at_once() -> None:
    async def run() -> None:
        rs = ReplicaSet([FakeReplica("a", error=ConnectionError("reset"))], prior_s=0.004)
        with pytest.raises(ConnectionError):
            await call_once(rs)
        assert rs.members[0].stats.response_s == pytest.approx(0.008)
        assert rs.members[0].stats.failures == 1

    asyncio.run(run())


def test_the_callers_own_mistakes_do_not_count_against_the_replica() -> None:
    async def run() -> None:
        rs = ReplicaSet(
            [FakeReplica("a", error=ValidationError("bad filter"))],
            breaker=lambda: CircuitBreaker(1, 1.0),
        )
        for _ in range(3):
            with pytest.raises(ValidationError):
                await call_once(rs)
        assert rs.members[0].breaker.state == "closed" and rs.members[0].stats.failures == 0

    asyncio.run(run())


def test_a_cancelled_call_frees_its_place_and_only_raises_the_estimate() -> None:
    async def run() -> None:
        clock = Clock()
        rs = ReplicaSet([FakeReplica("a", 1.0)], breaker=lambda: CircuitBreaker(1, 1.0, clock))
        member = rs.members[0]
        member.breaker.record_failure()
        clock.now += 1.0
        member.stats.response_s = 0.001
        member.stats.sampled_at = time.monotonic()
        choice = rs.choose()
        assert choice is not None and choice.reason == "probe"
        task = asyncio.ensure_future(rs.call(choice, lambda r: r.search()))
        await asyncio.sleep(0.02)
        assert member.stats.outstanding == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert member.stats.outstanding == 0 and member.stats.cancels == 1
        assert member.stats.response_s is not None and member.stats.response_s > 0.001
        assert member.breaker.state == "half_open" and member.breaker.available()

    asyncio.run(run())


def test_why_unavailable_names_each_replicas_state() -> None:
    rs = ReplicaSet([FakeReplica("a"), FakeReplica("b")], shard="incidents/0")
    rs.members[1].breaker = CircuitBreaker(1, 60.0)
    rs.members[1].breaker.record_failure()
    error = rs.why_unavailable(exclude={"a"})
    assert isinstance(error, Unavailable)
    assert "incidents/0" in str(error) and "a: tried" in str(error) and "b: open" in str(error)


def test_health_checks_open_a_dead_replica_and_close_it_when_it_recovers() -> None:
    async def run() -> None:
        replica = FakeReplica("a")
        rs = ReplicaSet(
            [replica],
            breaker=lambda: CircuitBreaker(2, 0.05, probes=1),
            check=lambda r: r.check(),
            check_interval_s=0.01,
        )
        await rs.start()
        replica.healthy = False
        await asyncio.sleep(0.1)
        assert rs.members[0].breaker.state == "open" and not rs.members[0].stats.healthy
        replica.healthy = True
        await asyncio.sleep(0.15)
        assert rs.members[0].breaker.state == "closed" and rs.members[0].stats.healthy
        await rs.aclose()
        checks = replica.checks
        await asyncio.sleep(0.05)
        assert replica.checks == checks  # stopped

    asyncio.run(run())


def test_a_hanging_health_check_counts_as_a_failure() -> None:
    async def run() -> None:
        async def hang(replica: FakeReplica) -> None:
            await asyncio.sleep(10)

        rs = ReplicaSet(
            [FakeReplica("a")],
            breaker=lambda: CircuitBreaker(1, 60.0),
            check=hang,
            check_timeout_s=0.01,
        )
        await rs.check_all()
        assert rs.members[0].breaker.state == "open"
        assert rs.members[0].stats.check_failures == 1

    asyncio.run(run())


def test_replace_keeps_what_is_known_of_replicas_that_stay() -> None:
    a, b, c = FakeReplica("a"), FakeReplica("b"), FakeReplica("c")
    rs = ReplicaSet([a, b])
    rs.members[0].stats.successes = 7
    rs.replace([c, a])
    assert [m.name for m in rs.members] == ["c", "a"]
    assert rs.members[1].stats.successes == 7 and rs.members[0].stats.successes == 0
    with pytest.raises(ValueError):
        rs.replace([a, FakeReplica("a")])


def test_latency_window_reads_p95_once_warm() -> None:
    window = LatencyWindow(size=100, min_samples=20)
    for ms in range(1, 20):
        window.observe(ms / 1000)
    assert window.p95 is None
    for ms in range(20, 101):
        window.observe(ms / 1000)
    assert window.p95 == pytest.approx(0.095)
    for _ in range(100):
        window.observe(0.5)  # the old samples slide out
    assert window.p95 == pytest.approx(0.5)

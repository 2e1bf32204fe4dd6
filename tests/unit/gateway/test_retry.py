"""Retry budget and retries: bounded extra load, idempotent reads only, within the deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from vecfleet.errors import Unavailable, ValidationError
from vecfleet.gateway.deadline import Deadline
from vecfleet.gateway.retry import RetryBudget, call_with_retries


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyReplica:
    """A remote read that fails ``failures`` times, then answers; counts attempts."""

    def __init__(self, failures: int, error: Exception | None = None, delay_s: float = 0) -> None:
        self.failures = failures
        self.error = error or Unavailable("replica restarting")
        self.delay_s = delay_s
        self.attempts = 0

    async def read(self) -> str:
        self.attempts += 1
        await asyncio.sleep(self.delay_s)
        if self.attempts <= self.failures:
            raise self.error
        return "answer"


def test_budget_allows_ratio_of_recent_requests() -> None:
    budget = RetryBudget(ratio=0.1, min_per_s=0, window_s=10, clock=Clock())
    for _ in range(100):
        budget.record_request()
    assert sum(budget.try_withdraw() for _ in range(20)) == 10
    assert budget.stats.retries == 10 and budget.stats.refused == 10


def test_budget_keeps_a_minimum_for_a_quiet_gateway() -> None:
    budget = RetryBudget(ratio=0.1, min_per_s=2, window_s=5, clock=Clock())
    assert sum(budget.try_withdraw() for _ in range(20)) == 10  # 2/s × 5 s


def test_old_requests_and_retries_age_out_of_the_window() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.5, min_per_s=0, window_s=10, clock=clock)
    for _ in range(10):
        budget.record_request()
    assert sum(budget.try_withdraw() for _ in range(10)) == 5
    clock.now += 11
    assert budget.balance == 0  # the requests that earned retries are gone
    for _ in range(4):
        budget.record_request()
    assert budget.balance == 2  # and so are the retries spent against them


def test_a_transient_failure_is_retried_and_answered() -> None:
    async def run() -> None:
        replica = FlakyReplica(failures=2)
        budget = RetryBudget()
        deadline = Deadline.from_timeout_ms(1000)
        answer = await call_with_retries(
            replica.read, budget, deadline, idempotent=True, base_backoff_s=0.001
        )
        assert answer == "answer" and replica.attempts == 3 and budget.stats.retries == 2

    asyncio.run(run())


def test_writes_and_caller_mistakes_are_never_retried() -> None:
    async def run() -> None:
        deadline = Deadline.from_timeout_ms(1000)
        write = FlakyReplica(failures=1)
        with pytest.raises(Unavailable):
            await call_with_retries(write.read, RetryBudget(), deadline, idempotent=False)
        bad = FlakyReplica(failures=1, error=ValidationError("dim 3, expected 384"))
        with pytest.raises(ValidationError):
            await call_with_retries(bad.read, RetryBudget(), deadline, idempotent=True)
        assert write.attempts == 1 and bad.attempts == 1

    asyncio.run(run())


def test_the_budget_stops_a_retry_storm_during_an_outage() -> None:
    async def run() -> None:
        budget = RetryBudget(ratio=0.1, min_per_s=1, window_s=10)
        dead = FlakyReplica(failures=10**9)
        for _ in range(1000):
            with pytest.raises(Unavailable):
                await call_with_retries(
                    dead.read,
                    budget,
                    Deadline.from_timeout_ms(1000),
                    idempotent=True,
                    max_attempts=3,
                    base_backoff_s=0,
                )
        # Without a budget: 3,000 attempts. With it: 1,000 + 10 % + the 10-per-window floor.
        assert dead.attempts <= 1000 + 100 + 10
        assert budget.stats.refused > 800

    asyncio.run(run())


def test_retries_never_run_past_the_deadline() -> None:
    async def run() -> float:
        slow = FlakyReplica(failures=10**9, delay_s=0.03)
        started = time.perf_counter()
        with pytest.raises((Unavailable, TimeoutError)):  # the last error, or the cut attempt
            await call_with_retries(
                slow.read,
                RetryBudget(),
                Deadline.from_timeout_ms(100),
                idempotent=True,
                max_attempts=100,
                base_backoff_s=0.001,
            )
        return time.perf_counter() - started

    assert asyncio.run(run()) < 0.15


def test_a_hanging_attempt_is_cut_at_the_deadline() -> None:
    async def run() -> float:
        hung = FlakyReplica(failures=0, delay_s=10)
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await call_with_retries(
                hung.read, RetryBudget(), Deadline.from_timeout_ms(50), idempotent=True
            )
        return time.perf_counter() - started

    assert 0.045 <= asyncio.run(run()) < 0.5


@pytest.mark.parametrize("kwargs", [{"ratio": 1.5}, {"min_per_s": -1}, {"window_s": 0}])
def test_rejects_nonsense_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryBudget(**kwargs)

"""Circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from vecfleet.gateway.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3, reset_s: float = 1.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker(threshold, reset_s, clock), clock


def test_stays_closed_below_the_threshold_and_success_resets_the_count() -> None:
    b, _ = breaker()
    for _ in range(5):
        assert b.allow()
        b.record_failure()
        b.record_failure()
        b.record_success()
    assert b.state == "closed" and b.state_code == 0


def test_opens_after_consecutive_failures_and_refuses_at_once() -> None:
    b, clock = breaker()
    for _ in range(3):
        assert b.allow()
        b.record_failure()
    assert b.state == "open" and b.state_code == 1
    clock.now += 0.5
    assert not b.allow()
    assert b.stats.rejected == 1
    assert b.stats.transitions == {"closed->open": 1}


def test_half_open_lets_one_probe_through_and_closes_on_success() -> None:
    b, clock = breaker()
    for _ in range(3):
        b.record_failure()
    clock.now += 1.0
    assert b.allow()  # the probe
    assert b.state == "half_open" and b.state_code == 2
    assert not b.allow()  # one probe at a time
    b.record_success()
    assert b.state == "closed"
    assert b.allow() and b.allow()


def test_a_failed_probe_opens_again_for_another_reset_period() -> None:
    b, clock = breaker()
    for _ in range(3):
        b.record_failure()
    clock.now += 1.0
    assert b.allow()
    b.record_failure()
    assert b.state == "open"
    clock.now += 0.9
    assert not b.allow()
    clock.now += 0.1
    assert b.allow() and b.state == "half_open"
    assert b.stats.transitions["half_open->open"] == 1


def test_a_probe_that_never_reports_stops_blocking_after_reset_s() -> None:
    b, clock = breaker()
    for _ in range(3):
        b.record_failure()
    clock.now += 1.0
    assert b.allow()  # the probe's caller is cancelled and never reports
    clock.now += 0.5
    assert not b.allow()
    clock.now += 0.5
    assert b.allow()


@pytest.mark.parametrize(("threshold", "reset_s"), [(0, 1.0), (1, 0.0)])
def test_rejects_nonsense_settings(threshold: int, reset_s: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold, reset_s)

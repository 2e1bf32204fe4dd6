"""Breaker extensions: several half-open probes, severity for metrics, peeking, cancels."""

from __future__ import annotations

import pytest

from vecfleet.gateway.breaker import SEVERITY, STATE_CODES, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def opened(probes: int = 1, threshold: int = 3) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    b = CircuitBreaker(threshold, 1.0, clock, probes=probes)
    for _ in range(threshold):
        assert b.allow()
        b.record_failure()
    assert b.state == "open"
    return b, clock


def test_the_full_cycle_closed_open_half_open_closed_with_severity_codes() -> None:
    b, clock = opened(threshold=3)
    assert b.severity == 2 and b.state_code == 1  # cache metric codes unchanged
    clock.now += 0.99
    assert not b.allow()
    clock.now += 0.01
    assert b.allow()
    assert b.state == "half_open" and b.severity == 1 and b.state_code == 2
    b.record_success()
    assert b.state == "closed" and b.severity == 0 and b.state_code == 0
    assert b.stats.transitions == {"closed->open": 1, "open->half_open": 1, "half_open->closed": 1}


def test_severity_orders_states_by_how_unwell_and_state_codes_are_kept() -> None:
    assert SEVERITY == {"closed": 0, "half_open": 1, "open": 2}
    assert STATE_CODES == {"closed": 0, "open": 1, "half_open": 2}


def test_half_open_admits_at_most_probes_calls_and_needs_as_many_successes() -> None:
    b, clock = opened(probes=3)
    clock.now += 1.0
    assert [b.allow() for _ in range(4)] == [True, True, True, False]
    b.record_success()
    assert b.state == "half_open"
    assert b.allow()  # the place the first probe freed
    assert not b.allow()
    b.record_success()
    b.record_success()
    assert b.state == "closed"


def test_one_failed_probe_reopens_even_after_other_probes_succeeded() -> None:
    b, clock = opened(probes=2)
    clock.now += 1.0
    assert b.allow() and b.allow()
    b.record_success()
    b.record_failure()
    assert b.state == "open"
    clock.now += 0.5
    assert not b.allow()


def test_available_peeks_without_taking_a_probe_place_or_counting() -> None:
    b, clock = opened(probes=1)
    assert not b.available()
    clock.now += 1.0
    assert all(b.available() for _ in range(5))
    assert b.state == "open" and b.stats.rejected == 0
    assert b.allow()
    assert not b.available() and not b.allow()


def test_a_cancelled_probe_frees_its_place_without_a_verdict() -> None:
    b, clock = opened(probes=1)
    clock.now += 1.0
    assert b.allow()
    b.record_cancel()
    assert b.state == "half_open"
    assert b.allow()  # at once, not after another reset_s


def test_cancel_while_closed_changes_nothing() -> None:
    b = CircuitBreaker(2, 1.0)
    b.record_failure()
    b.record_cancel()
    b.record_failure()
    assert b.state == "open"


def test_rejects_zero_probes() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(probes=0)

"""Deadline: a monotonic expiry whose remaining time bounds every call below it."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from vecfleet.gateway.deadline import Deadline


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_remaining_counts_down_to_zero_and_never_below() -> None:
    clock = Clock()
    d = Deadline.from_timeout_ms(250, clock)
    assert d.remaining() == pytest.approx(0.25) and d.remaining_ms() == pytest.approx(250)
    clock.now += 0.2
    assert d.remaining() == pytest.approx(0.05) and not d.expired
    clock.now += 0.1
    assert d.remaining() == 0.0 and d.expired


def test_within_caps_a_hop_but_never_extends_the_request() -> None:
    clock = Clock()
    d = Deadline.from_timeout_s(1.0, clock)
    assert d.within(0.1).remaining() == pytest.approx(0.1)
    assert d.within(5.0).remaining() == pytest.approx(1.0)


def test_never_does_not_expire() -> None:
    d = Deadline.never()
    assert not d.expired and math.isinf(d.remaining())


@pytest.mark.parametrize("timeout_ms", [-1.0, math.nan])
def test_rejects_negative_or_nan_timeouts(timeout_ms: float) -> None:
    with pytest.raises(ValueError):
        Deadline.from_timeout_ms(timeout_ms)


def test_run_stops_a_slow_call_at_the_deadline() -> None:
    async def run() -> float:
        d = Deadline.from_timeout_ms(30)
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await d.run(asyncio.sleep(5))
        return time.perf_counter() - started

    assert 0.025 <= asyncio.run(run()) < 0.5


def test_run_returns_what_a_fast_call_returns() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 7

    async def run() -> int:
        return await Deadline.from_timeout_ms(1000).run(answer())

    assert asyncio.run(run()) == 7

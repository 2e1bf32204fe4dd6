"""Micro-batcher: one call per key per window, each caller its own answer or error."""

from __future__ import annotations

import asyncio
import time

import pytest

from vecfleet.errors import ValidationError, VecfleetError
from vecfleet.gateway.batcher import SIZE_BOUNDS, MicroBatcher


class FakeNode:
    """A remote node's batch endpoint: doubles numbers, after ``delay_s`` or a gate."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[tuple[str, list[object]]] = []
        self.gate: asyncio.Event | None = None
        self.cancelled = 0

    async def batch(self, key: str, requests: list[object]) -> list[object]:
        self.calls.append((key, list(requests)))
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(self.delay_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if "boom" in requests:
            raise ConnectionError("node went away")
        out: list[object] = []
        for r in requests:
            out.append(ValidationError("bad query") if r == "bad" else (key, r, 2 * r))
        return out


def test_fifty_concurrent_submits_travel_as_two_calls_and_each_gets_its_own_answer() -> None:
    async def run() -> None:
        node = FakeNode(0.001)
        batcher = MicroBatcher(node.batch, max_batch=32)
        results = await asyncio.gather(*(batcher.submit("n1/c", i) for i in range(50)))
        assert results == [("n1/c", i, 2 * i) for i in range(50)]
        assert [len(reqs) for _, reqs in node.calls] == [32, 18]
        assert batcher.stats.batches == 2 and batcher.stats.items == 50
        assert batcher.stats.size_counts[SIZE_BOUNDS.index(32)] == 2  # 18 and 32 both ≤ 32

    asyncio.run(run())


def test_keys_never_share_a_batch() -> None:
    async def run() -> None:
        node = FakeNode()
        batcher = MicroBatcher(node.batch)
        keys = ["a", "b", "c"]
        results = await asyncio.gather(*(batcher.submit(keys[i % 3], i) for i in range(30)))
        assert results == [(keys[i % 3], i, 2 * i) for i in range(30)]
        assert sorted(key for key, _ in node.calls) == keys
        for key, requests in node.calls:
            assert all(keys[r % 3] == key for r in requests)  # type: ignore[operator]

    asyncio.run(run())


def test_a_failed_call_reaches_every_caller_of_that_batch_and_no_other() -> None:
    async def run() -> None:
        node = FakeNode(0.01)
        batcher = MicroBatcher(node.batch, eager_below=1, max_wait_s=1.0)
        first = [asyncio.ensure_future(batcher.submit("k", r)) for r in (1, "boom", 3)]
        await asyncio.sleep(0.001)  # the first batch is in flight; these wait for it
        second = [asyncio.ensure_future(batcher.submit("k", r)) for r in (4, 5)]
        done = await asyncio.gather(*first, *second, return_exceptions=True)
        assert [type(x) for x in done[:3]] == [ConnectionError] * 3
        assert done[3:] == [("k", 4, 8), ("k", 5, 10)]
        assert [len(reqs) for _, reqs in node.calls] == [3, 2]
        assert batcher.stats.failed == 1

    asyncio.run(run())


def test_an_exception_in_one_result_slot_reaches_only_that_caller() -> None:
    async def run() -> None:
        batcher = MicroBatcher(FakeNode().batch)
        done = await asyncio.gather(
            *(batcher.submit("k", r) for r in (1, "bad", 2)), return_exceptions=True
        )
        assert done[0] == ("k", 1, 2) and done[2] == ("k", 2, 4)
        assert isinstance(done[1], ValidationError)
        assert batcher.stats.failed == 0

    asyncio.run(run())


def test_a_wrong_number_of_results_fails_the_batch_with_a_clear_error() -> None:
    async def run() -> None:
        async def short(key: str, requests: list[int]) -> list[int]:
            return requests[:-1]

        batcher: MicroBatcher[str, int, int] = MicroBatcher(short)
        done = await asyncio.gather(
            *(batcher.submit("k", i) for i in range(3)), return_exceptions=True
        )
        assert all(isinstance(x, VecfleetError) and "2 results for 3" in str(x) for x in done)

    asyncio.run(run())


def test_a_cancelled_caller_does_not_disturb_the_others_in_its_batch() -> None:
    async def run() -> None:
        node = FakeNode()
        node.gate = asyncio.Event()
        batcher = MicroBatcher(node.batch)
        callers = [asyncio.ensure_future(batcher.submit("k", i)) for i in range(3)]
        await asyncio.sleep(0.001)
        callers[1].cancel()
        node.gate.set()
        assert await callers[0] == ("k", 0, 0) and await callers[2] == ("k", 2, 4)
        with pytest.raises(asyncio.CancelledError):
            await callers[1]
        assert node.cancelled == 0 and batcher.stats.cancelled == 1

    asyncio.run(run())


def test_a_request_cancelled_before_its_batch_leaves_is_not_sent() -> None:
    async def run() -> None:
        node = FakeNode()
        node.gate = asyncio.Event()
        batcher = MicroBatcher(node.batch, eager_below=1, max_wait_s=0.05)
        busy = asyncio.ensure_future(batcher.submit("k", 0))
        await asyncio.sleep(0.001)  # batch [0] holds the lane
        waiting = [asyncio.ensure_future(batcher.submit("k", i)) for i in (1, 2, 3)]
        await asyncio.sleep(0)
        waiting[1].cancel()
        await asyncio.sleep(0.001)
        node.gate.set()
        assert await busy == ("k", 0, 0)
        assert await waiting[0] == ("k", 1, 2) and await waiting[2] == ("k", 3, 6)
        assert [reqs for _, reqs in node.calls] == [[0], [1, 3]]

    asyncio.run(run())


def test_a_batch_whose_callers_all_left_is_cancelled() -> None:
    async def run() -> None:
        node = FakeNode()
        node.gate = asyncio.Event()
        batcher = MicroBatcher(node.batch)
        callers = [asyncio.ensure_future(batcher.submit("k", i)) for i in range(2)]
        await asyncio.sleep(0.001)
        for caller in callers:
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        await asyncio.sleep(0.001)
        assert node.cancelled == 1

    asyncio.run(run())


def test_an_idle_key_sends_at_once_instead_of_waiting_the_window() -> None:
    async def run() -> tuple[float, float]:
        eager = MicroBatcher(FakeNode().batch, max_wait_s=0.2)
        started = time.perf_counter()
        await eager.submit("k", 1)
        eager_s = time.perf_counter() - started
        windowed = MicroBatcher(FakeNode().batch, max_wait_s=0.2, eager_below=0)
        started = time.perf_counter()
        await windowed.submit("k", 1)
        return eager_s, time.perf_counter() - started

    eager_s, windowed_s = asyncio.run(run())
    assert eager_s < 0.1 <= 0.2 <= windowed_s + 0.01


def test_requests_that_arrive_while_busy_go_together_when_the_lane_frees() -> None:
    async def run() -> None:
        node = FakeNode(0.02)
        batcher = MicroBatcher(node.batch, eager_below=1, max_wait_s=5.0)
        first = asyncio.ensure_future(batcher.submit("k", 0))
        await asyncio.sleep(0.005)
        rest = [asyncio.ensure_future(batcher.submit("k", i)) for i in range(1, 11)]
        started = time.perf_counter()
        await asyncio.gather(first, *rest)
        assert time.perf_counter() - started < 1.0  # not the 5 s window
        assert [len(reqs) for _, reqs in node.calls] == [1, 10]
        assert batcher.stats.flushes["idle"] == 1 and batcher.stats.flushes["drain"] == 1

    asyncio.run(run())


def test_the_window_bounds_the_wait_behind_a_slow_batch() -> None:
    async def run() -> None:
        node = FakeNode()
        node.gate = asyncio.Event()
        batcher = MicroBatcher(node.batch, eager_below=1, max_wait_s=0.02)
        stuck = asyncio.ensure_future(batcher.submit("k", 0))
        await asyncio.sleep(0.001)
        node.gate = None  # later batches answer at once; the first stays stuck
        started = time.perf_counter()
        assert await asyncio.gather(*(batcher.submit("k", i) for i in (1, 2))) == [
            ("k", 1, 2),
            ("k", 2, 4),
        ]
        assert 0.015 <= time.perf_counter() - started < 0.5
        assert batcher.stats.flushes["window"] == 1
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)

    asyncio.run(run())


def test_idle_keys_are_forgotten_and_aclose_cancels_what_is_pending() -> None:
    async def run() -> None:
        node = FakeNode()
        batcher = MicroBatcher(node.batch)
        await asyncio.gather(*(batcher.submit(f"k{i}", i) for i in range(100)))
        await asyncio.sleep(0.001)
        assert len(batcher) == 0  # no per-key state left once idle
        node.gate = asyncio.Event()
        pending = asyncio.ensure_future(batcher.submit("k", 1))
        await asyncio.sleep(0.001)
        await batcher.aclose()
        with pytest.raises(asyncio.CancelledError):
            await pending

    asyncio.run(run())


@pytest.mark.parametrize("kwargs", [{"max_batch": 0}, {"max_wait_s": -1}, {"eager_below": -1}])
def test_rejects_nonsense_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MicroBatcher(FakeNode().batch, **kwargs)  # type: ignore[arg-type]

"""Single-flight: identical concurrent calls share one call, its result and its error."""

from __future__ import annotations

import asyncio

import pytest

from vecfleet.gateway.singleflight import SingleFlight


def test_a_hundred_identical_calls_reach_the_backend_once() -> None:
    async def run() -> None:
        flights: SingleFlight[int] = SingleFlight()
        calls = 0
        release = asyncio.Event()

        async def backend() -> int:
            nonlocal calls
            calls += 1
            await release.wait()
            return 42

        waiters = [asyncio.ensure_future(flights.do("q", backend)) for _ in range(100)]
        await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(*waiters)
        assert calls == 1
        assert [value for value, _ in results] == [42] * 100
        assert sum(shared for _, shared in results) == 99
        assert flights.stats.calls == 1 and flights.stats.merges == 99
        assert len(flights) == 0  # forgotten once done: not a cache

    asyncio.run(run())


def test_different_keys_do_not_share() -> None:
    async def run() -> None:
        flights: SingleFlight[str] = SingleFlight()

        async def echo(value: str) -> str:
            await asyncio.sleep(0.001)
            return value

        out = await asyncio.gather(*(flights.do(k, lambda k=k: echo(k)) for k in "abc"))
        assert [v for v, _ in out] == ["a", "b", "c"]
        assert flights.stats.calls == 3

    asyncio.run(run())


def test_a_cancelled_leader_does_not_cancel_its_followers() -> None:
    async def run() -> None:
        flights: SingleFlight[str] = SingleFlight()
        release = asyncio.Event()

        async def backend() -> str:
            await release.wait()
            return "answer"

        leader = asyncio.ensure_future(flights.do("q", backend))
        await asyncio.sleep(0)
        followers = [asyncio.ensure_future(flights.do("q", backend)) for _ in range(3)]
        await asyncio.sleep(0)
        leader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leader
        release.set()
        assert [value for value, _ in await asyncio.gather(*followers)] == ["answer"] * 3

    asyncio.run(run())


def test_the_call_is_cancelled_when_every_caller_gives_up() -> None:
    async def run() -> None:
        flights: SingleFlight[str] = SingleFlight()
        cancelled = asyncio.Event()

        async def backend() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "never"

        callers = [asyncio.ensure_future(flights.do("q", backend)) for _ in range(2)]
        await asyncio.sleep(0)
        for caller in callers:
            caller.cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        await asyncio.wait_for(cancelled.wait(), 1)
        await asyncio.sleep(0)
        assert len(flights) == 0

    asyncio.run(run())


def test_errors_are_shared() -> None:
    async def run() -> None:
        flights: SingleFlight[int] = SingleFlight()
        calls = 0

        async def backend() -> int:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.001)
            raise LookupError("backend down")

        results = await asyncio.gather(
            *(flights.do("q", backend) for _ in range(10)), return_exceptions=True
        )
        assert calls == 1
        assert all(isinstance(r, LookupError) for r in results)
        # the next call after the failure starts afresh
        with pytest.raises(LookupError):
            await flights.do("q", backend)
        assert calls == 2

    asyncio.run(run())

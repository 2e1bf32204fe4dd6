"""Single-flight: callers asking the same thing at the same time share one call.

The first caller of a key (the leader) starts the call as a task of its own; callers
that arrive while it runs (followers) wait for the same task. Everyone gets the same
result or the same exception. Each caller waits through ``asyncio.shield``, so a caller
that is cancelled, the leader included, stops waiting without cancelling the call the
others still wait for; the call is cancelled only when no caller is left waiting. The
key is forgotten as soon as the call ends, so nothing here is a cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class FlightStats:
    """Plain counters; ``obs`` renders them."""

    calls: int = 0  # calls started (leaders)
    merges: int = 0  # callers that joined a call already in flight


class _Flight(Generic[T]):
    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Task[T]) -> None:
        self.task = task
        self.waiters = 0


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self.stats = FlightStats()
        self._flights: dict[Hashable, _Flight[T]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    async def do(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``call()``'s result and whether it was shared with an earlier caller."""
        flight = self._flights.get(key)
        shared = flight is not None
        if flight is None:
            flight = _Flight(asyncio.ensure_future(call()))
            self._flights[key] = flight
            flight.task.add_done_callback(lambda task: self._forget(key, task))
            self.stats.calls += 1
        else:
            self.stats.merges += 1
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task), shared
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()  # nobody is left to want the answer
            raise
        finally:
            flight.waiters -= 1

    def _forget(self, key: Hashable, task: asyncio.Task[T]) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight.task is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody awaited is not logged

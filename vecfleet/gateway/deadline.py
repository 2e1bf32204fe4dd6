"""Deadline: the moment a request stops being worth answering, passed down with it.

A client that waits 100 ms gains nothing from a replica answering in 120 ms, and a
retry or hedge started at 95 ms only adds load. So the gateway turns the request's
timeout into one ``Deadline`` on arrival and hands it to every stage below; each
backend call is given the *remaining* time (``remaining()``, or ``run()`` to enforce it
locally), never a fixed per-hop timeout that could add up past what the caller allowed.

The expiry is on the monotonic clock, so wall-clock steps (NTP) do not move it. Across
a process boundary send ``remaining()`` (a duration), never the expiry itself: monotonic
clocks of two machines share no origin. Expiry raises the built-in ``TimeoutError``,
which the edge translates with every other foreign exception.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute expiry on ``clock`` (``time.monotonic`` seconds); ``inf`` never expires."""

    expires_at: float
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def from_timeout_ms(cls, timeout_ms: float, clock: Clock = time.monotonic) -> Deadline:
        """The deadline ``timeout_ms`` from now (a request's ``timeout`` field)."""
        return cls.from_timeout_s(timeout_ms / 1000, clock)

    @classmethod
    def from_timeout_s(cls, timeout_s: float, clock: Clock = time.monotonic) -> Deadline:
        if math.isnan(timeout_s) or timeout_s < 0:
            raise ValueError(f"a timeout must be zero or positive, got {timeout_s}")
        return cls(clock() + timeout_s, clock)

    @classmethod
    def never(cls, clock: Clock = time.monotonic) -> Deadline:
        """A deadline that never expires, for internal calls with no client waiting."""
        return cls(math.inf, clock)

    def remaining(self) -> float:
        """Seconds left, never negative: the timeout to give the next call."""
        return max(0.0, self.expires_at - self.clock())

    def remaining_ms(self) -> float:
        return self.remaining() * 1000

    @property
    def expired(self) -> bool:
        return self.clock() >= self.expires_at

    def within(self, timeout_s: float) -> Deadline:
        """This deadline or ``timeout_s`` from now, whichever comes first (a per-hop cap)."""
        return Deadline(min(self.expires_at, self.clock() + timeout_s), self.clock)

    async def run(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` but no longer than the time left; ``TimeoutError`` after."""
        if math.isinf(self.expires_at):
            return await awaitable
        async with asyncio.timeout(self.remaining()):
            return await awaitable

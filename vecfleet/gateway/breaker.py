"""Circuit breaker: stop calling a dependency that keeps failing, probe it now and then.

::

                 failure (count < threshold)
                 success (count reset)
                      +------+
                      |      |
                      v      |
                  +----------+   `threshold` consecutive failures   +--------+
     start -----> |  closed  | -----------------------------------> |  open  | <--+
                  +----------+                                      +--------+    |
                       ^                                                |         |
                       |                            `reset_s` elapsed,  |         |
                       |                            next call allowed   |         |
                       |                            as the one probe    v         |
                       |   probe succeeds                     +-------------+     |
                       +------------------------------------- |  half-open  | ----+
                                                              +-------------+
                                                                probe fails

While open, ``allow()`` answers ``False`` at once, so a dead dependency costs nothing.
Half-open lets one probe through; other calls are refused until it reports. A probe that
never reports (its caller was cancelled) stops blocking after another ``reset_s``.

State codes (``STATE_CODES``) are what the metric exports: 0 closed, 1 open, 2 half-open.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]
STATE_CODES: dict[BreakerState, int] = {"closed": 0, "open": 1, "half_open": 2}


@dataclass
class BreakerStats:
    """Plain counters; ``obs`` renders them."""

    rejected: int = 0
    transitions: dict[str, int] = field(default_factory=dict)  # "closed->open" → count


class CircuitBreaker:
    def __init__(
        self,
        threshold: int = 5,
        reset_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or reset_s <= 0:
            raise ValueError("threshold must be at least 1 and reset_s positive")
        self.threshold = threshold
        self.reset_s = reset_s
        self.stats = BreakerStats()
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probe_at: float | None = None

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def state_code(self) -> int:
        return STATE_CODES[self._state]

    def allow(self) -> bool:
        """Whether a call may go ahead now; a ``True`` must be followed by a report."""
        if self._state == "closed":
            return True
        now = self._clock()
        if self._state == "open":
            if now - self._opened_at < self.reset_s:
                self.stats.rejected += 1
                return False
            self._move("half_open")
        if self._probe_at is not None and now - self._probe_at < self.reset_s:
            self.stats.rejected += 1
            return False
        self._probe_at = now
        return True

    def record_success(self) -> None:
        self._failures = 0
        if self._state != "closed":
            self._move("closed")

    def record_failure(self) -> None:
        self._failures += 1
        if self._state == "half_open" or (
            self._state == "closed" and self._failures >= self.threshold
        ):
            self._opened_at = self._clock()
            self._move("open")

    def _move(self, to: BreakerState) -> None:
        edge = f"{self._state}->{to}"
        self.stats.transitions[edge] = self.stats.transitions.get(edge, 0) + 1
        self._state = to
        self._probe_at = None
        if to == "closed":
            self._failures = 0

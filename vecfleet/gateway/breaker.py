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
                       |   `probes` successes                as a probe v         |
                       |   in a row                           +-------------+     |
                       +------------------------------------- |  half-open  | ----+
                                                              +-------------+
                                                                any probe fails

While open, ``allow()`` answers ``False`` at once, so a dead dependency costs nothing.
Half-open lets at most ``probes`` calls through at a time (default 1); others are refused
until one reports. It closes after ``probes`` successful probes, so a replica that has
just come back is not handed full load on the strength of a single answer; any failed
probe opens it again for another ``reset_s``. A probe that never reports (its caller was
cancelled and did not call ``record_cancel``) stops holding its place after ``reset_s``.

Every ``True`` from ``allow()`` must be followed by exactly one report:
``record_success``, ``record_failure``, or ``record_cancel`` for a call that ended
without a verdict (a hedge loser, a caller that went away). ``available()`` answers the
same question as ``allow()`` without taking a probe place, for callers that rank several
dependencies before committing to one.

Two numeric views of the state, for metrics:

* ``state_code`` (``STATE_CODES``): 0 closed, 1 open, 2 half-open — what the cache tiers'
  ``vecfleet_cache_breaker_state`` has always exported; kept as is.
* ``severity`` (``SEVERITY``): 0 closed, 1 half-open, 2 open — ordered by how unwell the
  dependency is, so ``max`` over replicas is meaningful; the replica metrics use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]
STATE_CODES: dict[BreakerState, int] = {"closed": 0, "open": 1, "half_open": 2}
SEVERITY: dict[BreakerState, int] = {"closed": 0, "half_open": 1, "open": 2}


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
        *,
        probes: int = 1,
    ) -> None:
        if threshold < 1 or reset_s <= 0 or probes < 1:
            raise ValueError("threshold and probes must be at least 1 and reset_s positive")
        self.threshold = threshold
        self.reset_s = reset_s
        self.probes = probes
        self.stats = BreakerStats()
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._probes_at: list[float] = []  # start times of probes that have not reported
        self._probe_successes = 0

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def state_code(self) -> int:
        return STATE_CODES[self._state]

    @property
    def severity(self) -> int:
        return SEVERITY[self._state]

    def available(self) -> bool:
        """Whether ``allow()`` would say yes now; changes nothing and counts nothing."""
        if self._state == "closed":
            return True
        now = self._clock()
        if self._state == "open":
            return now - self._opened_at >= self.reset_s
        return len(self._live_probes(now)) < self.probes

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
        self._probes_at = self._live_probes(now)
        if len(self._probes_at) >= self.probes:
            self.stats.rejected += 1
            return False
        self._probes_at.append(now)
        return True

    def record_success(self) -> None:
        self._failures = 0
        if self._state == "closed":
            return
        self._release_probe()
        self._probe_successes += 1
        if self._state == "open" or self._probe_successes >= self.probes:
            self._move("closed")

    def record_failure(self) -> None:
        self._failures += 1
        if self._state == "half_open" or (
            self._state == "closed" and self._failures >= self.threshold
        ):
            self._opened_at = self._clock()
            self._move("open")

    def record_cancel(self) -> None:
        """The allowed call ended without a verdict: free its probe place, change nothing."""
        if self._state == "half_open":
            self._release_probe()

    def _live_probes(self, now: float) -> list[float]:
        return [t for t in self._probes_at if now - t < self.reset_s]

    def _release_probe(self) -> None:
        if self._probes_at:
            self._probes_at.pop(0)

    def _move(self, to: BreakerState) -> None:
        edge = f"{self._state}->{to}"
        self.stats.transitions[edge] = self.stats.transitions.get(edge, 0) + 1
        self._state = to
        self._probes_at = []
        self._probe_successes = 0
        if to == "closed":
            self._failures = 0

"""Retry budget and retries: retry what failed by bad luck, never amplify an outage.

A fixed "retry 3 times" policy multiplies load by up to 4 exactly when the backend is
failing because of load. A **retry budget** (Finagle's ``RetryBudget``, Envoy's
``retry_budget``) caps retries instead at a fraction of recent requests::

    retries allowed in the last window_s  =  ratio × requests in the last window_s
                                            + min_per_s × window_s

so at the defaults (10 %, 10/s, 10 s) a healthy gateway retries every unlucky request,
while a full outage costs at most 10 % extra load plus a trickle that keeps a quiet
gateway able to retry at all. Counts live in one-second buckets, so old requests age
out without a timer.

``call_with_retries`` retries only calls the caller declares idempotent (reads), only on
errors that say "try again" (``RETRYABLE``), only while the budget has room, with a
small jittered exponential backoff, and never past the deadline: a backoff that would
end after it is not slept, the last error is raised instead.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from vecfleet.errors import Unavailable
from vecfleet.gateway.deadline import Deadline

T = TypeVar("T")
RetryOn = Callable[[BaseException], bool]

# Errors that say nothing about the request itself: another attempt may well succeed.
RETRYABLE: tuple[type[BaseException], ...] = (Unavailable, ConnectionError, TimeoutError)


def is_retryable(exc: BaseException) -> bool:
    """The default ``retry_on``: ``RETRYABLE`` errors, never the caller's own mistakes."""
    return isinstance(exc, RETRYABLE)


@dataclass
class RetryStats:
    """Plain counters; ``obs`` renders them."""

    requests: int = 0  # first attempts recorded
    retries: int = 0  # retries the budget allowed
    refused: int = 0  # retries the budget refused
    deadline: int = 0  # retries not tried because the deadline was too close


class RetryBudget:
    """Retries allowed as ``ratio`` of recent requests plus ``min_per_s``, over ``window_s``.

    ``record_request()`` once per original request (not per attempt); ``try_withdraw()``
    before each retry (or failover), which takes one retry from the budget if it allows.
    """

    def __init__(
        self,
        ratio: float = 0.1,
        min_per_s: float = 10.0,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= ratio <= 1 or min_per_s < 0 or window_s < 1:
            raise ValueError("ratio must be in [0, 1], min_per_s >= 0 and window_s >= 1")
        self.ratio = ratio
        self.min_per_s = min_per_s
        self.window_s = window_s
        self.stats = RetryStats()
        self._clock = clock
        self._buckets: deque[list[int]] = deque()  # [second, requests, retries]
        self._requests = 0
        self._retries = 0

    @property
    def balance(self) -> float:
        """Retries the budget would allow right now."""
        self._expire()
        allowance = self.ratio * self._requests + self.min_per_s * self.window_s
        return max(0.0, allowance - self._retries)

    def record_request(self) -> None:
        self._bucket()[1] += 1
        self._requests += 1
        self.stats.requests += 1

    def try_withdraw(self) -> bool:
        """Take one retry if the budget has one; count the refusal otherwise."""
        if self.balance < 1:
            self.stats.refused += 1
            return False
        self._bucket()[2] += 1
        self._retries += 1
        self.stats.retries += 1
        return True

    def _bucket(self) -> list[int]:
        self._expire()
        second = math.floor(self._clock())
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append([second, 0, 0])
        return self._buckets[-1]

    def _expire(self) -> None:
        oldest = math.floor(self._clock()) - self.window_s
        while self._buckets and self._buckets[0][0] <= oldest:
            _, requests, retries = self._buckets.popleft()
            self._requests -= requests
            self._retries -= retries


def backoff_s(retry: int, base_s: float, cap_s: float) -> float:
    """Full-jitter exponential backoff before retry number ``retry`` (1-based)."""
    return random.uniform(0, min(cap_s, base_s * 2 ** (retry - 1)))


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    budget: RetryBudget,
    deadline: Deadline,
    *,
    idempotent: bool,
    retry_on: RetryOn = is_retryable,
    max_attempts: int = 3,
    base_backoff_s: float = 0.002,
    max_backoff_s: float = 0.05,
) -> T:
    """``await fn()`` within ``deadline``, retrying when allowed; raises the last error.

    Each attempt gets only the time left (``TimeoutError`` when it runs out). A call that
    is not ``idempotent`` is tried once: a write that timed out may still have happened.
    """
    budget.record_request()
    attempt = 1
    while True:
        try:
            return await deadline.run(fn())
        except Exception as exc:
            if not idempotent or attempt >= max_attempts or not retry_on(exc):
                raise
            pause_s = backoff_s(attempt, base_backoff_s, max_backoff_s)
            if deadline.remaining() <= pause_s:
                budget.stats.deadline += 1
                raise
            if not budget.try_withdraw():
                raise
        await asyncio.sleep(pause_s)
        attempt += 1

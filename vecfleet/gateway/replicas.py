"""Replica choice for one shard: adaptive (C3) scores, a breaker per replica, health checks.

Each replica keeps two moving averages and a count, all measured here at the caller:

* ``outstanding`` — calls sent and not yet answered;
* ``response_s`` — EWMA of the time from sending to the answer (network and queue included);
* ``service_s`` — EWMA of the time the replica says it spent serving (``service_time_of``
  reads it from the answer); without that report it is the response time.

The score to minimise is C3's (Suresh et al., NSDI '15), as in DESIGN §4::

    score = response_s − service_s + (1 + outstanding)³ × service_s

so a replica that is fast but already busy loses to a slower idle one: queues are punished
cubically and gateways do not herd onto the one replica that looked fastest last time.
Ties go round-robin. A replica with no recent sample (never called, or idle for
``forget_s``) is scored with the mean of its sampled peers, so it neither starves nor
draws every request until its first answer.

Failures: an error that is the request's own fault (``CLIENT_ERRORS``) is a healthy answer.
Any other error feeds the replica's breaker and, so a fast-failing replica does not look
attractive before its breaker opens, doubles its ``response_s`` (at least ``prior_s``).
A call that ends without a verdict (a hedge loser, a caller that went away) only tells us
the replica is *at least* that slow, so it can raise ``response_s`` but never lower it.
When a breaker closes again, the replica's averages are forgotten: it starts fresh.

``choose()`` skips excluded replicas and open breakers and returns a ``ReplicaChoice`` (a
value: replica, score, reason); a choice must then go to ``call()``, which does the
accounting above. Successful calls also feed the shard's ``LatencyWindow``, from which
hedging reads p95. ``start()`` runs the optional ``check(replica)`` hook every
``check_interval_s``: a failed or slow check counts as a breaker failure, a good one is a
probe for a breaker that is waiting for one; ``aclose()`` stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from vecfleet.errors import AlreadyExists, NotFound, PayloadTooLarge, Unavailable, ValidationError
from vecfleet.gateway.breaker import CircuitBreaker

R = TypeVar("R")
T = TypeVar("T")

# Answers about the request, not the replica: they neither trip breakers nor fail over.
CLIENT_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError,
    NotFound,
    AlreadyExists,
    PayloadTooLarge,
)
ChoiceReason = Literal["only_candidate", "lowest_score", "probe"]


def is_replica_failure(exc: BaseException) -> bool:
    """The default failure test: any error that is not the request's own fault."""
    return not isinstance(exc, CLIENT_ERRORS)


def default_breaker() -> CircuitBreaker:
    """Per replica: open after 5 failures in a row, probe after 1 s, close after 2 probes."""
    return CircuitBreaker(threshold=5, reset_s=1.0, probes=2)


class LatencyWindow:
    """The last ``size`` response times of a shard; quantiles once ``min_samples`` are in.

    The sorted copy is rebuilt at most every ``size // 32`` observations, so reading p95
    on every request costs a list index, not a sort.
    """

    def __init__(self, size: int = 512, min_samples: int = 20) -> None:
        if size < 1 or not 1 <= min_samples <= size:
            raise ValueError("size must be positive and min_samples in [1, size]")
        self.min_samples = min_samples
        self._samples: deque[float] = deque(maxlen=size)
        self._sorted: list[float] = []
        self._stale = 0
        self._refresh_every = max(1, size // 32)

    def __len__(self) -> int:
        return len(self._samples)

    def observe(self, seconds: float) -> None:
        self._samples.append(seconds)
        self._stale += 1

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (nearest rank) of the window, ``None`` until warm."""
        if len(self._samples) < self.min_samples:
            return None
        if not self._sorted or self._stale >= self._refresh_every:
            self._sorted = sorted(self._samples)
            self._stale = 0
        rank = min(len(self._sorted) - 1, max(0, math.ceil(q * len(self._sorted)) - 1))
        return self._sorted[rank]

    @property
    def p95(self) -> float | None:
        return self.quantile(0.95)


@dataclass
class ReplicaStats:
    """Plain counters and estimates of one replica; ``obs`` renders them."""

    outstanding: int = 0
    response_s: float | None = None  # EWMA, None when unsampled
    service_s: float | None = None  # EWMA, None when unsampled
    sampled_at: float = -math.inf
    successes: int = 0
    failures: int = 0
    cancels: int = 0
    checks: int = 0
    check_failures: int = 0
    healthy: bool = True  # the last health check's verdict


@dataclass(eq=False)
class Member(Generic[R]):
    replica: R
    name: str
    breaker: CircuitBreaker
    stats: ReplicaStats = field(default_factory=ReplicaStats)


@dataclass(frozen=True, slots=True)
class ReplicaChoice(Generic[R]):
    """Which replica was picked, its score when picked, and why."""

    replica: R
    name: str
    score: float
    reason: ChoiceReason
    candidates: int  # replicas that could have been picked


def _name(replica: object) -> str:
    name = getattr(replica, "name", None)
    return name if isinstance(name, str) else str(replica)


class ReplicaSet(Generic[R]):
    """The replicas of one shard and everything the gateway has learnt about them."""

    def __init__(
        self,
        replicas: Sequence[R],
        *,
        shard: str = "",
        name_of: Callable[[R], str] = _name,
        breaker: Callable[[], CircuitBreaker] = default_breaker,
        check: Callable[[R], Awaitable[object]] | None = None,
        check_interval_s: float = 1.0,
        check_timeout_s: float = 0.5,
        service_time_of: Callable[[Any], float | None] | None = None,
        is_failure: Callable[[BaseException], bool] = is_replica_failure,
        alpha: float = 0.3,
        prior_s: float = 0.005,
        forget_s: float = 10.0,
        window: LatencyWindow | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < alpha <= 1 or prior_s <= 0 or check_interval_s <= 0 or check_timeout_s <= 0:
            raise ValueError("alpha must be in (0, 1], prior_s and check times positive")
        self.shard = shard
        self.latency = window if window is not None else LatencyWindow()
        self._name_of = name_of
        self._new_breaker = breaker
        self._check = check
        self.check_interval_s = check_interval_s
        self.check_timeout_s = check_timeout_s
        self._service_time_of = service_time_of
        self._is_failure = is_failure
        self.alpha = alpha
        self.prior_s = prior_s
        self.forget_s = forget_s
        self._clock = clock
        self._members: list[Member[R]] = []
        self._turn = 0
        self._checker: asyncio.Task[None] | None = None
        self.replace(replicas)

    @property
    def members(self) -> list[Member[R]]:
        return list(self._members)

    def replace(self, replicas: Sequence[R]) -> None:
        """New placement: keep what is known of replicas that stay, start the rest fresh."""
        known = {m.name: m for m in self._members}
        members = []
        for replica in replicas:
            name = self._name_of(replica)
            old = known.get(name)
            members.append(old if old is not None else Member(replica, name, self._new_breaker()))
        if len({m.name for m in members}) != len(members):
            raise ValueError(f"shard {self.shard!r}: two replicas share a name")
        self._members = members

    @property
    def overloaded(self) -> bool:
        """True while any replica's breaker is not closed: no spare capacity to hedge with."""
        return any(m.breaker.state != "closed" for m in self._members)

    def score(self, member: Member[R]) -> float:
        response_s, service_s = self._estimates(member)
        return response_s - service_s + (1 + member.stats.outstanding) ** 3 * service_s

    def choose(self, exclude: Collection[str] = ()) -> ReplicaChoice[R] | None:
        """The best replica not in ``exclude`` whose breaker lets a call through, or None.

        A returned choice has passed its breaker: hand it to ``call()``.
        """
        candidates = [m for m in self._members if m.name not in exclude and m.breaker.available()]
        if not candidates:
            return None
        self._turn = (self._turn + 1) % len(candidates)
        rotated = candidates[self._turn :] + candidates[: self._turn]
        best = min(rotated, key=self.score)
        if not best.breaker.allow():  # available() said yes a moment ago; cannot happen
            return None
        reason: ChoiceReason = "lowest_score"
        if best.breaker.state == "half_open":
            reason = "probe"
        elif len(candidates) == 1:
            reason = "only_candidate"
        return ReplicaChoice(best.replica, best.name, self.score(best), reason, len(candidates))

    def why_unavailable(self, exclude: Collection[str] = ()) -> Unavailable:
        """The error for a shard ``choose`` found nothing in, naming each replica's state."""
        states = ", ".join(
            f"{m.name}: {'tried' if m.name in exclude else m.breaker.state}" for m in self._members
        )
        return Unavailable(
            f"shard {self.shard!r} has no healthy replica to ask ({states or 'no replicas'})",
            shard=self.shard,
        )

    async def call(self, choice: ReplicaChoice[R], fn: Callable[[R], Awaitable[T]]) -> T:
        """``await fn(replica)`` for a choice, keeping its counts, averages and breaker."""
        member = self._member(choice)
        member.stats.outstanding += 1
        started = self._clock()
        try:
            result = await fn(member.replica)
        except asyncio.CancelledError:
            self._censored(member, self._clock() - started)
            raise
        except Exception as exc:
            self._failed(member, self._clock() - started, exc)
            raise
        finally:
            member.stats.outstanding -= 1
        self._answered(member, self._clock() - started, result)
        return result

    def _member(self, choice: ReplicaChoice[R]) -> Member[R]:
        for member in self._members:
            if member.name == choice.name:
                return member
        # Placement changed since the choice: account on a detached member.
        return Member(choice.replica, choice.name, self._new_breaker())

    def _estimates(self, member: Member[R]) -> tuple[float, float]:
        stats = member.stats
        if stats.response_s is not None and self._clock() - stats.sampled_at <= self.forget_s:
            return stats.response_s, stats.service_s or stats.response_s
        peers = [
            (m.stats.response_s, m.stats.service_s or m.stats.response_s)
            for m in self._members
            if m is not member and m.stats.response_s is not None
        ]
        if not peers:
            return self.prior_s, self.prior_s
        return (
            sum(r for r, _ in peers) / len(peers),
            sum(s for _, s in peers) / len(peers),
        )

    def _ewma(self, old: float | None, sample: float) -> float:
        return sample if old is None else old + self.alpha * (sample - old)

    def _answered(self, member: Member[R], elapsed_s: float, result: object) -> None:
        stats = member.stats
        stats.successes += 1
        reported = self._service_time_of(result) if self._service_time_of else None
        service_s = elapsed_s if reported is None else min(reported, elapsed_s)
        stats.response_s = self._ewma(stats.response_s, elapsed_s)
        stats.service_s = self._ewma(stats.service_s, service_s)
        stats.sampled_at = self._clock()
        self.latency.observe(elapsed_s)
        self._verdict(member, ok=True)

    def _failed(self, member: Member[R], elapsed_s: float, exc: Exception) -> None:
        if not self._is_failure(exc):
            self._verdict(member, ok=True)  # the replica answered; the request was wrong
            return
        stats = member.stats
        stats.failures += 1
        stats.response_s = max(elapsed_s, 2 * (stats.response_s or self.prior_s))
        stats.sampled_at = self._clock()
        self._verdict(member, ok=False)

    def _censored(self, member: Member[R], elapsed_s: float) -> None:
        stats = member.stats
        stats.cancels += 1
        if stats.response_s is not None and elapsed_s > stats.response_s:
            stats.response_s = self._ewma(stats.response_s, elapsed_s)
        member.breaker.record_cancel()

    def _verdict(self, member: Member[R], *, ok: bool) -> None:
        was = member.breaker.state
        if ok:
            member.breaker.record_success()
        else:
            member.breaker.record_failure()
        if was != "closed" and member.breaker.state == "closed":
            member.stats = dataclasses.replace(
                member.stats, response_s=None, service_s=None, sampled_at=-math.inf
            )

    async def start(self) -> None:
        """Start the periodic health checks (a no-op without a ``check`` hook)."""
        if self._check is not None and self._checker is None:
            self._checker = asyncio.create_task(self._check_loop(), name=f"checks-{self.shard}")

    async def aclose(self) -> None:
        """Stop the health checks and wait for them to end."""
        checker, self._checker = self._checker, None
        if checker is not None:
            checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checker

    async def check_all(self) -> None:
        """Run every replica's health check once, concurrently."""
        await asyncio.gather(*(self._check_one(m) for m in list(self._members)))

    async def _check_loop(self) -> None:
        while True:
            await self.check_all()
            await asyncio.sleep(self.check_interval_s)

    async def _check_one(self, member: Member[R]) -> None:
        assert self._check is not None
        ok = True
        try:
            async with asyncio.timeout(self.check_timeout_s):
                ok = await self._check(member.replica) is not False
        except Exception:  # any failure to answer is the verdict, not an error of ours
            ok = False
        member.stats.checks += 1
        member.stats.healthy = ok
        if not ok:
            member.stats.check_failures += 1
            self._verdict(member, ok=False)
        elif member.breaker.state != "closed" and member.breaker.allow():
            self._verdict(member, ok=True)

"""Steady open-loop traffic against a cluster gateway: reads and writes at fixed rates.

Reads are searches with random vectors (``cache: bypass``, so every one reaches the
nodes); writes upsert one new point each and remember the ids that were acknowledged.
Latency runs from the scheduled send time, so a stalled gateway is charged for the
queue it builds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
import numpy as np


@dataclass
class Traffic:
    read_latencies_s: list[float] = field(default_factory=list)
    read_errors: Counter[str] = field(default_factory=Counter)
    write_errors: Counter[str] = field(default_factory=Counter)
    acked: list[str] = field(default_factory=list)
    write_codes: Counter[int] = field(default_factory=Counter)

    @property
    def reads(self) -> int:
        return len(self.read_latencies_s) + sum(self.read_errors.values())

    @property
    def read_success(self) -> float:
        return len(self.read_latencies_s) / max(self.reads, 1)

    def read_p99_ms(self) -> float:
        return float(np.percentile(self.read_latencies_s, 99) * 1000)


async def run_traffic(
    url: str,
    collection: str,
    dim: int,
    seconds: float,
    read_rate: float,
    write_rate: float,
    during: Callable[[], Awaitable[None]] | None = None,
    prefix: str = "w",
    consistency: str = "bounded",
) -> Traffic:
    """Send reads and writes for ``seconds`` while ``during()`` runs (the fault)."""
    out = Traffic()
    rng = np.random.default_rng(11)
    start = time.perf_counter()
    tasks: set[asyncio.Task[None]] = set()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=10.0, limits=limits) as http:

        async def read(at: float) -> None:
            body = {
                "vector": rng.standard_normal(dim).tolist(),
                "limit": 5,
                "cache": "bypass",
                "consistency": consistency,
            }
            try:
                r = await http.post(f"/v1/collections/{collection}/search", json=body)
            except httpx.HTTPError as exc:
                out.read_errors[type(exc).__name__] += 1
                return
            if r.status_code == 200:
                out.read_latencies_s.append(time.perf_counter() - at)
            else:
                out.read_errors[f"{r.status_code} {r.text[:120]}"] += 1

        async def write(at: float, n: int) -> None:
            pid = f"{prefix}-{n}"
            point = {"id": pid, "vector": rng.standard_normal(dim).tolist()}
            try:
                r = await http.post(
                    f"/v1/collections/{collection}/points", json={"points": [point]}
                )
            except httpx.HTTPError as exc:
                out.write_errors[type(exc).__name__] += 1
                return
            out.write_codes[r.status_code] += 1
            if r.status_code == 200:
                out.acked.append(pid)
            else:
                out.write_errors[f"{r.status_code} {r.text[:120]}"] += 1

        def schedule(rate: float) -> list[float]:
            return [start + i / rate for i in range(int(seconds * rate))] if rate > 0 else []

        async def driver(rate: float, kind: str) -> None:
            for n, at in enumerate(schedule(rate)):
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                coro = read(at) if kind == "read" else write(at, n)
                task = asyncio.create_task(coro)
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        drivers = [driver(read_rate, "read"), driver(write_rate, "write")]
        if during is not None:
            drivers.append(during())
        await asyncio.gather(*drivers)
        while tasks:
            await asyncio.gather(*list(tasks))
    return out

"""The pipeline's micro-batcher: same answers as one call per search, fewer backend calls."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.gateway import Gateway
from vecfleet.gateway.local_backend import LocalBackend

DIM = 16


class CountingBackend(LocalBackend):
    def __init__(self, db: EmbeddedDatabase) -> None:
        super().__init__(db)
        self.calls: list[int] = []

    async def search(self, name: str, vectors: np.ndarray, *args: Any) -> Any:
        self.calls.append(len(vectors))
        return await super().search(name, vectors, *args)


def test_concurrent_searches_share_backend_calls_and_keep_their_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    data = rng.standard_normal((300, DIM)).astype(np.float32)
    queries = rng.standard_normal((64, DIM)).astype(np.float32)
    db = EmbeddedDatabase(str(tmp_path / "db"), DatabaseSettings(durability="none"))
    col = db.create_collection("c", DIM, payload_schema={"group": "integer"})
    col.upsert(list(range(300)), data, [{"group": i % 3} for i in range(300)])
    expected = [[h.id for h in col.search(q, 5, {"group": 1})] for q in queries]

    async def run(batch_max: int) -> tuple[list[list[Any]], list[int]]:
        backend = CountingBackend(db)
        gw = Gateway(backend, None, batch_max=batch_max, batch_wait_s=0.005)
        outcomes = await asyncio.gather(
            *(gw.search("c", q, limit=5, filter={"group": 1}) for q in queries)
        )
        await gw.close()
        return [[h.id for h in o.hits] for o in outcomes], backend.calls

    batched, calls = asyncio.run(run(32))
    assert batched == expected
    assert sum(calls) == len(queries)
    assert len(calls) <= 8 and max(calls) > 1  # 64 searches in a handful of calls

    single, calls = asyncio.run(run(0))
    assert single == expected
    assert calls == [1] * len(queries)

    async def mixed() -> None:
        # Different filters or limits never share a batch: each gets its own answer.
        gw = Gateway(CountingBackend(db), None, batch_max=32)
        a, b = await asyncio.gather(
            gw.search("c", queries[0], limit=5, filter={"group": 1}),
            gw.search("c", queries[0], limit=3, filter={"group": 2}),
        )
        await gw.close()
        assert [h.id for h in a.hits] == expected[0]
        assert all(h.payload["group"] == 2 for h in b.hits) and len(b.hits) == 3

    asyncio.run(mixed())
    db.close()

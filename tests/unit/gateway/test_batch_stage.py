"""The pipeline's micro-batcher: same answers as one call per search, fewer router calls."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from tests.helpers import search_request
from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.gateway import Gateway
from vecfleet.gateway.data_plane import DataPlane
from vecfleet.gateway.reads import ReadOptions
from vecfleet.models import SearchOptions, SearchResult
from vecfleet.runtime import embedded_data_plane

DIM = 16


def counting_data_plane(db: EmbeddedDatabase) -> tuple[DataPlane, list[int]]:
    """The embedded data side, noting the rows of every router search."""
    data = embedded_data_plane(db)
    calls: list[int] = []
    original = data.router.search

    async def search(
        name: str, vectors: np.ndarray, options: SearchOptions, read: ReadOptions
    ) -> SearchResult:
        calls.append(len(vectors))
        return await original(name, vectors, options, read)

    data.router.search = search  # type: ignore[method-assign]
    return data, calls


def test_concurrent_searches_share_router_calls_and_keep_their_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    data = rng.standard_normal((300, DIM)).astype(np.float32)
    queries = rng.standard_normal((64, DIM)).astype(np.float32)
    db = EmbeddedDatabase(str(tmp_path / "db"), DatabaseSettings(durability="none"))
    col = db.create_collection("c", DIM, payload_schema={"group": "integer"})
    col.upsert(list(range(300)), data, [{"group": i % 3} for i in range(300)])
    expected = [[h.id for h in col.search(q, 5, {"group": 1})] for q in queries]

    async def run(batch_max: int) -> tuple[list[list[Any]], list[int]]:
        plane, calls = counting_data_plane(db)
        gw = Gateway(plane, None, batch_max=batch_max, batch_wait_s=0.005)
        await gw.start()
        outcomes = await asyncio.gather(
            *(gw.search("c", search_request(q, limit=5, filter={"group": 1})) for q in queries)
        )
        await gw.close()
        return [[h.id for h in o.hits] for o in outcomes], calls

    batched, calls = asyncio.run(run(32))
    assert batched == expected
    assert sum(calls) == len(queries)
    assert len(calls) <= 8 and max(calls) > 1  # 64 searches in a handful of calls

    single, calls = asyncio.run(run(0))
    assert single == expected
    assert calls == [1] * len(queries)

    async def mixed() -> None:
        # Different filters or limits never share a batch: each gets its own answer.
        plane, _ = counting_data_plane(db)
        gw = Gateway(plane, None, batch_max=32)
        await gw.start()
        a, b = await asyncio.gather(
            gw.search("c", search_request(queries[0], limit=5, filter={"group": 1})),
            gw.search("c", search_request(queries[0], limit=3, filter={"group": 2})),
        )
        await gw.close()
        assert [h.id for h in a.hits] == expected[0]
        assert all(h.payload["group"] == 2 for h in b.hits) and len(b.hits) == 3

    asyncio.run(mixed())
    db.close()

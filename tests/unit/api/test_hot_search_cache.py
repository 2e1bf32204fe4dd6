"""The HTTP edge's L1: byte-identical searches answered from stored responses, never stale."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import numpy as np

from vecfleet.api.app import build_app
from vecfleet.config import load_settings
from vecfleet.embed import BatchingEmbedder, HashEmbedder
from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.gateway import Gateway
from vecfleet.runtime import build_cache, embedded_data_plane

DIM = 8


@asynccontextmanager
async def served(tmp_path: Path, hot_bytes: int = 1 << 20) -> AsyncIterator[httpx.AsyncClient]:
    db = EmbeddedDatabase(str(tmp_path / "db"), DatabaseSettings(durability="none"))
    cache, epochs = build_cache(load_settings(None, {}).cache, "ns")
    embedder = BatchingEmbedder(HashEmbedder(DIM))
    gw = Gateway(embedded_data_plane(db), embedder, cache=cache, epochs=epochs)
    await gw.start()
    app = build_app(gw, hot_cache_bytes=hot_bytes)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.post("/v1/collections", json={"name": "c", "dim": DIM})
            rng = np.random.default_rng(3)
            points = [{"id": i, "vector": rng.random(DIM).tolist()} for i in range(20)]
            assert (await http.post("/v1/collections/c/points", json={"points": points})).is_success
            yield http
    finally:
        await gw.close()
        db.close()


def search_body(vector: list[float], **extra: object) -> bytes:
    return json.dumps({"vector": vector, "limit": 3, **extra}).encode()


def test_identical_bytes_hit_and_a_write_makes_them_unreachable(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as http:
            query = [1.0] * DIM
            body = search_body(query)
            first = await http.post("/v1/collections/c/search", content=body)
            second = await http.post("/v1/collections/c/search", content=body)
            assert first.headers["x-cache"] == "miss"
            assert second.headers["x-cache"] == "l1"
            assert second.json()["hits"] == first.json()["hits"]
            assert "cache;dur=" in second.headers["server-timing"]

            # A new point that is the query itself must show up at once, not after a TTL.
            new = {"id": "new", "vector": query}
            assert (await http.post("/v1/collections/c/points", json={"points": [new]})).is_success
            third = await http.post("/v1/collections/c/search", content=body)
            assert third.headers["x-cache"] == "miss"
            assert third.json()["hits"][0]["id"] == "new"

    asyncio.run(run())


def test_scope_bypass_and_errors_are_never_shared(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as http:
            body = search_body([0.5] * DIM)
            url = "/v1/collections/c/search"
            await http.post(url, content=body, headers={"x-tenant": "a"})
            other = await http.post(url, content=body, headers={"x-tenant": "b"})
            assert other.headers["x-cache"] == "miss"  # tenant b never reads a's answer
            same = await http.post(url, content=body, headers={"x-tenant": "a"})
            assert same.headers["x-cache"] == "l1"

            bypass = search_body([0.5] * DIM, cache="bypass")
            for _ in range(2):
                r = await http.post(url, content=bypass)
                assert r.headers["x-cache"] == "bypass"

            bad = json.dumps({"vector": [0.5] * (DIM - 1)}).encode()
            for _ in range(2):
                r = await http.post(url, content=bad)
                assert r.status_code == 422
                assert "x-cache" not in r.headers
            missing = await http.post("/v1/collections/nope/search", content=body)
            assert missing.status_code == 404
            invalid = await http.post("/v1/collections/j%F3%B1%98%AC/search", content=body)
            assert invalid.status_code == 422 and "collection name" in invalid.text

    asyncio.run(run())


def test_off_when_no_bytes_are_given(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path, hot_bytes=0) as http:
            body = search_body([0.25] * DIM)
            await http.post("/v1/collections/c/search", content=body)
            r = await http.post("/v1/collections/c/search", content=body)
            # The pipeline's own L1 answers instead, after decoding and validating.
            assert r.headers["x-cache"] == "l1"
            assert "validate" in r.headers["server-timing"]

    asyncio.run(run())


def test_edge_hits_are_counted_like_any_request(tmp_path: Path) -> None:
    route = 'route="/v1/collections/{name}/search",status="200"'

    async def run() -> None:
        async with served(tmp_path) as http:
            body = search_body([0.5] * DIM)
            for _ in range(3):
                await http.post("/v1/collections/c/search", content=body)
            metrics = (await http.get("/metrics")).text
            line = next(
                x
                for x in metrics.splitlines()
                if x.startswith("vecfleet_http_requests_total") and route in x
            )
            assert float(line.rsplit(" ", 1)[1]) == 3.0  # one miss, two edge hits
            tier = {
                x.split("result=")[1].split('"')[1]: float(x.rsplit(" ", 1)[1])
                for x in metrics.splitlines()
                if x.startswith("vecfleet_cache_requests_total") and 'tier="edge"' in x
            }
            assert tier == {"hit": 2.0, "miss": 1.0}
            assert 'vecfleet_cache_latency_seconds_count{tier="edge"} 2.0' in metrics
            size = next(
                x for x in metrics.splitlines() if x.startswith("vecfleet_cache_edge_bytes")
            )
            assert float(size.rsplit(" ", 1)[1]) > len(body)

    asyncio.run(run())

"""The result cache on real Redis servers: two private ``redis-server`` processes as L2
and L3, killed and restarted under load; writes seen by every gateway; tenants apart;
``X-Cache``, ``ETag`` and ``304`` through the ASGI app."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis

from tests.helpers import search_request, unit_rows
from tests.redis_server import RedisServer
from vecfleet.api.app import build_app
from vecfleet.config import CacheSettings, ServerSettings, Settings
from vecfleet.embed import BatchingEmbedder, EmbeddingCache, HashEmbedder
from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.gateway import Gateway, PointIn
from vecfleet.gateway.cache import redis_client
from vecfleet.gateway.data_plane import DataPlane
from vecfleet.gateway.epochs import Epochs, RedisEpochBus
from vecfleet.gateway.reads import ReadOptions
from vecfleet.models import CollectionSpec, SearchOptions, SearchResult
from vecfleet.runtime import build_cache, embedded_data_plane

DIM = 16
N = 300
NAME = "docs"
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def l2(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path) as server:
        yield server


@pytest.fixture
def l3(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path) as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> Iterator[EmbeddedDatabase]:
    database = EmbeddedDatabase(str(tmp_path / "db"), DatabaseSettings(durability="none"))
    yield database
    database.close()


DATA = unit_rows(np.random.default_rng(5), N, DIM)
QUERIES = unit_rows(np.random.default_rng(6), 40, DIM)


def make_gateway(
    db: EmbeddedDatabase,
    l2: RedisServer | None,
    l3: RedisServer | None,
    *,
    l1_bytes: int = 1 << 20,
    bus: RedisServer | None = None,
    wrap: Callable[[DataPlane], None] | None = None,
) -> Gateway:
    settings = CacheSettings(
        l1_bytes=l1_bytes,
        l2_url=l2.url if l2 else "",
        l3_url=l3.url if l3 else "",
        bus_url=bus.url if bus else "",
        breaker_failures=3,
        breaker_reset_s=0.2,
        timeout_ms=50,  # generous: CI machines stall; production uses 20
    )
    cache, epochs = build_cache(settings, "test")
    embedder = BatchingEmbedder(HashEmbedder(DIM), EmbeddingCache(1000))
    server = ServerSettings(search_threads=2, write_threads=1)
    data = embedded_data_plane(db, Settings(server=server))
    if wrap is not None:
        wrap(data)
    return Gateway(data, embedder, cache=cache, epochs=epochs, cache_namespace="test")


async def seed(gw: Gateway) -> None:
    await gw.create_collection(CollectionSpec(NAME, DIM, payload_schema={"group": "integer"}))
    points = [PointIn(f"p{i}", DATA[i], None, {"group": i % 4}) for i in range(N)]
    await gw.upsert(NAME, points)


def ids(outcome: Any) -> list[str]:
    return [h.id for h in outcome.hits]


async def wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def started(*gateways: Gateway) -> None:
    for gw in gateways:
        await gw.start()
    await wait_for(lambda: all(gw.epochs.synced for gw in gateways))


async def closed(*gateways: Gateway) -> None:
    for gw in gateways:
        await gw.close()


def client(gw: Gateway) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=build_app(gw))
    return httpx.AsyncClient(transport=transport, base_url="http://vecfleet")


async def flush_redis(server: RedisServer) -> None:
    conn = aioredis.Redis.from_url(server.url)
    await conn.flushdb()
    await conn.aclose()


# ---------------------------------------------------------------------- tests
def test_killing_l2_mid_load_shows_no_errors_and_hits_return_after_restart(
    db: EmbeddedDatabase, l2: RedisServer, l3: RedisServer
) -> None:
    async def run() -> None:
        gw = make_gateway(db, l2, l3, l1_bytes=0)  # no L1: every repeat reads L2 or L3
        await started(gw)
        await seed(gw)
        bypass = [search_request(q, limit=5, cache="bypass") for q in QUERIES]
        truth = [ids(await gw.search(NAME, r)) for r in bypass]
        seen: Counter[str] = Counter()
        slowest = [0.0]

        async with client(gw) as http:

            async def ask(i: int) -> None:
                began = time.perf_counter()
                body = {"vector": QUERIES[i].tolist(), "limit": 5}
                r = await http.post(f"/v1/collections/{NAME}/search", json=body)
                slowest[0] = max(slowest[0], time.perf_counter() - began)
                assert r.status_code == 200, r.text
                assert [h["id"] for h in r.json()["hits"]] == truth[i]
                seen[r.headers["x-cache"]] += 1

            async def load(rounds: int) -> None:
                rng = np.random.default_rng()
                for _ in range(rounds):
                    await ask(int(rng.integers(len(QUERIES))))

            for i in range(len(QUERIES)):  # fill L2 and L3
                await ask(i)
            await gw.cache.flush()  # type: ignore[union-attr]
            for i in range(len(QUERIES)):
                await ask(i)
            assert seen["l2"] == len(QUERIES)

            seen.clear()
            workers = [asyncio.ensure_future(load(60)) for _ in range(6)]
            await asyncio.sleep(0.05)
            await asyncio.to_thread(l2.kill)
            await asyncio.gather(*workers)  # any failed request raises here
            assert seen["l3"] > 0  # L3 carried the load while L2 was dead
            tiers = {t.name: t for t in gw.cache.tiers}  # type: ignore[union-attr]
            assert tiers["l2"].stats.requests.get("error", 0) >= 1
            assert tiers["l2"].breaker is not None and tiers["l2"].breaker.state != "closed"
            assert slowest[0] < 2.0

            await asyncio.to_thread(l2.restart)  # empty: it lost everything
            await asyncio.sleep(0.3)  # past breaker_reset_s
            seen.clear()
            deadline = time.monotonic() + 10
            while seen["l2"] < len(QUERIES):  # repopulated from L3, then served by L2
                assert time.monotonic() < deadline, f"L2 hits did not return: {seen}"
                for i in range(len(QUERIES)):
                    await ask(i)
                await gw.cache.flush()  # type: ignore[union-attr]
            assert tiers["l2"].breaker.state == "closed"
        await closed(gw)

    asyncio.run(run())


def test_no_gateway_serves_a_result_older_than_a_write(
    db: EmbeddedDatabase, l2: RedisServer, l3: RedisServer
) -> None:
    async def run() -> None:
        a = make_gateway(db, l2, l3, bus=l3)
        await started(a)
        await seed(a)
        # Each embedded data plane hosts the database's collections as it is built, so
        # the second gateway comes up once the collection exists.
        b = make_gateway(db, l2, l3, bus=l3)
        await started(a, b)
        rng = np.random.default_rng(11)

        async def top(gw: Gateway, query: np.ndarray, f: dict[str, Any] | None) -> list[str]:
            return ids(await gw.search(NAME, search_request(query, limit=5, filter=f)))

        async def heard(gw: Gateway, seq: int) -> None:
            await wait_for(lambda: gw.epochs.current(NAME) >= seq)

        for round_ in range(12):
            query = unit_rows(rng, 1, DIM)[0]
            new_id = f"new{round_}"
            flt = {"group": round_ % 4}
            for gw in (a, b, a, b):  # fill every tier of both gateways
                for f in (None, flt):
                    assert new_id not in await top(gw, query, f)
            await a.cache.flush()  # type: ignore[union-attr]
            await b.cache.flush()  # type: ignore[union-attr]
            writer, reader = (a, b) if round_ % 2 == 0 else (b, a)
            point = PointIn(new_id, query, None, {"group": round_ % 4})
            ack = await writer.upsert(NAME, [point])
            # Each gateway has its own data plane, so the reader hears of the write over
            # the epoch bus (one pub/sub hop, epochs.py), not from a shared database handle.
            await heard(reader, ack.seq)
            for gw in (reader, writer):
                for f in (None, flt):
                    assert (await top(gw, query, f))[0] == new_id
            ack = await writer.delete_points(NAME, [new_id])
            await heard(reader, ack.seq)
            for gw in (reader, writer):
                for f in (None, flt):
                    assert new_id not in await top(gw, query, f)
        applied = db.collection(NAME).applied_seq
        # The bus told each gateway of the other's writes, too.
        await wait_for(lambda: a.epochs.current(NAME) == b.epochs.current(NAME) == applied)
        await closed(a, b)

    asyncio.run(run())


def test_the_epoch_bus_carries_writes_and_catches_up_after_an_outage(
    tmp_path: Path, l3: RedisServer
) -> None:
    async def run() -> None:
        a = Epochs(RedisEpochBus(redis_client(l3.url, 2), "t", timeout_s=0.05))
        b = Epochs(RedisEpochBus(redis_client(l3.url, 2), "t", timeout_s=0.05))
        await a.start()
        await b.start()
        await wait_for(lambda: a.synced and b.synced)
        await a.note_write("docs", 5)
        await wait_for(lambda: b.current("docs") == 5)
        await b.note_write("docs", 3)  # an older write heard late never lowers the epoch
        await asyncio.sleep(0.05)
        assert a.current("docs") == b.current("docs") == 5

        await asyncio.to_thread(l3.kill)
        await wait_for(lambda: not a.synced and not b.synced)
        await a.note_write("docs", 9)  # cannot be published now: kept for later
        assert a.current("docs") == 9 and b.current("docs") == 5
        await asyncio.to_thread(l3.restart)  # lost its hash of epochs too
        await wait_for(lambda: a.synced and b.synced)
        await wait_for(lambda: b.current("docs") == 9)

        late = Epochs(RedisEpochBus(redis_client(l3.url, 2), "t"))
        await late.start()
        await wait_for(lambda: late.synced)
        assert late.current("docs") == 9  # a gateway started later reads the hash
        for epochs in (a, b, late):
            await epochs.aclose()

    asyncio.run(run())


def test_a_gateway_that_cannot_hear_writes_leaves_the_cache_alone(
    db: EmbeddedDatabase, l2: RedisServer, l3: RedisServer
) -> None:
    async def run() -> None:
        gw = make_gateway(db, l2, None, bus=l3)
        await started(gw)
        await seed(gw)
        query = QUERIES[0]
        await gw.search(NAME, search_request(query))
        assert (await gw.search(NAME, search_request(query))).cache == "l1"
        await asyncio.to_thread(l3.kill)
        await wait_for(lambda: not gw.epochs.synced)
        for _ in range(3):
            assert (await gw.search(NAME, search_request(query))).cache == "miss"
        assert gw.pipeline.stats.unsynced == 3
        await asyncio.to_thread(l3.restart)
        await wait_for(lambda: gw.epochs.synced)
        assert (await gw.search(NAME, search_request(query))).cache == "l1"
        await closed(gw)

    asyncio.run(run())


def test_tenants_never_share_entries(
    db: EmbeddedDatabase, l2: RedisServer, l3: RedisServer
) -> None:
    async def run() -> None:
        gw = make_gateway(db, l2, l3)
        await started(gw)
        await seed(gw)
        body = {"vector": QUERIES[0].tolist(), "limit": 3}
        callers = [
            {},
            {"X-Tenant": "acme"},
            {"X-Tenant": "globex"},
            {"Authorization": "Bearer alice"},
            {"Authorization": "Bearer bob"},
        ]
        async with client(gw) as http:
            for headers in callers:
                r = await http.post(f"/v1/collections/{NAME}/search", json=body, headers=headers)
                assert r.headers["x-cache"] == "miss", headers
                r = await http.post(f"/v1/collections/{NAME}/search", json=body, headers=headers)
                assert r.headers["x-cache"] == "l1", headers
        await gw.cache.flush()  # type: ignore[union-attr]
        shared = aioredis.Redis.from_url(l2.url)
        keys = [k async for k in shared.scan_iter("test:s:*")]
        assert len(keys) == len(callers)  # one entry per scope, none shared
        await shared.aclose()
        await closed(gw)

    asyncio.run(run())


def test_x_cache_etag_and_not_modified_through_the_app(
    db: EmbeddedDatabase, l2: RedisServer, l3: RedisServer
) -> None:
    async def run() -> None:
        gw = make_gateway(db, l2, l3)
        await started(gw)
        await seed(gw)
        body = {"vector": QUERIES[1].tolist(), "limit": 3}
        path = f"/v1/collections/{NAME}/search"
        l1 = gw.cache.tiers[0].cache  # type: ignore[union-attr]
        async with client(gw) as http:

            async def source(**extra: Any) -> str:
                r = await http.post(path, json={**body, **extra})
                assert r.status_code == 200, r.text
                stages = [part.split(";")[0] for part in r.headers["server-timing"].split(", ")]
                assert "validate" in stages and ("cache" in stages or extra)
                return r.headers["x-cache"]

            assert await source() == "miss"
            assert await source() == "l1"
            await gw.cache.flush()  # type: ignore[union-attr]
            await l1.aclose()  # empties L1
            assert await source() == "l2"
            await l1.aclose()
            await flush_redis(l2)
            assert await source() == "l3"
            assert await source() == "l1"  # populated upward
            assert await source(cache="bypass") == "bypass"

            params = {"q": "disk full on the primary", "limit": "3", "filter": '{"group": 1}'}
            first = await http.get(path, params=params)
            assert first.status_code == 200 and first.headers["x-cache"] == "miss"
            etag = first.headers["etag"]
            assert first.headers["cache-control"].startswith("public, max-age=")
            again = await http.get(path, params=params, headers={"If-None-Match": etag})
            assert again.status_code == 304 and again.headers["etag"] == etag
            cached = await http.get(path, params=params)
            assert cached.headers["x-cache"] == "l1"
            assert cached.json()["hits"] == first.json()["hits"]
            tenant = await http.get(path, params=params, headers={"X-Tenant": "acme"})
            assert tenant.headers["etag"] != etag
            assert tenant.headers["cache-control"].startswith("private")

            await http.post(
                f"/v1/collections/{NAME}/points",
                json={"points": [{"id": "fresh", "text": params["q"], "payload": {"group": 1}}]},
            )
            after = await http.get(path, params=params, headers={"If-None-Match": etag})
            assert after.status_code == 200 and after.headers["etag"] != etag
            assert after.json()["hits"][0]["id"] == "fresh"

            bad = await http.get(path, params={"q": "x", "filter": "[1]"})
            assert bad.status_code == 422 and "filter" in bad.text
            missing = await http.get(path, params={"limit": "3"})
            assert missing.status_code == 422
        await closed(gw)

    asyncio.run(run())


def slow_router(calls: list[int]) -> Callable[[DataPlane], None]:
    """Counts the router's searches and makes each take long enough for every caller to
    arrive."""

    def wrap(data: DataPlane) -> None:
        original = data.router.search

        async def search(
            name: str, vectors: np.ndarray, options: SearchOptions, read: ReadOptions
        ) -> SearchResult:
            calls.append(1)
            await asyncio.sleep(0.3)
            return await original(name, vectors, options, read)

        data.router.search = search  # type: ignore[method-assign]

    return wrap


def test_a_hundred_identical_concurrent_queries_reach_the_router_once(
    db: EmbeddedDatabase, l2: RedisServer, l3: RedisServer
) -> None:
    async def run() -> None:
        calls: list[int] = []
        gw = make_gateway(db, l2, l3, wrap=slow_router(calls))
        await started(gw)
        await seed(gw)
        query = search_request(QUERIES[2], limit=5)
        outcomes = await asyncio.gather(*(gw.search(NAME, query) for _ in range(100)))
        assert len(calls) == 1
        assert len({tuple(ids(o)) for o in outcomes}) == 1
        assert gw.flights.stats.merges == 99
        await closed(gw)

    asyncio.run(run())

"""The connection-level L1 (api/edge.py) under a real uvicorn on a real socket.

Raw HTTP/1.1 over asyncio streams, so keep-alive, pipelining, ``Connection: close``,
HTTP/1.0, bodies in pieces and chunked bodies are exercised as clients send them. An
ASGI call counter in front of the app tells the connection's own answers (no call) from
the app's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import uvicorn
from starlette.types import Receive, Scope, Send

from vecfleet.api.app import build_app
from vecfleet.api.edge import edge_protocol
from vecfleet.api.hot import HotSearchCache
from vecfleet.config import load_settings
from vecfleet.embed import BatchingEmbedder, HashEmbedder
from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.gateway import Gateway
from vecfleet.local_cluster import free_port
from vecfleet.runtime import build_cache, embedded_data_plane

DIM = 8
SEARCH = "/v1/collections/c/search"
MAX_BODY = 4096
KEEP_ALIVE_S = 1


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def cache(self) -> str | None:
        return self.headers.get("x-cache")


class CountingApp:
    """The ASGI app behind the protocol, counting the HTTP requests that reach it."""

    def __init__(self, app: object) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls += 1
            if scope["path"] == "/slow":  # outlasts the keep-alive timeout
                await asyncio.sleep(KEEP_ALIVE_S * 1.5)
                headers = [(b"content-length", b"4")]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": b"slow"})
                return
        await self.app(scope, receive, send)  # type: ignore[operator]


@dataclass
class Served:
    port: int
    app: CountingApp
    hot: HotSearchCache

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    db = EmbeddedDatabase(str(tmp_path / "db"), DatabaseSettings(durability="none"))
    # The embedded data plane hosts the collections the database holds when it is built.
    db.create_collection("c", dim=DIM)
    rng = np.random.default_rng(3)
    db.collection("c").upsert(list(range(20)), rng.random((20, DIM)), [{}] * 20)
    cache, epochs = build_cache(load_settings(None, {}).cache, "ns")
    embedder = BatchingEmbedder(HashEmbedder(DIM))
    gw = Gateway(embedded_data_plane(db), embedder, cache=cache, epochs=epochs)
    await gw.start()
    app = build_app(gw, max_body_bytes=MAX_BODY, hot_cache_bytes=1 << 20)
    counting = CountingApp(app)
    port = free_port()
    config = uvicorn.Config(
        counting,
        port=port,
        http=edge_protocol(app.state.hot),
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_S,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped before it started"
            await asyncio.sleep(0.01)
        yield Served(port, counting, app.state.hot)
    finally:
        server.should_exit = True
        await task
        await gw.close()
        db.close()


def request(
    path: str, body: bytes = b"", method: str = "POST", extra: str = "", version: str = "1.1"
) -> bytes:
    head = f"{method} {path} HTTP/{version}\r\nhost: t\r\ncontent-type: application/json\r\n"
    if method == "POST":
        head += f"content-length: {len(body)}\r\n"
    return (head + extra + "\r\n").encode() + body


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    status = int(lines[0].split(" ", 2)[1])
    if status == 100:
        return Reply(status, headers, b"")
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    return Reply(status, headers, body)


def search_body(vector: list[float]) -> bytes:
    return json.dumps({"vector": vector, "limit": 3}).encode()


def test_a_repeated_search_is_answered_by_the_connection(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as srv:
            reader, writer = await srv.connect()
            body = search_body([1.0] * DIM)
            replies = []
            for _ in range(3):  # one keep-alive connection throughout
                writer.write(request(SEARCH, body))
                replies.append(await read_reply(reader))
            assert [r.cache for r in replies] == ["miss", "l1", "l1"]
            assert srv.app.calls == 1  # the two hits never reached the app
            assert srv.hot.stats.requests == {"miss": 1, "hit": 2}
            assert replies[1].body == replies[2].body == replies[0].body
            assert replies[1].status == 200
            assert replies[1].headers["content-type"] == "application/json"
            assert "date" in replies[1].headers and "server" in replies[1].headers
            assert 'desc="l1"' in replies[1].headers["server-timing"]
            assert len(json.loads(replies[1].body)["hits"]) == 3
            writer.close()

    asyncio.run(run())


def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as srv:
            reader, writer = await srv.connect()
            warm, fresh = search_body([1.0] * DIM), search_body([0.3] * DIM)
            writer.write(request(SEARCH, warm))
            assert (await read_reply(reader)).cache == "miss"
            calls = srv.app.calls
            writer.write(
                request(SEARCH, fresh)
                + request(SEARCH, warm)
                + request("/health/live", method="GET")
                + request(SEARCH, fresh)
                + request(SEARCH, warm)
            )
            replies = [await read_reply(reader) for _ in range(5)]
            assert [r.status for r in replies] == [200] * 5
            assert [r.cache for r in replies] == ["miss", "l1", None, "l1", "l1"]
            assert json.loads(replies[2].body)["status"] == "ok"
            assert replies[3].body == replies[0].body
            # Requests that arrive behind a running one go through the app, in order.
            assert srv.app.calls - calls == 5

            calls, warm_body, fresh_body = srv.app.calls, replies[1].body, replies[0].body
            writer.write(request(SEARCH, warm) + request(SEARCH, fresh) + request(SEARCH, warm))
            replies = [await read_reply(reader) for _ in range(3)]
            assert [r.cache for r in replies] == ["l1"] * 3
            assert [r.body for r in replies] == [warm_body, fresh_body, warm_body]
            assert srv.app.calls == calls  # pipelined hits: all answered by the connection
            writer.close()

    asyncio.run(run())


def test_a_hit_does_not_time_out_the_slow_request_behind_it(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as srv:
            body = search_body([1.0] * DIM)
            reader, writer = await srv.connect()
            writer.write(request(SEARCH, body))
            assert (await read_reply(reader)).cache == "miss"
            writer.write(request(SEARCH, body) + request("/slow", method="GET"))
            assert (await read_reply(reader)).cache == "l1"
            assert (await read_reply(reader)).body == b"slow"
            writer.close()

    asyncio.run(run())


def test_connection_close_and_http_1_0_end_the_connection(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as srv:
            body = search_body([1.0] * DIM)
            reader, writer = await srv.connect()
            writer.write(request(SEARCH, body))
            await read_reply(reader)
            for extra, version in (("connection: close\r\n", "1.1"), ("", "1.0")):
                if writer.is_closing():
                    reader, writer = await srv.connect()
                writer.write(request(SEARCH, body, extra=extra, version=version))
                reply = await read_reply(reader)
                assert reply.cache == "l1"
                assert reply.headers.get("connection") == "close"
                assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
                writer.close()
            assert srv.app.calls == 1

    asyncio.run(run())


def test_bodies_in_pieces_and_chunked_bodies_hit(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as srv:
            body = search_body([0.7] * DIM)
            reader, writer = await srv.connect()
            writer.write(request(SEARCH, body))
            assert (await read_reply(reader)).cache == "miss"
            data = request(SEARCH, body)
            for start in range(0, len(data), 17):  # headers and body in many packets
                writer.write(data[start : start + 17])
                await writer.drain()
                await asyncio.sleep(0.001)
            assert (await read_reply(reader)).cache == "l1"
            head = (
                f"POST {SEARCH} HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
            ).encode()
            half = len(body) // 2
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:half], body[half:])
            )
            writer.write(head + chunks + b"0\r\n\r\n")
            assert (await read_reply(reader)).cache == "l1"
            assert srv.app.calls == 1
            writer.close()

    asyncio.run(run())


def test_what_the_connection_cannot_judge_goes_to_the_app(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as srv:
            body = search_body([0.9] * DIM)
            reader, writer = await srv.connect()
            writer.write(request(SEARCH, body))
            assert (await read_reply(reader)).cache == "miss"

            too_big = json.dumps({"vector": [0.9] * DIM, "pad": "x" * MAX_BODY}).encode()
            writer.write(request(SEARCH, too_big))
            assert (await read_reply(reader)).status == 413

            calls = srv.app.calls
            writer.write(request(SEARCH, body, extra="expect: 100-continue\r\n"))
            reply = await read_reply(reader)
            if reply.status == 100:  # the interim answer, then the real one
                reply = await read_reply(reader)
            assert reply.cache == "l1" and srv.app.calls == calls + 1  # the ASGI layer's hit

            writer.write(request(SEARCH + "?x=1", body))
            assert (await read_reply(reader)).cache == "l1"
            assert srv.app.calls == calls + 2
            writer.close()

    asyncio.run(run())


def test_writes_and_tenants_are_never_served_stale_or_shared(tmp_path: Path) -> None:
    async def run() -> None:
        async with served(tmp_path) as srv:
            query = [0.2] * DIM
            body = search_body(query)
            reader, writer = await srv.connect()
            for tenant in ("a", "a", "b"):
                writer.write(request(SEARCH, body, extra=f"x-tenant: {tenant}\r\n"))
                reply = await read_reply(reader)
            assert reply.cache == "miss"  # tenant b never reads tenant a's answer
            new = json.dumps({"points": [{"id": "new", "vector": query}]}).encode()
            writer.write(request("/v1/collections/c/points", new))
            assert (await read_reply(reader)).status == 200
            writer.write(request(SEARCH, body, extra="x-tenant: a\r\n"))
            after = await read_reply(reader)
            assert after.cache == "miss"
            assert json.loads(after.body)["hits"][0]["id"] == "new"
            writer.close()

    asyncio.run(run())

"""The node API over a real gRPC server and in-process, against the engine answering directly.

Every test runs once per transport: both must give the engine's own hits, points and
counts, and raise the same exception classes with the same messages and fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

import vecfleet
from vecfleet.engine.api import CollectionHandle
from vecfleet.errors import (
    DeadlineExceeded,
    FilterError,
    ReplicaBehind,
    ShardNotHosted,
    Unavailable,
    ValidationError,
    VecfleetError,
)
from vecfleet.models import (
    Hit,
    Point,
    ReadGate,
    ScrollPage,
    SearchOptions,
    SearchResult,
    ShardCount,
    ShardGet,
    ShardScroll,
    ShardSearch,
)
from vecfleet.node.base import NodeAPI, ReplicaView
from vecfleet.node.service import NodeService
from vecfleet.transport.grpc_client import GrpcNode
from vecfleet.transport.grpc_server import serve_node, server_port, stop_node
from vecfleet.transport.inprocess import InProcessNode

T = TypeVar("T")
DIM = 16
SCHEMA = {"industry": "keyword", "severity": "integer"}
INDUSTRIES = ("Healthcare", "Finance", "Retail", "Energy")
TRANSPORTS = ("grpc", "inprocess")
FILTERS: list[dict[str, Any] | None] = [
    None,
    {"industry": "Healthcare"},
    {"severity": {"$gte": 3}, "industry": {"$in": ["Finance", "Retail"]}},
]


class EngineReplica:
    """A replica over an embedded collection: the collection is its own log, never behind."""

    def __init__(self, collection: str, shard: int, handle: CollectionHandle) -> None:
        self.collection = collection
        self.shard = shard
        self._handle = handle

    def handle(self) -> CollectionHandle:
        return self._handle

    @property
    def applied_seq(self) -> int:
        return self._handle.applied_seq

    def lag_ms(self) -> float:
        return 0.0

    def wait_for(self, seq: int, timeout: float) -> bool:
        return self.applied_seq >= seq


class SlowReplica(EngineReplica):
    """``wait_for`` takes far longer than any caller's deadline (until released)."""

    def __init__(self, collection: str, shard: int, handle: CollectionHandle) -> None:
        super().__init__(collection, shard, handle)
        self.release = threading.Event()

    def wait_for(self, seq: int, timeout: float) -> bool:
        self.release.wait(10.0)
        return True


class StuckReplica(EngineReplica):
    """Honours ``wait_for``'s timeout but never catches up, and reports a large lag."""

    def lag_ms(self) -> float:
        return 5000.0

    def wait_for(self, seq: int, timeout: float) -> bool:
        time.sleep(timeout)
        return False


def write_shard(handle: CollectionHandle, ids: list[Any], rng: np.random.Generator) -> None:
    payloads = [
        {"industry": INDUSTRIES[i % 4], "severity": i % 5, "title": f"incident {i}"}
        for i in range(len(ids))
    ]
    handle.upsert(ids, rng.standard_normal((len(ids), DIM)), payloads)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, CollectionHandle]]:
    """Shard 0: string ids, a sealed HNSW segment plus a growing one. Shard 1: int ids."""
    rng = np.random.default_rng(20240601)
    db = vecfleet.connect(Path(tmp_path_factory.mktemp("node")) / "db")
    shard0 = db.create_collection("incidents-0", DIM, payload_schema=SCHEMA)
    write_shard(shard0, [f"inc-{i}" for i in range(400)], rng)
    shard0.optimize()
    write_shard(shard0, [f"new-{i}" for i in range(60)], rng)
    shard1 = db.create_collection("incidents-1", DIM, payload_schema=SCHEMA)
    write_shard(shard1, list(range(300)), rng)
    yield {0: shard0, 1: shard1}
    db.close()


def node_service(shards: dict[int, CollectionHandle], *extra: ReplicaView) -> NodeService:
    service = NodeService("node-a")
    for shard, handle in shards.items():
        service.add_replica(EngineReplica("incidents", shard, handle))
    for replica in extra:
        service.add_replica(replica)
    return service


@contextlib.asynccontextmanager
async def running(service: NodeService) -> AsyncIterator[dict[str, NodeAPI]]:
    """The service behind a real gRPC server on a free port, and in-process."""
    server = await serve_node(service, "127.0.0.1", 0)
    remote = GrpcNode(f"127.0.0.1:{server_port(server)}")
    try:
        yield {"grpc": remote, "inprocess": InProcessNode(service)}
    finally:
        await remote.aclose()
        await stop_node(server, 0)


def run(service: NodeService, transport: str, scenario: Callable[[NodeAPI], Awaitable[T]]) -> T:
    async def main() -> T:
        async with running(service) as nodes:
            return await scenario(nodes[transport])

    try:
        return asyncio.run(main())
    finally:
        service.close()


def same(got: Hit | Point, want: Hit | Point) -> bool:
    """Equal ids (and id types), scores, payloads and vectors."""
    if type(got.id) is not type(want.id) or got.id != want.id or got.payload != want.payload:
        return False
    if isinstance(got, Hit) and isinstance(want, Hit) and got.score != want.score:
        return False
    if got.vector is None or want.vector is None:
        return got.vector is None and want.vector is None
    return bool(np.array_equal(got.vector, want.vector))


def same_lists(got: list[Any], want: list[Any]) -> bool:
    return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))


def bare(hits: list[Hit]) -> list[Hit]:
    return [Hit(h.id, h.score, None, h.vector) for h in hits]


# ---------------------------------------------------------------------- answers
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_searches_match_the_engine(transport: str, shards: dict[int, CollectionHandle]) -> None:
    queries = np.random.default_rng(5).standard_normal((8, DIM)).astype(np.float32)

    async def scenario(node: NodeAPI) -> None:
        for shard, handle in shards.items():
            for where in FILTERS:
                ten = SearchOptions(limit=10, filter=where)
                single = (await node.search(ShardSearch("incidents", shard, queries[:1], ten))).hits
                assert same_lists(single[0], handle.search(queries[0], 10, where))
                seven = SearchOptions(limit=7, filter=where)
                batch = (await node.search(ShardSearch("incidents", shard, queries, seven))).hits
                want = [handle.search(q, 7, where) for q in queries]
                assert len(batch) == len(want) == 8
                assert all(same_lists(g, w) for g, w in zip(batch, want, strict=True))
            options = SearchOptions(
                limit=5, params={"exact": True}, with_payload=False, with_vectors=True
            )
            exact = (await node.search(ShardSearch("incidents", shard, queries, options))).hits
            want = [handle.search(q, 5, None, {"exact": True}, True) for q in queries]
            assert all(same_lists(g, bare(w)) for g, w in zip(exact, want, strict=True))
            empty = await node.search(ShardSearch("incidents", shard, queries[:0], SearchOptions()))
            assert empty.hits == []

    run(node_service(shards), transport, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_concurrent_searches_share_the_node(
    transport: str, shards: dict[int, CollectionHandle]
) -> None:
    queries = np.random.default_rng(6).standard_normal((24, DIM)).astype(np.float32)
    want = [shards[0].search(q, 5, {"industry": "Energy"}) for q in queries]

    async def scenario(node: NodeAPI) -> list[SearchResult]:
        options = SearchOptions(limit=5, filter={"industry": "Energy"})
        calls = [node.search(ShardSearch("incidents", 0, q[None, :], options)) for q in queries]
        return await asyncio.gather(*calls)

    answers = run(node_service(shards), transport, scenario)
    assert all(same_lists(a.hits[0], w) for a, w in zip(answers, want, strict=True))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_get_count_and_scroll_match_the_engine(
    transport: str, shards: dict[int, CollectionHandle]
) -> None:
    async def scenario(node: NodeAPI) -> None:
        asked: dict[int, list[Any]] = {0: ["inc-3", "missing", "new-5", "inc-3"], 1: [7, 0, 999]}
        for shard, handle in shards.items():
            for with_vectors in (False, True):
                got = await node.get(ShardGet("incidents", shard, asked[shard], with_vectors))
                assert same_lists(got, handle.get(asked[shard], with_vectors))
            for where in [*FILTERS, {"severity": {"$lt": 0}}]:
                assert await node.count(ShardCount("incidents", shard, where)) == handle.count(
                    where
                )
                cursor: int | None = None
                while True:
                    ask = ScrollPage(where, 37, cursor)
                    page, next_cursor = await node.scroll(ShardScroll("incidents", shard, ask))
                    want_page, want_cursor = handle.scroll(where, 37, cursor)
                    assert same_lists(page, want_page)
                    assert next_cursor == want_cursor
                    if next_cursor is None:
                        break
                    cursor = next_cursor

    run(node_service(shards), transport, scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_status_and_health(transport: str, shards: dict[int, CollectionHandle]) -> None:
    async def scenario(node: NodeAPI) -> None:
        status = await node.status()
        assert status.node_id == "node-a"
        assert sorted(
            (r.collection, r.shard, r.applied_seq, r.points) for r in status.replicas
        ) == [
            ("incidents", shard, handle.applied_seq, len(handle))
            for shard, handle in sorted(shards.items())
        ]
        health = await node.health()
        assert (health.node_id, health.serving, health.replicas) == ("node-a", True, 2)

    run(node_service(shards), transport, scenario)


# ---------------------------------------------------------------------- errors
BAD_CALLS: dict[str, Callable[[NodeAPI], Awaitable[Any]]] = {
    "unknown collection": lambda n: n.search(
        ShardSearch("nope", 0, np.ones((1, DIM), np.float32), SearchOptions())
    ),
    "unknown shard": lambda n: n.count(ShardCount("incidents", 7)),
    "bad operator": lambda n: n.search(
        ShardSearch(
            "incidents",
            0,
            np.ones((2, DIM), np.float32),
            SearchOptions(limit=5, filter={"severity": {"$near": 3}}),
        )
    ),
    "bad filter value": lambda n: n.count(
        ShardCount("incidents", 1, {"severity": {"$gte": "high"}})
    ),
    "bad limit": lambda n: n.search(
        ShardSearch("incidents", 0, np.ones((1, DIM), np.float32), SearchOptions(limit=0))
    ),
    "wrong dim": lambda n: n.search(
        ShardSearch("incidents", 0, np.ones((1, DIM + 1), np.float32), SearchOptions())
    ),
    "bad params": lambda n: n.search(
        ShardSearch(
            "incidents", 1, np.ones((1, DIM), np.float32), SearchOptions(limit=3, params={"x": 1})
        )
    ),
    "bad cursor": lambda n: n.scroll(ShardScroll("incidents", 0, ScrollPage(None, 10, -1))),
    "lagging replica": lambda n: n.count(ShardCount("stuck", 0, None, ReadGate(max_lag_ms=100))),
}
EXPECTED = {
    "unknown collection": ShardNotHosted,
    "unknown shard": ShardNotHosted,
    "bad operator": FilterError,
    "bad filter value": FilterError,
    "bad limit": ValidationError,
    "wrong dim": ValidationError,
    "bad params": ValidationError,
    "bad cursor": ValidationError,
    "lagging replica": ReplicaBehind,
}


def errors_of(shards: dict[int, CollectionHandle], transport: str) -> dict[str, VecfleetError]:
    service = node_service(shards, StuckReplica("stuck", 0, shards[1]))

    async def scenario(node: NodeAPI) -> dict[str, VecfleetError]:
        raised = {}
        for name, call in BAD_CALLS.items():
            with pytest.raises(VecfleetError) as info:
                await call(node)
            raised[name] = info.value
        return raised

    return run(service, transport, scenario)


def test_errors_are_the_same_classes_messages_and_fields_on_both_transports(
    shards: dict[int, CollectionHandle],
) -> None:
    remote, local = errors_of(shards, "grpc"), errors_of(shards, "inprocess")
    for name, cls in EXPECTED.items():
        assert type(remote[name]) is cls, name
        assert type(local[name]) is cls, name
        assert str(remote[name]) == str(local[name]), name
        assert remote[name].details == local[name].details, name
    bad_operator = remote["bad operator"]
    assert isinstance(bad_operator, FilterError)
    assert bad_operator.path == "$.severity.$near"
    unknown_shard = remote["unknown shard"]
    assert isinstance(unknown_shard, ShardNotHosted)
    assert (unknown_shard.collection, unknown_shard.shard) == ("incidents", 7)
    assert remote["lagging replica"].details["lag_ms"] == 5000.0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_replica_that_never_catches_up_is_behind_before_the_deadline(
    transport: str, shards: dict[int, CollectionHandle]
) -> None:
    service = node_service(shards, StuckReplica("stuck", 0, shards[1]))

    async def scenario(node: NodeAPI) -> float:
        start = time.monotonic()
        with pytest.raises(ReplicaBehind) as info:
            await node.get(ShardGet("stuck", 0, [1], False, ReadGate(min_seq=10**9, timeout_s=1.0)))
        assert info.value.details["min_seq"] == 10**9
        return time.monotonic() - start

    assert run(service, transport, scenario) < 1.0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_deadline_shorter_than_a_slow_wait_is_a_quick_timeout(
    transport: str, shards: dict[int, CollectionHandle]
) -> None:
    slow = SlowReplica("slow", 0, shards[0])
    queries = np.ones((4, DIM), np.float32)

    async def scenario(node: NodeAPI) -> float:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            gate = ReadGate(min_seq=10**9, timeout_s=0.3)
            await node.search(ShardSearch("slow", 0, queries, SearchOptions(), gate))
        return time.monotonic() - start

    try:
        elapsed = run(node_service(shards, slow), transport, scenario)
    finally:
        slow.release.set()
    assert 0.25 < elapsed < 1.5


# ---------------------------------------------------------------------- a node going away
def test_a_server_stopped_mid_way_gives_unavailable_not_a_hang(
    shards: dict[int, CollectionHandle],
) -> None:
    slow = SlowReplica("slow", 0, shards[0])
    service = node_service(shards, slow)
    queries = np.ones((1, DIM), np.float32)

    async def main() -> None:
        server = await serve_node(service)
        node = GrpcNode(f"127.0.0.1:{server_port(server)}")
        try:
            assert (
                len((await node.search(ShardSearch("incidents", 0, queries, SearchOptions()))).hits)
                == 1
            )
            gate = ReadGate(min_seq=10**9, timeout_s=30)
            in_flight = asyncio.ensure_future(
                node.search(ShardSearch("slow", 0, queries, SearchOptions(), gate))
            )
            await asyncio.sleep(0.2)
            start = time.monotonic()
            await stop_node(server, grace_s=0)
            with pytest.raises(Unavailable) as info:
                await in_flight
            assert type(info.value) is Unavailable
            with pytest.raises(Unavailable, match="cannot reach node"):
                await node.count(ShardCount("incidents", 0, None, ReadGate(timeout_s=30)))
            assert time.monotonic() - start < 3.0
        finally:
            slow.release.set()
            await node.aclose()

    try:
        asyncio.run(main())
    finally:
        service.close()


def test_a_node_that_is_not_listening_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused

        async def main() -> None:
            node = GrpcNode(f"127.0.0.1:{port}")
            try:
                start = time.monotonic()
                with pytest.raises(Unavailable, match="cannot reach node"):
                    await node.health(timeout_s=30)
                assert time.monotonic() - start < 3.0
            finally:
                await node.aclose()

        asyncio.run(main())

"""``InProcessNode``: ``NodeAPI`` straight onto a ``NodeService`` in this process.

Embedded mode's transport, the way httpx's ASGI transport stands in for the network: the
gateway holds a ``NodeAPI`` and cannot tell this from ``GrpcNode``. Nothing is encoded,
so results share the engine's payload dicts (as the embedded database's own results do):
callers read them and never modify them.
"""

from __future__ import annotations

from collections.abc import Sequence

from vecfleet.models import OPEN_GATE, Point, ReadGate, ScrollPage, SearchOptions, SearchResult
from vecfleet.node.base import DEFAULT_TIMEOUT_S, Filter, NodeHealth, NodeStatus
from vecfleet.node.service import NodeService
from vecfleet.types import Matrix, PointId


class InProcessNode:
    """A handle on a node service in this process; closing it leaves the service running."""

    def __init__(self, service: NodeService) -> None:
        self.service = service

    async def search(
        self,
        collection: str,
        shard: int,
        vectors: Matrix,
        options: SearchOptions,
        gate: ReadGate = OPEN_GATE,
    ) -> SearchResult:
        return await self.service.search(collection, shard, vectors, options, gate)

    async def get(
        self,
        collection: str,
        shard: int,
        ids: Sequence[PointId],
        with_vectors: bool = False,
        gate: ReadGate = OPEN_GATE,
    ) -> list[Point]:
        return await self.service.get(collection, shard, ids, with_vectors, gate)

    async def count(
        self,
        collection: str,
        shard: int,
        filter: Filter | None = None,
        gate: ReadGate = OPEN_GATE,
    ) -> int:
        return await self.service.count(collection, shard, filter, gate)

    async def scroll(
        self,
        collection: str,
        shard: int,
        page: ScrollPage,
        gate: ReadGate = OPEN_GATE,
    ) -> tuple[list[Point], int | None]:
        return await self.service.scroll(collection, shard, page, gate)

    async def status(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeStatus:
        return await self.service.status(timeout_s=timeout_s)

    async def health(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeHealth:
        return await self.service.health(timeout_s=timeout_s)

    async def aclose(self) -> None:
        """Nothing to release: the service belongs to whoever built it."""

    def __repr__(self) -> str:
        return f"<InProcessNode {self.service.node_id}>"


__all__ = ["InProcessNode"]

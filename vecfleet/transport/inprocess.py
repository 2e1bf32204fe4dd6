"""``InProcessNode``: ``NodeAPI`` straight onto a ``NodeService`` in this process.

Embedded mode's transport, the way httpx's ASGI transport stands in for the network: the
gateway holds a ``NodeAPI`` and cannot tell this from ``GrpcNode``. Nothing is encoded,
so results share the engine's payload dicts (as the embedded database's own results do):
callers read them and never modify them.
"""

from __future__ import annotations

from vecfleet.models import Point, SearchResult, ShardCount, ShardGet, ShardScroll, ShardSearch
from vecfleet.node.base import DEFAULT_TIMEOUT_S, NodeHealth, NodeStatus
from vecfleet.node.service import NodeService


class InProcessNode:
    """A handle on a node service in this process; closing it leaves the service running."""

    def __init__(self, service: NodeService) -> None:
        self.service = service

    async def search(self, request: ShardSearch) -> SearchResult:
        return await self.service.search(request)

    async def get(self, request: ShardGet) -> list[Point]:
        return await self.service.get(request)

    async def count(self, request: ShardCount) -> int:
        return await self.service.count(request)

    async def scroll(self, request: ShardScroll) -> tuple[list[Point], int | None]:
        return await self.service.scroll(request)

    async def status(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeStatus:
        return await self.service.status(timeout_s=timeout_s)

    async def health(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeHealth:
        return await self.service.health(timeout_s=timeout_s)

    async def aclose(self) -> None:
        """Nothing to release: the service belongs to whoever built it."""

    def __repr__(self) -> str:
        return f"<InProcessNode {self.service.node_id}>"


__all__ = ["InProcessNode"]

"""``InProcessNode``: ``NodeAPI`` straight onto a ``NodeService`` in this process.

Embedded mode's transport, the way httpx's ASGI transport stands in for the network: the
gateway holds a ``NodeAPI`` and cannot tell this from ``GrpcNode``. Nothing is encoded,
so results share the engine's payload dicts (as the embedded database's own results do):
callers read them and never modify them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vecfleet.models import Hit, Point
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
        limit: int = 10,
        filter: Filter | None = None,
        params: dict[str, Any] | None = None,
        with_payload: bool = True,
        with_vectors: bool = False,
        min_seq: int = 0,
        max_lag_ms: float | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> list[list[Hit]]:
        return await self.service.search(
            collection,
            shard,
            vectors,
            limit,
            filter,
            params,
            with_payload,
            with_vectors,
            min_seq,
            max_lag_ms,
            timeout_s,
        )

    async def get(
        self,
        collection: str,
        shard: int,
        ids: Sequence[PointId],
        with_vectors: bool = False,
        *,
        min_seq: int = 0,
        max_lag_ms: float | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> list[Point]:
        return await self.service.get(
            collection,
            shard,
            ids,
            with_vectors,
            min_seq=min_seq,
            max_lag_ms=max_lag_ms,
            timeout_s=timeout_s,
        )

    async def count(
        self,
        collection: str,
        shard: int,
        filter: Filter | None = None,
        *,
        min_seq: int = 0,
        max_lag_ms: float | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> int:
        return await self.service.count(
            collection, shard, filter, min_seq=min_seq, max_lag_ms=max_lag_ms, timeout_s=timeout_s
        )

    async def scroll(
        self,
        collection: str,
        shard: int,
        filter: Filter | None = None,
        limit: int = 100,
        cursor: int | None = None,
        *,
        min_seq: int = 0,
        max_lag_ms: float | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> tuple[list[Point], int | None]:
        return await self.service.scroll(
            collection,
            shard,
            filter,
            limit,
            cursor,
            min_seq=min_seq,
            max_lag_ms=max_lag_ms,
            timeout_s=timeout_s,
        )

    async def status(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeStatus:
        return await self.service.status(timeout_s=timeout_s)

    async def health(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeHealth:
        return await self.service.health(timeout_s=timeout_s)

    async def aclose(self) -> None:
        """Nothing to release: the service belongs to whoever built it."""

    def __repr__(self) -> str:
        return f"<InProcessNode {self.service.node_id}>"


__all__ = ["InProcessNode"]

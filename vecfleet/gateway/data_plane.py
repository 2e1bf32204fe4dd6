"""The data side of the gateway: one view of the nodes, its router, writer and admin.

Built once by the composition root over a ``Catalog``, a ``ShardLog`` and a way to reach
nodes (``cluster.base``, ``node.base``); the gateway and its pipeline call it and cannot
tell embedded mode (one in-process node, the local write-ahead log) from cluster mode
(node processes over gRPC, JetStream). ``usage`` reports the memory and disk that this
process itself holds, which only embedded mode has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from vecfleet.gateway.admin import CollectionAdmin
from vecfleet.gateway.cluster_view import ClusterCollection, ClusterView, NodeRef
from vecfleet.gateway.replicas import ReplicaSet
from vecfleet.gateway.router import Router
from vecfleet.gateway.writes import Writer


class Usage(Protocol):
    """Resources held in this process for the collections (zero where nodes hold them)."""

    def memory_bytes(self, name: str) -> int: ...

    def disk_bytes(self) -> int: ...


class NoLocalUsage:
    """A gateway process holding no data: its nodes report their own usage."""

    def memory_bytes(self, name: str) -> int:
        return 0

    def disk_bytes(self) -> int:
        return 0


@dataclass
class DataPlane:
    view: ClusterView
    router: Router
    writer: Writer
    admin: CollectionAdmin
    usage: Usage = field(default_factory=NoLocalUsage)
    closers: list[Callable[[], None]] = field(default_factory=list)

    async def start(self) -> None:
        """Read the catalog, inside the event loop that serves requests."""
        await self.view.start()

    async def aclose(self) -> None:
        """Close the view, then what the composition root handed over (thread pools)."""
        await self.view.aclose()
        for close in self.closers:
            close()

    def collection(self, name: str) -> ClusterCollection:
        """The collection called ``name``; raises ``CollectionNotFound``."""
        return self.view.collection(name)

    def collection_names(self) -> list[str]:
        return self.view.collection_names()

    def stats(self, name: str) -> dict[str, Any]:
        """``info`` without asking the nodes: the newest figures at hand (for scrapes)."""
        return self.view.info(self.view.collection(name))

    def replica_sets(self) -> list[ReplicaSet[NodeRef]]:
        return self.view.replica_sets()

    def replica_lags(self) -> list[tuple[str, int, str, float]]:
        """(collection, shard, node, lag in seconds) per replica, as last reported."""
        return [
            (r.collection, r.shard, node_id, r.lag_ms / 1000)
            for node_id, member in self.view.members.items()
            for r in member.replicas
        ]


__all__ = ["DataPlane", "NoLocalUsage", "Usage"]

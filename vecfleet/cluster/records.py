"""Cluster state as records: collections with their placement, and the nodes that are up.

Plain msgspec structs and one pure function, shared by every catalog implementation (NATS
KV in cluster mode, the in-process one of embedded mode) and by the gateway's view of
them, which must not import NATS.
"""

from __future__ import annotations

from typing import Any

import msgspec

from vecfleet.cluster.sharding import ShardMap
from vecfleet.errors import ValidationError


class CollectionEntry(msgspec.Struct, frozen=True):
    """A collection as the cluster knows it; ``placement[shard]`` lists node ids."""

    config: dict[str, Any]
    sharding: ShardMap
    placement: list[list[str]]
    created_at: float = 0.0


class ReplicaReport(msgspec.Struct, frozen=True):
    """One hosted replica as its node reports it; ``created_at`` names the incarnation of
    the collection it follows (its ``CollectionEntry.created_at``), so a report about a
    dropped collection of the same name is never taken for the new one."""

    collection: str
    shard: int
    applied_seq: int
    lag_ms: float
    points: int = 0
    created_at: float = 0.0


class MemberRecord(msgspec.Struct, frozen=True):
    node_id: str
    address: str  # host:port of the node's gRPC service
    replicas: list[ReplicaReport] = []
    serving: bool = True
    heartbeat_at: float = 0.0


def place(shards: int, replicas: int, nodes: list[str]) -> list[list[str]]:
    """Replica ``r`` of shard ``s`` on node ``(s + r) mod n``: spread, never doubled.

    Nodes are taken in sorted order so that every gateway computes the same answer.
    """
    ordered = sorted(nodes)
    if replicas < 1:
        raise ValidationError("replicas must be at least 1", field="replicas")
    if len(ordered) < replicas:
        raise ValidationError(
            f"{replicas} replicas per shard need at least {replicas} live nodes; "
            f"{len(ordered)} are up",
            field="replicas",
        )
    return [[ordered[(s + r) % len(ordered)] for r in range(replicas)] for s in range(shards)]

"""The cluster seams a gateway sees: where collections are placed, and the shard logs.

Two protocols, each with an in-process and a networked implementation wired by the
composition root alone (DESIGN §1, STYLE 2):

| protocol    | embedded mode (one in-process node) | cluster mode                       |
|-------------|-------------------------------------|------------------------------------|
| ``Catalog`` | ``node.local.LocalCatalog``         | ``cluster.catalog.Catalog`` (KV)   |
| ``ShardLog``| ``node.local.LocalShardLog`` (WAL)  | ``cluster.shard_writer`` JetStream |

Nothing here imports NATS, so the gateway can depend on this module and stay free of it.
"""

from __future__ import annotations

from typing import Protocol

from vecfleet.cluster.records import CollectionEntry, MemberRecord
from vecfleet.types import Seq


class Catalog(Protocol):
    """Which collections exist, where their shards live, and which nodes are up."""

    @property
    def member_ttl_s(self) -> float:
        """Seconds a node stays listed after its last heartbeat (read-only to callers)."""
        ...

    async def create(self, name: str, entry: CollectionEntry) -> None:
        """Record a new collection; ``CollectionExists`` if the name is taken."""
        ...

    async def drop(self, name: str) -> None: ...

    async def collection(self, name: str) -> CollectionEntry | None:
        """One collection read directly; ``None`` once it is dropped."""
        ...

    async def collections(self) -> dict[str, CollectionEntry]: ...

    async def members(self) -> dict[str, MemberRecord]:
        """Nodes whose heartbeat is younger than the TTL."""
        ...


class ShardLog(Protocol):
    """The ordered, durable log of each shard: a write is acknowledged by its sequence."""

    async def ensure_stream(self, collection: str, shards: int, replicas: int = 1) -> None:
        """Make room for the collection's shard logs; idempotent."""
        ...

    async def delete_stream(self, collection: str) -> bool:
        """Forget the collection's logs; ``False`` if it had none."""
        ...

    async def publish(self, collection: str, shard: int, record: bytes, msg_id: str) -> Seq:
        """Append ``record`` to the shard's log; its sequence once durable.

        A repeated ``msg_id`` stores nothing twice where the log can tell.
        """
        ...

    async def last_seq(self, collection: str, shard: int) -> Seq:
        """Sequence of the shard's newest record (``strong`` reads wait for it)."""
        ...


__all__ = ["Catalog", "ShardLog"]

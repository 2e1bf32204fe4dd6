"""What a gateway knows of the nodes: collections, placement, live nodes.

Embedded mode is a cluster of one in-process node, so both modes keep this view. It is
read from the ``Catalog`` (NATS KV in cluster mode, ``node.local`` in embedded mode) every
``refresh_s`` and whenever a request
names a collection this gateway has not seen. From it the view keeps one ``ReplicaSet``
per shard (``replicas.py``: the router's replica choice, breakers and latency window),
holding every placed replica with a known address but those of draining nodes: a dead
node is kept away by its breaker and asked again as soon as it answers. A collection
missing from a listing is confirmed by a direct read before it is forgotten, and a node
missing from one is kept while its last heartbeat is younger than the TTL: listings walk
the bucket and can miss a key under load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from vecfleet.cluster.base import Catalog
from vecfleet.cluster.records import CollectionEntry, MemberRecord
from vecfleet.engine.config import CollectionConfig, check_collection_name
from vecfleet.errors import CollectionNotFound, Unavailable
from vecfleet.gateway.replicas import ReplicaSet
from vecfleet.node.base import NodeAPI

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeRef:
    """One replica as the router holds it: the node's id and its client."""

    name: str
    node: NodeAPI


@dataclass
class ClusterCollection:
    """``CollectionRef`` of a cluster collection; ``applied_seq`` is the newest write seen."""

    name: str
    config: CollectionConfig
    entry: CollectionEntry
    applied_seq: int = 0


class ClusterView:
    def __init__(
        self, catalog: Catalog, connect_node: Callable[[str], NodeAPI], refresh_s: float = 0.25
    ) -> None:
        self.catalog = catalog
        self.connect_node = connect_node
        self.refresh_s = refresh_s
        self._collections: dict[str, ClusterCollection] = {}
        self.members: dict[str, MemberRecord] = {}
        self._addresses: dict[str, str] = {}  # node id → last known address
        self._clients: dict[str, NodeAPI] = {}  # address → client
        self._sets: dict[tuple[str, int], ReplicaSet[NodeRef]] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.refresh()
        except Unavailable as exc:
            log.warning("cluster state not read yet: %s", exc.message)
        self._refresher = asyncio.create_task(self._refresh_loop(), name="cluster-refresh")

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        for replicas in self._sets.values():
            await replicas.aclose()
        for client in self._clients.values():
            await client.aclose()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except Unavailable as exc:
                log.warning("cluster state not refreshed: %s", exc.message)
            except Exception:
                log.exception("cluster state not refreshed")

    async def refresh(self) -> None:
        """Read collections, placement and live nodes; rebuild the replica sets."""
        entries = await self.catalog.collections()
        for name in set(self._collections) - set(entries):
            entry = await self.catalog.collection(name)  # a listing can miss a key
            if entry is not None:
                entries[name] = entry
        listed = await self.catalog.members()
        ttl_s = self.catalog.member_ttl_s
        now = time.time()
        for node_id, member in self.members.items():  # a listing can miss a key too
            if node_id not in listed and now - member.heartbeat_at < ttl_s:
                listed[node_id] = member
        self.members = listed
        for node_id, member in self.members.items():
            self._addresses[node_id] = member.address
        seen: dict[str, int] = {}
        for member in self.members.values():
            for r in member.replicas:
                entry = entries.get(r.collection)
                if entry is not None and r.created_at == entry.created_at:
                    seen[r.collection] = max(seen.get(r.collection, 0), r.applied_seq)
        fresh = {}
        for name, entry in entries.items():
            old = self._collections.get(name)
            if old is not None and old.entry.created_at != entry.created_at:
                old = None  # dropped and made again: nothing of the old one carries over
            known = max(old.applied_seq if old else 0, seen.get(name, 0))
            config = old.config if old else CollectionConfig.from_dict(entry.config)
            fresh[name] = ClusterCollection(name, config, entry, known)
            for shard, placed in enumerate(entry.placement):
                replicas = self.replica_set(name, shard)
                replicas.replace(self._refs(placed))
                await replicas.start()  # health checks; a no-op once running
        for key in [k for k in self._sets if k[0] not in fresh]:
            await self._sets.pop(key).aclose()
        self._collections = fresh

    def _refs(self, placed: list[str]) -> list[NodeRef]:
        """Every placed replica with a known address, except nodes that said they drain.

        A node that stopped heart-beating stays: its breaker and the replica choice keep
        calls away from it while it is down, and it is asked again when it is back.
        """
        draining = {n for n, m in self.members.items() if not m.serving}
        chosen = [n for n in placed if n in self._addresses and n not in draining]
        return [NodeRef(n, self._client(self._addresses[n])) for n in chosen]

    def _client(self, address: str) -> NodeAPI:
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = self.connect_node(address)
        return client

    def replica_set(self, name: str, shard: int) -> ReplicaSet[NodeRef]:
        key = (name, shard)
        replicas = self._sets.get(key)
        if replicas is None:
            replicas = self._sets[key] = ReplicaSet(
                [], shard=f"{name}/{shard}", name_of=lambda r: r.name, check=_healthy
            )
        return replicas

    def replica_sets(self) -> list[ReplicaSet[NodeRef]]:
        return list(self._sets.values())

    def collection(self, name: str) -> ClusterCollection:
        col = self._collections.get(name)
        if col is None:
            check_collection_name(name)  # a name that cannot exist is the caller's 422
            raise CollectionNotFound(name)
        return col

    async def known(self, name: str) -> ClusterCollection:
        """The collection, refreshing once first if this gateway has not seen it yet."""
        if name not in self._collections:
            await self.refresh()
        return self.collection(name)

    def collection_names(self) -> list[str]:
        return sorted(self._collections)

    def info(self, col: ClusterCollection) -> dict[str, Any]:
        shards = []
        points = 0
        for shard, placed in enumerate(col.entry.placement):
            replicas: list[dict[str, Any]] = []
            for node_id in placed:
                member = self.members.get(node_id)
                report = None
                if member is not None:
                    report = next(
                        (
                            r
                            for r in member.replicas
                            if r.collection == col.name and r.shard == shard
                        ),
                        None,
                    )
                replicas.append(
                    {
                        "node": node_id,
                        "live": member is not None,
                        "applied_seq": report.applied_seq if report else None,
                        "lag_ms": report.lag_ms if report else None,
                        "points": report.points if report else None,
                    }
                )
            points += max((r["points"] or 0 for r in replicas), default=0)
            shards.append({"shard": shard, "replicas": replicas})
        return {
            "name": col.name,
            "config": col.config.to_dict(),
            "points": points,
            "segments": [],
            "applied_seq": col.applied_seq,
            "plans": {},
            "sharding": msgspec.to_builtins(col.entry.sharding),
            "shards": shards,
        }


async def _healthy(ref: NodeRef) -> bool:
    """The replica set's health check: the node answers and is not draining."""
    return (await ref.node.health(timeout_s=0.5)).serving

"""Collection administration: create, drop and describe collections on the shards' nodes.

Create: check the settings → place each shard's replicas on live nodes → make room in the
shard log → record the collection in the catalog → append a create record to every shard
log → wait until every placed replica reports it. Drop: remove it from the catalog, then
its logs. Both modes run this code; they differ only in the ``Catalog`` and ``ShardLog``
they are given (``cluster.base``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import msgspec

from vecfleet.cluster.base import Catalog, ShardLog
from vecfleet.cluster.records import CollectionEntry, place
from vecfleet.cluster.sharding import ShardMap
from vecfleet.engine.config import CollectionConfig, check_collection_name
from vecfleet.engine.ops import CreateCollection, encode_op
from vecfleet.errors import Unavailable, ValidationError
from vecfleet.gateway.cluster_view import ClusterView
from vecfleet.gateway.reads import ReadOptions
from vecfleet.gateway.router import Router
from vecfleet.models import CollectionSpec, WriteAck

log = logging.getLogger(__name__)

CLUSTER_SETTINGS = ("shards", "replicas", "sharding")


class CollectionAdmin:
    """Creates and drops the collections of ``view`` through ``catalog`` and ``log``."""

    def __init__(
        self,
        view: ClusterView,
        catalog: Catalog,
        log: ShardLog,
        router: Router,
        *,
        stream_replicas: int = 1,
        default_shards: int = 1,
        default_replicas: int = 1,
        timeout_s: float = 5.0,
    ) -> None:
        self.view = view
        self.catalog = catalog
        self.log = log
        self.router = router
        self.stream_replicas = stream_replicas
        self.default_shards = default_shards
        self.default_replicas = default_replicas
        self.timeout_s = timeout_s

    async def create(self, spec: CollectionSpec) -> dict[str, Any]:
        name, settings = spec.name, spec.settings
        check_collection_name(name)  # the log may narrow it further (NATS: no '.')
        engine_settings = {k: v for k, v in settings.items() if k not in CLUSTER_SETTINGS}
        config = CollectionConfig.from_dict(
            {
                "name": name,
                "dim": spec.dim,
                "metric": spec.metric,
                "index": spec.index,
                "payload_schema": dict(spec.payload_schema),
                **engine_settings,
            }
        )
        sharding = shard_map(settings, self.default_shards)
        sharding.check_schema(config.payload_schema)
        replicas = _positive(settings.get("replicas", self.default_replicas), "replicas")
        # The view's members: a listing can miss a key under load, and the view keeps a node
        # whose last heartbeat is younger than the TTL (``ClusterView.refresh``).
        await self.view.refresh()
        nodes = [m.node_id for m in self.view.members.values() if m.serving]
        entry = CollectionEntry(
            config.to_dict(), sharding, place(sharding.shards, replicas, nodes), time.time()
        )
        await self.log.ensure_stream(name, sharding.shards, self.stream_replicas)
        await self.catalog.create(name, entry)
        record = encode_op(CreateCollection(config.to_dict()))
        seqs = await asyncio.gather(
            *(
                self.log.publish(name, s, record, f"create-{entry.created_at}-{s}")
                for s in range(sharding.shards)
            )
        )
        await self.view.refresh()
        col = self.view.collection(name)
        col.applied_seq = max(col.applied_seq, *seqs)
        await self._wait_opened(name, dict(enumerate(seqs)))
        return await self.info(name)

    async def _wait_opened(self, name: str, seqs: dict[int, int]) -> None:
        """Until every placed replica reports its shard's creation (or the timeout passes).

        Sequences are per shard: other shards' records share the log's numbering.
        """
        entry = self.view.collection(name).entry
        wanted = {(node, s) for s, nodes in enumerate(entry.placement) for node in nodes}
        # Reports about an earlier collection of this name (dropped, made again) do not
        # count: their sequences belong to a log that is gone.
        deadline = time.monotonic() + self.timeout_s * 2
        while time.monotonic() < deadline:
            members = await self.catalog.members()
            opened = {
                (m.node_id, r.shard)
                for m in members.values()
                for r in m.replicas
                if r.collection == name
                and r.created_at == entry.created_at
                and r.applied_seq >= seqs[r.shard]
            }
            if wanted <= opened:
                await self.view.refresh()
                return
            await asyncio.sleep(0.05)
        log.warning("collection %s: not every replica opened in time", name)

    async def drop(self, name: str) -> WriteAck:
        col = await self.view.known(name)
        await self.catalog.drop(name)
        await self.log.delete_stream(name)
        # Forget it now, not at the next refresh: a collection made again under the same
        # name must not be routed by the old placement.
        await self.view.refresh()
        return WriteAck(col.applied_seq)

    async def info(self, name: str) -> dict[str, Any]:
        """The collection's settings and replicas; ``points`` counted by the nodes now."""
        col = await self.view.known(name)
        info = self.view.info(col)
        with contextlib.suppress(Unavailable):  # else the heartbeats' figure stands
            info["points"] = await self.router.count(name, None, ReadOptions("eventual"))
        return info


def _positive(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{field} must be a positive integer, got {value!r}", field=field)
    return value


def shard_map(settings: dict[str, Any], default_shards: int) -> ShardMap:
    """The shard map a create request asks for (``shards`` and ``sharding`` settings)."""
    shards = _positive(settings.get("shards", default_shards), "shards")
    spec = settings.get("sharding") or {"kind": "hash"}
    if not isinstance(spec, dict):
        raise ValidationError(
            'sharding must be an object such as {"kind": "key", "field": "industry"}',
            field="sharding",
        )
    try:
        return msgspec.convert({**spec, "shards": shards}, ShardMap)
    except msgspec.ValidationError as exc:
        raise ValidationError(f"sharding is invalid: {exc}", field="sharding") from exc


__all__ = ["CLUSTER_SETTINGS", "CollectionAdmin", "shard_map"]

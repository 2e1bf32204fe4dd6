"""Cluster state in NATS KV: which collections exist, where their shards live, who is up.

Two buckets (names in ``subjects.py``):

| bucket          | key            | value (JSON)                                          |
|-----------------|----------------|-------------------------------------------------------|
| ``vf_placement``| ``<collection>``| ``CollectionEntry``: engine config, shard map, replicas|
|                 |                |   per shard (node ids), creation sequence             |
| ``vf_members``  | ``<node id>``  | ``MemberRecord``: gRPC address, replicas with          |
|                 |                |   ``applied_seq`` and lag, heartbeat time              |

``vf_members`` has a TTL (``member_ttl_s``): a node that stops heart-beating disappears
from it on its own, which is what the gateway's router reads as "down". Placement is
written once, when a collection is created, by the gateway that creates it; nodes watch
it and open the replicas placed on them. KV writes are JetStream writes, so the state
survives a NATS restart like the logs do.

Everything here is async over one nats-py client; the caller's loop runs it.
"""

from __future__ import annotations

import time

import msgspec
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from vecfleet.cluster.nats_errors import translating
from vecfleet.cluster.records import CollectionEntry, MemberRecord, ReplicaReport, place
from vecfleet.cluster.subjects import MEMBERSHIP_BUCKET, PLACEMENT_BUCKET
from vecfleet.errors import CollectionExists


class Catalog:
    """Reads and writes the two buckets; create with ``await Catalog.open(nc)``."""

    def __init__(self, placement: KeyValue, members: KeyValue, member_ttl_s: float) -> None:
        self._placement = placement
        self._members = members
        self.member_ttl_s = member_ttl_s

    @classmethod
    async def open(cls, nc: Client, member_ttl_s: float = 6.0, replicas: int = 1) -> Catalog:
        js = nc.jetstream(timeout=5.0)
        with translating("opening the cluster catalog"):
            placement = await _bucket(js, PLACEMENT_BUCKET, None, replicas)
            members = await _bucket(js, MEMBERSHIP_BUCKET, member_ttl_s, replicas)
        return cls(placement, members, member_ttl_s)

    # ------------------------------------------------------------------ collections
    async def create(self, name: str, entry: CollectionEntry) -> None:
        """Record a new collection; ``CollectionExists`` if the name is taken."""
        with translating(f"registering collection {name}"):
            try:
                await self._placement.create(name, msgspec.json.encode(entry))
            except nats.js.errors.KeyWrongLastSequenceError as exc:
                raise CollectionExists(name) from exc

    async def drop(self, name: str) -> None:
        with translating(f"removing collection {name}"):
            await self._placement.purge(name)

    async def collection(self, name: str) -> CollectionEntry | None:
        """One collection read directly; ``None`` once it is dropped.

        A listing (``collections``) walks the bucket and may miss a key under load; a
        caller about to act on an absence confirms it here first.
        """
        with translating(f"reading collection {name}"):
            try:
                entry = await self._placement.get(name)
            except nats.js.errors.KeyNotFoundError:
                return None
        if not entry.value:
            return None
        return msgspec.json.decode(entry.value, type=CollectionEntry)

    async def collections(self) -> dict[str, CollectionEntry]:
        with translating("listing collections"):
            return {
                key: msgspec.json.decode(value, type=CollectionEntry)
                for key, value in await _entries(self._placement)
            }

    # ------------------------------------------------------------------ members
    async def heartbeat(self, record: MemberRecord) -> None:
        stamped = msgspec.structs.replace(record, heartbeat_at=time.time())
        with translating(f"heart-beating node {record.node_id}"):
            await self._members.put(record.node_id, msgspec.json.encode(stamped))

    async def leave(self, node_id: str) -> None:
        with translating(f"removing node {node_id}"):
            await self._members.delete(node_id)

    async def members(self) -> dict[str, MemberRecord]:
        """Nodes whose heartbeat is younger than the TTL."""
        with translating("listing nodes"):
            return {
                key: msgspec.json.decode(value, type=MemberRecord)
                for key, value in await _entries(self._members)
            }


async def _bucket(js: JetStreamContext, name: str, ttl_s: float | None, replicas: int) -> KeyValue:
    try:
        return await js.key_value(name)
    except nats.js.errors.BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(bucket=name, ttl=ttl_s, history=1, replicas=replicas)
    except nats.js.errors.BadRequestError:
        return await js.key_value(name)  # another process created it first


async def _entries(kv: KeyValue) -> list[tuple[str, bytes]]:
    """Every live key's value; deleted and purged keys are skipped."""
    try:
        keys = await kv.keys()
    except nats.js.errors.NoKeysError:
        return []
    out = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            continue  # deleted since it was listed
        if entry.value:
            out.append((key, entry.value))
    return out


__all__ = ["Catalog", "CollectionEntry", "MemberRecord", "ReplicaReport", "place"]

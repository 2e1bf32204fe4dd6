"""A cluster gateway's link to NATS: the catalog and the shard logs, connected late.

The composition root builds the gateway before its event loop runs, but a NATS client
connects inside that loop. ``NatsLink`` hands out its ``catalog`` (``cluster.base.Catalog``)
and ``log`` (``cluster.base.ShardLog``) at once and connects them in ``connect()``, called
from the app's lifespan; a call before then raises ``Unavailable``.
"""

from __future__ import annotations

import contextlib

import nats
from nats.aio.client import Client

from vecfleet.cluster.catalog import Catalog as NatsCatalog
from vecfleet.cluster.records import CollectionEntry, MemberRecord
from vecfleet.cluster.shard_writer import ShardLogWriter
from vecfleet.errors import Unavailable
from vecfleet.types import Seq

NOT_CONNECTED = "the gateway is not connected to NATS yet"


class NatsLink:
    def __init__(self, url: str, *, stream_replicas: int = 1, timeout_s: float = 5.0) -> None:
        self.url = url
        self.stream_replicas = stream_replicas
        self.timeout_s = timeout_s
        self._nc: Client | None = None
        self._catalog: NatsCatalog | None = None
        self._writer: ShardLogWriter | None = None
        self.catalog = _LinkedCatalog(self)
        self.log = _LinkedLog(self)

    async def connect(self) -> None:
        self._nc = await nats.connect(
            self.url,
            name="vecfleet-gateway",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            connect_timeout=self.timeout_s,
        )
        self._writer = ShardLogWriter(self._nc, timeout_s=self.timeout_s)
        self._catalog = await NatsCatalog.open(self._nc, replicas=self.stream_replicas)

    async def aclose(self) -> None:
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    def connected_catalog(self) -> NatsCatalog:
        if self._catalog is None:
            raise Unavailable(NOT_CONNECTED)
        return self._catalog

    def connected_writer(self) -> ShardLogWriter:
        if self._writer is None:
            raise Unavailable(NOT_CONNECTED)
        return self._writer


class _LinkedCatalog:
    """The NATS KV catalog once the link is connected."""

    def __init__(self, link: NatsLink) -> None:
        self._link = link

    @property
    def member_ttl_s(self) -> float:
        return self._link.connected_catalog().member_ttl_s

    async def create(self, name: str, entry: CollectionEntry) -> None:
        await self._link.connected_catalog().create(name, entry)

    async def drop(self, name: str) -> None:
        await self._link.connected_catalog().drop(name)

    async def collection(self, name: str) -> CollectionEntry | None:
        return await self._link.connected_catalog().collection(name)

    async def collections(self) -> dict[str, CollectionEntry]:
        return await self._link.connected_catalog().collections()

    async def members(self) -> dict[str, MemberRecord]:
        return await self._link.connected_catalog().members()


class _LinkedLog:
    """The JetStream shard logs once the link is connected."""

    def __init__(self, link: NatsLink) -> None:
        self._link = link

    async def ensure_stream(self, collection: str, shards: int, replicas: int = 1) -> None:
        await self._link.connected_writer().ensure_stream(collection, shards, replicas)

    async def delete_stream(self, collection: str) -> bool:
        return await self._link.connected_writer().delete_stream(collection)

    async def publish(self, collection: str, shard: int, record: bytes, msg_id: str) -> Seq:
        return await self._link.connected_writer().publish(collection, shard, record, msg_id)

    async def last_seq(self, collection: str, shard: int) -> Seq:
        return await self._link.connected_writer().last_seq(collection, shard)


__all__ = ["NatsLink"]

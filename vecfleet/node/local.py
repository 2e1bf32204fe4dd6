"""Embedded mode's cluster of one: the catalog, shard log and replicas of a local database.

The embedded server runs the same gateway, router, writer and admin as a cluster
gateway; what differs is wired here and chosen by the composition root:

* ``LocalCatalog`` (``cluster.base.Catalog``): every collection of the database, each in
  one shard placed on the one in-process node, which is always up;
* ``LocalShardLog`` (``cluster.base.ShardLog``): the database's write-ahead log. An
  append is durable (fsync by the database's setting) and applied before it returns, so
  the node's replica of the shard never lags: the log and its one follower are one;
* ``LocalReplica`` (``node.base.ReplicaView``): a collection of the database, as the node
  service hosts it.

Collections made by the writer or dropped through the log are hosted or removed by the
``NodeService`` at once, so a search right after a create finds its shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from vecfleet.cluster.records import CollectionEntry, MemberRecord, ReplicaReport
from vecfleet.cluster.sharding import ShardMap
from vecfleet.engine.api import CollectionHandle, EmbeddedDatabase
from vecfleet.engine.ops import CreateCollection, DropCollection, decode_op
from vecfleet.errors import CollectionExists, CollectionNotFound, ValidationError
from vecfleet.node.service import NodeService
from vecfleet.types import Seq

T = TypeVar("T")
IN_PROCESS = "in-process"
"""The address of the one node: ``runtime`` connects it with ``InProcessNode``."""


class LocalReplica:
    """One collection of the database as the one shard the node hosts (never behind)."""

    shard = 0

    def __init__(self, db: EmbeddedDatabase, collection: str) -> None:
        self.db = db
        self.collection = collection
        self._handle = db.collection(collection)

    def handle(self) -> CollectionHandle:
        return self._handle

    @property
    def applied_seq(self) -> int:
        return self._handle.applied_seq

    def lag_ms(self) -> float:
        return 0.0

    def wait_for(self, seq: int, timeout: float) -> bool:
        """At once: every record the log acknowledged is applied, so a sequence up to the
        database's newest is reflected, whichever collection it wrote, and a later one
        was never acknowledged (a caller's mistake, not a replica behind)."""
        newest = self.db.applied_seq
        if seq > newest:
            raise ValidationError(
                f"seq {seq} is newer than every write this database acknowledged ({newest}); "
                "pass the seq a write of yours answered",
                field="seq",
            )
        return True


class LocalShardLog:
    """The database's write-ahead log as every shard's log; appends apply at once.

    Appends wait for the log's fsync and apply on their own threads (``write_threads``),
    apart from the node service's search threads, so ingest never queues ahead of
    queries (STYLE 7).
    """

    def __init__(self, db: EmbeddedDatabase, service: NodeService, write_threads: int = 2):
        self.db = db
        self.service = service
        self._pool = ThreadPoolExecutor(write_threads, thread_name_prefix="write")

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        """Wait for appends in flight; the database is closed by its owner."""
        self._pool.shutdown(wait=True)

    async def ensure_stream(self, collection: str, shards: int, replicas: int = 1) -> None:
        return None  # one log holds every collection

    async def delete_stream(self, collection: str) -> bool:
        self.service.remove_replica(collection, 0)
        try:
            await self._run(lambda: self.db.drop_collection(collection))
        except CollectionNotFound:
            return False
        return True

    async def publish(self, collection: str, shard: int, record: bytes, msg_id: str) -> Seq:
        op = decode_op(record)
        if isinstance(op, DropCollection):
            raise ValidationError("collections are dropped through delete_stream")
        seq = (await self._run(lambda: self.db.append_record(record))).seq
        if isinstance(op, CreateCollection):
            self.service.add_replica(LocalReplica(self.db, collection))
        return seq

    async def last_seq(self, collection: str, shard: int) -> Seq:
        return self.db.collection(collection).applied_seq


class LocalCatalog:
    """The database's collections, one shard each on the one node ``node_id``."""

    member_ttl_s = float("inf")

    def __init__(self, db: EmbeddedDatabase, service: NodeService) -> None:
        self.db = db
        self.service = service
        self._created: dict[str, float] = {}

    def host_all(self) -> None:
        """Host a replica of every collection the database holds, and only those.

        Called at start-up and on every listing: a collection made or dropped on the
        database directly (the demo loader, the Python API) is hosted or let go within one
        refresh of the gateway's view, as a cluster node follows placement.
        """
        names = set(self.db.list_collections())
        hosted = {r.collection for r in self.service.replicas()}
        for name in sorted(names - hosted):
            with contextlib.suppress(CollectionNotFound):  # dropped since it was listed
                self.service.add_replica(LocalReplica(self.db, name))
        for name in hosted - names:
            self.service.remove_replica(name, 0)

    async def create(self, name: str, entry: CollectionEntry) -> None:
        if name in self.db.list_collections():
            raise CollectionExists(name)
        if entry.sharding.shards != 1:
            raise ValidationError(
                "an embedded database holds each collection in one shard; "
                f"shards must be 1, got {entry.sharding.shards}",
                field="shards",
            )
        self._created[name] = entry.created_at

    async def drop(self, name: str) -> None:
        self._created.pop(name, None)

    async def collection(self, name: str) -> CollectionEntry | None:
        try:
            handle = self.db.collection(name)
        except (CollectionNotFound, ValidationError):
            return None
        return self._entry(handle)

    async def collections(self) -> dict[str, CollectionEntry]:
        self.host_all()
        out = {}
        for name in self.db.list_collections():
            with contextlib.suppress(CollectionNotFound):  # dropped since it was listed
                out[name] = self._entry(self.db.collection(name))
        return out

    async def members(self) -> dict[str, MemberRecord]:
        node_id = self.service.node_id
        reports = [
            ReplicaReport(
                r.collection,
                r.shard,
                r.applied_seq,
                r.lag_ms(),
                len(r.handle()),
                self._created.get(r.collection, 0.0),
            )
            for r in self.service.replicas()
        ]
        record = MemberRecord(node_id, IN_PROCESS, reports, True, time.time())
        return {node_id: record}

    def _entry(self, handle: CollectionHandle) -> CollectionEntry:
        sharding = ShardMap(kind="hash", shards=1)
        created_at = self._created.get(handle.name, 0.0)
        return CollectionEntry(
            handle.config.to_dict(), sharding, [[self.service.node_id]], created_at
        )


class LocalUsage:
    """Memory and disk the embedded database holds in this process."""

    def __init__(self, db: EmbeddedDatabase) -> None:
        self.db = db

    def memory_bytes(self, name: str) -> int:
        return self.db.collection(name).memory_bytes()

    def disk_bytes(self) -> int:
        """Bytes under the data directory; files removed during the walk count 0."""
        total = 0
        for entry in Path(self.db.path).rglob("*"):
            with contextlib.suppress(OSError):
                total += entry.stat().st_size if entry.is_file() else 0
        return total


__all__ = ["IN_PROCESS", "LocalCatalog", "LocalReplica", "LocalShardLog", "LocalUsage"]

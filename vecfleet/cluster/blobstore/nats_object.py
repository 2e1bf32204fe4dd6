"""``BlobStore`` in JetStream object store buckets: snapshots live beside the log.

One bucket per collection (``vf_snap_<collection>``, see ``subjects.py``), one object per
snapshot (``<shard>/<seq, 20 digits>.tar``). The object store splits an object into
chunks on the bucket's stream and publishes the object's metadata (size, SHA-256) last,
so an interrupted put is never listed, and ``get`` checks the digest. Deleting a
collection deletes its bucket.

Transfers run on the ``NatsThread`` loop with ``transfer_timeout_s`` (large snapshots
take a while); packing and unpacking use a temporary file beside the target, never memory.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path

import nats.js.errors
from nats.js import api
from nats.js.object_store import ObjectStore

from vecfleet.cluster.blobstore.archive import pack, unpack
from vecfleet.cluster.nats_errors import translating
from vecfleet.cluster.nats_thread import NatsThread
from vecfleet.cluster.subjects import (
    parse_snapshot_object,
    snapshot_bucket,
    snapshot_object,
)
from vecfleet.errors import CorruptData, NotFound
from vecfleet.types import Seq

log = logging.getLogger(__name__)


class NatsBlobStore:
    """Snapshots in JetStream object stores; keeps the newest ``keep`` per shard."""

    def __init__(
        self,
        nats_thread: NatsThread,
        *,
        keep: int = 2,
        replicas: int = 1,
        transfer_timeout_s: float = 600.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._nats = nats_thread
        self.keep = max(keep, 1)
        self.replicas = replicas
        self.transfer_timeout_s = transfer_timeout_s
        self.timeout_s = timeout_s
        self.puts = 0
        self.fetches = 0

    def put_snapshot(self, collection: str, shard: int, seq: Seq, directory: Path) -> None:
        name = snapshot_object(shard, seq)
        with tempfile.TemporaryFile(dir=directory.parent) as packed:
            pack(directory, packed)
            packed.seek(0)
            self._nats.run(
                self._put(collection, name, packed), self.transfer_timeout_s, f"uploading {name}"
            )
        self.puts += 1
        stored = self._snapshots(collection, shard)
        for old in stored[self.keep :]:
            self._nats.run(
                self._delete(collection, snapshot_object(shard, old)),
                self.timeout_s,
                "removing an old snapshot",
            )

    def newest_snapshot(self, collection: str, shard: int) -> Seq | None:
        stored = self._snapshots(collection, shard)
        return stored[0] if stored else None

    def fetch_snapshot(self, collection: str, shard: int, seq: Seq, into_directory: Path) -> None:
        name = snapshot_object(shard, seq)
        into_directory.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=into_directory.parent) as packed:
            self._nats.run(
                self._get(collection, name, packed),
                self.transfer_timeout_s,
                f"downloading {name}",
            )
            packed.seek(0)
            unpack(packed, into_directory)
        self.fetches += 1

    def delete_collection(self, collection: str) -> None:
        self._nats.run(self._delete_bucket(collection), self.timeout_s, "deleting snapshots")

    # ------------------------------------------------------------------ internals
    def _snapshots(self, collection: str, shard: int) -> list[Seq]:
        """Stored snapshot sequences of the shard, newest first."""
        names = self._nats.run(self._list(collection), self.timeout_s, "listing snapshots")
        seqs = []
        for name in names:
            parsed = parse_snapshot_object(name)
            if parsed is not None and parsed[0] == shard:
                seqs.append(parsed[1])
        return sorted(seqs, reverse=True)

    async def _bucket(self, collection: str, create: bool) -> ObjectStore | None:
        bucket = snapshot_bucket(collection)
        js = self._nats.js
        try:
            return await js.object_store(bucket)
        except nats.js.errors.BucketNotFoundError:
            if not create:
                return None
        config = api.ObjectStoreConfig(
            description=f"vecfleet snapshots of collection {collection}",
            storage=api.StorageType.FILE,
            replicas=self.replicas,
        )
        return await js.create_object_store(bucket, config=config)

    async def _put(self, collection: str, name: str, packed: io.BufferedIOBase) -> None:
        with translating(f"uploading snapshot {name}"):
            store = await self._bucket(collection, create=True)
            assert store is not None
            await store.put(name, packed)

    async def _get(self, collection: str, name: str, packed: io.BufferedIOBase) -> None:
        with translating(f"downloading snapshot {name}"):
            store = await self._bucket(collection, create=False)
            try:
                if store is None:
                    raise nats.js.errors.ObjectNotFoundError
                await store.get(name, writeinto=packed)
            except nats.js.errors.NotFoundError as exc:
                raise NotFound(f"snapshot {name} of {collection} is not stored") from exc
            except nats.js.errors.DigestMismatchError as exc:
                raise CorruptData(f"snapshot {name} of {collection} fails its digest") from exc

    async def _list(self, collection: str) -> list[str]:
        with translating(f"listing snapshots of {collection}"):
            store = await self._bucket(collection, create=False)
            if store is None:
                return []
            try:
                infos = await store.list(ignore_deletes=True)
            except nats.js.errors.NotFoundError:
                return []
        return [info.name for info in infos if not info.deleted]

    async def _delete(self, collection: str, name: str) -> None:
        with translating(f"removing snapshot {name}"):
            store = await self._bucket(collection, create=False)
            if store is None:
                return
            try:
                await store.delete(name)
            except nats.js.errors.NotFoundError:
                return

    async def _delete_bucket(self, collection: str) -> None:
        with translating(f"deleting the snapshots of {collection}"):
            try:
                await self._nats.js.delete_object_store(snapshot_bucket(collection))
            except nats.js.errors.NotFoundError:
                return

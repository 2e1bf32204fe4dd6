"""A node's control loop: host the replicas placement gives it, and say so by heartbeat.

Every ``poll_s`` the host reads placement from the cluster catalog (NATS KV), opens a
``Replica`` for each shard placed on this node that it does not hold yet (off the event
loop: opening downloads a snapshot and replays the log) and closes those whose
collection is gone. Every ``heartbeat_s`` it writes its member record: its gRPC address
and, per replica, ``applied_seq``, lag and points, which the gateways read to route and to
learn of writes. A replica whose log advanced since its last snapshot is snapshotted
(and uploaded, which lets the log be trimmed) every ``snapshot_every_s``.

::

    catalog ──placement──▶ NodeHost ──open/close──▶ Replica ──follows──▶ the shard's log
                              │                        ▲
                              └──heartbeat──▶ members  └── NodeService answers reads
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from vecfleet.cluster.catalog import Catalog, MemberRecord, ReplicaReport
from vecfleet.node.replica import Replica
from vecfleet.node.service import NodeService

log = logging.getLogger(__name__)

ReplicaKey = tuple[str, int]


class NodeHost:
    def __init__(
        self,
        node_id: str,
        address: str,
        data_dir: Path,
        catalog: Catalog,
        service: NodeService,
        open_replica: Callable[[str, int, Path], Replica],
        *,
        poll_s: float = 0.25,
        heartbeat_s: float = 0.5,
        snapshot_every_s: float = 30.0,
    ) -> None:
        self.node_id = node_id
        self.address = address
        self.data_dir = data_dir
        self.catalog = catalog
        self.service = service
        self.open_replica = open_replica
        self.poll_s = poll_s
        self.heartbeat_s = heartbeat_s
        self.snapshot_every_s = snapshot_every_s
        self.replicas: dict[ReplicaKey, Replica] = {}
        self._incarnations: dict[ReplicaKey, float] = {}  # created_at each replica follows
        self._snapshotted: dict[ReplicaKey, tuple[int, float]] = {}
        self._opening: set[ReplicaKey] = set()
        self._openers: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._serving = True

    async def start(self) -> None:
        await self.reconcile()
        await self.heartbeat()
        self._tasks = [
            asyncio.create_task(self._every(self.poll_s, self.reconcile), name="placement"),
            asyncio.create_task(self._every(self.heartbeat_s, self.heartbeat), name="heartbeat"),
            asyncio.create_task(self._every(1.0, self.snapshots), name="snapshots"),
        ]

    async def stop(self) -> None:
        """Drain (gateways move away), leave membership, close every replica."""
        self._serving = False
        self.service.drain()
        with contextlib.suppress(Exception):
            await self.heartbeat()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):
            await self.catalog.leave(self.node_id)
        loop = asyncio.get_running_loop()
        for key in list(self.replicas):
            replica = self.replicas.pop(key)
            self.service.remove_replica(*key)
            await loop.run_in_executor(None, replica.close)

    async def _every(self, interval_s: float, step: Callable[[], object]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await step()  # type: ignore[misc]
            except Exception as exc:  # NATS away, a replica failing: retry next round
                log.warning("node %s: %s failed: %s", self.node_id, step.__name__, exc)

    # ------------------------------------------------------------------ placement
    def _replica_dir(self, key: ReplicaKey) -> Path:
        return self.data_dir / key[0] / str(key[1])

    async def reconcile(self) -> None:
        """Open replicas placed here and not held; close those whose collection is gone."""
        entries = await self.catalog.collections()
        wanted = {
            (name, shard)
            for name, entry in entries.items()
            for shard, nodes in enumerate(entry.placement)
            if self.node_id in nodes
        }
        for key in sorted(wanted - set(self.replicas) - self._opening):
            self._opening.add(key)
            created_at = entries[key[0]].created_at
            task = asyncio.create_task(self._open(key, created_at), name=f"open-{key[0]}-{key[1]}")
            self._openers.add(task)
            task.add_done_callback(self._openers.discard)
        for name in {k[0] for k in self.replicas if k[0] not in entries}:
            if await self.catalog.collection(name) is None:  # confirmed, not a missed key
                for key in [k for k in self.replicas if k[0] == name]:
                    await self._drop(key)
        # A collection dropped and made again under its name between two rounds: the
        # replica follows a log that is gone; drop it, the next round opens the new one.
        for key in [k for k in self.replicas if k[0] in entries]:
            if self._incarnations.get(key) != entries[key[0]].created_at:
                await self._drop(key)

    async def _open(self, key: ReplicaKey, created_at: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            replica = await loop.run_in_executor(
                None, self.open_replica, key[0], key[1], self._replica_dir(key)
            )
        except Exception as exc:
            log.warning("node %s: replica %s/%d not opened yet: %s", self.node_id, *key, exc)
            return
        finally:
            self._opening.discard(key)
        self.replicas[key] = replica
        self._incarnations[key] = created_at
        self.service.add_replica(replica)
        self._snapshotted[key] = (replica.applied_seq, time.monotonic())
        log.info("node %s hosts %s/%d at seq %d", self.node_id, *key, replica.applied_seq)

    async def _drop(self, key: ReplicaKey) -> None:
        replica = self.replicas.pop(key)
        self.service.remove_replica(*key)
        self._snapshotted.pop(key, None)
        self._incarnations.pop(key, None)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, replica.close)
        directory = self._replica_dir(key)
        shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):  # other shards of the collection may remain
            directory.parent.rmdir()
        log.info("node %s dropped %s/%d: the collection is gone", self.node_id, *key)

    # ------------------------------------------------------------------ reporting
    def record(self) -> MemberRecord:
        reports = []
        for (name, shard), replica in list(self.replicas.items()):
            try:
                points = len(replica.handle())
            except Exception:  # resyncing or dropped this instant
                points = 0
            created_at = self._incarnations.get((name, shard), 0.0)
            reports.append(
                ReplicaReport(
                    name, shard, replica.applied_seq, replica.lag_ms(), points, created_at
                )
            )
        return MemberRecord(self.node_id, self.address, reports, self._serving)

    async def heartbeat(self) -> None:
        await self.catalog.heartbeat(self.record())

    async def snapshots(self) -> None:
        """Snapshot (and upload) replicas whose log moved since their last snapshot."""
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        for key, replica in list(self.replicas.items()):
            seq, at = self._snapshotted.get(key, (0, now))
            if replica.applied_seq > seq and now - at >= self.snapshot_every_s:
                info = await loop.run_in_executor(None, replica.snapshot)
                self._snapshotted[key] = (info.seq, time.monotonic())

"""``Backend`` over a cluster: writes to JetStream shard logs, reads from node replicas.

Writes: validate against the collection's schema → split by shard (``ShardMap``) →
publish each shard's record to its subject → the PubAck sequences are the
acknowledgement (the largest is the write's ``seq``, for ``session`` reads). Records are
split to stay under NATS's message size; each carries a message id so a retried publish
stores nothing twice.

Reads: the shards a filter can match (``ShardMap.shards_for_filter``) are asked in
parallel, one replica each, chosen by the C3 score of ``replicas.py``, hedged after the
shard's p95 and failed over by ``hedging.py``; top-k lists are merged. Consistency:

* ``strong``: each shard's replica first applies the shard's last record (its sequence
  is read from JetStream at request time);
* ``session``: it applies every record of its shard up to the caller's ``seq``;
* ``bounded``: its lag is at most ``max_lag_ms`` (the node refuses otherwise, and the
  router moves to another replica);
* ``eventual``: any replica.

Cluster state (collections, placement, live nodes, replica sets) is ``ClusterView``'s
(``cluster_view.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import nats
import numpy as np
from nats.aio.client import Client

from vecfleet.cluster.catalog import Catalog, CollectionEntry, place
from vecfleet.cluster.shard_writer import ShardLogWriter
from vecfleet.cluster.sharding import ShardMap
from vecfleet.cluster.subjects import cluster_collection_name
from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.ops import CreateCollection, Delete, encode_op, upsert_op
from vecfleet.engine.validate import check_ids, check_upsert, normalise
from vecfleet.errors import Unavailable, ValidationError
from vecfleet.gateway.backend import BatchAnswer, ReadOptions
from vecfleet.gateway.cluster_view import ClusterCollection, ClusterView, NodeRef
from vecfleet.gateway.deadline import Deadline
from vecfleet.gateway.hedging import HedgeBudget, hedged_call
from vecfleet.gateway.replicas import ReplicaSet
from vecfleet.gateway.retry import RetryBudget
from vecfleet.models import Hit, Point, WriteAck
from vecfleet.node.base import NodeAPI
from vecfleet.types import PointId

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 512 << 10  # well under NATS's default 1 MiB max_payload
CURSOR_SHIFT = 40  # scroll cursor = shard << 40 | the shard's own cursor
CLUSTER_SETTINGS = ("shards", "replicas", "sharding")
ATTEMPT_P99_FACTOR = 4.0


class ClusterBackend:
    reads_are_strong = False

    def __init__(
        self,
        nats_url: str,
        connect_node: Callable[[str], NodeAPI],
        *,
        stream_replicas: int = 1,
        default_shards: int = 1,
        default_replicas: int = 1,
        refresh_s: float = 0.25,
        timeout_s: float = 5.0,
        hedge_floor_s: float = 0.005,
        min_attempt_s: float = 0.15,
    ) -> None:
        self.nats_url = nats_url
        self.connect_node = connect_node
        self.stream_replicas = stream_replicas
        self.default_shards = default_shards
        self.default_replicas = default_replicas
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self.hedge_floor_s = hedge_floor_s
        self.min_attempt_s = min_attempt_s
        self.hedges = HedgeBudget()
        self.retries = RetryBudget()
        self._nc: Client | None = None
        self._writer: ShardLogWriter | None = None
        self._view: ClusterView | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._nc = await nats.connect(
            self.nats_url,
            name="vecfleet-gateway",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            connect_timeout=self.timeout_s,
        )
        self._writer = ShardLogWriter(self._nc, timeout_s=self.timeout_s)
        catalog = await Catalog.open(self._nc, replicas=self.stream_replicas)
        self._view = ClusterView(catalog, self.connect_node, self.refresh_s)
        await self._view.start()

    async def aclose(self) -> None:
        if self._view is not None:
            await self._view.aclose()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()

    @property
    def writer(self) -> ShardLogWriter:
        if self._writer is None:
            raise Unavailable("the gateway is not connected to NATS yet")
        return self._writer

    @property
    def view(self) -> ClusterView:
        if self._view is None:
            raise Unavailable("the gateway is not connected to NATS yet")
        return self._view

    @property
    def catalog(self) -> Catalog:
        return self.view.catalog

    # ------------------------------------------------------------------ collections
    def collection(self, name: str) -> ClusterCollection:
        return self.view.collection(name)

    def collection_names(self) -> list[str]:
        return self.view.collection_names() if self._view is not None else []

    async def create_collection(
        self,
        name: str,
        dim: int,
        metric: str,
        index: str,
        payload_schema: dict[str, str] | None,
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        cluster_collection_name(name)
        engine_settings = {k: v for k, v in settings.items() if k not in CLUSTER_SETTINGS}
        config = CollectionConfig.from_dict(
            {
                "name": name,
                "dim": dim,
                "metric": metric,
                "index": index,
                "payload_schema": payload_schema or {},
                **engine_settings,
            }
        )
        sharding = _shard_map(settings, self.default_shards)
        sharding.check_schema(config.payload_schema)
        replicas = _positive(settings.get("replicas", self.default_replicas), "replicas")
        members = await self.catalog.members()
        nodes = [m.node_id for m in members.values() if m.serving]
        entry = CollectionEntry(
            config.to_dict(), sharding, place(sharding.shards, replicas, nodes), time.time()
        )
        await self.writer.ensure_stream(name, sharding.shards, self.stream_replicas)
        await self.catalog.create(name, entry)
        record = encode_op(CreateCollection(config.to_dict()))
        seqs = await asyncio.gather(
            *(
                self.writer.publish(name, s, record, f"create-{entry.created_at}-{s}")
                for s in range(sharding.shards)
            )
        )
        await self.view.refresh()
        col = self.collection(name)
        col.applied_seq = max(col.applied_seq, *seqs)
        await self._wait_opened(name, dict(enumerate(seqs)))
        return await self.info(name)

    async def _wait_opened(self, name: str, seqs: dict[int, int]) -> None:
        """Until every placed replica reports its shard's creation (or the timeout passes).

        Sequences are per shard: other shards' records share the stream's numbering.
        """
        entry = self.collection(name).entry
        wanted = {(node, s) for s, nodes in enumerate(entry.placement) for node in nodes}
        deadline = time.monotonic() + self.timeout_s * 2
        while time.monotonic() < deadline:
            members = await self.catalog.members()
            opened = {
                (m.node_id, r.shard)
                for m in members.values()
                for r in m.replicas
                if r.collection == name and r.applied_seq >= seqs[r.shard]
            }
            if wanted <= opened:
                await self.view.refresh()
                return
            await asyncio.sleep(0.05)
        log.warning("collection %s: not every replica opened in time", name)

    async def drop_collection(self, name: str) -> WriteAck:
        col = await self.view.known(name)
        await self.catalog.drop(name)
        await self.writer.delete_stream(name)
        await self.view.refresh()
        return WriteAck(col.applied_seq)

    async def info(self, name: str) -> dict[str, Any]:
        """The collection's settings and replicas; ``points`` counted by the nodes now."""
        col = await self.view.known(name)
        info = self.view.info(col)
        with contextlib.suppress(Unavailable):  # else the heartbeats' figure stands
            info["points"] = await self.count(name, None, ReadOptions("eventual"))
        return info

    def stats(self, name: str) -> dict[str, Any]:
        return self.view.info(self.collection(name))

    # ------------------------------------------------------------------ writes
    async def upsert(
        self,
        name: str,
        ids: list[PointId],
        vectors: np.ndarray,
        payloads: list[dict[str, Any]],
        visible: bool = False,
    ) -> WriteAck:
        col = await self.view.known(name)
        config = col.config
        id_list, matrix, clean = check_upsert(ids, vectors, payloads, config.dim, config.schema)
        if col.config.metric == "cosine":
            matrix = normalise(matrix)
        sharding = col.entry.sharding
        by_shard: dict[int, list[int]] = {}
        for row, (pid, payload) in enumerate(zip(id_list, clean, strict=True)):
            by_shard.setdefault(sharding.shard_of(pid, payload), []).append(row)
        request = uuid.uuid4().hex
        publishes = []
        shards = []
        row_bytes = col.config.dim * 4 + 256
        per_record = max(1, MAX_RECORD_BYTES // row_bytes)
        for shard, rows in sorted(by_shard.items()):
            for part, start in enumerate(range(0, len(rows), per_record)):
                chunk = rows[start : start + per_record]
                op = upsert_op(
                    name, [id_list[i] for i in chunk], matrix[chunk], [clean[i] for i in chunk]
                )
                msg_id = f"{request}-{shard}-{part}"
                publishes.append(self.writer.publish(name, shard, encode_op(op), msg_id))
                shards.append(shard)
        seqs = await asyncio.gather(*publishes)
        seq = max(seqs)
        col.applied_seq = max(col.applied_seq, seq)
        if visible:
            await self._wait_visible(name, _newest_per_shard(shards, seqs))
        return WriteAck(seq, len(id_list))

    async def delete(self, name: str, ids: list[PointId], visible: bool = False) -> WriteAck:
        col = await self.view.known(name)
        id_list = check_ids(ids)
        groups = col.entry.sharding.group_ids(id_list)
        if not groups:
            return WriteAck(col.applied_seq, 0)
        request = uuid.uuid4().hex
        seqs = await asyncio.gather(
            *(
                self.writer.publish(
                    name, shard, encode_op(Delete(name, list(group))), f"{request}-{shard}"
                )
                for shard, group in sorted(groups.items())
            )
        )
        seq = max(seqs)
        col.applied_seq = max(col.applied_seq, seq)
        if visible:
            await self._wait_visible(name, _newest_per_shard(sorted(groups), seqs))
        return WriteAck(seq, len(id_list))

    async def _wait_visible(self, name: str, seqs: dict[int, int]) -> None:
        """Until every live replica of each shard applied its sequence in ``seqs``."""
        deadline = Deadline.from_timeout_s(self.timeout_s)
        calls = [
            ref.node.count(name, shard, None, min_seq=seq, timeout_s=deadline.remaining())
            for shard, seq in seqs.items()
            for ref in (m.replica for m in self.view.replica_set(name, shard).members)
        ]
        await asyncio.gather(*calls)

    # ------------------------------------------------------------------ reads
    async def _floors(self, name: str, shards: list[int], read: ReadOptions) -> dict[int, int]:
        """Per shard, the sequence its replica must have applied before it answers."""
        if read.consistency == "strong":
            seqs = await asyncio.gather(*(self.writer.last_seq(name, s) for s in shards))
            return dict(zip(shards, seqs, strict=True))
        if read.consistency == "session":
            # The replica waits for its shard's newest record at or below the caller's
            # write, which may have gone to another shard (Replica.wait_for).
            return dict.fromkeys(shards, read.min_seq)
        return dict.fromkeys(shards, 0)

    async def _ask(
        self,
        name: str,
        shards: list[int],
        read: ReadOptions,
        call: Callable[[NodeAPI, int, int, float | None, float], Any],
    ) -> list[Any]:
        """``call(node, shard, min_seq, max_lag_ms, timeout_s)`` on one replica per shard."""
        deadline = Deadline.from_timeout_s(read.timeout_s)
        floors = await self._floors(name, shards, read)
        max_lag = read.max_lag_ms if read.consistency == "bounded" else None

        async def one(shard: int) -> Any:
            replicas = self.view.replica_set(name, shard)
            # An attempt may take a few times the shard's p99 before it is given up for
            # another replica: a stalled node costs that, not the whole deadline.
            p99 = replicas.latency.quantile(0.99) or 0.0
            attempt_s = max(self.min_attempt_s, ATTEMPT_P99_FACTOR * p99)
            return await hedged_call(
                replicas,
                lambda ref: call(
                    ref.node,
                    shard,
                    floors[shard],
                    max_lag,
                    min(deadline.remaining(), attempt_s),
                ),
                deadline,
                self.hedges,
                retries=self.retries,
                floor_s=self.hedge_floor_s,
            )

        try:
            return list(await asyncio.gather(*(one(s) for s in shards)))
        except TimeoutError as exc:
            raise Unavailable(
                f"collection {name!r}: no answer from every shard within "
                f"{read.timeout_s * 1000:.0f} ms"
            ) from exc

    async def search(
        self,
        name: str,
        vectors: np.ndarray,
        limit: int,
        filter: dict[str, Any] | None,
        params: dict[str, Any] | None,
        with_vectors: bool,
        read: ReadOptions,
    ) -> BatchAnswer:
        col = await self.view.known(name)
        shards = col.entry.sharding.shards_for_filter(filter)

        def call(node: NodeAPI, shard: int, floor: int, lag: float | None, timeout: float) -> Any:
            return node.search(
                name, shard, vectors, limit, filter, params, True, with_vectors, floor, lag, timeout
            )

        answers = await self._ask(name, shards, read, call)
        ascending = col.config.metric == "l2"
        merged = [
            _top([answer[row] for answer in answers], limit, ascending)
            for row in range(len(vectors))
        ]
        plan = [{"strategy": "scatter", "shards": shards, "consistency": read.consistency}]
        return BatchAnswer(merged, plan)

    async def get(
        self, name: str, ids: list[PointId], with_vectors: bool, read: ReadOptions
    ) -> list[Point]:
        col = await self.view.known(name)
        id_list = check_ids(ids)
        groups = col.entry.sharding.group_ids(id_list)
        shards = sorted(groups)

        def call(node: NodeAPI, shard: int, floor: int, lag: float | None, timeout: float) -> Any:
            return node.get(
                name,
                shard,
                list(groups[shard]),
                with_vectors,
                min_seq=floor,
                max_lag_ms=lag,
                timeout_s=timeout,
            )

        answers = await self._ask(name, shards, read, call)
        found = {p.id: p for answer in answers for p in answer}
        return [found[i] for i in dict.fromkeys(id_list) if i in found]

    async def count(self, name: str, filter: dict[str, Any] | None, read: ReadOptions) -> int:
        col = await self.view.known(name)
        shards = col.entry.sharding.shards_for_filter(filter)
        counts = await self._ask(
            name,
            shards,
            read,
            lambda node, shard, floor, lag, timeout: node.count(
                name, shard, filter, min_seq=floor, max_lag_ms=lag, timeout_s=timeout
            ),
        )
        return int(sum(counts))

    async def scroll(
        self,
        name: str,
        filter: dict[str, Any] | None,
        limit: int,
        cursor: int | None,
        read: ReadOptions,
    ) -> tuple[list[Point], int | None]:
        col = await self.view.known(name)
        shards = col.entry.sharding.shards_for_filter(filter)
        if cursor is not None and (
            isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0
        ):
            raise ValidationError(
                "cursor must be a non-negative integer from a previous page", field="cursor"
            )
        shard, inner = divmod(cursor or 0, 1 << CURSOR_SHIFT)
        points: list[Point] = []
        for s in [s for s in shards if s >= shard]:
            start = inner if s == shard else None
            want = limit - len(points)

            def call(
                node: NodeAPI,
                shard: int,
                floor: int,
                lag: float | None,
                timeout: float,
                start: int | None = start,
                want: int = want,
            ) -> Any:
                return node.scroll(
                    name,
                    shard,
                    filter,
                    want,
                    start,
                    min_seq=floor,
                    max_lag_ms=lag,
                    timeout_s=timeout,
                )

            [(page, nxt)] = await self._ask(name, [s], read, call)
            points.extend(page)
            if nxt is not None:
                return points, (s << CURSOR_SHIFT) | nxt
            if len(points) >= limit:
                later = [t for t in shards if t > s]
                return points, (later[0] << CURSOR_SHIFT) if later else None
        return points, None

    # ------------------------------------------------------------------ stats
    def memory_bytes(self, name: str) -> int:
        return 0  # held by the nodes; their own /metrics report it

    def disk_bytes(self) -> int:
        return 0

    def replica_sets(self) -> list[ReplicaSet[NodeRef]]:
        return self.view.replica_sets() if self._view is not None else []

    def replica_lags(self) -> list[tuple[str, int, str, float]]:
        return [
            (r.collection, r.shard, node_id, r.lag_ms / 1000)
            for node_id, member in (self._view.members if self._view else {}).items()
            for r in member.replicas
        ]


def _newest_per_shard(shards: list[int], seqs: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for shard, seq in zip(shards, seqs, strict=True):
        out[shard] = max(out.get(shard, 0), seq)
    return out


def _top(lists: list[list[Hit]], limit: int, ascending: bool) -> list[Hit]:
    hits = [h for hits in lists for h in hits]
    hits.sort(key=lambda h: h.score, reverse=not ascending)
    return hits[:limit]


def _positive(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{field} must be a positive integer, got {value!r}", field=field)
    return value


def _shard_map(settings: dict[str, Any], default_shards: int) -> ShardMap:
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

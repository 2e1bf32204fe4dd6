"""The write path: validate once, split by shard, append to each shard's log, acknowledge.

Writes: validate against the collection's schema → split by shard (``ShardMap``) → append
each shard's record to its log (``cluster.base.ShardLog``: the local write-ahead log in
embedded mode, a JetStream subject in cluster mode) → the sequences are the
acknowledgement (the largest is the write's ``seq``, for ``session`` reads). Records are
split to stay under the log's message size; each carries a message id so a retried append
stores nothing twice where the log can tell.
"""

from __future__ import annotations

import asyncio
import uuid

import numpy as np

from vecfleet.cluster.base import ShardLog
from vecfleet.engine.ops import Delete, encode_op, upsert_op
from vecfleet.engine.validate import check_ids, check_upsert, normalise
from vecfleet.gateway.cluster_view import ClusterView
from vecfleet.gateway.deadline import Deadline
from vecfleet.gateway.reads import ReadOptions
from vecfleet.gateway.router import Router
from vecfleet.models import ReadGate, ShardCount, WriteAck
from vecfleet.types import Payload, PointId

MAX_RECORD_BYTES = 512 << 10  # well under NATS's default 1 MiB max_payload


class Writer:
    """Upserts and deletes of every collection of ``view``, through ``log``.

    A delete's acknowledgement counts the named points that existed when it was accepted,
    as the replicas say through ``router`` (a log record does not know what it removes).
    """

    def __init__(
        self, view: ClusterView, log: ShardLog, router: Router, timeout_s: float = 5.0
    ) -> None:
        self.view = view
        self.log = log
        self.router = router
        self.timeout_s = timeout_s

    async def upsert(
        self,
        name: str,
        ids: list[PointId],
        vectors: np.ndarray,
        payloads: list[Payload],
        visible: bool = False,
    ) -> WriteAck:
        """Store the points; ``visible`` waits until every replica applied them."""
        col = await self.view.known(name)
        config = col.config
        id_list, matrix, clean = check_upsert(ids, vectors, payloads, config.dim, config.schema)
        if config.metric == "cosine":
            matrix = normalise(matrix)
        sharding = col.entry.sharding
        by_shard: dict[int, list[int]] = {}
        for row, (pid, payload) in enumerate(zip(id_list, clean, strict=True)):
            by_shard.setdefault(sharding.shard_of(pid, payload), []).append(row)
        request = uuid.uuid4().hex
        appends = []
        shards = []
        per_record = max(1, MAX_RECORD_BYTES // (config.dim * 4 + 256))
        for shard, rows in sorted(by_shard.items()):
            for part, start in enumerate(range(0, len(rows), per_record)):
                chunk = rows[start : start + per_record]
                op = upsert_op(
                    name, [id_list[i] for i in chunk], matrix[chunk], [clean[i] for i in chunk]
                )
                msg_id = f"{request}-{shard}-{part}"
                appends.append(self.log.publish(name, shard, encode_op(op), msg_id))
                shards.append(shard)
        seqs = await asyncio.gather(*appends)
        seq = max(seqs)
        col.applied_seq = max(col.applied_seq, seq)
        if visible:
            await self._wait_visible(name, _newest_per_shard(shards, list(seqs)))
        return WriteAck(seq, len(id_list))

    async def delete(self, name: str, ids: list[PointId], visible: bool = False) -> WriteAck:
        col = await self.view.known(name)
        id_list = check_ids(ids)
        groups = col.entry.sharding.group_ids(id_list)
        if not groups:
            return WriteAck(col.applied_seq, 0)
        named = list(dict.fromkeys(id_list))
        count = len(await self.router.get(name, named, False, ReadOptions("strong")))
        request = uuid.uuid4().hex
        shards = sorted(groups)
        seqs = await asyncio.gather(
            *(
                self.log.publish(
                    name, shard, encode_op(Delete(name, list(groups[shard]))), f"{request}-{shard}"
                )
                for shard in shards
            )
        )
        seq = max(seqs)
        col.applied_seq = max(col.applied_seq, seq)
        if visible:
            await self._wait_visible(name, _newest_per_shard(shards, list(seqs)))
        return WriteAck(seq, count)

    async def _wait_visible(self, name: str, seqs: dict[int, int]) -> None:
        """Until every live replica of each shard applied its sequence in ``seqs``."""
        deadline = Deadline.from_timeout_s(self.timeout_s)
        calls = [
            ref.node.count(ShardCount(name, shard, None, ReadGate(seq, None, deadline.remaining())))
            for shard, seq in seqs.items()
            for ref in (m.replica for m in self.view.replica_set(name, shard).members)
        ]
        await asyncio.gather(*calls)


def _newest_per_shard(shards: list[int], seqs: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for shard, seq in zip(shards, seqs, strict=True):
        out[shard] = max(out.get(shard, 0), seq)
    return out


__all__ = ["MAX_RECORD_BYTES", "Writer"]

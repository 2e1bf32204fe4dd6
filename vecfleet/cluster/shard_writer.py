"""The gateway's side of the replicated log: append a shard's records to JetStream.

A write is acknowledged when JetStream's PubAck arrives: the record is then stored (on a
quorum of servers when the stream has replicas=3) and has its stream sequence, which the
gateway returns to the client as the write's ``seq`` (for ``session`` reads). Every
replica of the shard consumes the same subject in order (``vecfleet.node.replica``), so
nothing more is needed for the replicas to converge.

Retries are idempotent: each publish carries ``Nats-Msg-Id``, and JetStream drops a
second message with the same id inside the stream's duplicate window (default 2 min),
answering with the *original* sequence. A caller that got ``Unavailable`` does not know
whether its record landed (the request may have reached the server just before the
connection broke); it retries with the same ``msg_id`` and gets one record either way.
Ids must be unique per collection (a stream), e.g. a UUID per client request.

While the connection is down the writer does not queue the publish in nats-py's
reconnect buffer (where it would be sent minutes later, long after the caller gave up):
it waits for the connection up to its timeout and then raises ``Unavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import nats.js.errors
from nats.aio.client import Client
from nats.js import api

from vecfleet.cluster.nats_errors import translating
from vecfleet.cluster.subjects import (
    cluster_collection_name,
    shard_subject,
    snapshot_bucket,
    stream_name,
    stream_subjects,
)
from vecfleet.errors import CollectionNotFound, Unavailable, ValidationError
from vecfleet.types import Seq

# JetStream API error codes (nats-server's errors.json) this module tells apart.
ERR_STREAM_NOT_FOUND = 10059
ERR_NO_MESSAGE_FOUND = 10037
ERR_STREAM_NAME_IN_USE = 10058
MSG_ID_HEADER = "Nats-Msg-Id"


class ShardLogWriter:
    """Publishes records to shard subjects and manages the collection streams (async).

    ``nc`` is a connected nats-py client whose loop the caller runs in; synchronous code
    runs these coroutines through ``NatsThread.run``.
    """

    def __init__(
        self,
        nc: Client,
        *,
        timeout_s: float = 5.0,
        duplicate_window_s: float = 120.0,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout_s)
        self.timeout_s = timeout_s
        self.duplicate_window_s = duplicate_window_s
        self.published = 0
        self.duplicates = 0

    # ------------------------------------------------------------------ streams
    async def ensure_stream(self, collection: str, shards: int, replicas: int = 1) -> None:
        """Create the collection's stream, or add subjects for new shards; idempotent."""
        name = stream_name(collection)
        subjects = stream_subjects(collection, shards)
        config = api.StreamConfig(
            name=name,
            description=f"vecfleet log of collection {collection}",
            subjects=subjects,
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            discard=api.DiscardPolicy.OLD,  # no limits are set: nothing is ever discarded
            num_replicas=replicas,
            duplicate_window=self.duplicate_window_s,
        )
        with translating(f"creating stream {name}"):
            await self._wait_connected(time.monotonic() + self.timeout_s)
            info = await self._stream_info(name)
            if info is None:
                try:
                    await self._js.add_stream(config)
                    return
                except nats.js.errors.BadRequestError as exc:
                    if exc.err_code != ERR_STREAM_NAME_IN_USE:
                        raise
                    info = await self._stream_info(name)  # another gateway won the race
                    if info is None:
                        raise
            present = list(info.config.subjects or [])
            missing = [s for s in subjects if s not in present]
            if missing or info.config.num_replicas != replicas:
                await self._js.update_stream(
                    info.config.evolve(subjects=present + missing, num_replicas=replicas)
                )

    async def delete_stream(self, collection: str) -> bool:
        """Delete the collection's stream, every record in it and its snapshots (a
        collection made again under the name must not load them); False if it was absent."""
        name = stream_name(collection)
        with translating(f"deleting stream {name}"):
            await self._wait_connected(time.monotonic() + self.timeout_s)
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self._js.delete_object_store(snapshot_bucket(collection))
            try:
                return bool(await self._js.delete_stream(name))
            except nats.js.errors.NotFoundError:
                return False

    # ------------------------------------------------------------------ records
    async def publish(self, collection: str, shard: int, record: bytes, msg_id: str) -> Seq:
        """Append ``record`` to the shard's log; returns its stream sequence once stored.

        A duplicate ``msg_id`` (inside the duplicate window) stores nothing and returns
        the sequence of the first publish. Raises ``CollectionNotFound`` when the
        collection has no stream, ``ValidationError`` for a shard it does not have,
        ``Unavailable`` when NATS does not answer within ``timeout_s``.
        """
        if not isinstance(msg_id, str) or not msg_id:
            raise ValidationError("msg_id must be a non-empty string", field="msg_id")
        subject = shard_subject(collection, shard)
        deadline = time.monotonic() + self.timeout_s
        with translating(f"publishing to {subject}"):
            await self._wait_connected(deadline)
            try:
                ack = await self._js.publish(
                    subject,
                    record,
                    timeout=max(deadline - time.monotonic(), 0.05),
                    stream=stream_name(collection),
                    headers={MSG_ID_HEADER: msg_id},
                )
            except nats.js.errors.NoStreamResponseError as exc:
                raise await self._no_stream_error(collection, shard) from exc
        self.published += 1
        if ack.duplicate:
            self.duplicates += 1
        return int(ack.seq)

    async def last_seq(self, collection: str, shard: int) -> Seq:
        """Stream sequence of the shard's newest record, 0 if it has none (``strong`` reads)."""
        subject = shard_subject(collection, shard)
        name = stream_name(collection)
        with translating(f"reading the last sequence of {subject}"):
            await self._wait_connected(time.monotonic() + self.timeout_s)
            try:
                msg = await self._js.get_last_msg(name, subject)
            except nats.js.errors.NotFoundError as exc:
                if exc.err_code == ERR_STREAM_NOT_FOUND:
                    raise CollectionNotFound(collection) from exc
                return 0
        return int(msg.seq or 0)

    # ------------------------------------------------------------------ helpers
    async def _stream_info(self, name: str) -> api.StreamInfo | None:
        try:
            return await self._js.stream_info(name)
        except nats.js.errors.NotFoundError:
            return None

    async def _wait_connected(self, deadline: float) -> None:
        """Wait for a live connection until ``deadline``; never queue work while down."""
        while not self._nc.is_connected:
            if self._nc.is_closed:
                raise Unavailable("the NATS connection is closed")
            if time.monotonic() >= deadline:
                raise Unavailable("NATS is not connected (server down or restarting); retry later")
            await asyncio.sleep(0.02)

    async def _no_stream_error(
        self, collection: str, shard: int
    ) -> CollectionNotFound | ValidationError | Unavailable:
        """Why no stream answered: no such collection, no such shard, or JetStream down."""
        name = cluster_collection_name(collection)
        try:
            info = await self._stream_info(stream_name(name))
        except Exception:  # the follow-up question failed too: report the outage
            info = None
            reachable = False
        else:
            reachable = True
        if reachable and info is None:
            return CollectionNotFound(name)
        if info is not None and shard_subject(name, shard) not in (info.config.subjects or []):
            return ValidationError(
                f"collection {name!r} has no shard {shard}", field="shard", shard=shard
            )
        return Unavailable(f"JetStream did not store the record for {name!r} shard {shard}")

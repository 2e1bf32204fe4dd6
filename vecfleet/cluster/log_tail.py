"""Reading one shard subject in stream order, from a start sequence, synchronously.

``JetStreamTail`` implements the node's ``LogTail`` protocol (``vecfleet.node.
log_source``, which also defines ``TailRecord`` and ``TailBatch``, re-exported here). It
owns one ephemeral pull consumer on the collection's stream, filtered to the shard
subject and starting at a sequence (``DeliverPolicy.BY_START_SEQUENCE``). Pull, not
push: the reader asks for the next batch only when it has applied the previous one, so a
slow replica never buffers the stream in memory and needs no flow control.

The consumer keeps no durable state (memory storage, one replica, ``ack_policy=none``):
the reader's own position (``next_seq``) is the truth, and when the consumer disappears —
a NATS restart drops ephemeral consumers, an idle one expires after
``inactive_threshold`` — the tail makes a new one at ``next_seq``. Applying is idempotent
(records at or below ``applied_seq`` are ignored), so a record delivered twice across
such a reset is harmless; a record is never skipped, because ``next_seq`` advances only
past records actually handed to the caller.

Sequences on one subject have gaps: the stream numbers all shards' records together.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from vecfleet.cluster.log_source import TailBatch, TailRecord
from vecfleet.cluster.nats_errors import translate, translating
from vecfleet.cluster.nats_thread import NatsThread
from vecfleet.errors import CollectionNotFound
from vecfleet.types import Seq

__all__ = ["JetStreamTail", "TailBatch", "TailRecord"]

log = logging.getLogger(__name__)
T = TypeVar("T")
ERR_STREAM_NOT_FOUND = 10059


class JetStreamTail:
    """An ordered reader of one subject; not thread-safe (one follower owns it)."""

    def __init__(
        self,
        nats_thread: NatsThread,
        stream: str,
        subject: str,
        start_seq: Seq,
        *,
        timeout_s: float = 5.0,
        inactive_threshold_s: float = 60.0,
    ) -> None:
        self._nats = nats_thread
        self.stream = stream
        self.subject = subject
        self.next_seq: Seq = max(start_seq, 1)
        self.timeout_s = timeout_s
        self.inactive_threshold_s = inactive_threshold_s
        self._sub: JetStreamContext.PullSubscription | None = None
        self._consumer: str | None = None
        self._pending = 0
        self.consumers_created = 0

    def next_batch(self, max_records: int = 256, wait_s: float = 1.0) -> TailBatch:
        """The next records after those already returned, waiting up to ``wait_s`` for one.

        Returns an empty batch when nothing arrived (``caught_up`` says whether the server
        confirmed there is nothing to read, or the consumer had to be recreated). Raises
        ``Unavailable`` when NATS is down, ``CollectionNotFound`` when the stream is gone.
        """
        if self._sub is None:
            self._sub = self._run(self._subscribe(), self.timeout_s, "creating a consumer")
            self.consumers_created += 1
        if self._pending > 0:
            batch, wait = min(self._pending, max_records), self.timeout_s
        else:
            batch, wait = 1, wait_s
        try:
            msgs = self._run(
                self._fetch(batch, wait), wait + self.timeout_s, "fetching", fetch=True
            )
        except TimeoutError:
            return self._after_silence()
        fresh = [msg for msg in msgs if _seq(msg) >= self.next_seq]
        records = [_record(msg) for msg in fresh]
        if records:
            self.next_seq = records[-1].seq + 1
            # records left on the subject after the last one when it was delivered
            self._pending = int(fresh[-1].metadata.num_pending or 0)
        else:
            self._pending = 0
        return TailBatch(records, caught_up=self._pending == 0)

    def close(self) -> None:
        """Drop the consumer (best effort: it also expires by itself when idle)."""
        sub, self._sub = self._sub, None
        if sub is None:
            return
        try:
            self._nats.run(self._drop(sub), self.timeout_s, f"closing the tail of {self.subject}")
        except Exception as exc:
            log.debug("dropping the consumer of %s: %s", self.subject, exc)

    # ------------------------------------------------------------------ internals
    def _after_silence(self) -> TailBatch:
        """No message within the wait: caught up, or is the consumer gone (NATS restart)?"""
        assert self._sub is not None
        sub = self._sub
        try:
            info = self._run(sub.consumer_info(), self.timeout_s, "checking the consumer")
        except nats.js.errors.NotFoundError:
            log.info("consumer for %s is gone; recreating it at %d", self.subject, self.next_seq)
            self._sub = None
            self._pending = 0
            self._run(self._unsubscribe(sub), self.timeout_s, "dropping a lost consumer")
            return TailBatch([], caught_up=False)
        self._pending = int(info.num_pending or 0)
        return TailBatch([], caught_up=self._pending == 0)

    def _run(
        self, coro: Coroutine[Any, Any, T], timeout_s: float, what: str, *, fetch: bool = False
    ) -> T:
        """Run on the NATS loop; outages become ``Unavailable``.

        Two outcomes pass through for the caller to handle: a fetch that found nothing
        (as the builtin ``TimeoutError``, only when ``fetch``) and a missing consumer
        (nats-py's ``NotFoundError``). A missing stream is ``CollectionNotFound``.
        """
        try:
            return self._nats.run(coro, timeout_s, f"{what} on {self.subject}")
        except nats.js.errors.NotFoundError as exc:
            if exc.err_code == ERR_STREAM_NOT_FOUND:
                raise CollectionNotFound(self.stream.removeprefix("VF_")) from exc
            raise
        except nats.errors.TimeoutError as exc:
            if fetch:
                raise TimeoutError from exc
            raise translate(exc, f"{what} on {self.subject}") from exc

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.next_seq,
            ack_policy=api.AckPolicy.NONE,
            filter_subject=self.subject,
            mem_storage=True,
            num_replicas=1,
            inactive_threshold=self.inactive_threshold_s,
        )
        with translating(f"creating a consumer on {self.subject}"):
            sub = await self._nats.js.pull_subscribe(
                self.subject, stream=self.stream, config=config
            )
        self._consumer = config.name  # pull_subscribe names the ephemeral consumer
        return sub

    async def _fetch(self, batch: int, wait_s: float) -> list[Msg]:
        assert self._sub is not None
        try:
            return await self._sub.fetch(batch, timeout=wait_s)
        except (nats.errors.TimeoutError, nats.js.errors.NotFoundError):
            raise  # nothing to read, or the consumer is gone: the caller handles both
        except nats.errors.Error as exc:
            raise translate(exc, f"fetching from {self.subject}") from exc

    async def _unsubscribe(self, sub: JetStreamContext.PullSubscription) -> None:
        try:
            await sub.unsubscribe()
        except Exception as exc:  # the inbox may already be gone with the connection
            log.debug("unsubscribing from %s: %s", self.subject, exc)

    async def _drop(self, sub: JetStreamContext.PullSubscription) -> None:
        await self._unsubscribe(sub)
        if self._consumer is None or not self._nats.connected:
            return  # an idle consumer expires by itself (inactive_threshold)
        try:
            await self._nats.js.delete_consumer(self.stream, self._consumer)
        except Exception as exc:
            log.debug("deleting the consumer of %s: %s", self.subject, exc)


def _seq(msg: Msg) -> Seq:
    return int(msg.metadata.sequence.stream)


def _record(msg: Msg) -> TailRecord:
    return TailRecord(
        seq=_seq(msg),
        data=bytes(msg.data),
        published_at=msg.metadata.timestamp.timestamp(),  # server time of the publish
    )

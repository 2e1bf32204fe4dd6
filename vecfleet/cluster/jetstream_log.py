"""The engine's ``Log`` over one shard subject of a JetStream stream (cluster mode).

A replica opens its ``Database`` over a ``JetStreamLog``: recovery (newest snapshot, then
``read_from(snapshot_seq + 1)``) replays the shard's records straight from JetStream, and
the replica's follower tails the same subject (``tail``). The gateway appends with
``ShardLogWriter`` (re-exported here); ``append`` exists for the protocol and for a
single-writer, single-shard setup.

How it differs from ``FileLog``, and why:

* **Sequences have gaps.** They are stream sequences, shared by all shards of the
  collection, so one subject sees e.g. 1, 4, 5, 9. Every consumer of this log (recovery,
  ``Database.apply_record``, snapshots) orders by sequence and never assumes ``+1``.
* **``first_seq`` is a purge floor, not the oldest record.** With gaps, "the oldest
  retained record is 9 and my snapshot ends at 5" says nothing about loss: 6-8 may belong
  to other shards. So the log keeps, on a sibling subject (``vf.<c>.<n>.floor``), the
  sequence below which this subject may have been purged, written *before* each purge.
  ``first_seq()`` returns it, and ``Database._recover``'s continuity check
  (``snapshot_seq + 1 < first_seq()``) fires exactly when records the snapshot does not
  cover may be gone.
* **Purges wait for the blob store.** ``Database`` trims its log after every local
  snapshot, but a local snapshot is no use to a replica on another machine: records are
  purged only below a snapshot stored in the blob store (``mark_snapshot_stored``), and
  never the subject's newest record (so the subject's last sequence, which ``strong``
  reads wait for, survives every purge).
* **``skip_to`` is a no-op**: the stream numbers records; nobody here can renumber it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import nats.js.errors

from vecfleet.cluster.log_tail import JetStreamTail
from vecfleet.cluster.nats_errors import translating
from vecfleet.cluster.nats_thread import NatsThread
from vecfleet.cluster.shard_writer import (
    ERR_STREAM_NOT_FOUND,
    ShardLogWriter,
)
from vecfleet.cluster.subjects import floor_subject, shard_subject, stream_name
from vecfleet.errors import CollectionNotFound, StorageError, ValidationError, VecfleetError
from vecfleet.types import Seq

__all__ = ["JetStreamLog", "ShardLogWriter"]

log = logging.getLogger(__name__)
T = TypeVar("T")
EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
ERR_WRONG_LAST_SEQUENCE = 10071


class JetStreamLog:
    """One shard's log: ``vf.<collection>.<shard>`` in stream ``VF_<collection>``.

    ``writable=False`` (what replicas use) makes ``append`` refuse: a replica applies the
    log, it never writes it, and ``Database.write`` over a gapped log would wait forever
    for the sequence before its own.
    """

    def __init__(
        self,
        nats_thread: NatsThread,
        collection: str,
        shard: int,
        *,
        writable: bool = True,
        timeout_s: float = 5.0,
        batch_records: int = 256,
    ) -> None:
        self._nats = nats_thread
        self.collection = collection
        self.shard = shard
        self.stream = stream_name(collection)
        self.subject = shard_subject(collection, shard)
        self.floor_subject = floor_subject(collection, shard)
        self.writable = writable
        self.timeout_s = timeout_s
        self.batch_records = batch_records
        self._writer = ShardLogWriter(nats_thread.nc, timeout_s=timeout_s)
        self._stored_seq: Seq = 0
        self.purges = 0

    # ------------------------------------------------------------------ Log protocol
    def append(self, records: Sequence[bytes]) -> Seq:
        """Publish one record (JetStream 2.9 has no atomic multi-message publish)."""
        if not self.writable:
            raise StorageError(
                f"the log of {self.subject} is read-only here: replicas apply records, "
                "writes go through the gateway"
            )
        if len(records) != 1:
            raise ValidationError("JetStreamLog.append takes exactly one record per call")
        msg_id = uuid.uuid4().hex
        return self._call(
            self._writer.publish(self.collection, self.shard, records[0], msg_id), "append"
        )

    def read_from(self, seq: Seq) -> Iterator[tuple[Seq, bytes]]:
        """Records with sequence >= ``seq``, up to the subject's last one at call time."""
        last = self.last_seq()  # now, not at the first next(): the protocol's promise
        return self._read(seq, last) if last >= seq else iter(())

    def _read(self, seq: Seq, last: Seq) -> Iterator[tuple[Seq, bytes]]:
        tail = self.tail(seq)
        try:
            while True:
                batch = tail.next_batch(self.batch_records, wait_s=self.timeout_s)
                for record in batch.records:
                    if record.seq > last:
                        return
                    yield record.seq, record.data
                    if record.seq == last:
                        return
                if batch.caught_up and not batch.records:
                    return  # the newest record is never purged, but do not hang if it was
        finally:
            tail.close()

    def last_seq(self, timeout_s: float | None = None) -> Seq:
        """Stream sequence of the subject's newest record, 0 if none; ``timeout_s`` bounds
        the call (default: twice the log's timeout), raising ``Unavailable`` past it."""
        coro = self._writer.last_seq(self.collection, self.shard)
        return self._call(coro, "last_seq", timeout_s)

    def first_seq(self) -> Seq:
        """The purge floor: records below it may be gone; 1 when nothing was ever purged."""
        return max(self.purge_floor(), 1)

    def truncate_before(self, seq: Seq) -> None:
        """Purge records below ``seq`` that a stored snapshot covers; never raises.

        The cut is ``min(seq, stored snapshot + 1, newest record)``. The floor is
        written first: if the purge then fails or the process dies, the floor only
        claims more loss than happened, which makes recovery insist on a snapshot it
        has anyway.
        """
        cut = min(seq, self._stored_seq + 1)
        if cut <= 1:
            return
        try:
            cut = min(cut, self.last_seq())
            if self._call(self._purge(cut), "purge"):
                self.purges += 1
        except VecfleetError as exc:  # purging is housekeeping: retried at the next snapshot
            log.warning("could not purge %s below %d: %s", self.subject, cut, exc)

    def skip_to(self, seq: Seq) -> None:
        """No-op: JetStream numbers the stream; only the records' order matters here."""

    def close(self) -> None:
        """Nothing to release: the NATS connection belongs to the caller."""

    # ------------------------------------------------------------------ cluster extras
    def mark_snapshot_stored(self, seq: Seq) -> None:
        """A snapshot at ``seq`` is in the blob store: records up to it may be purged."""
        self._stored_seq = max(self._stored_seq, seq)

    def purge_floor(self) -> Seq:
        """Sequence below which this subject may have been purged (0: never purged)."""
        return self._call(self._read_floor(), "reading the purge floor")[0]

    def tail(self, start_seq: Seq) -> JetStreamTail:
        """An ordered reader of this subject from ``start_seq``; the caller closes it."""
        return JetStreamTail(
            self._nats, self.stream, self.subject, start_seq, timeout_s=self.timeout_s
        )

    # ------------------------------------------------------------------ internals
    def _call(self, coro: Coroutine[Any, Any, T], what: str, timeout_s: float | None = None) -> T:
        timeout = self.timeout_s * 2 if timeout_s is None else timeout_s
        return self._nats.run(coro, timeout, f"{what} on {self.subject}")

    async def _read_floor(self) -> tuple[Seq, Seq]:
        """(floor, stream sequence of the message holding it); (0, 0) if never purged."""
        with translating(f"reading the purge floor of {self.subject}"):
            try:
                msg = await self._nats.js.get_last_msg(self.stream, self.floor_subject)
            except nats.js.errors.NotFoundError as exc:
                if exc.err_code == ERR_STREAM_NOT_FOUND:
                    raise CollectionNotFound(self.collection) from exc
                return 0, 0
        return int((msg.data or b"0").decode()), int(msg.seq or 0)

    async def _purge(self, cut: Seq) -> bool:
        """Raise the floor to ``cut``, then purge below it; False if there was nothing to do.

        The floor only ever rises: it is published on the condition that the floor
        subject's last message is still the one just read (JetStream's expected last
        subject sequence), so two replicas purging at once cannot leave the lower floor
        on top. The loser skips its purge; the next snapshot tries again.
        """
        js = self._nats.js
        floor, floor_msg_seq = await self._read_floor()
        if cut <= floor:
            return False
        with translating(f"purging {self.subject} below {cut}"):
            try:
                await js.publish(
                    self.floor_subject,
                    str(cut).encode(),
                    stream=self.stream,
                    headers={EXPECTED_LAST_SUBJECT_SEQ: str(floor_msg_seq)},
                )
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code == ERR_WRONG_LAST_SEQUENCE:
                    return False  # another replica moved the floor meanwhile
                raise
            await js.purge_stream(self.stream, seq=cut, subject=self.subject)
            await js.purge_stream(self.stream, subject=self.floor_subject, keep=1)
        return True

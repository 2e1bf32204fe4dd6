"""What a replica needs of its shard's log, whatever keeps it: the ``ShardLogSource`` seam.

A replica opens its engine ``Database`` over its shard's log (recovery replays it after
the newest snapshot), then tails the same log and applies each record in order. Two
sources implement this: ``vecfleet.cluster.jetstream_source.JetStreamLogSource`` (one
JetStream subject per shard, cluster mode) and ``vecfleet.cluster.file_source.
FileLogSource`` (one local write-ahead log directory per shard, embedded mode). The
replica sees only the protocols below; only the composition roots pick a source.

The contract every source keeps, beyond the engine's ``Log``:

* **Read-only for replicas.** ``ReplicaLog.append`` refuses: replicas apply the log, the
  writer (the gateway) appends to it by other means.
* **Ordered, possibly gapped sequences.** Records come in increasing sequence order;
  consumers never assume ``+1`` (a JetStream subject shares its stream's numbering).
* **A purge floor.** ``purge_floor()`` is the sequence below which records may be gone
  (0 or 1 when nothing was ever purged). Records are purged only below a snapshot the
  replica reported stored (``mark_snapshot_stored``), so a replica that finds its next
  record under the floor reloads that snapshot.
* **A dropped collection says so.** Reading the log of a collection that was dropped
  raises ``CollectionNotFound``; an unreachable log raises ``Unavailable`` (the replica
  retries), a record that cannot be read ``CorruptData``.
* **Closing the engine's view is harmless.** ``Database.close`` closes its log; a replica
  reopens its database over the same ``ReplicaLog`` after a resync, so ``close`` must leave
  it usable and release nothing the source owns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vecfleet.engine.wal.base import Log
from vecfleet.types import Seq


@dataclass(frozen=True)
class TailRecord:
    seq: Seq
    data: bytes
    published_at: float  # when the record entered the log, Unix seconds


@dataclass(frozen=True)
class TailBatch:
    """Records in log order; ``caught_up``: the source confirmed nothing was left after them."""

    records: list[TailRecord]
    caught_up: bool


@runtime_checkable
class LogTail(Protocol):
    """An ordered reader of one shard's records from a start sequence; one owner thread."""

    def next_batch(self, max_records: int = 256, wait_s: float = 1.0) -> TailBatch:
        """Up to ``max_records`` records after those already returned, waiting up to
        ``wait_s`` for the first one; an empty batch when none arrived in time.

        A record is never skipped; one may be returned twice after the reader recovered
        from an outage (applying is idempotent by sequence).
        """
        ...

    def close(self) -> None:
        """Release the reader; best effort, never raises."""
        ...


@runtime_checkable
class ReplicaLog(Log, Protocol):
    """One shard's log as a replica uses it: the engine's ``Log``, read-only, plus a tail."""

    def last_seq(self, timeout_s: float | None = None) -> Seq:
        """Sequence of the shard's newest record, 0 if none; ``timeout_s`` bounds the call
        for a log behind a network (``Unavailable`` past it)."""
        ...

    def purge_floor(self) -> Seq:
        """Sequence below which records may have been purged (0 or 1: never purged)."""
        ...

    def tail(self, start_seq: Seq) -> LogTail:
        """An ordered reader of the shard's records from ``start_seq``; the caller closes it."""
        ...

    def mark_snapshot_stored(self, seq: Seq) -> None:
        """A snapshot at ``seq`` is stored where every replica can fetch it: records up to
        ``seq`` may now be purged (by ``truncate_before``)."""
        ...


class ShardLogSource(Protocol):
    """Where the shards' logs live; one per node, shared by all its replicas."""

    def open_log(self, collection: str, shard: int) -> ReplicaLog:
        """The read-only log of ``collection``'s shard ``shard``.

        Raises ``ValidationError`` for a name or shard the source cannot address. Opening
        does no I/O a replica must retry: a collection the source does not hold (yet)
        surfaces when the log is read, as ``CollectionNotFound`` or as an empty log.
        """
        ...

"""The replicas' ``ShardLogSource`` in embedded mode: each shard's log is a local ``FileLog``.

Layout: ``<root>/<collection>/<shard>/`` holds one shard's write-ahead log segments
(``vecfleet/engine/wal/file_log.py``). A ``FileLog`` locks its directory, so the source
owns the one ``FileLog`` of each shard in this process: the writer appends through
``append``, replicas read through the read-only ``ReplicaLog`` views ``open_log`` returns.
Sequences are the ``FileLog``'s: consecutive per shard from 1 (a JetStream subject, by
contrast, shares its stream's numbering across shards).

* **Tailing.** ``FileTail`` reads ``read_from(next_seq)``; when nothing is new it waits
  on the shard's condition, which ``append`` notifies, re-checking the log every
  ``poll_s`` for records appended to the ``FileLog`` by other means.
* **Append times.** A frame carries no time, yet a replica's lag is the age of its
  oldest unapplied record. The source remembers when each of a shard's last
  ``remember_appends`` appends happened; an older record counts from the oldest one
  remembered (a lower bound of its age), and a record appended before the source opened
  the log is replayed when the replica opens, never tailed.
* **Purging.** A view's ``truncate_before`` cuts below ``min(seq, stored snapshot + 1)``,
  as a JetStream subject is purged only below a snapshot in the blob store;
  ``purge_floor`` is the oldest retained sequence. ``FileLog`` drops whole segments, so
  the floor moves in steps.
* **Dropping.** ``drop_collection`` closes the collection's logs and deletes their
  directories; every view and tail opened before raises ``CollectionNotFound`` from then
  on. A collection created again gets new logs.
"""

from __future__ import annotations

import bisect
import logging
import shutil
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from itertools import islice
from pathlib import Path

from vecfleet.cluster.log_source import TailBatch, TailRecord
from vecfleet.cluster.subjects import check_shard
from vecfleet.engine.config import check_collection_name
from vecfleet.engine.wal.file_log import FileLog
from vecfleet.errors import CollectionNotFound, StorageError, VecfleetError
from vecfleet.types import Durability, Seq

log = logging.getLogger(__name__)
ShardKey = tuple[str, int]


class _Shard:
    """One shard's ``FileLog``, the condition its tails wait on, and recent append times."""

    def __init__(self, log: FileLog, remember: int) -> None:
        self.log = log
        self.appended = threading.Condition()
        self._remember = remember
        self._last_seqs: list[Seq] = []  # last sequence of each remembered append
        self._times: list[float] = []

    def note_append(self, last: Seq, at: float) -> None:
        with self.appended:
            index = bisect.bisect_left(self._last_seqs, last)  # concurrent appends race here
            self._last_seqs.insert(index, last)
            self._times.insert(index, at)
            if len(self._last_seqs) > 2 * self._remember:  # trim in chunks, not per append
                del self._last_seqs[: -self._remember], self._times[: -self._remember]
            self.appended.notify_all()

    def appended_at(self, seq: Seq, default: float) -> float:
        """When the append holding ``seq`` happened; the oldest remembered if before them."""
        with self.appended:
            index = bisect.bisect_left(self._last_seqs, seq)
            return self._times[index] if index < len(self._times) else default


class FileLogSource:
    """Shard logs in ``root``; thread-safe. ``close`` closes every ``FileLog``."""

    def __init__(
        self,
        root: str | Path,
        *,
        durability: Durability = "fsync",
        segment_bytes: int = 64 * 1024 * 1024,
        poll_s: float = 0.25,
        remember_appends: int = 4096,
    ) -> None:
        self.root = Path(root)
        self.durability: Durability = durability
        self.segment_bytes = segment_bytes
        self.poll_s = poll_s
        self.remember_appends = remember_appends
        self._lock = threading.Lock()
        self._shards: dict[ShardKey, _Shard] = {}
        self._closed = False

    # ------------------------------------------------------------------ writer
    def append(self, collection: str, shard: int, records: Sequence[bytes]) -> Seq:
        """Append ``records`` durably to the shard's log; the sequence of the last one."""
        state = self._shard(collection, shard)
        last = state.log.append(records)
        state.note_append(last, time.time())
        return last

    def last_seq(self, collection: str, shard: int) -> Seq:
        return self._shard(collection, shard).log.last_seq()

    def drop_collection(self, collection: str) -> None:
        """Close and delete every shard log of ``collection``; its readers see it gone."""
        name = check_collection_name(collection)
        with self._lock:  # so no writer reopens a shard log while its files go
            dropped = [self._shards.pop(key) for key in list(self._shards) if key[0] == name]
            for state in dropped:
                state.log.close()
            shutil.rmtree(self.root / name, ignore_errors=True)
        for state in dropped:
            with state.appended:
                state.appended.notify_all()  # waiting tails find their shard gone

    def close(self) -> None:
        with self._lock:
            self._closed = True
            shards, self._shards = list(self._shards.values()), {}
        for state in shards:
            state.log.close()

    # ------------------------------------------------------------------ replicas
    def open_log(self, collection: str, shard: int) -> FileShardLog:
        key = (check_collection_name(collection), check_shard(shard))
        return FileShardLog(self, key, self._shard(*key))

    def is_current(self, key: ShardKey, state: _Shard) -> bool:
        """Whether ``state`` is still the shard's log (not dropped, not replaced)."""
        with self._lock:
            return self._shards.get(key) is state

    # ------------------------------------------------------------------ internals
    def _shard(self, collection: str, shard: int) -> _Shard:
        key = (check_collection_name(collection), check_shard(shard))
        with self._lock:
            if self._closed:
                raise StorageError(f"the log source in {self.root} is closed")
            state = self._shards.get(key)
            if state is None:
                wal = FileLog(
                    self.root / key[0] / str(key[1]),
                    durability=self.durability,
                    segment_bytes=self.segment_bytes,
                )
                state = self._shards[key] = _Shard(wal, self.remember_appends)
            return state


class FileShardLog:
    """A replica's read-only view of one shard's ``FileLog`` (the ``ReplicaLog`` protocol)."""

    def __init__(self, source: FileLogSource, key: ShardKey, state: _Shard) -> None:
        self._source = source
        self._key = key
        self._state = state
        self._stored_seq: Seq = 0

    # ------------------------------------------------------------------ Log protocol
    def append(self, records: Sequence[bytes]) -> Seq:
        raise StorageError(
            f"the log of {self._key[0]}/{self._key[1]} is read-only here: replicas apply "
            "records, writes go through the log source's writer"
        )

    def read_from(self, seq: Seq) -> Iterator[tuple[Seq, bytes]]:
        return self._live().read_from(seq)

    def last_seq(self, timeout_s: float | None = None) -> Seq:
        """The shard's newest record; local, so ``timeout_s`` is never needed."""
        return self._live().last_seq()

    def first_seq(self) -> Seq:
        return self._live().first_seq()

    def truncate_before(self, seq: Seq) -> None:
        """Drop whole segments below ``min(seq, stored snapshot + 1)``; never raises."""
        cut = min(seq, self._stored_seq + 1)
        if cut <= 1:
            return
        try:
            self._live().truncate_before(cut)
        except VecfleetError as exc:  # housekeeping: retried at the next snapshot
            log.warning("could not purge %s/%d below %d: %s", *self._key, cut, exc)

    def skip_to(self, seq: Seq) -> None:
        """No-op: the writer numbers the log, a replica never renumbers it."""

    def close(self) -> None:
        """Nothing to release: the ``FileLog`` belongs to the source."""

    # ------------------------------------------------------------------ ReplicaLog extras
    def purge_floor(self) -> Seq:
        return self._live().first_seq()

    def mark_snapshot_stored(self, seq: Seq) -> None:
        self._stored_seq = max(self._stored_seq, seq)

    def tail(self, start_seq: Seq) -> FileTail:
        return FileTail(self, start_seq)

    # ------------------------------------------------------------------ for FileTail
    def wait_beyond(self, seq: Seq, wait_s: float) -> None:
        """Return once the log holds a record past ``seq``, or after ``wait_s``."""
        deadline = time.monotonic() + wait_s
        state = self._state
        with state.appended:
            while self._live().last_seq() <= seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                state.appended.wait(min(remaining, self._source.poll_s))

    def appended_at(self, seq: Seq, default: float) -> float:
        return self._state.appended_at(seq, default)

    def _live(self) -> FileLog:
        if not self._source.is_current(self._key, self._state):
            raise CollectionNotFound(self._key[0])
        return self._state.log


class FileTail:
    """Reads a ``FileShardLog`` in order from a start sequence (the ``LogTail`` protocol)."""

    def __init__(self, log: FileShardLog, start_seq: Seq) -> None:
        self._log = log
        self.next_seq: Seq = max(start_seq, 1)

    def next_batch(self, max_records: int = 256, wait_s: float = 1.0) -> TailBatch:
        """Up to ``max_records`` records from ``next_seq``; waits up to ``wait_s`` for one.

        ``caught_up`` is exact: the log is local, so the batch reached its end or not.
        """
        if self._log.last_seq() < self.next_seq:
            self._log.wait_beyond(self.next_seq - 1, wait_s)
        now = time.time()
        try:
            reader = self._log.read_from(self.next_seq)
            try:
                records = [
                    TailRecord(seq, data, self._log.appended_at(seq, now))
                    for seq, data in islice(reader, max_records)
                ]
            finally:
                if isinstance(reader, Generator):
                    reader.close()  # unmaps the segment it stopped in
        except StorageError:
            self._log.last_seq()  # a log dropped meanwhile says CollectionNotFound
            raise
        if records:
            self.next_seq = records[-1].seq + 1
        return TailBatch(records, caught_up=self._log.last_seq() < self.next_seq)

    def close(self) -> None:
        """Nothing to release: reading holds no resources between batches."""

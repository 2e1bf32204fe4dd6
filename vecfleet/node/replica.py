"""A shard replica: an engine ``Database`` kept up to date from the shard's log.

The log comes from a ``ShardLogSource`` (``vecfleet.cluster.log_source``) the composition
root injects: a JetStream subject in cluster mode, a local write-ahead log in embedded
mode; the replica never knows which. Every replica of a shard reads the same log in the
same order and applies each record idempotently by sequence (``Database.apply_record``),
so replicas converge with no protocol between them; the log is the only coordination
(docs/cluster-log.md).

Open: if the blob store holds a newer snapshot than the local data directory, download it
and install it beside the local ones; open the ``Database`` over the read-only
``ReplicaLog`` (newest local snapshot + replay of the log after it); then start the
follower thread, which tails the log from ``applied_seq + 1`` and applies each record.

A record the follower never saw may have been purged (another replica stored a newer
snapshot and trimmed the log while this one lagged or was away). Gaps in sequences
are normal (on JetStream other shards share the numbering), so the follower checks the
log's purge floor whenever a batch starts past ``applied_seq + 1``; if the floor passed
``applied_seq + 1``, the replica *resyncs*: closes its database and opens it again, which
installs the newer snapshot. The same check runs once after every open, because a purge
can also land during the replay.

States::

    opening ──▶ following ◀──▶ disconnected     (log unreachable: retry with backoff, serve)
                  │   ▲
                  ▼   │
                resyncing                         (records purged under it: reload snapshot)
                  │
    following ──▶ failed      a record that does not decode; serving stops growing, lag grows
    following ──▶ dropped     the collection's log is gone; the node must discard us
    any ──close()──▶ closed

Reads never wait for the follower unless asked: ``wait_for(seq)`` is for ``session`` and
``strong`` reads, ``lag_ms()`` for ``bounded`` ones.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecfleet.cluster.blobstore.archive import fsync_dir, link_tree
from vecfleet.cluster.blobstore.base import BlobStore
from vecfleet.cluster.log_source import LogTail, ShardLogSource, TailBatch
from vecfleet.engine.api import CollectionHandle
from vecfleet.engine.database import Database, DatabaseSettings
from vecfleet.engine.snapshot import (
    SnapshotInfo,
    list_snapshots,
    read_info,
    referenced_segments,
    snapshot_dir_name,
)
from vecfleet.errors import (
    CollectionNotFound,
    CorruptData,
    NotFound,
    StorageError,
    Unavailable,
    VecfleetError,
)
from vecfleet.types import Seq

log = logging.getLogger(__name__)

FOLLOWING, DISCONNECTED, RESYNCING, FAILED, DROPPED, CLOSED = (
    "following",
    "disconnected",
    "resyncing",
    "failed",
    "dropped",
    "closed",
)


class _PurgedUnderUs(Exception):
    """Records between applied_seq and the next delivered one may have been purged."""


@dataclass
class ReplicaStats:
    """Plain counters for ``obs``."""

    records_applied: int = 0
    batches: int = 0
    resyncs: int = 0
    snapshots_fetched: int = 0
    snapshots_uploaded: int = 0
    outages: int = 0


class Replica:
    """One replica of ``collection``'s shard ``shard``, opened and following on return.

    ``logs`` gives the shard's log, ``blobstore`` holds the snapshots replicas share;
    ``poll_s`` is the longest the follower waits for a record before it asks again and
    ``timeout_s`` the longest one call to the log may take (``close`` waits for both).
    """

    def __init__(
        self,
        collection: str,
        shard: int,
        data_dir: str | Path,
        logs: ShardLogSource,
        blobstore: BlobStore,
        *,
        settings: DatabaseSettings | None = None,
        poll_s: float = 1.0,
        timeout_s: float = 5.0,
        batch_records: int = 256,
    ) -> None:
        self._log = logs.open_log(collection, shard)  # validates both for its medium
        self.collection = collection
        self.shard = shard
        self.data_dir = Path(data_dir)
        self.settings = settings or DatabaseSettings()
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self.batch_records = batch_records
        self.stats = ReplicaStats()
        self._blobstore = blobstore
        self._db_lock = threading.RLock()  # swaps of _db (resync) vs. readers of it
        self._snapshot_lock = threading.Lock()
        self._applied = threading.Condition()
        self._stop = threading.Event()
        self._state = "opening"
        self._failure: BaseException | None = None
        self._last_seen: Seq = 0
        self._unapplied_since: float | None = None  # publish time of the oldest unapplied
        self._caught_up_at = 0.0  # monotonic time the log last confirmed nothing pending
        self._db = self._open_database()
        self._state = FOLLOWING
        self._thread = threading.Thread(
            target=self._follow, name=f"replica-{self.collection}-{self.shard}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ reads
    @property
    def applied_seq(self) -> Seq:
        """Log sequence of the newest record this replica has applied."""
        return self._db.applied_seq

    @property
    def last_seen_seq(self) -> Seq:
        """Newest sequence of this shard the replica knows exists (applied or not)."""
        return max(self._last_seen, self.applied_seq)

    @property
    def state(self) -> str:
        return self._state

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    @property
    def recovery(self) -> dict[str, Any]:
        """How the current database was opened: snapshot, its sequence, records replayed."""
        return dict(self._db.recovery)

    def lag_ms(self) -> float:
        """0 when caught up; else the age of the oldest record not applied yet.

        "Caught up" needs a recent confirmation from the log (within two polls): a
        replica cut off from its log does not know what it misses, so its lag is the time
        since it last knew it had everything. When records wait in the log but were
        not fetched yet, their age is bounded by that of the last record applied.
        """
        if self._unapplied_since is not None:
            return max(0.0, (time.time() - self._unapplied_since) * 1000.0)
        silent_s = time.monotonic() - self._caught_up_at
        return 0.0 if silent_s <= 2 * self.poll_s + 1.0 else silent_s * 1000.0

    def wait_for(self, seq: Seq, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every record of this shard up to log
        sequence ``seq`` is applied (``ReplicaView``); False if that did not happen in time.

        ``seq`` may belong to another shard (a client's last write elsewhere), so
        ``applied_seq`` may never equal it: the replica waits for the newest record of its
        own shard at or below ``seq``, bounded by asking the log for the shard's last
        sequence. A True answer therefore does not imply ``applied_seq >= seq``.
        """
        deadline = time.monotonic() + timeout
        if self.applied_seq >= seq:
            return True
        try:
            target = min(seq, self._log.last_seq(timeout_s=max(timeout, 0.001)))
        except VecfleetError:
            target = seq  # cannot ask in time: wait for the sequence itself
        with self._applied:
            while self.applied_seq < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._state in (FAILED, DROPPED, CLOSED):
                    return False
                self._applied.wait(min(remaining, 0.5))
        return True

    def handle(self) -> CollectionHandle:
        """The engine handle for searches; take a new one per request (resyncs swap it)."""
        with self._db_lock:
            db = self._db
            return CollectionHandle(db, db.get_collection(self.collection))

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> SnapshotInfo:
        """Snapshot locally, upload it, then purge the log below it."""
        with self._snapshot_lock:
            for _attempt in range(3):
                with self._db_lock:
                    info = self._db.snapshot()
                try:
                    _upload(self._blobstore, self.collection, self.shard, info, self.data_dir)
                except FileNotFoundError:  # trimmed by a newer snapshot meanwhile
                    continue
                self.stats.snapshots_uploaded += 1
                self._log.mark_snapshot_stored(info.seq)
                self._log.truncate_before(info.seq + 1)
                return info
        raise StorageError(f"could not stage a snapshot of {self.data_dir} for upload")

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Stop following and close the database (it snapshots locally); idempotent."""
        if self._state == CLOSED:
            return
        self._stop.set()
        self._thread.join(timeout=self.poll_s + 4 * self.timeout_s)
        self._state = CLOSED
        with self._applied:
            self._applied.notify_all()
        with self._db_lock:
            self._db.close()

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ opening
    def _open_database(self) -> Database:
        """Install a newer stored snapshot, open over the log; again if a purge raced us."""
        while True:
            floor_before = self._log.purge_floor()
            if _install_newer(self._blobstore, self.collection, self.shard, self.data_dir):
                self.stats.snapshots_fetched += 1
            db = Database(self.data_dir, self.settings, log_factory=lambda _p, _s: self._log)
            try:
                floor_after = self._log.purge_floor()
            except BaseException:
                db.close()
                raise
            snapshot_seq = int(db.recovery.get("snapshot_seq", 0))
            if floor_after > floor_before and floor_after > snapshot_seq + 1:
                # The log was purged while we replayed it: some records may have
                # vanished before the replay reached them. The snapshot that allowed the
                # purge is stored by now; start again from it.
                log.info("%s/%d: purged during replay; reopening", self.collection, self.shard)
                db.close()
                continue
            self._last_seen = db.applied_seq
            self._caught_up_at = time.monotonic()  # the replay read to the log's end
            return db

    # ------------------------------------------------------------------ following
    def _follow(self) -> None:
        tail: LogTail | None = None
        backoff_s = 0.05
        resync = False
        while not self._stop.is_set():
            try:
                if resync:
                    self._resync()  # retried after a failure, like any other step
                    resync = False
                if tail is None:
                    tail = self._log.tail(self.applied_seq + 1)
                batch = tail.next_batch(self.batch_records, wait_s=self.poll_s)
                self._note_received(batch)
                self._apply_batch(batch)
                self._state, backoff_s = FOLLOWING, 0.05
                continue
            except _PurgedUnderUs:
                tail, resync = self._drop_tail(tail), True
                continue
            except CollectionNotFound as exc:
                self._stop_following(DROPPED, exc)
            except CorruptData as exc:
                self._stop_following(FAILED, exc)
            except Unavailable as exc:
                if self._state != DISCONNECTED:
                    self.stats.outages += 1
                    log.warning("%s/%d: %s", self.collection, self.shard, exc)
                self._state = DISCONNECTED
            except Exception as exc:
                if self._stop.is_set():
                    break  # closing: the database refused the last apply
                log.exception("%s/%d: follower error", self.collection, self.shard)
                self._failure = exc
            # Any failure may leave fetched records unapplied: restart the tail from
            # applied_seq + 1 so none is skipped (re-delivery is harmless).
            tail = self._drop_tail(tail)
            self._stop.wait(backoff_s)
            backoff_s = min(backoff_s * 2, 2.0)
        self._drop_tail(tail)

    def _note_received(self, batch: TailBatch) -> None:
        """Fetched is not applied: from here on, the batch's records count as lag."""
        if batch.records:
            self._last_seen = max(self._last_seen, batch.records[-1].seq)
            if self._unapplied_since is None:
                self._unapplied_since = batch.records[0].published_at

    def _apply_batch(self, batch: TailBatch) -> None:
        records = batch.records
        if records:
            self.stats.batches += 1
            applied = self.applied_seq
            if records[0].seq > applied + 1 and self._log.purge_floor() > applied + 1:
                raise _PurgedUnderUs()
            for index, record in enumerate(records):
                if self._stop.is_set():
                    return
                self._apply(record.seq, record.data)
                following = records[index + 1] if index + 1 < len(records) else None
                self._unapplied_since = following.published_at if following else None
                with self._applied:
                    self._applied.notify_all()
            if not batch.caught_up:
                self._unapplied_since = records[-1].published_at  # more wait in the log
        if batch.caught_up:
            self._unapplied_since = None
            self._caught_up_at = time.monotonic()

    def _apply(self, seq: Seq, data: bytes) -> None:
        """Apply one record; a record the engine rejects is logged and stays applied.

        Every replica meets the same record and rejects it the same way, so skipping it
        keeps them identical; a record that does not even decode stops the replica
        (``CorruptData``), since skipping it could drop an acknowledged write.
        """
        try:
            self._db.apply_record(seq, data)
        except CorruptData:
            raise
        except VecfleetError as exc:
            if self._stop.is_set():
                raise
            log.error("%s/%d: record %d rejected: %s", self.collection, self.shard, seq, exc)
        self.stats.records_applied += 1

    def _resync(self) -> None:
        self._state = RESYNCING
        self.stats.resyncs += 1
        log.warning(
            "%s/%d: records after %d were purged before this replica read them; "
            "reloading from the newest stored snapshot",
            self.collection,
            self.shard,
            self.applied_seq,
        )
        with self._db_lock:
            self._db.close()  # one Database per directory (flock): close, then reopen;
            # idempotent, so a retry after a failed reopen is fine
            self._db = self._open_database()
        with self._applied:
            self._applied.notify_all()

    def _stop_following(self, state: str, exc: BaseException) -> None:
        log.error("%s/%d: stopped following (%s): %s", self.collection, self.shard, state, exc)
        self._state, self._failure = state, exc
        self._stop.set()
        with self._applied:
            self._applied.notify_all()

    @staticmethod
    def _drop_tail(tail: LogTail | None) -> None:
        if tail is not None:
            tail.close()
        return None

    def describe(self) -> dict[str, Any]:
        """State for health checks and the membership table."""
        return {
            "collection": self.collection,
            "shard": self.shard,
            "state": self._state,
            "applied_seq": self.applied_seq,
            "last_seen_seq": self.last_seen_seq,
            "lag_ms": self.lag_ms(),
            "failure": repr(self._failure) if self._failure else None,
            **self.stats.__dict__,
        }


# ---------------------------------------------------------------------- snapshot transfer
# Both directions keep the data directory openable at every step. Upload stages the
# snapshot and the segments it references as hard links (no copy; immune to the database
# trimming the originals meanwhile). Install downloads into ``.incoming-<seq>``, checks
# it holds that snapshot, then moves the segments in first and the snapshot directory
# last: its arrival is the commit point, and segments that came without it are orphans
# ``Database`` removes on open.


def _upload(
    store: BlobStore, collection: str, shard: int, info: SnapshotInfo, data_dir: Path
) -> None:
    """Store the local snapshot ``info``; ``FileNotFoundError`` if it was trimmed first."""
    scratch = data_dir / f".upload-{info.path.name}"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        for uid in sorted(referenced_segments(info.path)):
            link_tree(data_dir / "segments" / uid, scratch / "segments" / uid)
        link_tree(info.path, scratch / "snapshots" / info.path.name)
        store.put_snapshot(collection, shard, info.seq, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _install_newer(store: BlobStore, collection: str, shard: int, data_dir: Path) -> Seq | None:
    """Install the store's newest snapshot if it is newer than every local one.

    Returns its sequence, or None when the local data is as new or the store cannot be
    reached (replaying the log may still do: ``Database`` refuses to open if records it
    needs were purged).
    """
    for leftover in data_dir.glob(".incoming-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    local = max((int(p.name) for p in list_snapshots(data_dir / "snapshots")), default=0)
    for _attempt in range(3):
        try:
            remote = store.newest_snapshot(collection, shard)
        except Unavailable as exc:
            log.warning("%s/%d: blob store unavailable: %s", collection, shard, exc)
            return None
        if remote is None or remote <= local:
            return None
        incoming = data_dir / f".incoming-{remote}"
        try:
            store.fetch_snapshot(collection, shard, remote, incoming)
        except NotFound:  # replaced by a newer one between the two calls: ask again
            shutil.rmtree(incoming, ignore_errors=True)
            continue
        snapshot = incoming / "snapshots" / snapshot_dir_name(remote)
        if not snapshot.is_dir() or read_info(snapshot).seq != remote:
            shutil.rmtree(incoming, ignore_errors=True)
            raise CorruptData(
                f"the blob store's snapshot {remote} of {collection}/{shard} "
                "does not hold that snapshot"
            )
        _adopt(incoming, data_dir)
        log.info("%s/%d: installed snapshot %d from the blob store", collection, shard, remote)
        return remote
    return None


def _adopt(incoming: Path, data_dir: Path) -> None:
    segments = data_dir / "segments"
    snapshots = data_dir / "snapshots"
    segments.mkdir(parents=True, exist_ok=True)
    snapshots.mkdir(parents=True, exist_ok=True)
    for segment in sorted((incoming / "segments").glob("*")):
        if not (segments / segment.name).exists():
            segment.rename(segments / segment.name)
    fsync_dir(segments)
    for snap in (incoming / "snapshots").iterdir():
        if not (snapshots / snap.name).exists():
            snap.rename(snapshots / snap.name)
    fsync_dir(snapshots)
    shutil.rmtree(incoming, ignore_errors=True)

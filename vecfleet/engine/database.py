"""The embedded database: collections over one write-ahead log, snapshots and recovery.

Write path (STYLE 10): validate → append the record to the log (durable per the
``durability`` setting) → apply in sequence order → acknowledge with the sequence number.
Concurrent writers share the log's group commit; a small sequencer then applies their
records strictly in log order, so replay after a crash rebuilds exactly the same state.

Open path: newest snapshot whose files all verify (a corrupt one is skipped, loudly, for
the one before it) → replay log records after its sequence → serve.

Data directory::

    LOCK          flock: one process per data directory
    wal/          the log (engine/wal)
    segments/     sealed segments, immutable (engine/segment/store.py)
    snapshots/    consistent cuts (engine/snapshot.py)
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from vecfleet.engine.collection import Collection
from vecfleet.engine.config import CollectionConfig, check_collection_name
from vecfleet.engine.ops import (
    CreateCollection,
    Delete,
    DropCollection,
    Op,
    SetPayload,
    Upsert,
    decode_op,
    encode_op,
    upsert_op,
)
from vecfleet.engine.snapshot import (
    CollectionCut,
    SnapshotInfo,
    list_snapshots,
    load_snapshot,
    read_info,
    referenced_segments,
    write_snapshot,
)
from vecfleet.engine.wal import FileLog, Log
from vecfleet.errors import (
    CollectionExists,
    CollectionNotFound,
    CorruptData,
    StorageError,
    ValidationError,
)
from vecfleet.types import DURABILITY_MODES, Seq

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class DatabaseSettings:
    """Per-database durability and snapshot policy.

    durability:
      ``fsync`` (default) a write is acknowledged after its log record is fsynced: it
                survives kill -9 and power loss.
      ``batch`` acknowledged once written to the OS; fsynced every 50 ms:
                survives kill -9, may lose the last interval on power loss.
      ``none``  acknowledged once written to the OS, never fsynced until close: survives
                a process crash, not a power loss.
    """

    durability: str = "fsync"
    snapshot_every_rows: int = 250_000
    snapshot_every_s: float = 600.0
    keep_snapshots: int = 2
    snapshot_on_close: bool = True
    verify_segments: bool = True
    log_segment_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if self.durability not in DURABILITY_MODES:
            raise ValidationError(
                f"durability {self.durability!r} is unknown; "
                f"allowed: {', '.join(DURABILITY_MODES)}",
                field="durability",
            )
        if self.keep_snapshots < 1:
            raise ValidationError("keep_snapshots must be at least 1", field="keep_snapshots")


class Database:
    def __init__(
        self,
        path: str | os.PathLike[str],
        settings: DatabaseSettings | None = None,
        log_factory: Callable[[Path, DatabaseSettings], Log] | None = None,
    ) -> None:
        self.path = Path(path)
        self.settings = settings or DatabaseSettings()
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.path / "LOCK", "a+")  # noqa: SIM115 - held for the db's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise StorageError(f"data directory {self.path} is in use by another process") from exc
        self.segments_dir = self.path / "segments"
        self.snapshots_dir = self.path / "snapshots"
        self.segments_dir.mkdir(exist_ok=True)
        factory = log_factory or _file_log
        self._collections: dict[str, Collection] = {}
        self._seq_cond = threading.Condition()
        self._applied_seq: Seq = 0
        self._failed: BaseException | None = None
        self._ddl_lock = threading.Lock()
        self._snapshot_lock = threading.Lock()
        self._rows_since_snapshot = 0
        self._last_snapshot_at = time.monotonic()
        self._closed = False
        self.recovery: dict[str, Any] = {}
        self._unusable_snapshots: set[str] = set()
        wal: Log | None = None
        try:
            wal = self._log = factory(self.path / "wal", self.settings)
            self._recover()
        except BaseException:
            # Leave the directory as we found it so the caller can repair it and retry.
            for collection in self._collections.values():
                collection.close()
            if wal is not None:
                wal.close()
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            raise

    # ------------------------------------------------------------------ recovery
    def _recover(self) -> None:
        started = time.perf_counter()
        self._remove_orphan_segments()  # before any build starts: it would look like an orphan
        snapshot_seq = 0
        used = None
        for candidate in list_snapshots(self.snapshots_dir):
            try:
                snapshot_seq, loaded = load_snapshot(candidate, self.segments_dir)
            except (CorruptData, OSError, ValueError, KeyError) as exc:
                log.error("snapshot %s is unusable (%s); trying the one before it", candidate, exc)
                self._unusable_snapshots.add(candidate.name)
                continue
            for entry in loaded:
                self._collections[entry.config.name] = Collection(
                    entry.config,
                    self.segments_dir,
                    sealed=entry.sealed,
                    growing=entry.growing,
                    frozen=entry.frozen,
                    applied_seq=entry.applied_seq,
                )
            used = candidate
            break
        first = self._log.first_seq()
        # Read before replaying: a log that others append to (cluster mode) may grow during
        # the replay, and applied_seq must never pass a record that was not applied.
        last = self._log.last_seq()
        if snapshot_seq + 1 < first and last >= first:
            raise CorruptData(
                f"log starts at {first} but the newest usable snapshot ends at {snapshot_seq}: "
                "records in between are lost"
            )
        replayed = 0
        self._applied_seq = snapshot_seq
        # Sequences may have gaps (a JetStream subject shares its stream's numbering):
        # replay follows the log's order and never expects seq + 1.
        for seq, record in self._log.read_from(snapshot_seq + 1):
            self._apply(seq, decode_op(record))
            self._applied_seq = seq
            replayed += 1
        self._applied_seq = max(self._applied_seq, last)
        if self._applied_seq < snapshot_seq:
            # The log was emptied (e.g. restored from a snapshot): continue numbering after it.
            self._log.skip_to(snapshot_seq)
            self._applied_seq = snapshot_seq
        self.recovery = {
            "snapshot": str(used) if used else None,
            "snapshot_seq": snapshot_seq,
            "replayed_records": replayed,
            "seconds": time.perf_counter() - started,
        }
        if used or replayed:
            log.info(
                "recovered %s: snapshot %s + %d log records in %.2fs",
                self.path,
                used.name if used else "none",
                replayed,
                self.recovery["seconds"],
            )

    def _remove_orphan_segments(self) -> None:
        keep = set()
        for collection in self._collections.values():
            keep |= collection.live_segment_uids()
        for snap in list_snapshots(self.snapshots_dir):
            try:
                keep |= referenced_segments(snap)
            except CorruptData:
                continue
        for directory in self.segments_dir.iterdir():
            if directory.name not in keep:
                shutil.rmtree(directory, ignore_errors=True)

    # ------------------------------------------------------------------ apply
    def _apply(self, seq: Seq, op: Op) -> Any:
        if isinstance(op, Upsert):
            col = self._collections.get(op.collection)
            if col is not None:
                col.apply_upsert(seq, op.ids, op.matrix(), op.payloads)
                self._rows_since_snapshot += len(op.ids)
            return len(op.ids)
        if isinstance(op, Delete):
            col = self._collections.get(op.collection)
            return col.apply_delete(seq, op.ids) if col is not None else 0
        if isinstance(op, SetPayload):
            col = self._collections.get(op.collection)
            if col is None:
                return 0
            current = col.current_points(op.ids)
            if current:
                ids = [c[0] for c in current]
                vectors = np.stack([c[1] for c in current])
                payloads = [{**c[2], **op.payload} for c in current]
                col.apply_upsert(seq, ids, vectors, payloads)
            else:
                col.mark_applied(seq)
            return len(current)
        if isinstance(op, CreateCollection):
            config = CollectionConfig.from_dict(op.config)
            if config.name not in self._collections:
                self._collections[config.name] = Collection(
                    config, self.segments_dir, applied_seq=seq
                )
            return None
        if isinstance(op, DropCollection):
            col = self._collections.pop(op.name, None)
            if col is not None:
                col.dropped = True
                col.close()
            return None
        raise CorruptData(f"unknown log record {type(op).__name__}")

    def write(self, op: Op) -> tuple[Seq, Any]:
        """Log ``op`` durably, apply it in sequence order, return (seq, apply result)."""
        return self._write(encode_op(op), op)

    def append_record(self, record: bytes) -> tuple[Seq, Any]:
        """``write`` of a record encoded elsewhere (the gateway's writer), logged as given."""
        return self._write(record, decode_op(record))

    def _write(self, record: bytes, op: Op) -> tuple[Seq, Any]:
        self._check_open()
        try:
            seq = self._log.append([record])
        except BaseException as exc:
            with self._seq_cond:
                self._failed = exc
                self._seq_cond.notify_all()
            raise StorageError(f"the log refused a write: {exc}") from exc
        with self._seq_cond:
            while self._applied_seq != seq - 1:
                if self._failed is not None:
                    raise StorageError("the database stopped after a log failure; reopen it")
                self._seq_cond.wait(0.5)
            try:
                result = self._apply(seq, op)
            finally:
                self._applied_seq = seq
                self._seq_cond.notify_all()
        self._maybe_snapshot()
        return seq, result

    def apply_record(self, seq: Seq, record: bytes) -> bool:
        """Apply a record another process appended to the log; False if already applied.

        The replica path (cluster mode): the gateway appends to the shared log, every
        replica applies what it reads. Records must arrive in log order; sequences may
        have gaps. A record at or below ``applied_seq`` is ignored, so re-delivery after a
        reconnect or a replay that overlaps a snapshot is harmless (STYLE 10). Like
        ``write``, a record whose apply raises still counts as applied: every replica
        meets the same record and must make the same decision about it.
        """
        self._check_open()
        op = decode_op(record)
        with self._seq_cond:
            if seq <= self._applied_seq:
                return False
            try:
                self._apply(seq, op)
            finally:
                self._applied_seq = seq
                self._seq_cond.notify_all()
        self._maybe_snapshot()
        return True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the database is closed")
        if self._failed is not None:
            raise StorageError("the database stopped after a log failure; reopen it")

    # ------------------------------------------------------------------ collections
    def create_collection(
        self,
        name: str,
        dim: int,
        metric: str = "cosine",
        index: str = "hnsw",
        payload_schema: dict[str, str] | None = None,
        **settings: Any,
    ) -> Collection:
        config = CollectionConfig.from_dict(
            {
                "name": name,
                "dim": dim,
                "metric": metric,
                "index": index,
                "payload_schema": dict(payload_schema or {}),
                **settings,
            }
        )
        with self._ddl_lock:
            if name in self._collections:
                raise CollectionExists(name)
            self.write(CreateCollection(config.to_dict()))
        return self._collections[name]

    def drop_collection(self, name: str) -> Seq:
        with self._ddl_lock:
            if name not in self._collections:
                raise CollectionNotFound(name)
            seq, _ = self.write(DropCollection(name))
        return seq

    def get_collection(self, name: str) -> Collection:
        check_collection_name(name)
        try:
            return self._collections[name]
        except KeyError:
            raise CollectionNotFound(name) from None

    def collection_names(self) -> list[str]:
        return sorted(self._collections)

    def upsert(
        self, collection: str, ids: list[Any], vectors: np.ndarray, payloads: list[dict[str, Any]]
    ) -> Seq:
        seq, _ = self.write(upsert_op(collection, ids, vectors, payloads))
        return seq

    @property
    def applied_seq(self) -> Seq:
        return self._applied_seq

    # ------------------------------------------------------------------ snapshots
    def _maybe_snapshot(self) -> None:
        due = self._rows_since_snapshot >= self.settings.snapshot_every_rows or (
            self._rows_since_snapshot
            and time.monotonic() - self._last_snapshot_at >= self.settings.snapshot_every_s
        )
        if due and self._snapshot_lock.acquire(blocking=False):
            self._snapshot_lock.release()
            threading.Thread(target=self._snapshot_quietly, name="snapshot", daemon=True).start()

    def _snapshot_quietly(self) -> None:
        try:
            self.snapshot()
        except Exception:
            log.exception("automatic snapshot of %s failed", self.path)

    def snapshot(self) -> SnapshotInfo:
        """Write a consistent snapshot of every collection now; trims old snapshots and log."""
        with self._snapshot_lock:
            with self._seq_cond:  # no record is applied while the cut is taken
                seq = self._applied_seq
                cuts = []
                for collection in self._collections.values():
                    sealed, loose = collection.frozen_state()
                    cuts.append(
                        CollectionCut(collection.config, collection.applied_seq, sealed, loose)
                    )
                self._rows_since_snapshot = 0
                self._last_snapshot_at = time.monotonic()
            info = write_snapshot(self.snapshots_dir, seq, cuts)
            self._trim()
            return info

    def _trim(self) -> None:
        # Only usable snapshots count toward keep_snapshots: a damaged one must not push
        # out the last good snapshot (and the log it needs).
        snaps = [
            s for s in list_snapshots(self.snapshots_dir) if s.name not in self._unusable_snapshots
        ]
        kept = snaps[: self.settings.keep_snapshots]
        for old in snaps[self.settings.keep_snapshots :]:
            shutil.rmtree(old, ignore_errors=True)
        for tmp in self.snapshots_dir.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
        if kept:
            oldest = read_info(kept[-1]).seq
            self._log.truncate_before(oldest + 1)
        # List first, then take the live set: a build that starts after the listing is not
        # in it, and one already running is in the live set (registered before its mkdir).
        present = list(self.segments_dir.iterdir())
        live = set()
        for collection in list(self._collections.values()):
            live |= collection.live_segment_uids()
        for snap in kept:
            live |= referenced_segments(snap)
        for directory in present:
            if directory.name not in live and (directory / "segment.json").exists():
                shutil.rmtree(directory, ignore_errors=True)

    def snapshots(self) -> list[SnapshotInfo]:
        out = []
        for path in list_snapshots(self.snapshots_dir):
            try:
                out.append(read_info(path))
            except CorruptData as exc:
                log.warning("snapshot %s is unreadable: %s", path, exc)
        return out

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._closed:
            return
        try:
            for collection in self._collections.values():
                collection.wait_for_builds()
            if self.settings.snapshot_on_close and self._failed is None and self._applied_seq:
                self.snapshot()
        finally:
            self._closed = True
            for collection in self._collections.values():
                collection.close()
            self._log.close()
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()


def _file_log(directory: Path, settings: DatabaseSettings) -> Log:
    return FileLog(
        directory,
        durability=settings.durability,  # type: ignore[arg-type]
        segment_bytes=settings.log_segment_bytes,
    )

"""Write-ahead log in local segment files, with group commit.

A log is one directory of segment files, each named by the sequence of its first record
(``00000000000000000001.wal``; 20 digits so names sort by number). Only the newest
segment is written. A new one starts when the next batch would push the active segment
past ``segment_bytes``; a batch never spans two files. Every record is one frame
(format and decoding: ``frames.py``).

All or nothing: the records of one ``append`` are consecutive frames and only the last one
carries the commit flag. Recovery keeps a batch only when its commit frame is intact, so
a crash in the middle of a batch loses the whole batch, which was never acknowledged.

Durability modes, i.e. what an acknowledged ``append`` survives:

| mode  | an append does                        | process kill | power loss                 |
|-------|---------------------------------------|--------------|----------------------------|
| fsync | write(), then fdatasync (grouped)     | survives     | survives                   |
| batch | write(); a thread fdatasyncs per tick | survives     | may lose the last tick     |
| none  | write(); fdatasync only on close      | survives     | may lose anything unsynced |

In ``fsync`` and ``batch`` mode the directory is fsynced when a segment is created and a
segment is fsynced before its successor is created, so only the newest segment can ever
have a torn tail. ``none`` never calls fsync before ``close``.

Group commit (``fsync`` mode): writers append their frames under a lock, then wait for
their sequence to become durable. The first waiter becomes the leader: it waits at most
``group_commit_wait_s`` for writers still writing, fdatasyncs once, and releases every
writer that this fdatasync covered. Readers only see records that are acknowledged.

Recovery on open verifies every segment (CRC, consecutive sequences, each file starting
at the sequence in its name). A torn or corrupt tail of the newest segment is cut back to
its last complete batch, with a warning that says how many bytes were dropped and where.
A bad frame in an older segment, or a sequence gap between segments, raises
`CorruptData`: acknowledged records are never skipped silently.
"""

from __future__ import annotations

import bisect
import fcntl
import logging
import mmap
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from vecfleet.engine.wal.frames import (
    FLAG_COMMIT,
    HEADER,
    MAGIC,
    MAX_RECORD_BYTES,
    VERSION,
    Buffer,
    Frame,
    Problem,
    SegmentScan,
    decode_frame,
    encode_batch,
    scan_segment,
)
from vecfleet.errors import CorruptData, StorageError, ValidationError
from vecfleet.types import DURABILITY_MODES, Durability, Seq

__all__ = [  # the frame names are re-exported: callers imported them from here
    "FLAG_COMMIT",
    "HEADER",
    "MAGIC",
    "MAX_RECORD_BYTES",
    "VERSION",
    "FileLog",
    "Frame",
    "Problem",
    "SegmentScan",
    "decode_frame",
    "encode_batch",
    "scan_segment",
    "segment_name",
]

logger = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".wal"
_SEGMENT_NAME = re.compile(r"^(\d{20})\.wal$")
_fdatasync = getattr(os, "fdatasync", os.fsync)


def segment_name(first_seq: Seq) -> str:
    """File name of the segment whose first record is ``first_seq``."""
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


class FileLog:
    """`Log` kept in segment files of one directory, which it locks against other users."""

    def __init__(
        self,
        directory: Path,
        durability: Durability = "fsync",
        segment_bytes: int = 64 * 1024 * 1024,
        group_commit_wait_s: float = 0.0005,
        batch_interval_s: float = 0.05,
    ) -> None:
        _check_settings(durability, segment_bytes, group_commit_wait_s, batch_interval_s)
        self._dir = Path(directory)
        self._durability = durability
        self._sync_files = durability != "none"
        self._segment_bytes = segment_bytes
        self._group_commit_wait_s = group_commit_wait_s
        # _lock guards the active file, sequence assignment and the segment list; _cond
        # guards durability progress. Nobody takes _lock while holding _cond.
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._stats = dict.fromkeys(("appends", "records", "bytes", "fsyncs"), 0)
        self._closed = False
        self._failure: OSError | None = None
        self._syncing = False
        self._writers = 0
        self._dir_fd = _lock_directory(self._dir)
        try:
            self._segments, last = self._recover()
            self._fd = self._open_active()
        except BaseException:
            os.close(self._dir_fd)
            raise
        self._active_bytes = os.fstat(self._fd).st_size
        self._written_seq = self._synced_seq = last
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        if durability == "batch":
            self._flusher = threading.Thread(
                target=self._sync_periodically,
                args=(batch_interval_s,),
                name="vecfleet-wal-sync",
                daemon=True,
            )
            self._flusher.start()

    def append(self, records: Sequence[bytes]) -> Seq:
        """Append ``records`` as one all-or-nothing batch; return the last sequence once durable."""
        _check_records(records)
        with self._cond:
            self._writers += 1
        try:
            last = self._write(records)
        finally:
            with self._cond:
                self._writers -= 1
                self._cond.notify_all()
        if self._durability == "fsync":
            self._wait_synced(last)
        return last

    def read_from(self, seq: Seq) -> Iterator[tuple[Seq, bytes]]:
        """Yield acknowledged records from ``seq`` on, up to the last one acknowledged now."""
        # The limit is taken first: every record at or below it is already in a segment
        # of the list taken next.
        limit = self.last_seq()
        with self._lock:
            self._check_open()
            segments = list(self._segments)
        return self._records(segments, seq, limit)

    def last_seq(self) -> Seq:
        """Sequence of the newest acknowledged record, 0 for an empty log."""
        with self._cond:
            return self._synced_seq if self._durability == "fsync" else self._written_seq

    def first_seq(self) -> Seq:
        """Sequence of the oldest retained record, ``last_seq() + 1`` when none is retained."""
        with self._lock:
            return self._segments[0]

    def truncate_before(self, seq: Seq) -> None:
        """Delete the segments whose records are all below ``seq``; never the active one."""
        with self._lock:
            self._check_open()
            # Oldest first, so a crash midway still leaves a contiguous run of segments.
            while len(self._segments) > 1 and self._segments[1] <= seq:
                path = self._dir / segment_name(self._segments[0])
                try:
                    path.unlink(missing_ok=True)
                except OSError as exc:
                    raise StorageError(f"cannot delete {path}: {exc}", path=str(path)) from exc
                self._segments.pop(0)

    def skip_to(self, seq: Seq) -> None:
        """Continue numbering after ``seq``, dropping every record at or below it.

        Used when state is restored from a snapshot newer than the whole log: the records
        the log holds are all inside the snapshot, and new ones must follow its sequence.
        """
        with self._lock:
            self._check_open()
            if seq <= self._written_seq:
                return
            os.close(self._fd)
            self._fd = -1
            for first in self._segments:
                (self._dir / segment_name(first)).unlink(missing_ok=True)
            try:
                self._fd = self._create_segment(seq + 1)
            except OSError as exc:
                raise StorageError(f"cannot start segment {seq + 1}: {exc}") from exc
            self._segments = [seq + 1]
            self._active_bytes = 0
            with self._cond:
                self._written_seq = self._synced_seq = seq
                self._cond.notify_all()

    def stats(self) -> dict[str, int]:
        """Plain counters since open: appends, records, bytes, fsyncs, segments."""
        with self._lock, self._cond:
            return {**self._stats, "segments": len(self._segments)}

    def close(self) -> None:
        """Stop the sync thread, fdatasync what is written, release files and the lock."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._flusher is not None:
            self._stop.set()
            self._flusher.join()
        with self._lock:
            try:
                if self._failure is None:
                    self._fsync(self._fd)
                    with self._cond:
                        self._synced_seq = self._written_seq
                        self._cond.notify_all()
            finally:
                if self._fd >= 0:
                    os.close(self._fd)
                self._fd = -1
                os.close(self._dir_fd)

    def __enter__(self) -> FileLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _recover(self) -> tuple[list[Seq], Seq]:
        """Verify every segment, cut a torn tail off the newest, return (segments, last seq)."""
        firsts = _list_segments(self._dir)
        last = firsts[0] - 1 if firsts else 0
        for i, first in enumerate(firsts):
            path = self._dir / segment_name(first)
            if first != last + 1:
                raise CorruptData(
                    f"sequence gap in the write-ahead log: {path} starts at {first} but the "
                    f"records before it end at {last}; restore the missing segment or the "
                    "shard from a snapshot",
                    path=str(path),
                    expected_seq=last + 1,
                )
            with _mapped(path) as buf:
                scan, size = scan_segment(buf, first), len(buf)
            problem = scan.problem
            if problem is not None and (problem.fatal or i < len(firsts) - 1):
                raise CorruptData(
                    f"write-ahead log segment {path} is corrupt at offset {problem.offset} "
                    f"({problem.reason}) and acknowledged records follow it; restore the "
                    "shard from a snapshot or a replica",
                    path=str(path),
                    offset=problem.offset,
                )
            if problem is not None:
                self._cut_tail(path, scan, size)
            last = scan.last_seq
        return firsts, last

    def _open_active(self) -> int:
        """Open the newest segment for appending, creating the first one for a new log."""
        try:
            if not self._segments:
                self._segments = [1]
                return self._create_segment(1)
            return os.open(self._active_path(), os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            raise StorageError(f"cannot open {self._active_path()}: {exc}") from exc

    def _cut_tail(self, path: Path, scan: SegmentScan, size_bytes: int) -> None:
        """Drop the torn tail of the newest segment so appends continue after valid data."""
        assert scan.problem is not None
        logger.warning(
            "write-ahead log %s: dropped %d bytes of torn or corrupt tail from offset %d "
            "(%s at offset %d); the log now ends at sequence %d",
            path,
            size_bytes - scan.committed_bytes,
            scan.committed_bytes,
            scan.problem.reason,
            scan.problem.offset,
            scan.last_seq,
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.ftruncate(fd, scan.committed_bytes)
                if self._sync_files:
                    _fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StorageError(f"cannot cut the torn tail of {path}: {exc}") from exc

    def _write(self, records: Sequence[bytes]) -> Seq:
        """Assign sequences and write the batch; the caller decides when it is durable."""
        with self._lock:
            self._check_open()
            if self._failure is not None:
                raise StorageError(
                    f"the write-ahead log in {self._dir} is unusable after an I/O error "
                    f"({self._failure}); reopen it to recover what is durable",
                    path=str(self._dir),
                ) from self._failure
            first = self._written_seq + 1
            data = encode_batch(first, records)
            if self._active_bytes and self._active_bytes + len(data) > self._segment_bytes:
                self._roll(first)
            self._write_all(data)
            self._active_bytes += len(data)
            self._written_seq = first + len(records) - 1
            self._stats["appends"] += 1
            self._stats["records"] += len(records)
            self._stats["bytes"] += len(data)
            return self._written_seq

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, view[done:])
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self._active_bytes)  # no half batch before the next one
            except OSError as undo_exc:
                with self._cond:
                    self._failure = undo_exc
            raise StorageError(
                f"cannot write to the write-ahead log in {self._dir}: {exc}", path=str(self._dir)
            ) from exc

    def _roll(self, first: Seq) -> None:
        """Seal the active segment, durable before its successor exists, and start ``first``."""
        if self._sync_files:
            self._fsync(self._fd)
            with self._cond:
                self._synced_seq = self._written_seq
                self._cond.notify_all()
        os.close(self._fd)
        self._fd = -1
        try:
            self._fd = self._create_segment(first)
        except OSError as exc:
            with self._cond:
                self._failure = exc
                self._cond.notify_all()
            raise StorageError(f"cannot start segment {first}: {exc}", path=str(self._dir)) from exc
        self._segments.append(first)
        self._active_bytes = 0

    def _create_segment(self, first: Seq) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        fd = os.open(self._dir / segment_name(first), flags, 0o644)
        if self._sync_files:
            os.fsync(self._dir_fd)  # the new name must survive power loss too
        return fd

    def _wait_synced(self, seq: Seq) -> None:
        """Block until ``seq`` is fdatasynced, leading the next group commit if nobody is."""
        while True:
            with self._cond:
                if self._synced_seq >= seq:
                    return
                if self._failure is not None:
                    raise StorageError(
                        f"fsync of the write-ahead log in {self._dir} failed; sequence {seq} "
                        "is not durable"
                    ) from self._failure
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing = True
                if self._group_commit_wait_s > 0:
                    self._cond.wait_for(lambda: self._writers == 0, self._group_commit_wait_s)
            try:
                self._sync()
            finally:
                with self._cond:
                    self._syncing = False
                    self._cond.notify_all()

    def _sync(self) -> None:
        """fdatasync everything written so far, without blocking writers meanwhile."""
        with self._lock:
            if self._fd < 0:
                return  # close() has synced everything before closing the file
            upto = self._written_seq
            try:
                # A duplicate stays valid even if a roll closes the original meanwhile.
                fd = os.dup(self._fd)
            except OSError as exc:
                raise StorageError(f"cannot fsync the write-ahead log: {exc}") from exc
        try:
            self._fsync(fd)
        finally:
            os.close(fd)
        with self._cond:
            self._synced_seq = max(self._synced_seq, upto)
            self._cond.notify_all()

    def _fsync(self, fd: int) -> None:
        try:
            _fdatasync(fd)
        except OSError as exc:
            # After a failed fsync the page cache cannot be trusted: refuse further writes.
            with self._cond:
                self._failure = exc
                self._cond.notify_all()
            raise StorageError(
                f"fsync of the write-ahead log in {self._dir} failed: {exc}", path=str(self._dir)
            ) from exc
        with self._cond:
            self._stats["fsyncs"] += 1

    def _sync_periodically(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            # _written_seq is read without _lock: a stale value only delays the fsync a tick.
            with self._cond:
                behind = self._synced_seq < self._written_seq
            if behind:
                try:
                    self._sync()
                except StorageError:
                    logger.exception("write-ahead log in %s: background fsync failed", self._dir)
                    return

    def _records(self, segments: list[Seq], start: Seq, limit: Seq) -> Iterator[tuple[Seq, bytes]]:
        if start > limit:
            return
        index = max(bisect.bisect_right(segments, start) - 1, 0)
        for i in range(index, len(segments)):
            first = segments[i]
            stop = min(limit, segments[i + 1] - 1) if i + 1 < len(segments) else limit
            if first > stop:
                return
            yield from _read_segment(self._dir / segment_name(first), first, start, stop)

    def _active_path(self) -> Path:
        return self._dir / segment_name(self._segments[-1])

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(
                f"the write-ahead log in {self._dir} is closed; open a new FileLog to use it",
                path=str(self._dir),
            )


def _read_segment(path: Path, first: Seq, start: Seq, stop: Seq) -> Iterator[tuple[Seq, bytes]]:
    """Yield records ``start..stop`` of one segment, checking every frame on the way."""
    with _mapped(path) as buf:
        offset, expected = 0, first
        while expected <= stop:
            item = decode_frame(buf, offset)
            if isinstance(item, Problem) or item.seq != expected:
                reason = item.reason if isinstance(item, Problem) else f"sequence {item.seq}"
                raise CorruptData(
                    f"write-ahead log segment {path} is unreadable at offset {offset} "
                    f"({reason}) while sequence {expected} was expected",
                    path=str(path),
                    offset=offset,
                )
            if expected >= start:
                yield expected, item.payload
            offset, expected = item.end, expected + 1


@contextmanager
def _mapped(path: Path) -> Iterator[Buffer]:
    """The file's current contents, memory-mapped so large segments are not copied."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise StorageError(
            f"cannot open write-ahead log segment {path}: {exc}", path=str(path)
        ) from exc
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            yield b""
            return
        with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped:
            yield mapped
    finally:
        os.close(fd)


def _list_segments(directory: Path) -> list[Seq]:
    names = (_SEGMENT_NAME.match(name) for name in os.listdir(directory))
    firsts = sorted(int(match.group(1)) for match in names if match)
    if firsts and firsts[0] < 1:
        raise CorruptData(
            f"{directory} holds a segment starting at sequence 0", path=str(directory)
        )
    return firsts


def _lock_directory(directory: Path) -> int:
    """Create and flock the directory so two logs never write the same files."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise StorageError(f"cannot open log directory {directory}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise StorageError(
            f"{directory} is already open as a write-ahead log in this or another process; "
            "close that FileLog first",
            path=str(directory),
        ) from exc
    return fd


def _check_settings(
    durability: str, segment_bytes: int, group_commit_wait_s: float, batch_interval_s: float
) -> None:
    if durability not in DURABILITY_MODES:
        allowed = ", ".join(DURABILITY_MODES)
        raise ValidationError(
            f"durability must be one of {allowed}, got {durability!r}", field="durability"
        )
    if segment_bytes <= 0:
        raise ValidationError(f"segment_bytes must be > 0, got {segment_bytes}")
    if group_commit_wait_s < 0:
        raise ValidationError(f"group_commit_wait_s must be >= 0, got {group_commit_wait_s}")
    if batch_interval_s <= 0:
        raise ValidationError(f"batch_interval_s must be > 0, got {batch_interval_s}")


def _check_records(records: Sequence[bytes]) -> None:
    if isinstance(records, bytes | bytearray | str):
        raise ValidationError("append takes a sequence of records; wrap a single record in a list")
    if not records:
        raise ValidationError("append needs at least one record")
    for record in records:
        if not isinstance(record, bytes):
            raise ValidationError(f"records must be bytes, got {type(record).__name__}")
        if len(record) > MAX_RECORD_BYTES:
            raise ValidationError(
                f"a record is {len(record)} bytes; the limit is {MAX_RECORD_BYTES}"
            )

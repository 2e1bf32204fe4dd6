"""FileLog: numbering, segments, recovery of torn tails, group commit, durability modes."""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import google_crc32c
import pytest
from hypothesis import given
from hypothesis import strategies as st

import vecfleet.engine.wal as wal
from vecfleet.engine.wal import file_log
from vecfleet.engine.wal.file_log import (
    HEADER,
    FileLog,
    encode_batch,
    scan_segment,
    segment_name,
)
from vecfleet.errors import CorruptData, StorageError, ValidationError

LOGGER = "vecfleet.engine.wal.file_log"


def record(seq: int) -> bytes:
    """A payload that can be checked from its sequence alone, of varying length."""
    return f"record-{seq}-".encode() + bytes([seq % 251]) * (seq % 17)


def everything(log: FileLog) -> list[tuple[int, bytes]]:
    return list(log.read_from(1))


def expected(first: int, last: int) -> list[tuple[int, bytes]]:
    return [(seq, record(seq)) for seq in range(first, last + 1)]


def append_range(log: FileLog, first: int, last: int) -> int:
    return log.append([record(seq) for seq in range(first, last + 1)])


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wal"))


@pytest.fixture
def open_log(tmp_path: Path) -> Iterator[Callable[..., FileLog]]:
    """Opens logs in tmp_path/wal and closes whatever a test left open."""
    logs: list[FileLog] = []

    def opener(directory: Path | None = None, **options: object) -> FileLog:
        log = FileLog(directory or tmp_path / "wal", **options)  # type: ignore[arg-type]
        logs.append(log)
        return log

    yield opener
    for log in logs:
        log.close()


def test_exports_are_pinned() -> None:
    assert wal.__all__ == ["FileLog", "Log"]


def test_file_log_satisfies_the_log_protocol(open_log: Callable[..., FileLog]) -> None:
    assert isinstance(open_log(), wal.Log)


def test_round_trip_numbers_records_from_one(open_log: Callable[..., FileLog]) -> None:
    log = open_log()
    assert (log.first_seq(), log.last_seq()) == (1, 0)
    assert log.append([record(1)]) == 1
    assert append_range(log, 2, 5) == 5
    assert everything(log) == expected(1, 5)
    assert list(log.read_from(4)) == expected(4, 5)
    assert list(log.read_from(6)) == []
    assert (log.first_seq(), log.last_seq()) == (1, 5)


def test_numbering_continues_after_reopen(tmp_path: Path) -> None:
    with FileLog(tmp_path) as log:
        append_range(log, 1, 3)
    with FileLog(tmp_path) as log:
        assert log.last_seq() == 3
        assert append_range(log, 4, 6) == 6
        assert everything(log) == expected(1, 6)


def test_reader_stops_at_what_was_acknowledged_when_it_started(
    open_log: Callable[..., FileLog],
) -> None:
    log = open_log()
    append_range(log, 1, 3)
    reader = log.read_from(2)
    append_range(log, 4, 5)
    assert list(reader) == expected(2, 3)


def test_segments_roll_over_and_are_named_by_first_sequence(tmp_path: Path) -> None:
    with FileLog(tmp_path, segment_bytes=120) as log:
        for seq in range(1, 31):
            log.append([record(seq)])
        names = [path.name for path in segments(tmp_path)]
        assert len(names) > 5
        assert log.stats()["segments"] == len(names)
    firsts = [int(name.removesuffix(".wal")) for name in names]
    assert firsts[0] == 1
    assert names == [segment_name(first) for first in firsts]
    with FileLog(tmp_path, segment_bytes=120) as log:
        assert everything(log) == expected(1, 30)
        assert list(log.read_from(firsts[3])) == expected(firsts[3], 30)


def test_a_batch_never_spans_two_segments(tmp_path: Path) -> None:
    with FileLog(tmp_path, segment_bytes=100) as log:
        append_range(log, 1, 2)
        append_range(log, 3, 12)  # larger than a segment: gets a file of its own
        append_range(log, 13, 13)
    assert [path.name for path in segments(tmp_path)] == [
        segment_name(1),
        segment_name(3),
        segment_name(13),
    ]


def test_truncate_before_drops_only_whole_segments_below(tmp_path: Path) -> None:
    with FileLog(tmp_path, segment_bytes=120) as log:
        for seq in range(1, 41):
            log.append([record(seq)])
        before = len(segments(tmp_path))
        log.truncate_before(20)
        assert len(segments(tmp_path)) < before
        assert 1 < log.first_seq() <= 20
        assert list(log.read_from(1)) == expected(log.first_seq(), 40)
        first = log.first_seq()
        log.truncate_before(10**9)  # never the active segment
        assert len(segments(tmp_path)) == 1
        assert log.last_seq() == 40
        last_first = log.first_seq()
    with FileLog(tmp_path, segment_bytes=120) as log:
        assert log.first_seq() == last_first > first
        assert log.last_seq() == 40
        assert log.append([record(41)]) == 41


def build_log_bytes(directory: Path) -> tuple[bytes, int]:
    """One segment whose last append is a three-record batch; returns (bytes, start of it)."""
    with FileLog(directory, durability="none") as log:
        append_range(log, 1, 2)
        append_range(log, 3, 3)
        start = (segments(directory)[0]).stat().st_size
        append_range(log, 4, 6)
    return segments(directory)[0].read_bytes(), start


def reopen_with(directory: Path, data: bytes) -> FileLog:
    directory.mkdir()
    (directory / segment_name(1)).write_bytes(data)
    return FileLog(directory, durability="none")


def test_torn_tail_is_cut_at_every_offset_of_the_last_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, start = build_log_bytes(tmp_path / "source")
    for cut in range(start, len(data)):
        caplog.clear()
        directory = tmp_path / f"cut{cut}"
        with caplog.at_level(logging.WARNING, LOGGER), reopen_with(directory, data[:cut]) as log:
            assert everything(log) == expected(1, 3), cut
            assert (directory / segment_name(1)).stat().st_size == start
            assert log.append([record(4)]) == 4
            assert everything(log) == expected(1, 4)
        warned = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == (1 if cut > start else 0), cut


def test_the_warning_says_how_much_was_dropped_and_where(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data, start = build_log_bytes(tmp_path / "source")
    with caplog.at_level(logging.WARNING, LOGGER), reopen_with(tmp_path / "torn", data[:-5]):
        pass
    (message,) = [r.getMessage() for r in caplog.records]
    assert f"dropped {len(data) - 5 - start} bytes" in message
    assert f"from offset {start}" in message
    assert segment_name(1) in message
    assert "ends at sequence 3" in message


def test_a_bit_flip_anywhere_in_the_last_frame_drops_only_that_batch(tmp_path: Path) -> None:
    data, _ = build_log_bytes(tmp_path / "source")
    last_frame = len(data) - HEADER.size - len(record(6))
    for position in range(last_frame, len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 1 << (position % 8)
        with reopen_with(tmp_path / f"flip{position}", bytes(flipped)) as log:
            assert everything(log) == expected(1, 3), position


def test_garbage_after_the_last_batch_is_cut(tmp_path: Path) -> None:
    data, _ = build_log_bytes(tmp_path / "source")
    with reopen_with(tmp_path / "garbage", data + b"\0" * 100) as log:
        assert everything(log) == expected(1, 6)


def many_segments(directory: Path, count: int = 30) -> list[Path]:
    with FileLog(directory, segment_bytes=120, durability="none") as log:
        for seq in range(1, count + 1):
            log.append([record(seq)])
    return segments(directory)


def test_corruption_in_an_earlier_segment_raises(tmp_path: Path) -> None:
    paths = many_segments(tmp_path)
    data = bytearray(paths[1].read_bytes())
    data[HEADER.size + 2] ^= 0xFF
    paths[1].write_bytes(bytes(data))
    with pytest.raises(CorruptData) as info:
        FileLog(tmp_path)
    assert info.value.details == {"path": str(paths[1]), "offset": 0}
    assert paths[1].name in info.value.message and "offset 0" in info.value.message
    assert paths[1].read_bytes() == bytes(data)  # nothing was cut


def test_a_torn_earlier_segment_raises(tmp_path: Path) -> None:
    paths = many_segments(tmp_path)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[:-3])
    with pytest.raises(CorruptData, match=paths[2].name):
        FileLog(tmp_path)


def test_a_sequence_gap_between_segments_raises(tmp_path: Path) -> None:
    paths = many_segments(tmp_path)
    paths[3].unlink()
    with pytest.raises(CorruptData, match="sequence gap"):
        FileLog(tmp_path)


def test_the_directory_lock_is_released_when_opening_fails(tmp_path: Path) -> None:
    paths = many_segments(tmp_path)
    paths[3].unlink()
    for _ in range(2):
        with pytest.raises(CorruptData):
            FileLog(tmp_path)


def raw_frame(seq: int, payload: bytes, version: int = 1) -> bytes:
    head = struct.pack("<4sBBHIQ", b"VFWL", version, 1, 0, len(payload), seq)
    crc: int = google_crc32c.extend(google_crc32c.value(head), payload)
    return head + crc.to_bytes(4, "little") + payload


def test_a_frame_from_a_newer_version_is_refused_not_cut(tmp_path: Path) -> None:
    data, _ = build_log_bytes(tmp_path / "source")
    with pytest.raises(CorruptData, match="version 2"):
        reopen_with(tmp_path / "newer", data + raw_frame(7, b"future", version=2))


def test_a_valid_frame_with_the_wrong_sequence_raises(tmp_path: Path) -> None:
    data, _ = build_log_bytes(tmp_path / "source")
    with pytest.raises(CorruptData, match="sequence 9 where 7"):
        reopen_with(tmp_path / "wrong", data + raw_frame(9, b"skipped"))


@pytest.mark.parametrize("durability", ["fsync", "batch", "none"])
def test_every_durability_mode_round_trips(tmp_path: Path, durability: str) -> None:
    with FileLog(tmp_path, durability=durability, segment_bytes=200) as log:  # type: ignore[arg-type]
        for first in range(1, 40, 3):
            assert append_range(log, first, first + 2) == first + 2
        assert log.last_seq() == 39
    with FileLog(tmp_path, durability=durability) as log:  # type: ignore[arg-type]
        assert everything(log) == expected(1, 39)


def counting_fdatasync(monkeypatch: pytest.MonkeyPatch, delay_s: float = 0.0) -> list[int]:
    """Replace fdatasync by a counting (and optionally slow, like a real disk) one."""
    calls: list[int] = []
    real = file_log._fdatasync

    def fdatasync(fd: int) -> None:
        calls.append(fd)
        time.sleep(delay_s)
        real(fd)

    monkeypatch.setattr(file_log, "_fdatasync", fdatasync)
    return calls


def test_fsync_mode_syncs_each_lone_append(
    open_log: Callable[..., FileLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_fdatasync(monkeypatch)
    log = open_log(durability="fsync")
    for seq in range(1, 11):
        log.append([record(seq)])
    assert len(calls) == log.stats()["fsyncs"] == 10


def test_concurrent_writers_share_fsyncs(
    open_log: Callable[..., FileLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    counting_fdatasync(monkeypatch, delay_s=0.002)
    log = open_log(durability="fsync")
    threads, per_thread = 8, 25
    acknowledged: list[int] = []
    start = threading.Barrier(threads)

    def writer() -> None:
        start.wait()
        for _ in range(per_thread):
            acknowledged.append(log.append([b"x" * 32]))

    workers = [threading.Thread(target=writer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stats = log.stats()
    assert sorted(acknowledged) == list(range(1, threads * per_thread + 1))
    assert stats["appends"] == stats["records"] == threads * per_thread
    assert stats["fsyncs"] < stats["appends"] / 3


def test_batch_mode_syncs_in_the_background(
    open_log: Callable[..., FileLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = counting_fdatasync(monkeypatch)
    log = open_log(durability="batch", batch_interval_s=0.01)
    append_range(log, 1, 3)
    deadline = time.monotonic() + 5
    while log.stats()["fsyncs"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert log.stats()["fsyncs"] >= 1 and calls


def test_none_mode_syncs_only_on_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_fdatasync(monkeypatch)
    log = FileLog(tmp_path, durability="none", segment_bytes=100)
    for seq in range(1, 21):
        log.append([record(seq)])
    assert calls == [] and log.stats()["fsyncs"] == 0
    log.close()
    assert len(calls) == 1


def test_a_failed_fsync_fails_the_append_and_every_later_one(
    open_log: Callable[..., FileLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = open_log(durability="fsync")
    log.append([b"durable"])

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(file_log, "_fdatasync", broken)
    with pytest.raises(StorageError, match="fsync"):
        log.append([b"lost"])
    with pytest.raises(StorageError, match="reopen"):
        log.append([b"refused"])
    assert log.last_seq() == 1


def test_close_is_idempotent_and_the_log_refuses_use_after_it(tmp_path: Path) -> None:
    log = FileLog(tmp_path)
    log.append([b"a"])
    log.close()
    log.close()
    with pytest.raises(StorageError, match="closed"):
        log.append([b"b"])
    with pytest.raises(StorageError, match="closed"):
        log.read_from(1)
    assert log.last_seq() == 1


def test_a_directory_is_opened_by_one_log_at_a_time(open_log: Callable[..., FileLog]) -> None:
    open_log()
    with pytest.raises(StorageError, match="already open"):
        open_log()


@pytest.mark.parametrize("records", [[], b"one", "one", [b"a", "b"]])
def test_append_rejects_malformed_input(open_log: Callable[..., FileLog], records: object) -> None:
    log = open_log()
    with pytest.raises(ValidationError):
        log.append(records)  # type: ignore[arg-type]
    assert log.last_seq() == 0


@pytest.mark.parametrize(
    "options",
    [
        {"durability": "sometimes"},
        {"segment_bytes": 0},
        {"group_commit_wait_s": -1.0},
        {"batch_interval_s": 0.0},
    ],
)
def test_settings_are_validated(tmp_path: Path, options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FileLog(tmp_path, **options)  # type: ignore[arg-type]


batches = st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=4), max_size=6)


@given(batches, st.integers(min_value=1, max_value=10**12))
def test_frames_round_trip(groups: list[list[bytes]], first: int) -> None:
    data, seq = b"", first
    for group in groups:
        data += encode_batch(seq, group)
        seq += len(group)
    scan = scan_segment(data, first)
    assert scan.problem is None
    assert (scan.committed_bytes, scan.last_seq) == (len(data), seq - 1)


@given(batches.filter(bool), st.data())
def test_any_prefix_recovers_exactly_the_whole_batches_in_it(
    groups: list[list[bytes]], data: st.DataObject
) -> None:
    encoded = b""
    boundaries = [(0, 0)]
    for group in groups:
        encoded += encode_batch(boundaries[-1][1] + 1, group)
        boundaries.append((len(encoded), boundaries[-1][1] + len(group)))
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded)))
    scan = scan_segment(encoded[:cut], 1)
    assert (scan.committed_bytes, scan.last_seq) == max(b for b in boundaries if b[0] <= cut)
    assert (scan.problem is None) == (scan.committed_bytes == cut)


def test_files_other_than_segments_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a segment")
    with FileLog(tmp_path) as log:
        log.append([b"a"])
    assert os.path.exists(tmp_path / "notes.txt")
    with FileLog(tmp_path) as log:
        assert everything(log) == [(1, b"a")]


def test_skip_to_continues_numbering_after_a_restored_snapshot(tmp_path: Path) -> None:
    with FileLog(tmp_path / "log") as wal:
        wal.append([b"a", b"b"])
        wal.skip_to(10)
        assert wal.append([b"c"]) == 11
    with FileLog(tmp_path / "log") as wal:
        assert wal.first_seq() == 11
        assert list(wal.read_from(1)) == [(11, b"c")]

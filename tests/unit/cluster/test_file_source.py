"""``FileLogSource``: shard logs in local ``FileLog`` directories, read by tails."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vecfleet.cluster.file_source import FileLogSource
from vecfleet.cluster.log_source import LogTail, ReplicaLog
from vecfleet.errors import CollectionNotFound, StorageError, ValidationError

C = "incidents"


@pytest.fixture
def source(tmp_path: Path) -> Iterator[FileLogSource]:
    logs = FileLogSource(tmp_path, durability="none", poll_s=0.05)
    yield logs
    logs.close()


def append_many(source: FileLogSource, n: int, shard: int = 0) -> list[int]:
    return [source.append(C, shard, [f"r{i}".encode()]) for i in range(n)]


def test_views_and_tails_keep_the_protocols(source: FileLogSource) -> None:
    log = source.open_log(C, 0)
    assert isinstance(log, ReplicaLog)
    assert isinstance(log.tail(1), LogTail)


def test_a_tail_reads_in_order_in_batches_and_says_when_it_is_caught_up(
    source: FileLogSource,
) -> None:
    assert append_many(source, 5) == [1, 2, 3, 4, 5]
    tail = source.open_log(C, 0).tail(2)
    first = tail.next_batch(3, wait_s=0)
    assert [(r.seq, r.data) for r in first.records] == [(2, b"r1"), (3, b"r2"), (4, b"r3")]
    assert not first.caught_up
    second = tail.next_batch(3, wait_s=0)
    assert [r.seq for r in second.records] == [5]
    assert second.caught_up
    empty = tail.next_batch(3, wait_s=0.05)
    assert empty.records == [] and empty.caught_up
    tail.close()


def test_shards_have_their_own_logs_and_numbering(source: FileLogSource) -> None:
    append_many(source, 3, shard=0)
    assert append_many(source, 2, shard=1) == [1, 2]
    assert [seq for seq, _ in source.open_log(C, 1).read_from(1)] == [1, 2]
    assert source.last_seq(C, 0) == 3


def test_a_waiting_tail_is_woken_by_an_append(source: FileLogSource) -> None:
    append_many(source, 1)
    tail = source.open_log(C, 0).tail(2)
    timer = threading.Timer(0.2, source.append, (C, 0, [b"late"]))
    started = time.monotonic()
    timer.start()
    batch = tail.next_batch(10, wait_s=5.0)
    timer.join()
    assert [r.data for r in batch.records] == [b"late"]
    assert 0.15 < time.monotonic() - started < 2.0


def test_records_carry_the_time_of_their_append(tmp_path: Path) -> None:
    source = FileLogSource(tmp_path, durability="none", remember_appends=2)
    try:
        append_many(source, 1)
        time.sleep(0.2)
        appended = time.time()
        append_many(source, 5)  # the source remembers the last 2 to 4 appends
        records = source.open_log(C, 0).tail(1).next_batch(10, wait_s=0).records
        assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
        assert all(abs(r.published_at - appended) < 0.15 for r in records[1:])
        # forgotten: counted from the oldest append remembered, never as younger
        assert records[0].published_at == records[1].published_at
    finally:
        source.close()


def test_a_replica_view_is_read_only_and_purges_only_below_a_stored_snapshot(
    tmp_path: Path,
) -> None:
    source = FileLogSource(tmp_path, durability="none", segment_bytes=16)
    try:
        append_many(source, 6)  # one record per segment
        log = source.open_log(C, 0)
        with pytest.raises(StorageError, match="read-only"):
            log.append([b"x"])
        log.skip_to(100)
        assert log.last_seq() == 6
        log.truncate_before(5)  # no snapshot stored yet: keeps everything
        assert log.first_seq() == log.purge_floor() == 1
        log.mark_snapshot_stored(3)
        log.truncate_before(5)
        assert log.purge_floor() == 4
        assert [seq for seq, _ in log.read_from(1)] == [4, 5, 6]
        log.close()  # the engine closes its log; the source's FileLog stays open
        assert source.append(C, 0, [b"more"]) == 7
    finally:
        source.close()


def test_a_dropped_collection_is_gone_for_its_readers(source: FileLogSource) -> None:
    append_many(source, 2)
    log = source.open_log(C, 0)
    waiting = log.tail(3)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            waiting.next_batch(10, wait_s=5.0)
        except BaseException as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.1)
    source.drop_collection(C)
    reader.join(timeout=2.0)
    assert not reader.is_alive()
    assert [type(exc) for exc in outcome] == [CollectionNotFound]
    with pytest.raises(CollectionNotFound):
        log.last_seq()
    with pytest.raises(CollectionNotFound):
        log.tail(1).next_batch(10, wait_s=0)
    assert append_many(source, 1) == [1]  # created again: a new log
    with pytest.raises(CollectionNotFound):
        log.purge_floor()  # the old view still refers to the dropped one


def test_names_the_engine_refuses_are_refused(source: FileLogSource) -> None:
    with pytest.raises(ValidationError):
        source.open_log("../escape", 0)
    with pytest.raises(ValidationError):
        source.open_log(C, -1)

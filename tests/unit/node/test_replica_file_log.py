"""A replica following a local write-ahead log (``FileLogSource``), as in embedded mode.

The test plays the writer: it appends engine log records to the shard's ``FileLog``
through the source, the way the gateway publishes them to JetStream in cluster mode,
and keeps a model of what the shard should hold. The replica must apply them in order,
answer ``wait_for``, report no lag once caught up, and resume after a reopen from its
snapshot without applying anything twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vecfleet.cluster.blobstore.local import LocalBlobStore
from vecfleet.cluster.file_source import FileLogSource
from vecfleet.cluster.log_source import ShardLogSource, TailBatch
from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.database import DatabaseSettings
from vecfleet.engine.ops import CreateCollection, Delete, DropCollection, encode_op, upsert_op
from vecfleet.node.replica import DROPPED, FOLLOWING, Replica
from vecfleet.types import Seq

COLLECTION = "incidents"
DIM = 8
WAIT_S = 10.0
SETTINGS = DatabaseSettings(
    durability="none", snapshot_every_rows=10**12, snapshot_every_s=10**9
)  # the host snapshots explicitly; the local log is the source's


class Writer:
    """Appends ops like the gateway would and remembers what the shard should hold."""

    def __init__(self, source: FileLogSource, shard: int = 0) -> None:
        self.source = source
        self.shard = shard
        self.rng = np.random.default_rng(3)
        self.model: dict[Any, np.ndarray] = {}
        self.next_id = 0
        config = CollectionConfig.from_dict({"name": COLLECTION, "dim": DIM, "index": "flat"})
        self.append(encode_op(CreateCollection(config.to_dict())))

    def append(self, record: bytes) -> Seq:
        return self.source.append(COLLECTION, self.shard, [record])

    def upsert(self, n: int) -> Seq:
        ids: list[str | int] = [f"p{self.next_id + i}" for i in range(n)]
        self.next_id += n
        vectors = self.rng.standard_normal((n, DIM)).astype(np.float32)
        self.model.update(zip(ids, vectors, strict=True))
        payloads = [{"n": i} for i in range(n)]
        return self.append(encode_op(upsert_op(COLLECTION, ids, vectors, payloads)))

    def delete(self, n: int) -> Seq:
        ids: list[str | int] = sorted(self.model)[:n]
        for pid in ids:
            del self.model[pid]
        return self.append(encode_op(Delete(COLLECTION, ids)))


@pytest.fixture
def source(tmp_path: Path) -> Iterator[FileLogSource]:
    logs = FileLogSource(tmp_path / "wal", durability="none", poll_s=0.05)
    yield logs
    logs.close()


@pytest.fixture
def blobstore(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def open_replica(tmp_path: Path, logs: ShardLogSource, blobstore: LocalBlobStore) -> Replica:
    return Replica(
        COLLECTION, 0, tmp_path / "replica", logs, blobstore, settings=SETTINGS, poll_s=0.1
    )


def assert_holds(replica: Replica, model: dict[Any, np.ndarray]) -> None:
    handle = replica.handle()
    assert handle.count() == len(model)
    points = handle.get(sorted(model), with_vectors=True)
    assert {p.id for p in points} == set(model)
    for point in points:
        assert np.allclose(np.asarray(point.vector), model[point.id])


def test_a_replica_applies_appended_records_in_order(
    tmp_path: Path, source: FileLogSource, blobstore: LocalBlobStore
) -> None:
    writer = Writer(source)
    writer.upsert(30)  # before the replica opens: replayed at open
    with open_replica(tmp_path, source, blobstore) as replica:
        assert replica.recovery["replayed_records"] == 2
        seqs = [writer.upsert(20), writer.delete(7), writer.upsert(5), writer.delete(3)]
        assert seqs == list(range(3, 7))
        assert replica.wait_for(seqs[-1], WAIT_S), replica.describe()
        assert replica.applied_seq == seqs[-1]
        assert replica.state == FOLLOWING
        assert replica.stats.records_applied == 4  # each once, none replayed twice
        assert_holds(replica, writer.model)
        assert replica.lag_ms() == 0.0


@contextmanager
def stalled(replica: Replica) -> Iterator[threading.Event]:
    """Park the follower before it applies a batch with records; yields "one is parked"."""
    parked, resume = threading.Event(), threading.Event()
    original = replica._apply_batch

    def park(batch: TailBatch) -> None:
        if batch.records:
            parked.set()
            resume.wait()
        original(batch)

    replica._apply_batch = park  # type: ignore[method-assign]
    try:
        yield parked
    finally:
        replica._apply_batch = original  # type: ignore[method-assign]
        resume.set()


def test_wait_for_returns_once_the_record_is_applied(
    tmp_path: Path, source: FileLogSource, blobstore: LocalBlobStore
) -> None:
    writer = Writer(source)
    with open_replica(tmp_path, source, blobstore) as replica:
        assert replica.wait_for(100, 0.1)  # past the shard's end: waits for its last record
        with stalled(replica) as parked:
            seq = writer.upsert(4)
            assert parked.wait(WAIT_S)
            assert not replica.wait_for(seq, 0.2)
        started = time.monotonic()
        assert replica.wait_for(seq, WAIT_S)
        assert time.monotonic() - started < 2.0
        assert_holds(replica, writer.model)


def test_lag_counts_from_the_append_and_returns_to_zero(
    tmp_path: Path, source: FileLogSource, blobstore: LocalBlobStore
) -> None:
    writer = Writer(source)
    with open_replica(tmp_path, source, blobstore) as replica:
        assert replica.lag_ms() == 0.0
        with stalled(replica) as parked:
            writer.upsert(3)
            assert parked.wait(WAIT_S)
            time.sleep(0.3)
            assert replica.lag_ms() >= 250.0  # fetched, not applied: its age counts
        assert replica.wait_for(writer.upsert(1), WAIT_S)
        assert replica.lag_ms() == 0.0


def test_a_reopened_replica_resumes_from_its_snapshot_without_duplicates(
    tmp_path: Path, source: FileLogSource, blobstore: LocalBlobStore
) -> None:
    writer = Writer(source)
    with open_replica(tmp_path, source, blobstore) as replica:
        assert replica.wait_for(writer.upsert(40), WAIT_S)
        info = replica.snapshot()
        assert replica.wait_for(writer.delete(10), WAIT_S)
        assert replica.wait_for(writer.upsert(15), WAIT_S)
        before = replica.applied_seq
    assert blobstore.newest_snapshot(COLLECTION, 0) == info.seq
    writer.upsert(5)  # while the replica is away
    with open_replica(tmp_path, source, blobstore) as reopened:
        # close() snapshotted locally at ``before``: only the record after it is replayed
        assert reopened.recovery["snapshot_seq"] == before
        assert reopened.recovery["replayed_records"] == 1
        last = writer.delete(2)
        assert reopened.wait_for(last, WAIT_S)
        assert reopened.applied_seq == last
        assert reopened.stats.records_applied == 1
        assert_holds(reopened, writer.model)


def test_a_fresh_replica_installs_the_stored_snapshot_when_the_log_was_trimmed(
    tmp_path: Path, blobstore: LocalBlobStore
) -> None:
    source = FileLogSource(tmp_path / "wal", durability="none", segment_bytes=1024, poll_s=0.05)
    try:
        writer = Writer(source)
        with open_replica(tmp_path, source, blobstore) as replica:
            for _ in range(10):
                seq = writer.upsert(40)  # over 1 KiB: one segment per record
            assert replica.wait_for(seq, WAIT_S)
            info = replica.snapshot()  # stored, so the log below it may go
        # every segment below the snapshot went; the newest record always stays
        assert source.open_log(COLLECTION, 0).purge_floor() == info.seq == seq
        fresh = Replica(COLLECTION, 0, tmp_path / "fresh", source, blobstore, settings=SETTINGS)
        with fresh:
            assert fresh.stats.snapshots_fetched == 1
            assert fresh.recovery["snapshot_seq"] == info.seq
            assert fresh.wait_for(writer.delete(4), WAIT_S)
            assert_holds(fresh, writer.model)
    finally:
        source.close()


def test_a_dropped_collection_stops_the_replica(
    tmp_path: Path, source: FileLogSource, blobstore: LocalBlobStore
) -> None:
    writer = Writer(source)
    with open_replica(tmp_path, source, blobstore) as replica:
        assert replica.wait_for(writer.upsert(3), WAIT_S)
        writer.append(encode_op(DropCollection(COLLECTION)))
        source.drop_collection(COLLECTION)
        deadline = time.monotonic() + WAIT_S
        while replica.state != DROPPED:
            assert time.monotonic() < deadline, replica.describe()
            time.sleep(0.02)
        assert not replica.wait_for(replica.applied_seq + 1, 0.1)

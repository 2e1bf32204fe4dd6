"""The replicated log against a real, private nats-server: ShardLogWriter and JetStreamLog.

Covers what the gateway and the engine rely on: PubAck sequences (with gaps between a
shard's records), duplicate suppression by message id, reads up to the last record at
call time, purges only below a stored snapshot (and never of the newest record), the
engine's continuity check over a gapped log, errors that name the problem, bounded
failure while NATS is down, and no acknowledged record lost across a SIGKILL restart.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.nats_server import NatsServer
from vecfleet.cluster.jetstream_log import JetStreamLog, ShardLogWriter
from vecfleet.cluster.nats_thread import NatsThread
from vecfleet.cluster.subjects import cluster_collection_name, shard_subject, stream_name
from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.database import Database
from vecfleet.engine.ops import CreateCollection, decode_op, encode_op, upsert_op
from vecfleet.errors import (
    CollectionNotFound,
    CorruptData,
    StorageError,
    Unavailable,
    ValidationError,
)

COLLECTION = "docs"


@pytest.fixture
def writer(nats: NatsThread) -> ShardLogWriter:
    writer = ShardLogWriter(nats.nc, timeout_s=1.0)
    nats.run(writer.ensure_stream(COLLECTION, shards=2), 5)
    return writer


def publish(
    nats: NatsThread, writer: ShardLogWriter, shard: int, record: bytes, msg_id: str | None = None
) -> int:
    coro = writer.publish(COLLECTION, shard, record, msg_id or uuid.uuid4().hex)
    return nats.run(coro, 10)


def record(i: int) -> bytes:
    vector = np.full((1, 4), 0.5, dtype=np.float32)
    return encode_op(upsert_op(COLLECTION, [i], vector, [{"i": i}]))


# ---------------------------------------------------------------------- naming


def test_names_are_nats_safe() -> None:
    assert stream_name("incidents") == "VF_incidents"
    assert shard_subject("incidents", 3) == "vf.incidents.3"
    with pytest.raises(ValidationError, match="cluster mode"):
        cluster_collection_name("a.b")  # valid in the engine, a token separator in NATS
    with pytest.raises(ValidationError):
        shard_subject("docs", -1)


# ---------------------------------------------------------------------- writer


def test_publish_returns_stream_sequences_with_gaps_per_shard(
    nats: NatsThread, writer: ShardLogWriter
) -> None:
    seqs = [publish(nats, writer, i % 2, record(i)) for i in range(6)]
    assert seqs == [1, 2, 3, 4, 5, 6]  # one numbering for the whole collection
    shard0 = JetStreamLog(nats, COLLECTION, 0)
    shard1 = JetStreamLog(nats, COLLECTION, 1)
    assert [s for s, _ in shard0.read_from(1)] == [1, 3, 5]
    assert [s for s, _ in shard1.read_from(1)] == [2, 4, 6]
    assert [decode_op(r).ids for _, r in shard1.read_from(3)] == [[3], [5]]
    assert (shard0.last_seq(), shard1.last_seq()) == (5, 6)
    assert nats.run(writer.last_seq(COLLECTION, 0), 5) == 5
    assert shard0.first_seq() == 1  # gaps are not loss


def test_empty_shard_reads_nothing(nats: NatsThread, writer: ShardLogWriter) -> None:
    log = JetStreamLog(nats, COLLECTION, 1)
    assert log.last_seq() == 0
    assert list(log.read_from(1)) == []


def test_retried_publish_with_the_same_msg_id_is_stored_once(
    nats: NatsThread, writer: ShardLogWriter
) -> None:
    first = publish(nats, writer, 0, record(1), msg_id="req-1")
    publish(nats, writer, 1, record(2))
    again = publish(nats, writer, 0, record(1), msg_id="req-1")
    other = publish(nats, writer, 0, record(1), msg_id="req-2")
    assert again == first
    assert other == 3
    assert [s for s, _ in JetStreamLog(nats, COLLECTION, 0).read_from(1)] == [1, 3]
    assert writer.duplicates == 1


def test_read_from_stops_at_the_last_record_at_call_time(
    nats: NatsThread, writer: ShardLogWriter
) -> None:
    for i in range(3):
        publish(nats, writer, 0, record(i))
    reading = JetStreamLog(nats, COLLECTION, 0).read_from(1)
    publish(nats, writer, 0, record(9))  # after the call: not part of this read
    assert [s for s, _ in reading] == [1, 2, 3]


def test_ensure_stream_is_idempotent_and_adds_shards(
    nats: NatsThread, writer: ShardLogWriter
) -> None:
    nats.run(writer.ensure_stream(COLLECTION, shards=2), 5)
    with pytest.raises(ValidationError, match="no shard 2"):
        publish(nats, writer, 2, record(1))
    nats.run(writer.ensure_stream(COLLECTION, shards=3), 5)
    assert publish(nats, writer, 2, record(1)) == 1


def test_unknown_collection_says_so(nats: NatsThread, writer: ShardLogWriter) -> None:
    with pytest.raises(CollectionNotFound):
        nats.run(writer.publish("nope", 0, record(1), "m"), 10)
    with pytest.raises(CollectionNotFound):
        nats.run(writer.last_seq("nope", 0), 10)
    assert nats.run(writer.delete_stream(COLLECTION), 5) is True
    assert nats.run(writer.delete_stream(COLLECTION), 5) is False


def test_replica_logs_are_read_only(nats: NatsThread, writer: ShardLogWriter) -> None:
    with pytest.raises(StorageError, match="read-only"):
        JetStreamLog(nats, COLLECTION, 0, writable=False).append([record(1)])
    assert JetStreamLog(nats, COLLECTION, 0).append([record(1)]) == 1


# ---------------------------------------------------------------------- purge


def test_purge_only_below_a_stored_snapshot_and_never_the_newest_record(
    nats: NatsThread, writer: ShardLogWriter
) -> None:
    for i in range(10):
        publish(nats, writer, i % 2, record(i))  # shard 0 holds 1, 3, 5, 7, 9
    log = JetStreamLog(nats, COLLECTION, 0)
    log.truncate_before(8)  # the engine trims after a *local* snapshot: not enough
    assert [s for s, _ in log.read_from(1)] == [1, 3, 5, 7, 9]
    assert log.purge_floor() == 0

    log.mark_snapshot_stored(4)  # the blob store holds the snapshot at 4
    log.truncate_before(8)
    assert [s for s, _ in log.read_from(1)] == [5, 7, 9]  # cut at 5 = stored + 1
    assert log.first_seq() == 5
    assert [s for s, _ in JetStreamLog(nats, COLLECTION, 1).read_from(1)] == [2, 4, 6, 8, 10]

    log.mark_snapshot_stored(9)
    log.truncate_before(100)
    assert [s for s, _ in log.read_from(1)] == [9]  # the newest record stays
    assert log.last_seq() == 9
    assert log.first_seq() == 9


def test_recovery_over_a_gapped_log_detects_only_real_loss(
    tmp_path: Path, nats: NatsThread, writer: ShardLogWriter
) -> None:
    config = CollectionConfig.from_dict({"name": COLLECTION, "dim": 4, "index": "flat"})
    create = encode_op(CreateCollection(config.to_dict()))
    for shard in (0, 1):
        publish(nats, writer, shard, create)
    for i in range(8):
        publish(nats, writer, i % 2, record(i))  # shard 0: 1, 3, 5, 7, 9

    def open_db(name: str) -> Database:
        log = JetStreamLog(nats, COLLECTION, 0, writable=False)
        return Database(tmp_path / name, log_factory=lambda _p, _s: log)

    db = open_db("gaps")  # gaps everywhere, nothing lost: opens
    assert db.applied_seq == 9
    assert len(db.get_collection(COLLECTION)) == 4
    db.close()

    log = JetStreamLog(nats, COLLECTION, 0)
    log.mark_snapshot_stored(5)
    log.truncate_before(6)  # purged below 6: a replica without a snapshot lost 1-5
    with pytest.raises(CorruptData, match="lost"):
        open_db("empty")


# ---------------------------------------------------------------------- outages


def test_publish_fails_fast_with_unavailable_while_nats_is_down(
    nats_server: NatsServer, nats: NatsThread, writer: ShardLogWriter
) -> None:
    publish(nats, writer, 0, record(1))
    nats_server.kill()
    started = time.monotonic()
    with pytest.raises(Unavailable, match="NATS"):
        publish(nats, writer, 0, record(2))
    assert time.monotonic() - started < 3.0  # writer timeout is 1 s
    with pytest.raises(Unavailable):
        JetStreamLog(nats, COLLECTION, 0, timeout_s=1.0).last_seq()


def test_connecting_to_no_server_raises_unavailable(tmp_path: Path) -> None:
    from tests.live_server import free_port

    started = time.monotonic()
    with pytest.raises(Unavailable, match="connecting"):
        NatsThread(f"nats://127.0.0.1:{free_port()}", connect_timeout_s=1.0).start()
    assert time.monotonic() - started < 3.0


def test_restarted_server_loses_no_acknowledged_record(
    nats_server: NatsServer, nats: NatsThread, writer: ShardLogWriter
) -> None:
    acked = {publish(nats, writer, i % 2, record(i), msg_id=f"m{i}"): i for i in range(50)}
    nats_server.restart()  # SIGKILL, then the same port and store directory
    wait_connected(nats)
    seen = {}
    for shard in (0, 1):
        for seq, data in JetStreamLog(nats, COLLECTION, shard).read_from(1):
            seen[seq] = decode_op(data).ids[0]
    assert seen == acked
    assert publish(nats, writer, 0, record(50)) == 51  # publishes resume after the last
    assert publish(nats, writer, 1, record(3), msg_id="m3") == 4  # dedup survived too


def wait_connected(nats: NatsThread, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not nats.connected:
        assert time.monotonic() < deadline, "the client did not reconnect"
        time.sleep(0.02)


def test_the_purge_floor_only_rises_when_replicas_purge_at_once(
    nats: NatsThread, writer: ShardLogWriter
) -> None:
    for i in range(10):
        publish(nats, writer, 0, record(i))
    ahead = JetStreamLog(nats, COLLECTION, 0)
    behind = JetStreamLog(nats, COLLECTION, 0)
    ahead.mark_snapshot_stored(8)
    behind.mark_snapshot_stored(4)
    stale = behind._read_floor  # what `behind` read before `ahead` purged
    floor_before = nats.run(stale(), 5)

    async def read_stale() -> tuple[int, int]:
        return floor_before

    ahead.truncate_before(100)
    assert ahead.purge_floor() == 9
    behind._read_floor = read_stale  # type: ignore[method-assign]
    behind.truncate_before(100)  # its conditional floor write loses: nothing changes
    assert ahead.purge_floor() == 9
    assert behind.purges == 0
    assert [s for s, _ in ahead.read_from(1)] == [9, 10]

"""Shard replicas over a real, private nats-server: convergence, catch-up, purge, outages.

A test plays the gateway: it publishes engine log records (``vecfleet.engine.ops``) for
two shards of one collection with ``ShardLogWriter``, and keeps a model of each shard
(id → vector, payload). Replicas must end up identical to each other and to the model
(exact ``flat`` search, so "identical" means the same ids and scores), whether they
followed live, replayed at open, installed a snapshot from the blob store, or resynced
after records were purged under them.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.nats_server import NatsServer
from vecfleet.cluster.blobstore import BlobStore, LocalBlobStore, NatsBlobStore
from vecfleet.cluster.blobstore.archive import link_tree, unpack
from vecfleet.cluster.jetstream_log import JetStreamLog, ShardLogWriter
from vecfleet.cluster.jetstream_source import JetStreamLogSource
from vecfleet.cluster.nats_thread import NatsThread
from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.ops import CreateCollection, Delete, SetPayload, encode_op, upsert_op
from vecfleet.errors import CorruptData, NotFound, StorageError
from vecfleet.node.base import ReplicaView
from vecfleet.node.replica import DISCONNECTED, FOLLOWING, Replica

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "incidents"
DIM = 8
SHARDS = 2
WAIT_S = 20.0


class Gateway:
    """Publishes ops like the gateway would and remembers what each shard should hold."""

    def __init__(self, nats: NatsThread, seed: int = 7) -> None:
        self.nats = nats
        self.writer = ShardLogWriter(nats.nc, timeout_s=2.0)
        self.rng = np.random.default_rng(seed)
        self.model: list[dict[Any, tuple[np.ndarray, dict[str, Any]]]] = [{} for _ in range(2)]
        self.next_id = 0
        nats.run(self.writer.ensure_stream(COLLECTION, SHARDS), 10)
        config = CollectionConfig.from_dict(
            {"name": COLLECTION, "dim": DIM, "index": "flat", "seal_rows": 64}
        )
        for shard in range(SHARDS):
            self.publish(shard, encode_op(CreateCollection(config.to_dict())))

    def publish(self, shard: int, record: bytes, msg_id: str | None = None) -> int:
        coro = self.writer.publish(COLLECTION, shard, record, msg_id or uuid.uuid4().hex)
        return self.nats.run(coro, 10)

    def upsert(self, shard: int, n: int) -> int:
        ids = [f"p{self.next_id + i}" for i in range(n)]
        self.next_id += n
        vectors = self.rng.standard_normal((n, DIM)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        payloads = [{"n": int(i[1:]) % 5} for i in ids]
        for pid, vector, payload in zip(ids, vectors, payloads, strict=True):
            self.model[shard][pid] = (vector, payload)
        return self.publish(shard, encode_op(upsert_op(COLLECTION, ids, vectors, payloads)))

    def delete(self, shard: int, n: int) -> int:
        ids = sorted(self.model[shard])[:n]
        for pid in ids:
            del self.model[shard][pid]
        return self.publish(shard, encode_op(Delete(COLLECTION, ids)))

    def set_payload(self, shard: int, n: int) -> int:
        ids = sorted(self.model[shard])[-n:]
        for pid in ids:
            vector, payload = self.model[shard][pid]
            self.model[shard][pid] = (vector, {**payload, "tag": "x"})
        return self.publish(shard, encode_op(SetPayload(COLLECTION, ids, {"tag": "x"})))

    def traffic(self, rounds: int) -> int:
        """A mix of writes over both shards; returns the last sequence."""
        seq = 0
        for _ in range(rounds):
            for shard in range(SHARDS):
                seq = self.upsert(shard, 40)
                seq = self.delete(shard, 5)
                seq = self.set_payload(shard, 3)
        return seq


@pytest.fixture
def gateway(nats: NatsThread) -> Gateway:
    return Gateway(nats)


@pytest.fixture
def blobstore(nats: NatsThread) -> NatsBlobStore:
    return NatsBlobStore(nats, timeout_s=5.0)


@pytest.fixture
def open_replica(
    tmp_path: Path, nats: NatsThread, blobstore: BlobStore
) -> Iterator[Callable[..., Replica]]:
    opened: list[Replica] = []
    logs = JetStreamLogSource(nats, timeout_s=2.0)

    def open_(name: str, shard: int = 0, **kwargs: Any) -> Replica:
        replica = Replica(
            COLLECTION, shard, tmp_path / name, logs, blobstore, poll_s=0.2, timeout_s=2.0, **kwargs
        )
        opened.append(replica)
        return replica

    yield open_
    for replica in opened:
        replica.close()


QUERIES = np.random.default_rng(99).standard_normal((6, DIM)).astype(np.float32)


def answers(replica: Replica) -> list[list[tuple[Any, float]]]:
    handle = replica.handle()
    out = []
    for query in QUERIES:
        out.append([(h.id, h.score) for h in handle.search(query, limit=10)])
    out.append([(h.id, 0.0) for h in handle.search(QUERIES[0], 5, filter={"tag": "x"})])
    return out


def assert_same_answers(a: Replica, b: Replica) -> None:
    """Same ids in the same order; scores equal up to float32 summation order (a segment
    searched exactly before its index is built adds in another order than FAISS)."""
    for left, right in zip(answers(a), answers(b), strict=True):
        assert [i for i, _ in left] == [i for i, _ in right]
        assert np.allclose([s for _, s in left], [s for _, s in right], atol=1e-5)


def assert_matches_model(replica: Replica, model: dict[Any, tuple[np.ndarray, dict]]) -> None:
    handle = replica.handle()
    assert handle.count() == len(model)
    ids = sorted(model)
    matrix = np.stack([model[i][0] for i in ids])
    for query in QUERIES:
        unit = query / np.linalg.norm(query)
        expected = [ids[j] for j in np.argsort(-(matrix @ unit), kind="stable")[:10]]
        assert [h.id for h in handle.search(query, limit=10)] == expected
    for point in handle.get(ids[:20]):
        assert point.payload == model[point.id][1]


@contextmanager
def stalled(replica: Replica) -> Iterator[None]:
    """Park the replica's follower before it applies its next batch, until the block ends."""
    resume = threading.Event()
    original = replica._apply_batch

    def parked(batch: Any) -> None:
        resume.wait()
        original(batch)

    replica._apply_batch = parked  # type: ignore[method-assign]
    try:
        yield
    finally:
        replica._apply_batch = original  # type: ignore[method-assign]
        resume.set()


def caught_up(replica: Replica, seq: int) -> None:
    assert replica.wait_for(seq, WAIT_S), f"{replica.describe()} did not reach {seq}"


# ---------------------------------------------------------------------- convergence


def test_replicas_of_a_shard_converge_to_the_same_state(
    gateway: Gateway, open_replica: Callable[..., Replica]
) -> None:
    live = open_replica("live-0")  # follows every record as it arrives
    gateway.traffic(rounds=3)
    late = open_replica("late-0")  # replays the subject at open, then follows
    other = open_replica("live-1", shard=1)
    last = gateway.traffic(rounds=3)
    for replica in (live, late, other):
        caught_up(replica, last)
    assert isinstance(live, ReplicaView)
    assert live.applied_seq == late.applied_seq
    assert_same_answers(live, late)
    assert_matches_model(live, gateway.model[0])
    assert_matches_model(other, gateway.model[1])
    assert len(live.handle().info()["segments"]) > 1  # sealed segments were built
    assert live.lag_ms() == 0.0


def test_wait_for_a_sequence_of_another_shard_returns_at_once(
    gateway: Gateway, open_replica: Callable[..., Replica]
) -> None:
    replica = open_replica("r")
    mine = gateway.upsert(0, 5)
    theirs = gateway.upsert(1, 5)  # a session token from a write to the other shard
    assert theirs > mine
    started = time.monotonic()
    assert replica.wait_for(theirs, WAIT_S)
    assert time.monotonic() - started < 2.0
    assert replica.applied_seq == mine
    with stalled(replica):
        pending = gateway.upsert(0, 1)
        assert not replica.wait_for(pending, 0.3)
        assert replica.lag_ms() > 0
    assert replica.wait_for(pending, WAIT_S)
    with pytest.raises(StorageError, match="read-only"):
        replica.handle().upsert(["x"], np.ones((1, DIM), dtype=np.float32))


# ---------------------------------------------------------------------- snapshots


def test_reopened_and_new_replicas_catch_up_from_snapshot_and_replay(
    gateway: Gateway,
    nats: NatsThread,
    blobstore: NatsBlobStore,
    open_replica: Callable[..., Replica],
) -> None:
    first = open_replica("a")
    caught_up(first, gateway.traffic(rounds=3))
    info = first.snapshot()
    assert blobstore.newest_snapshot(COLLECTION, 0) == info.seq
    log = JetStreamLog(nats, COLLECTION, 0)
    retained = [seq for seq, _ in log.read_from(1)]
    assert retained == [info.seq]  # purged below the stored snapshot, newest kept
    assert log.first_seq() == info.seq

    caught_up(first, gateway.traffic(rounds=1))
    first.close()
    last = gateway.traffic(rounds=1)  # written while the replica was down

    again = open_replica("a")  # same directory: local snapshot + replay
    fresh = open_replica("b")  # empty directory: snapshot from the blob store + replay
    caught_up(again, last)
    caught_up(fresh, last)
    assert fresh.stats.snapshots_fetched == 1
    assert fresh.recovery["snapshot_seq"] == info.seq
    assert_same_answers(again, fresh)
    assert_matches_model(fresh, gateway.model[0])


def test_a_replica_behind_a_purge_resyncs_from_the_stored_snapshot(
    gateway: Gateway, open_replica: Callable[..., Replica]
) -> None:
    leader = open_replica("leader")
    laggard = open_replica("laggard")
    caught_up(laggard, gateway.upsert(0, 10))
    with stalled(laggard):
        last = gateway.traffic(rounds=2)
        caught_up(leader, last)
        leader.snapshot()  # uploads and purges records the laggard has not applied
        last = gateway.traffic(rounds=1)
    caught_up(laggard, last)
    caught_up(leader, last)
    assert laggard.stats.resyncs == 1
    assert laggard.stats.snapshots_fetched == 1
    assert_same_answers(laggard, leader)
    assert_matches_model(laggard, gateway.model[0])


def tree(root: Path) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in root.rglob("*") if f.is_file()}


def test_blob_stores_round_trip_and_keep_the_newest_snapshots(
    tmp_path: Path, blobstore: NatsBlobStore
) -> None:
    source = tmp_path / "restorable"
    files = {
        "snapshots/00000000000000000007/manifest.json": b"{}",
        "segments/u1/index.faiss": bytes(range(256)) * 2000,  # several object chunks
        "segments/u1/segment.json": b"{}",
    }
    for name, data in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    stores: list[BlobStore] = [LocalBlobStore(tmp_path / "blobs"), blobstore]
    for index, store in enumerate(stores):
        for seq in (10, 20, 30):
            store.put_snapshot("other", 1, seq, source)
        assert store.newest_snapshot("other", 1) == 30
        assert store.newest_snapshot("other", 0) is None
        store.fetch_snapshot("other", 1, 30, tmp_path / f"got-{index}")
        assert tree(tmp_path / f"got-{index}") == files
        with pytest.raises(NotFound):
            store.fetch_snapshot("other", 1, 10, tmp_path / f"gone-{index}")  # keep=2
        store.delete_collection("other")
        assert store.newest_snapshot("other", 1) is None


def test_a_replica_refuses_a_stored_snapshot_that_is_not_what_its_name_says(
    tmp_path: Path,
    blobstore: NatsBlobStore,
    gateway: Gateway,
    open_replica: Callable[..., Replica],
) -> None:
    replica = open_replica("src")
    caught_up(replica, gateway.upsert(0, 100))
    info = replica.snapshot()
    staged = tmp_path / "staged"
    link_tree(info.path, staged / "snapshots" / info.path.name)
    blobstore.put_snapshot(COLLECTION, 0, info.seq + 1000, staged)
    with pytest.raises(CorruptData, match="does not hold that snapshot"):
        open_replica("fresh")


def test_unpack_refuses_foreign_paths(tmp_path: Path) -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"x"
        member = tarfile.TarInfo("../escape")
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    buffer.seek(0)
    with pytest.raises(CorruptData):
        unpack(buffer, tmp_path / "into")
    assert not (tmp_path / "escape").exists()


CHILD = """
import sys, time
from pathlib import Path
from vecfleet.cluster.blobstore import NatsBlobStore
from vecfleet.cluster.jetstream_source import JetStreamLogSource
from vecfleet.cluster.nats_thread import NatsThread
from vecfleet.node.replica import Replica
url, data_dir, seq = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
nats = NatsThread(url).start()
logs = JetStreamLogSource(nats)
replica = Replica("incidents", 0, data_dir, logs, NatsBlobStore(nats), poll_s=0.2)
assert replica.wait_for(seq, 30), replica.describe()
replica.snapshot()
print("READY", replica.applied_seq, flush=True)
while True:
    time.sleep(1)
"""


def test_a_killed_replica_process_reopens_and_catches_up(
    tmp_path: Path,
    nats_server: NatsServer,
    gateway: Gateway,
    open_replica: Callable[..., Replica],
) -> None:
    seq = gateway.traffic(rounds=2)
    command = [sys.executable, "-c", CHILD, nats_server.url, str(tmp_path / "crashy"), str(seq)]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            word, applied = child.stdout.readline().split()
            assert word == "READY"
            assert 0 < int(applied) <= seq  # the newest record of shard 0 up to seq
            gateway.traffic(rounds=1)  # applied by the child, never snapshotted
            time.sleep(0.5)
        finally:
            child.kill()  # SIGKILL: no close, no snapshot on close
    last = gateway.traffic(rounds=1)
    reopened = open_replica("crashy")
    caught_up(reopened, last)
    assert reopened.recovery["snapshot_seq"] == int(applied)
    assert reopened.recovery["replayed_records"] > 0
    assert_matches_model(reopened, gateway.model[0])


# ---------------------------------------------------------------------- outages


def test_a_replica_rides_through_a_nats_restart(
    nats_server: NatsServer,
    nats: NatsThread,
    gateway: Gateway,
    open_replica: Callable[..., Replica],
) -> None:
    replica = open_replica("r")
    caught_up(replica, gateway.upsert(0, 10))
    nats_server.kill()
    deadline = time.monotonic() + WAIT_S
    while replica.state != DISCONNECTED or replica.lag_ms() < 500:
        assert time.monotonic() < deadline, replica.describe()
        time.sleep(0.05)
    assert len(replica.handle()) == 10  # still serves what it has
    nats_server.start()  # same port, same store directory
    while not nats.connected:
        assert time.monotonic() < deadline, "the client did not reconnect"
        time.sleep(0.02)
    last = gateway.upsert(0, 10)
    caught_up(replica, last)
    assert replica.state == FOLLOWING
    assert replica.lag_ms() == 0.0
    assert_matches_model(replica, gateway.model[0])

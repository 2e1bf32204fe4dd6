"""Damaged files on disk: recovery comes back to the last valid state and says what it did.

* The log's tail cut inside a record, or bytes flipped in its last record: the record is
  dropped (it was never acknowledged by a log that lost it), a WARNING says how many bytes,
  and the database reopens at the state before that record. Damage before acknowledged
  records is refused, never skipped.
* A snapshot that fails verification (tombstones, unsealed rows, its manifest, or a segment
  file it references): an ERROR names it, recovery takes the snapshot before it and replays
  the log to the same final state. With every snapshot unusable and the log complete from
  sequence 1, the log alone rebuilds the state; with the log trimmed, opening refuses.
* A process killed while writing a snapshot or a segment leaves ``.tmp-*`` or a segment
  directory without ``segment.json``: recovery ignores both and they are cleaned up, while
  the segments that replay starts building during recovery are kept.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import vecfleet
from vecfleet.engine import database
from vecfleet.engine.wal.file_log import HEADER, Frame, decode_frame

REPO = Path(__file__).resolve().parents[2]
WAL_LOGGER = "vecfleet.engine.wal.file_log"
DB_LOGGER = "vecfleet.engine.database"
DIM = 8
SCHEMA = {"v": "integer", "tag": "keyword"}
Contents = dict[Any, tuple[str, bytes]]


# ------------------------------------------------------------------------------ helpers
def create(db: vecfleet.EmbeddedDatabase) -> vecfleet.CollectionHandle:
    return db.create_collection("c", dim=DIM, index="hnsw", payload_schema=SCHEMA, seal_rows=50)


def upsert(col: vecfleet.CollectionHandle, ids: range, version: int) -> int:
    rng = np.random.default_rng(version * 100_000 + ids.start)
    vectors = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    payloads = [{"v": version, "tag": f"t{i % 3}"} for i in ids]
    return col.upsert([f"p{i}" for i in ids], vectors, payloads).seq


def contents(col: vecfleet.CollectionHandle) -> Contents:
    """Every point: id -> (payload as canonical JSON, vector bytes)."""
    points, _ = col.scroll(limit=10_000)
    full = col.get([p.id for p in points], with_vectors=True)
    return {
        p.id: (json.dumps(p.payload, sort_keys=True), np.asarray(p.vector).tobytes()) for p in full
    }


def payloads(col: vecfleet.CollectionHandle) -> dict[Any, str]:
    return {pid: payload for pid, (payload, _) in contents(col).items()}


def reopen_contents(path: Path) -> tuple[Contents, dict[str, Any]]:
    with vecfleet.connect(path, snapshot_on_close=False) as db:
        return contents(db.collection("c")), db.recovery


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def frames(path: Path) -> list[Frame]:
    buf, out, offset = path.read_bytes(), [], 0
    while offset < len(buf):
        frame = decode_frame(buf, offset)
        assert isinstance(frame, Frame), frame
        out.append(frame)
        offset = frame.end
    return out


def only_log_segment(path: Path) -> Path:
    (segment,) = sorted((path / "wal").glob("*.wal"))
    return segment


@contextmanager
def captured(caplog: pytest.LogCaptureFixture, level: int, logger: str) -> Iterator[list[str]]:
    messages: list[str] = []
    caplog.clear()
    with caplog.at_level(level, logger):
        yield messages
    messages += [r.getMessage() for r in caplog.records if r.levelno == level]


# ------------------------------------------------------------------------------ log tail
@pytest.fixture
def five_batches(tmp_path: Path) -> tuple[Path, Contents, Contents]:
    """A log of create + 5 upserts, no snapshot: (path, state after 4, state after 5)."""
    path = tmp_path / "db"
    with vecfleet.connect(path, snapshot_on_close=False) as db:
        col = create(db)
        for batch in range(4):
            upsert(col, range(batch * 10, batch * 10 + 10), version=batch)
        before_last = contents(col)
        upsert(col, range(35, 45), version=9)  # overwrites 35..39, adds 40..44
        assert contents(col) != before_last
        return path, before_last, contents(col)


@pytest.mark.parametrize("keep", [1, HEADER.size - 1, HEADER.size, HEADER.size + 7, -1])
def test_log_cut_inside_the_last_record(
    five_batches: tuple[Path, Contents, Contents], caplog: pytest.LogCaptureFixture, keep: int
) -> None:
    path, before_last, _ = five_batches
    segment = only_log_segment(path)
    last = frames(segment)[-1]
    cut = last.offset + keep if keep > 0 else last.end + keep
    with open(segment, "r+b") as handle:
        handle.truncate(cut)
    with captured(caplog, logging.WARNING, WAL_LOGGER) as warnings:
        state, recovery = reopen_contents(path)
    assert state == before_last
    assert recovery["replayed_records"] == 5 and recovery["snapshot"] is None
    (message,) = warnings
    assert f"dropped {cut - last.offset} bytes" in message
    assert f"from offset {last.offset}" in message and "now ends at sequence 5" in message
    assert segment.stat().st_size == last.offset


def test_writes_continue_after_a_cut_tail(
    five_batches: tuple[Path, Contents, Contents], caplog: pytest.LogCaptureFixture
) -> None:
    path, before_last, _ = five_batches
    segment = only_log_segment(path)
    with open(segment, "r+b") as handle:
        handle.truncate(segment.stat().st_size - 3)
    with vecfleet.connect(path, snapshot_on_close=False) as db:
        col = db.collection("c")
        assert upsert(col, range(100, 105), version=7) == 6  # the dropped record's sequence
        expected = contents(col)
    state, recovery = reopen_contents(path)
    assert state == expected and set(state) == set(before_last) | {f"p{i}" for i in range(100, 105)}
    assert recovery["replayed_records"] == 6


# Offsets inside the last frame: magic, version, flags, length, seq, crc, payload.
@pytest.mark.parametrize("where", [0, 4, 5, 8, 11, 12, 20, HEADER.size + 10, -1])
def test_flipped_byte_in_the_last_record(
    five_batches: tuple[Path, Contents, Contents], caplog: pytest.LogCaptureFixture, where: int
) -> None:
    path, before_last, _ = five_batches
    segment = only_log_segment(path)
    size = segment.stat().st_size
    last = frames(segment)[-1]
    flip(segment, last.offset + where if where >= 0 else last.end + where)
    with captured(caplog, logging.WARNING, WAL_LOGGER) as warnings:
        state, recovery = reopen_contents(path)
    assert state == before_last
    assert recovery["replayed_records"] == 5
    (message,) = warnings
    assert f"dropped {size - last.offset} bytes of torn or corrupt tail" in message


def test_flipped_byte_before_acknowledged_records_refuses_to_open(
    five_batches: tuple[Path, Contents, Contents],
) -> None:
    path, _, _ = five_batches
    segment = only_log_segment(path)
    third = frames(segment)[2]
    flip(segment, third.offset + HEADER.size + 1)
    with pytest.raises(vecfleet.CorruptData, match="acknowledged records follow"):
        vecfleet.connect(path).close()  # reached only if the damage is not refused


# ------------------------------------------------------------------------------ snapshots
class History:
    """Two snapshots and writes after each: S1 <- writes <- S2 <- writes (only in the log)."""

    def __init__(self, path: Path, log_segment_bytes: int = 64 << 20) -> None:
        self.path = path
        settings = {"snapshot_on_close": False, "log_segment_bytes": log_segment_bytes}
        with vecfleet.connect(path, **settings) as db:
            col = create(db)
            for start in range(0, 120, 40):
                upsert(col, range(start, start + 40), version=1)
            col.optimize()
            self.first = db.snapshot()
            for start in range(100, 220, 40):  # overwrites 100..119 in a sealed segment
                upsert(col, range(start, start + 40), version=2)
            col.delete([f"p{i}" for i in range(0, 30, 3)])
            col.optimize()
            upsert(col, range(300, 310), version=3)  # unsealed rows inside the snapshot
            col.delete(["p301", "p150"])
            self.second = db.snapshot()
            upsert(col, range(200, 260), version=4)
            col.delete([f"p{i}" for i in range(40, 60, 2)])
            self.expected = contents(col)
            self.last_seq = col.info()["applied_seq"]
            self.first_segments = self.segment_uids(self.first.path)
            self.second_segments = self.segment_uids(self.second.path)

    @staticmethod
    def segment_uids(snapshot: Path) -> set[str]:
        manifest = json.loads((snapshot / "manifest.json").read_text())
        return {s["uid"] for c in manifest["collections"] for s in c["sealed"]}

    def damage(self, snapshot: Path, what: str) -> Path:
        """Flip one byte of the file ``what`` names; returns the file."""
        if what == "manifest":
            target = snapshot / "manifest.json"
        elif what == "alive":
            target = sorted(snapshot.glob("alive-*.npy"))[0]
        elif what == "growing":
            target = sorted(snapshot.glob("growing-*/vectors.npy"))[0]
        else:  # a segment file only this snapshot references
            uid = sorted(self.segment_uids(snapshot) - self.first_segments)[0]
            target = self.path / "segments" / uid / "index.faiss"
        flip(target, target.stat().st_size - 1 if what != "manifest" else 0)
        return target


@pytest.mark.parametrize("what", ["alive", "growing", "manifest", "segment"])
def test_damaged_newest_snapshot_falls_back_to_the_one_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, what: str
) -> None:
    history = History(tmp_path / "db")
    assert history.second_segments - history.first_segments, "S2 must hold segments of its own"
    history.damage(history.second.path, what)
    with captured(caplog, logging.ERROR, DB_LOGGER) as errors:
        state, recovery = reopen_contents(history.path)
    assert state == history.expected
    assert recovery["snapshot"] == str(history.first.path)
    assert recovery["snapshot_seq"] == history.first.seq
    assert recovery["replayed_records"] == history.last_seq - history.first.seq
    (message,) = errors
    assert str(history.second.path) in message and "trying the one before it" in message


def test_every_snapshot_damaged_rebuilds_from_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    history = History(tmp_path / "db")
    history.damage(history.second.path, "alive")
    history.damage(history.first.path, "manifest")
    assert only_log_segment(history.path).name == f"{1:020d}.wal"
    with captured(caplog, logging.ERROR, DB_LOGGER) as errors:
        state, recovery = reopen_contents(history.path)
    assert state == history.expected
    assert recovery["snapshot"] is None and recovery["snapshot_seq"] == 0
    assert recovery["replayed_records"] == history.last_seq
    assert len(errors) == 2


def trimmed_history_without_a_usable_snapshot(path: Path) -> History:
    history = History(path, log_segment_bytes=4096)
    assert min((path / "wal").glob("*.wal")).name != f"{1:020d}.wal", "the log was not trimmed"
    history.damage(history.second.path, "alive")
    history.damage(history.first.path, "alive")
    return history


def open_or_refusal(path: Path) -> tuple[Contents, dict[str, Any]] | str:
    """Reopen like ``reopen_contents``; a refusal comes back as "Class: message"."""
    try:
        return reopen_contents(path)
    except vecfleet.StorageError as exc:
        return f"{type(exc).__name__}: {exc}"


def test_every_snapshot_damaged_and_log_trimmed_refuses_to_open(tmp_path: Path) -> None:
    history = trimmed_history_without_a_usable_snapshot(tmp_path / "db")
    refusal = open_or_refusal(history.path)
    assert isinstance(refusal, str) and refusal.startswith("CorruptData: ")
    assert "records in between are lost" in refusal


def test_a_refused_open_can_be_retried(tmp_path: Path) -> None:
    history = trimmed_history_without_a_usable_snapshot(tmp_path / "db")
    first, second = open_or_refusal(history.path), open_or_refusal(history.path)
    assert first == second, second


def test_fallback_state_is_kept_by_the_next_clean_close(tmp_path: Path) -> None:
    history = History(tmp_path / "db")
    history.damage(history.second.path, "segment")
    with vecfleet.connect(history.path) as db:
        assert contents(db.collection("c")) == history.expected
    state, recovery = reopen_contents(history.path)
    assert state == history.expected
    assert recovery["replayed_records"] == 0 and recovery["snapshot_seq"] == history.last_seq


def test_a_damaged_snapshot_does_not_push_out_the_last_good_one(tmp_path: Path) -> None:
    history = History(tmp_path / "db", log_segment_bytes=4096)
    history.damage(history.second.path, "alive")
    with vecfleet.connect(history.path) as db:  # falls back to S1, then snapshots on close
        upsert(db.collection("c"), range(500, 510), version=5)
        expected = contents(db.collection("c"))
    newest = max((history.path / "snapshots").iterdir())
    flip(newest / "manifest.json", 0)
    reopened = open_or_refusal(history.path)
    assert not isinstance(reopened, str), reopened
    assert reopened[0] == expected


def test_one_bit_flipped_in_a_snapshot_manifest_is_detected(tmp_path: Path) -> None:
    history = History(tmp_path / "db")
    manifest = history.second.path / "manifest.json"
    text = manifest.read_text()
    assert f'"seq": {history.second.seq}\n' in text and history.second.seq % 2 == 0
    manifest.write_text(
        text.replace(f'"seq": {history.second.seq}\n', f'"seq": {history.second.seq + 1}\n')
    )
    state, _ = reopen_contents(history.path)
    assert state == history.expected


# ------------------------------------------------------------------------------ killed writes
def write_then_hang(path: Path, moment: str) -> None:
    """Child process: write, then block inside a snapshot or a segment write until killed."""
    from vecfleet.engine import snapshot
    from vecfleet.engine.segment import store

    module = snapshot if moment == "snapshot" else store
    real = module.write_json_atomic

    def hang(target: Path, value: Any) -> None:
        if target.name in ("manifest.json", "segment.json"):
            print("HANGING", target.parent, flush=True)
            time.sleep(3600)
        real(target, value)

    db = vecfleet.connect(path, snapshot_on_close=False)
    col = create(db) if "c" not in db.list_collections() else db.collection("c")
    module.write_json_atomic = hang  # type: ignore[attr-defined]
    upsert(col, range(0, 40), version=1)
    upsert(col, range(40, 70), version=2)  # passes seal_rows: a segment build starts
    print("ACKED", json.dumps(payloads(col)), flush=True)
    if moment == "snapshot":
        db.snapshot()
    time.sleep(3600)


def run_until_hanging(path: Path, moment: str, out: Path) -> tuple[str, dict[str, Any]]:
    with out.open("w") as stdout:
        child = subprocess.Popen(
            [sys.executable, __file__, str(path), moment], stdout=stdout, cwd=REPO
        )
    try:
        deadline = time.monotonic() + 60
        while not all(word in out.read_text() for word in ("HANGING", "ACKED")):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    lines = dict(line.split(" ", 1) for line in out.read_text().splitlines())
    return lines["HANGING"], json.loads(lines["ACKED"])


def test_kill_during_snapshot_write_leaves_tmp_that_is_ignored_and_cleaned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "db"
    with vecfleet.connect(path) as db:  # an earlier snapshot to fall back on
        create(db)
    hanging, acked = run_until_hanging(path, "snapshot", tmp_path / "child.out")
    tmp = Path(hanging)
    assert tmp.name.startswith(".tmp-") and any(tmp.iterdir())
    assert not (tmp / "manifest.json").exists()
    with captured(caplog, logging.ERROR, DB_LOGGER) as errors, vecfleet.connect(path) as db:
        col = db.collection("c")
        assert payloads(col) == acked
        assert db.recovery["snapshot_seq"] == 1 and db.recovery["replayed_records"] == 2
        assert all(not s.path.name.startswith(".") for s in db.snapshots())
        upsert(col, range(70, 75), version=3)
    assert not errors
    assert not list((path / "snapshots").glob(".tmp-*")), "the next snapshot cleans it up"


def test_kill_during_segment_write_leaves_a_directory_that_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "db"
    hanging, acked = run_until_hanging(path, "segment", tmp_path / "child.out")
    unfinished = Path(hanging)
    assert unfinished.parent == path / "segments" and any(unfinished.iterdir())
    assert not (unfinished / "segment.json").exists()
    with vecfleet.connect(path, snapshot_on_close=False) as db:
        assert not unfinished.exists()
        assert payloads(db.collection("c")) == acked


def test_segments_built_while_recovering_are_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replay starts index builds; recovery's sweep of unused segments must not take them."""
    path = tmp_path / "db"
    with vecfleet.connect(path, snapshot_on_close=False) as db:
        col = db.create_collection("c", dim=DIM, payload_schema=SCHEMA, seal_rows=500, hnsw_m=8)
        db.snapshot()
        for start in range(0, 6000, 100):
            upsert(col, range(start, start + 100), version=1)
        expected = contents(col)
    shutil.rmtree(path / "segments")  # so that replay rebuilds all twelve segments
    (path / "segments").mkdir()
    real = database.referenced_segments

    def slow(snapshot: Path) -> set[str]:  # widens the window in which a build can finish
        time.sleep(1.0)
        return real(snapshot)

    monkeypatch.setattr(database, "referenced_segments", slow)
    with vecfleet.connect(path) as db:  # replay queues the builds; close snapshots them
        assert contents(db.collection("c")) == expected
    monkeypatch.undo()
    with captured(caplog, logging.ERROR, DB_LOGGER) as errors:
        state, recovery = reopen_contents(path)
    assert not errors and state == expected
    assert recovery["replayed_records"] == 0


def test_segments_built_while_a_snapshot_trims_are_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db"
    real = database.referenced_segments

    def slow(snapshot: Path) -> set[str]:  # widens the window in which a build can finish
        time.sleep(0.3)
        return real(snapshot)

    monkeypatch.setattr(database, "referenced_segments", slow)
    with vecfleet.connect(path, snapshot_every_rows=1000, durability="none") as db:
        col = db.create_collection("c", dim=DIM, payload_schema=SCHEMA, seal_rows=500, hnsw_m=8)
        for start in range(0, 20_000, 100):
            upsert(col, range(start, start + 100), version=1)
            time.sleep(0.005)
        expected = contents(col)
    monkeypatch.undo()
    with captured(caplog, logging.ERROR, DB_LOGGER) as errors:
        state, _ = reopen_contents(path)
    assert state == expected
    assert not errors, errors


if __name__ == "__main__":
    write_then_hang(Path(sys.argv[1]), sys.argv[2])

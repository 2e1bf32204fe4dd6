"""The embedded database under SIGKILL: acknowledged writes survive, nothing is half-applied.

A writer process (this file, run as ``python test_kill_recovery.py write DIR STATE``) opens
the database with ``vecfleet.connect`` and loops: pick an operation, print
``BEGIN <op as JSON>``, make the call, print ``ACK <seq>``. Operations are inserts of 1-200
new points, overwrites of 1-200 existing ids with a new payload and vector (sometimes with
a few new ids in the same call), and deletes. The driver kills it with SIGKILL 0.1-0.6 s
after it is ready (now and then while it is still recovering); a checker process (``check``)
then reopens the directory and compares it with a model of what was acknowledged:

* every acknowledged upsert is visible with its payload and vector, every acknowledged
  delete is gone, and nothing else exists (``count()`` agrees, searches find no stray id);
* the operation in flight at the kill (BEGIN without ACK) is all or nothing: its ids show
  either the state before it or the state after it, never a mix. A delete is treated like
  an upsert here: one that was not acknowledged may or may not have landed;
* the recovery info adds up: snapshot sequence + replayed records = the collection's
  applied sequence = the last acknowledged sequence, or the one after it exactly when the
  operation in flight landed; no snapshot is ever reported unusable.

Segments of 2,000 rows and a snapshot every 3,000 rows make kills land during index
builds, merges and snapshot writes; the driver counts those moments from what a kill left
on disk. The checker ends with a clean shutdown in 60 % of the cycles and otherwise exits
with the database still open, so writers also start from a crash's leftovers.
``python test_kill_recovery.py drive --cycles N`` runs the same loop outside pytest and
prints a JSON summary (``bench/durability.py --kill-cycles`` uses it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import vecfleet

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "k"
DIM = 16
SEAL_ROWS = 2000
SNAPSHOT_EVERY_ROWS = 3000
CROWDED_POINTS = 10_000  # above this many live points the writer deletes more often
CYCLES = 50
SEED = 20240917
KILL_AFTER_S = (0.1, 0.6)
KILL_WHILE_OPENING = 0.1  # share of cycles killed while the writer is still recovering
READY_TIMEOUT_S = 60.0
# Share of checks that end with a clean shutdown; the rest hand the next writer the state the
# kill left, so a writer also recovers from a crash and is killed while it does.
CHECKER_SNAPSHOTS = 0.6

State = tuple[int, int] | None  # (w, j) of a live point: write number and row in its batch
Op = dict[str, Any]  # {"kind": "insert" | "overwrite" | "delete", "ids": [...], "w": int}


# ------------------------------------------------------------------------------ writer
def batch_vectors(w: int, n: int) -> np.ndarray:
    """The vectors of write ``w``, derived from ``w`` alone so the checker can rebuild them."""
    return np.random.default_rng(w).standard_normal((n, DIM)).astype(np.float32)


def next_op(rng: random.Random, live: list[str], next_id: int, w: int) -> Op:
    crowded = len(live) > CROWDED_POINTS
    roll = rng.random()
    if live and roll < (0.5 if crowded else 0.2):
        ids = rng.sample(live, rng.randint(1, min(200 if crowded else 50, len(live))))
        return {"kind": "delete", "ids": ids, "w": w}
    if live and roll < (0.75 if crowded else 0.5):
        old = rng.sample(live, rng.randint(1, min(200, len(live))))
        extra = rng.randint(1, 20) if rng.random() < 0.25 else 0
        return {"kind": "overwrite", "ids": old + new_ids(next_id, extra), "w": w}
    return {"kind": "insert", "ids": new_ids(next_id, rng.randint(1, 200)), "w": w}


def new_ids(first: int, n: int) -> list[str]:
    return [f"p{first + i}" for i in range(n)]


def write_forever(directory: Path, state_path: Path) -> None:
    state = json.loads(state_path.read_text())
    rng = random.Random(state["seed"])
    live: list[str] = state["live"]
    where = {pid: i for i, pid in enumerate(live)}
    next_id, w = state["next_id"], state["first_w"]
    print("OPENING", flush=True)
    db = vecfleet.connect(directory, snapshot_every_rows=SNAPSHOT_EVERY_ROWS)
    col = db.collection(COLLECTION)
    print("READY", flush=True)
    while True:
        op = next_op(rng, live, next_id, w)
        ids = op["ids"]
        print("BEGIN", json.dumps(op), flush=True)
        if op["kind"] == "delete":
            ack = col.delete(ids)
        else:
            payloads = [{"w": w, "j": j} for j in range(len(ids))]
            ack = col.upsert(ids, batch_vectors(w, len(ids)), payloads)
        print("ACK", ack.seq, flush=True)
        for pid in ids:
            if op["kind"] == "delete":
                _remove(live, where, pid)
            elif pid not in where:
                where[pid] = len(live)
                live.append(pid)
        next_id += sum(1 for pid in ids if int(pid[1:]) >= next_id)
        w += 1


def _remove(live: list[str], where: dict[str, int], pid: str) -> None:
    i = where.pop(pid)
    last = live.pop()
    if last != pid:
        live[i] = last
        where[last] = i


# ------------------------------------------------------------------------------ model
@dataclass
class Model:
    """What the acknowledged writes say the collection holds."""

    points: dict[str, tuple[int, int]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    sizes: dict[int, int] = field(default_factory=dict)  # write number -> batch size
    last_seq: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "points": self.points,
            "deleted": sorted(self.deleted),
            "sizes": self.sizes,
            "last_seq": self.last_seq,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Model:
        return cls(
            {pid: (w, j) for pid, (w, j) in raw["points"].items()},
            set(raw["deleted"]),
            {int(w): n for w, n in raw["sizes"].items()},
            raw["last_seq"],
        )

    def state(self, pid: str) -> State:
        return self.points.get(pid)

    def after(self, op: Op) -> dict[str, State]:
        if op["kind"] == "delete":
            return dict.fromkeys(op["ids"])
        return {pid: (op["w"], j) for j, pid in enumerate(op["ids"])}

    def apply(self, op: Op, seq: int) -> None:
        for pid, state in self.after(op).items():
            if state is None:
                if self.points.pop(pid, None) is not None:
                    self.deleted.add(pid)
            else:
                self.points[pid] = state
                self.deleted.discard(pid)
        self.last_seq = seq


@dataclass
class Transcript:
    """What one writer printed before it died."""

    ready: bool
    acked: list[tuple[Op, int]]
    in_flight: Op | None


def read_transcript(path: Path) -> Transcript:
    text = path.read_text()
    lines = text.split("\n")[:-1]  # a line cut by the kill has no newline yet
    ready = False
    acked: list[tuple[Op, int]] = []
    pending: Op | None = None
    for line in lines:
        word, _, rest = line.partition(" ")
        if word == "READY":
            ready = True
        elif word == "BEGIN":
            pending = json.loads(rest)
        elif word == "ACK":
            assert pending is not None, f"ACK without BEGIN in {path}"
            acked.append((pending, int(rest)))
            pending = None
    return Transcript(ready, acked, pending)


# ------------------------------------------------------------------------------ checking
class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Check:
    """What one reopen found; every count but the informative ones must be zero."""

    landed: bool | None = None  # the in-flight operation: landed, did not, None if none
    lost: list[str] = field(default_factory=list)
    resurrected: list[str] = field(default_factory=list)
    wrong_payload: list[str] = field(default_factory=list)
    wrong_vector: list[str] = field(default_factory=list)
    half_applied: bool = False
    problems: list[str] = field(default_factory=list)
    torn_tail: bool = False
    snapshot_seq: int = 0
    replayed: int = 0
    applied_seq: int = 0
    found: dict[str, State] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Check:
        found = {pid: None if s is None else (s[0], s[1]) for pid, s in raw["found"].items()}
        return cls(**{**raw, "found": found})

    def to_json(self) -> dict[str, Any]:
        raw = dataclasses.asdict(self)
        if not self.failed:
            raw["found"] = {}  # only needed to carry on after a failure
        return raw

    @property
    def failed(self) -> bool:
        return bool(
            self.lost
            or self.resurrected
            or self.wrong_payload
            or self.wrong_vector
            or self.half_applied
            or self.problems
        )


def observed(points: dict[str, vecfleet.Point], pid: str) -> State:
    point = points.get(pid)
    return None if point is None else (point.payload["w"], point.payload["j"])


def check_reopen(directory: Path, case: dict[str, Any]) -> Check:
    """Reopen ``directory`` and compare it with the case's model (+ the write in flight).

    With ``snapshot`` the checker then closes as a clean shutdown does (waiting for index
    builds, then a snapshot). Without, it leaves as a crash would: the process exits with
    the database open, so the next writer starts from the state the kill left, plus the
    segment builds the checker's own recovery started and never finished.
    """
    model, in_flight = Model.from_json(case["model"]), case["in_flight"]
    rng, snapshot = random.Random(case["seed"]), case["snapshot"]
    records = _Records()
    engine_log = logging.getLogger("vecfleet")
    engine_log.addHandler(records)
    db = vecfleet.connect(directory)
    try:
        result = _compare(db, model, in_flight, rng)
    except BaseException:
        db.close()
        raise
    if snapshot:
        db.close()
    result.torn_tail = any("dropped" in r.getMessage() for r in records.records)
    result.problems += [
        f"recovery logged {r.levelname}: {r.getMessage()}"
        for r in records.records
        if r.levelno >= logging.ERROR
    ]
    return result


def _compare(
    db: vecfleet.EmbeddedDatabase, model: Model, in_flight: Op | None, rng: random.Random
) -> Check:
    col = db.collection(COLLECTION)
    result = Check()
    asked = set(model.points) | model.deleted | set(in_flight["ids"] if in_flight else [])
    points = {p.id: p for p in col.get(sorted(asked), with_vectors=True)}
    result.found = {pid: observed(points, pid) for pid in points}
    expected = Model(dict(model.points), set(model.deleted), model.sizes, model.last_seq)
    if in_flight is not None:
        seen = {pid: observed(points, pid) for pid in in_flight["ids"]}
        if seen == expected.after(in_flight):
            result.landed = True
            expected.apply(in_flight, model.last_seq + 1)
        elif seen == {pid: model.state(pid) for pid in in_flight["ids"]}:
            result.landed = False
        else:
            result.half_applied = True
            result.problems.append(f"{in_flight['kind']} w={in_flight['w']} is half applied")
    for pid in sorted(asked):
        want, got = expected.state(pid), observed(points, pid)
        if want is not None and got is None:
            result.lost.append(pid)
        elif want is None and got is not None:
            result.resurrected.append(pid)
        elif want != got:
            result.wrong_payload.append(pid)
    result.wrong_vector = _wrong_vectors(points, expected)
    _check_counts(db, col, expected, result, rng)
    return result


def _wrong_vectors(points: dict[str, vecfleet.Point], expected: Model) -> list[str]:
    by_write: dict[int, list[tuple[str, int]]] = {}
    for pid, (w, j) in expected.points.items():
        if pid in points and w in expected.sizes:
            by_write.setdefault(w, []).append((pid, j))
    wrong = []
    for w, rows in by_write.items():
        vectors = batch_vectors(w, expected.sizes[w])
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        got = np.stack([_vector(points[pid]) for pid, _ in rows])
        error = np.abs(got - vectors[[j for _, j in rows]]).max(axis=1)
        wrong += [pid for (pid, _), e in zip(rows, error, strict=True) if not e <= 1e-5]
    return wrong


def _vector(point: vecfleet.Point) -> np.ndarray:
    return np.full(DIM, np.nan) if point.vector is None else np.asarray(point.vector)


def _check_counts(
    db: vecfleet.EmbeddedDatabase,
    col: vecfleet.CollectionHandle,
    expected: Model,
    result: Check,
    rng: random.Random,
) -> None:
    if col.count() != len(expected.points):
        result.problems.append(f"count() is {col.count()}, expected {len(expected.points)}")
    applied = result.applied_seq = col.info()["applied_seq"]
    if applied != expected.last_seq:
        result.problems.append(f"applied sequence {applied}, expected {expected.last_seq}")
    recovery = db.recovery
    result.snapshot_seq = recovery["snapshot_seq"]
    result.replayed = recovery["replayed_records"]
    if result.snapshot_seq + result.replayed != applied:
        result.problems.append(f"recovery info {recovery} does not add up to sequence {applied}")
    if result.snapshot_seq and recovery["snapshot"] is None:
        result.problems.append(f"recovery info {recovery} names no snapshot")
    live = sorted(expected.points)
    for pid in rng.sample(live, min(5, len(live))):
        w, j = expected.points[pid]
        query = batch_vectors(w, expected.sizes[w])[j]
        exact = col.search(query, limit=1, params={"exact": True})
        if not exact or exact[0].id != pid:
            result.problems.append(f"exact search for {pid}'s own vector found {exact[:1]}")
        stray = [h.id for h in col.search(query, limit=20) if h.id not in expected.points]
        if stray:
            result.problems.append(f"search returned ids that should not exist: {stray[:5]}")


# ------------------------------------------------------------------------------ driver
@dataclass
class Summary:
    cycles: int = 0
    acked_writes: int = 0
    acked_points_written: int = 0
    acked_points_deleted: int = 0
    in_flight: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            kind: {"landed": 0, "not_landed": 0} for kind in ("insert", "overwrite", "delete")
        }
    )
    nothing_in_flight: int = 0
    killed_while_recovering: int = 0
    killed_during_snapshot_write: int = 0
    killed_during_segment_build: int = 0
    torn_log_tails: int = 0
    recovered_from_snapshot: int = 0
    max_replayed_records: int = 0
    lost: int = 0
    resurrected: int = 0
    wrong_payload: int = 0
    wrong_vector: int = 0
    half_applied: int = 0
    problems: list[str] = field(default_factory=list)
    final_points: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.resurrected
            or self.wrong_payload
            or self.wrong_vector
            or self.half_applied
            or self.problems
        )


def create_collection(directory: Path) -> int:
    with vecfleet.connect(directory) as db:
        col = db.create_collection(
            COLLECTION,
            dim=DIM,
            metric="cosine",
            index="hnsw",
            payload_schema={"w": "integer", "j": "integer"},
            seal_rows=SEAL_ROWS,
            hnsw_m=8,
            ef_construction=32,
        )
        return int(col.info()["applied_seq"])


def complete_lines(path: Path) -> list[str]:
    return path.read_text().split("\n")[:-1] if path.exists() else []


def wait_for(proc: subprocess.Popen[bytes], out: Path, word: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while word not in complete_lines(out):
        if proc.poll() is not None:
            raise AssertionError(
                f"writer exited with {proc.returncode}: {out.with_suffix('.err').read_text()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"writer printed no {word} within {READY_TIMEOUT_S}s")
        time.sleep(0.002)


def run_writer(
    directory: Path, state: Path, out: Path, rng: random.Random, open_s: float
) -> float | None:
    """Start a writer, SIGKILL it at a seeded random moment; return how long it took to open."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # small builds; no OpenMP spinning
    while_opening = rng.random() < KILL_WHILE_OPENING
    delay_s = rng.uniform(0.0, open_s) if while_opening else rng.uniform(*KILL_AFTER_S)
    script = [sys.executable, __file__, "write", str(directory), str(state)]
    with out.open("w") as stdout, out.with_suffix(".err").open("w") as stderr:
        proc = subprocess.Popen(script, stdout=stdout, stderr=stderr, cwd=REPO, env=env)
    opened_s = None
    try:
        wait_for(proc, out, "OPENING")
        if not while_opening:
            began = time.monotonic()
            wait_for(proc, out, "READY")
            opened_s = time.monotonic() - began
        time.sleep(delay_s)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    if proc.returncode != -signal.SIGKILL:
        raise AssertionError(f"writer ended by itself: {out.with_suffix('.err').read_text()}")
    return opened_s


def run_checker(directory: Path, case: dict[str, Any], workdir: Path) -> Check:
    """Check in a fresh process, as a restarted service would recover."""
    path = workdir / "case.json"
    path.write_text(json.dumps(case))
    script = [sys.executable, __file__, "check", str(directory), str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(script, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"the checker failed ({done.returncode}): {done.stderr[-2000:]}")
    return Check.from_json(json.loads(done.stdout.splitlines()[-1]))


def inspect_leftovers(directory: Path, summary: Summary) -> None:
    """Count the dangerous moments a kill interrupted, from what it left on disk."""
    if any((directory / "snapshots").glob(".tmp-*")):
        summary.killed_during_snapshot_write += 1
    segments = (directory / "segments").iterdir()
    if any(not (d / "segment.json").exists() for d in segments):
        summary.killed_during_segment_build += 1


def record(summary: Summary, cycle: int, check: Check, transcript: Transcript) -> None:
    summary.cycles += 1
    summary.lost += len(check.lost)
    summary.resurrected += len(check.resurrected)
    summary.wrong_payload += len(check.wrong_payload)
    summary.wrong_vector += len(check.wrong_vector)
    summary.half_applied += int(check.half_applied)
    if check.failed:
        detail = (
            f"lost {check.lost[:3]}, resurrected {check.resurrected[:3]}, "
            f"wrong payload {check.wrong_payload[:3]}, wrong vector {check.wrong_vector[:3]}"
        )
        summary.problems.append(f"cycle {cycle}: {detail}; {check.problems[:3]}")
    summary.torn_log_tails += int(check.torn_tail)
    summary.recovered_from_snapshot += int(check.snapshot_seq > 0)
    summary.max_replayed_records = max(summary.max_replayed_records, check.replayed)
    if transcript.in_flight is None:
        summary.nothing_in_flight += 1
    elif check.landed is not None:
        outcome = "landed" if check.landed else "not_landed"
        summary.in_flight[transcript.in_flight["kind"]][outcome] += 1
    if not transcript.ready:
        summary.killed_while_recovering += 1


class KillCycles:
    """The driver: writer, kill, checker, then the next writer on the same directory."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.workdir = workdir
        self.directory = workdir / "db"
        self.seed = seed
        self.rng = random.Random(seed)  # the kill schedule: which moment, how long after it
        self.model = Model(last_seq=create_collection(self.directory))
        self.summary = Summary()
        self.next_id = 0
        self.open_s = 0.1

    def run(self, cycles: int) -> Summary:
        started = time.monotonic()
        for cycle in range(cycles):
            if not self.cycle(cycle):
                break
        self.summary.final_points = len(self.model.points)
        self.summary.seconds = time.monotonic() - started
        return self.summary

    def cycle(self, cycle: int) -> bool:
        """One writer life and one check; False when the directory could not be reopened."""
        out = self.workdir / f"writer{cycle}.out"
        state = self.writer_state(cycle)
        opened_s = run_writer(self.directory, state, out, self.rng, self.open_s)
        self.open_s = self.open_s if opened_s is None else min(opened_s, 2.0)
        transcript = read_transcript(out)
        self.learn(transcript)
        inspect_leftovers(self.directory, self.summary)
        case = {
            "model": self.model.to_json(),
            "in_flight": transcript.in_flight,
            "seed": self.seed * 1000 + cycle,
            "snapshot": self.rng.random() < CHECKER_SNAPSHOTS,
        }
        try:
            check = run_checker(self.directory, case, self.workdir)
        except RuntimeError as exc:
            self.summary.problems.append(f"cycle {cycle}: {exc}")
            return False
        record(self.summary, cycle, check, transcript)
        if check.landed and transcript.in_flight is not None:
            self.model.apply(transcript.in_flight, self.model.last_seq + 1)
        if check.failed:  # carry on from what is there, so later cycles still count
            self.model.points = {p: s for p, s in check.found.items() if s is not None}
            self.model.last_seq = check.applied_seq
        out.unlink()
        out.with_suffix(".err").unlink()
        return True

    def writer_state(self, cycle: int) -> Path:
        state = self.workdir / "state.json"
        raw = {
            "seed": self.seed * 1000 + cycle,
            "live": sorted(self.model.points),
            "next_id": self.next_id,
            "first_w": (cycle + 1) * 1_000_000,
        }
        state.write_text(json.dumps(raw))
        return state

    def learn(self, transcript: Transcript) -> None:
        """Apply what was acknowledged to the model; note the sizes of every batch begun."""
        begun = [op for op, _ in transcript.acked]
        if transcript.in_flight is not None:
            begun.append(transcript.in_flight)
        for op in begun:
            if op["kind"] != "delete":
                self.model.sizes[op["w"]] = len(op["ids"])
            self.next_id = max([self.next_id, *(int(pid[1:]) + 1 for pid in op["ids"])])
        for op, seq in transcript.acked:
            if op["kind"] == "delete":
                self.summary.acked_points_deleted += len(op["ids"])
            else:
                self.summary.acked_points_written += len(op["ids"])
            self.model.apply(op, seq)
            self.summary.acked_writes += 1


def run_kill_cycles(workdir: Path, cycles: int, seed: int) -> Summary:
    """Kill a writer ``cycles`` times; after each kill reopen and check everything."""
    return KillCycles(workdir, seed).run(cycles)


# ------------------------------------------------------------------------------ test
def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    summary = run_kill_cycles(tmp_path, CYCLES, SEED)
    print(json.dumps(dataclasses.asdict(summary), indent=1))
    assert summary.cycles >= 50
    assert summary.clean, summary.problems[:10]
    assert summary.acked_writes > 10 * CYCLES
    assert summary.in_flight["delete"]["landed"] + summary.in_flight["delete"]["not_landed"]
    assert summary.killed_while_recovering
    assert summary.recovered_from_snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    write = sub.add_parser("write", help="the writer process (killed by the driver)")
    write.add_argument("directory", type=Path)
    write.add_argument("state", type=Path)
    check = sub.add_parser("check", help="reopen, compare with a model, print JSON")
    check.add_argument("directory", type=Path)
    check.add_argument("case", type=Path)
    drive = sub.add_parser("drive", help="run the kill cycles and print a JSON summary")
    drive.add_argument("--cycles", type=int, default=CYCLES)
    drive.add_argument("--seed", type=int, default=SEED)
    drive.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args(argv)
    if opts.mode == "write":
        write_forever(opts.directory, opts.state)
        return 0
    if opts.mode == "check":
        result = check_reopen(opts.directory, json.loads(opts.case.read_text()))
        print(json.dumps(result.to_json()), flush=True)
        os._exit(0)  # without closing a database left open (see check_reopen)
    with tempfile.TemporaryDirectory(prefix="kill-cycles-", dir=opts.workdir) as work:
        summary = run_kill_cycles(Path(work), opts.cycles, opts.seed)
    print(json.dumps({**dataclasses.asdict(summary), "clean": summary.clean}))
    return 0 if summary.clean else 1


if __name__ == "__main__":
    sys.exit(main())

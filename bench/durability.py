"""Durability benchmark: what each durability mode costs, and how fast a restart recovers.

Three parts, all in one process on one machine (the figures of one run are comparable with
each other, not with another machine's):

* ``ingest``: 384-d vectors upserted in batches of 1, 100 and 1,000 with ``fsync``,
  ``batch`` and ``none`` durability, by one writer and by ``--threads`` concurrent writer
  threads. Every run starts an empty database and stops after ``--seconds`` or
  ``--max-vectors`` vectors, below ``seal_rows``, so the figures are the write path alone
  (validate, encode, log, group commit, apply) and no index build competes with it. Per
  run: vectors/s, appends per fsync, and for batches of 1 the call latency p50/p99. The
  headline ratio is fsync/none throughput for 1,000-vector batches with concurrent writers.
* ``recovery``: the packages corpus (100,000 x 384, all-MiniLM-L6-v2, payloads category /
  date / popularity_rank) ingested in batches of 1,000 into an hnsw collection and
  optimized; closing writes a snapshot. Then: ``load without replay`` (the snapshot's files
  loaded and verified by ``engine.snapshot.load_snapshot``, no log, no database), reopen
  from the snapshot with nothing to replay, reopen from that snapshot + the replay of
  ``--replay-records`` records (overwrites of 100 points each, written by a subprocess
  that is then killed with SIGKILL), and reopen from the log alone (a copy of ``wal/``
  taken before the first snapshot could trim it, without ``snapshots/`` or ``segments/``,
  timed to the end of replay and to the end of the index build). Each snapshot reopen
  checks that the segment directories are the same before and after (no index rebuilt)
  and compares the top-10 of 100 queries with the answers before the restart.
* ``kill`` (``--kill-cycles N``): the SIGKILL loop of
  ``tests/integration/test_kill_recovery.py`` run N times (CI runs it 60 times): cycles,
  acknowledged writes, losses, and how often the write in flight landed.

Example::

    python bench/durability.py --shared ../shared --out bench/results/durability.json
    python bench/durability.py --parts kill --kill-cycles 300
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# bench/ goes last on the path: a benchmark module named like a standard or installed
# package (http, ...) must not hide it from vecfleet's own imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # an installed vecfleet, if any, still comes first
sys.path.append(str(BENCH))

from common import load_packages  # noqa: E402

import vecfleet  # noqa: E402
from vecfleet.engine.snapshot import list_snapshots, load_snapshot  # noqa: E402

MODES = ("fsync", "batch", "none")
BATCHES = (1, 100, 1000)
DIM = 384
PARTS = ("ingest", "recovery", "kill")
POOL_VECTORS = 50_000
PACKAGES_FIELDS = ("category", "date", "popularity_rank")
PACKAGES_SCHEMA = {"category": "keyword", "date": "datetime", "popularity_rank": "integer"}
KILL_TEST = ROOT / "tests" / "integration" / "test_kill_recovery.py"
Row = dict[str, Any]


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ machine
def hardware(workdir: Path) -> Row:
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return {
        "cpu_model": fields.get("model name", "?"),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "disk": disk(workdir),
        "loadavg_at_start": os.getloadavg(),
    }


def disk(path: Path) -> Row:
    """The block device under ``path`` as the kernel describes it, and its fdatasync latency."""
    mount = max(
        (p for p in psutil.disk_partitions(all=True) if str(path).startswith(p.mountpoint)),
        key=lambda p: len(p.mountpoint),
        default=None,
    )
    out: Row = {
        "mount": mount.mountpoint if mount else None,
        "fstype": mount.fstype if mount else None,
    }
    name = Path(mount.device).name if mount else ""
    queue = Path("/sys/block") / name
    if queue.exists():
        out["device"] = name
        out["rotational_flag"] = (queue / "queue" / "rotational").read_text().strip()
        vendor = queue / "device" / "vendor"
        out["virtual"] = vendor.exists() and "0x1af4" in vendor.read_text()  # virtio
    out["fdatasync_4k_append_ms"] = fdatasync_latency_ms(path)
    return out


def fdatasync_latency_ms(directory: Path, n: int = 200) -> dict[str, float]:
    """p50/p99 of fdatasync after a 4 KiB append, as the log does after each batch."""
    fd, name = tempfile.mkstemp(dir=directory)
    try:
        times = []
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
        return {
            "p50": float(np.percentile(times, 50) * 1000),
            "p99": float(np.percentile(times, 99) * 1000),
        }
    finally:
        os.close(fd)
        os.unlink(name)


def log_stats(db: vecfleet.EmbeddedDatabase) -> dict[str, int]:
    """The log's plain counters (appends, fsyncs, ...), where the log keeps them."""
    log_ = getattr(getattr(db, "_db", None), "_log", None)
    stats = getattr(log_, "stats", None)
    return dict(stats()) if callable(stats) else {}


# ------------------------------------------------------------------------------ ingest
def unit_pool(n: int, seed: int = 384) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def run_of(rows: list[Row], mode: str, batch: int, writers: int) -> Row:
    (row,) = [r for r in rows if (r["mode"], r["batch"], r["writers"]) == (mode, batch, writers)]
    return row


def ingest_run(
    workdir: Path, pool: np.ndarray, mode: str, batch: int, writers: int, opts: argparse.Namespace
) -> Row:
    """Upsert ``batch``-sized calls from ``writers`` threads until time or vectors run out."""
    path = Path(tempfile.mkdtemp(prefix=f"ingest-{mode}-{batch}-{writers}-", dir=workdir))
    db = vecfleet.connect(path, durability=mode, snapshot_on_close=False)
    col = db.create_collection("ingest", dim=DIM, index="hnsw", seal_rows=opts.max_vectors + 1)
    share = opts.max_vectors // writers
    latencies: list[list[float]] = [[] for _ in range(writers)]
    done = [0] * writers
    start = threading.Barrier(writers + 1)
    deadline = [0.0]

    def writer(w: int) -> None:
        base = w * share
        start.wait()
        for offset in range(0, share - batch + 1, batch):
            first = (base + offset) % (len(pool) - batch)
            ids = [f"w{w}-{i}" for i in range(offset, offset + batch)]
            began = time.perf_counter()
            col.upsert(ids, pool[first : first + batch])
            latencies[w].append(time.perf_counter() - began)
            done[w] += batch
            if time.perf_counter() > deadline[0]:
                return

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    deadline[0] = time.perf_counter() + opts.seconds
    started = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    stats = log_stats(db)
    db.close()
    shutil.rmtree(path, ignore_errors=True)
    calls = [x for per in latencies for x in per]
    row: Row = {
        "mode": mode,
        "batch": batch,
        "writers": writers,
        "vectors": sum(done),
        "seconds": elapsed,
        "vectors_per_s": sum(done) / elapsed,
        "calls": len(calls),
        "log": stats,
    }
    if stats.get("fsyncs"):
        row["appends_per_fsync"] = stats["appends"] / stats["fsyncs"]
    if batch == 1:
        row["latency_ms"] = {
            "p50": float(np.percentile(calls, 50) * 1000),
            "p99": float(np.percentile(calls, 99) * 1000),
            "max": float(max(calls) * 1000),
        }
    return row


def median_run(reps: list[Row]) -> Row:
    """The run with the median throughput, with every repetition's throughput beside it."""
    ordered = sorted(reps, key=lambda r: r["vectors_per_s"])
    return {**ordered[len(ordered) // 2], "all_vectors_per_s": [r["vectors_per_s"] for r in reps]}


def bench_ingest(workdir: Path, opts: argparse.Namespace) -> Row:
    pool = unit_pool(min(opts.max_vectors, POOL_VECTORS))  # rows repeat; ids never do
    runs = []
    for writers in (1, opts.threads):
        for batch in BATCHES:
            reps: dict[str, list[Row]] = {mode: [] for mode in MODES}
            for rep in range(opts.ingest_reps):  # modes interleaved, in a rotating order
                for mode in MODES[rep % len(MODES) :] + MODES[: rep % len(MODES)]:
                    reps[mode].append(ingest_run(workdir, pool, mode, batch, writers, opts))
            for mode in MODES:
                row = median_run(reps[mode])
                log(
                    f"ingest {mode:5} batch {batch:4} writers {writers}: "
                    f"{row['vectors_per_s']:9.0f} vectors/s (median of {len(reps[mode])})"
                )
                runs.append(row)

    def rate(mode: str, batch: int, writers: int) -> float:
        return float(run_of(runs, mode, batch, writers)["vectors_per_s"])

    ratios = {
        f"{mode}/none batch {batch} writers {writers}": rate(mode, batch, writers)
        / rate("none", batch, writers)
        for mode in ("fsync", "batch")
        for batch in BATCHES
        for writers in (1, opts.threads)
    }
    headline = f"fsync/none batch 1000 writers {opts.threads}"
    return {
        "protocol": {
            "dim": DIM,
            "seconds_per_run": opts.seconds,
            "repetitions": f"{opts.ingest_reps}, modes interleaved; the median run is reported",
            "max_vectors_per_run": opts.max_vectors,
            "payloads": "none",
            "index_builds": "none during a run (seal_rows above the vectors written)",
        },
        "runs": runs,
        "ratios": ratios,
        "headline": {"name": headline, "ratio": ratios[headline], "target": 0.5},
    }


# ------------------------------------------------------------------------------ recovery
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def segment_dirs(path: Path) -> set[str]:
    return (
        {d.name for d in (path / "segments").iterdir()} if (path / "segments").exists() else set()
    )


def top10(col: vecfleet.CollectionHandle, queries: np.ndarray) -> list[list[Any]]:
    return [[h.id for h in hits] for hits in col.search_batch(queries, limit=10)]


def ingest_packages(
    path: Path, logonly: Path, opts: argparse.Namespace
) -> tuple[Row, np.ndarray, list[Any]]:
    """Ingest and optimize the corpus; copy the log, complete from sequence 1, to ``logonly``.

    The copy is taken before the first snapshot, which lets the log be trimmed.
    """
    corpus = load_packages(opts.shared)
    payloads = [{k: p[k] for k in PACKAGES_FIELDS if k in p} for p in corpus.payloads]
    queries = corpus.queries[:100]
    settings = {"durability": "batch", "snapshot_every_rows": 10**9}
    row: Row = {"points": len(corpus.ids), "dim": corpus.dim}
    with vecfleet.connect(path, **settings) as db:
        col = db.create_collection("packages", dim=corpus.dim, payload_schema=PACKAGES_SCHEMA)
        started = time.perf_counter()
        for s in range(0, len(corpus.ids), 1000):
            col.upsert(
                corpus.ids[s : s + 1000], corpus.vectors[s : s + 1000], payloads[s : s + 1000]
            )
        row["ingest_s"] = time.perf_counter() - started
        row["optimize_s"], _ = timed(col.optimize)
        row["segments"] = col.info()["segments"]
        before = top10(col, queries)
        shutil.copytree(path / "wal", logonly / "wal")  # idle: every record is written
        row["close_with_snapshot_s"], _ = timed(db.close)
    log(f"packages: ingest {row['ingest_s']:.1f}s, optimize {row['optimize_s']:.1f}s")
    return row, queries, before


def reopen(path: Path, queries: np.ndarray, reps: int) -> Row:
    """Median time to open ``path``; recovery facts and top-10 of the last open."""
    times, out = [], {}
    for _ in range(reps):
        dirs = segment_dirs(path)
        started = time.perf_counter()
        db = vecfleet.connect(path, snapshot_on_close=False)
        times.append(time.perf_counter() - started)
        col = db.collection("packages")
        out = {
            "recovery": db.recovery,
            "points": len(col),
            "top10": top10(col, queries),
            "segments_unchanged": segment_dirs(path) == dirs,
            "segments": sorted(s["uid"] for s in col.info()["segments"] if s["index"] != "exact"),
        }
        db.close()
    return {"seconds": statistics.median(times), "all_seconds": times, **out}


def load_without_replay(path: Path, reps: int) -> Row:
    """The snapshot's files read and verified, nothing replayed and no database opened."""
    snapshot = list_snapshots(path / "snapshots")[0]
    times = []
    for _ in range(reps):
        seconds, (_, loaded) = timed(lambda: load_snapshot(snapshot, path / "segments"))
        times.append(seconds)
        del loaded
    return {"seconds": statistics.median(times), "all_seconds": times, "snapshot": str(snapshot)}


REPLAY_WRITER = r"""
import sys, time, numpy as np, vecfleet
path, records = sys.argv[1], int(sys.argv[2])
db = vecfleet.connect(path)
col = db.collection("packages")
ids, cursor = [], 0
while len(ids) < records * 100 and cursor is not None:
    page, cursor = col.scroll(limit=1000, cursor=cursor)
    ids += [p.id for p in page]
for r in range(records):
    batch = col.get(ids[r * 100 : (r + 1) * 100], with_vectors=True)
    vectors = np.stack([p.vector for p in batch])
    col.upsert([p.id for p in batch], vectors, [{**p.payload, "popularity_rank": r} for p in batch])
print("WRITTEN", col.info()["applied_seq"], flush=True)
time.sleep(3600)
"""


def write_then_kill(path: Path, records: int) -> int:
    """A subprocess overwrites ``records`` x 100 points, then dies by SIGKILL; returns its seq."""
    proc = subprocess.Popen(
        [sys.executable, "-c", REPLAY_WRITER, str(path), str(records)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    word, seq = line.split()
    assert word == "WRITTEN", line
    return int(seq)


def bench_recovery(workdir: Path, opts: argparse.Namespace) -> Row:
    path = workdir / "packages"
    logonly = workdir / "packages-log-only"
    result, queries, before = ingest_packages(path, logonly, opts)
    dirs = segment_dirs(path)
    result["load_without_replay"] = load_without_replay(path, opts.reps)
    result["reopen_snapshot"] = reopen(path, queries, opts.reps)
    log(f"reopen from snapshot: {result['reopen_snapshot']['seconds']:.2f}s")
    seq = write_then_kill(path, opts.replay_records)
    result["reopen_snapshot_and_replay"] = reopen(path, queries, opts.reps)
    result["reopen_snapshot_and_replay"]["killed_writer_seq"] = seq
    log(f"reopen from snapshot + replay: {result['reopen_snapshot_and_replay']['seconds']:.2f}s")
    result["reopen_log_only"] = reopen_log_only(logonly)
    log(f"reopen from the log only: {result['reopen_log_only']['seconds']:.2f}s")
    for key in ("reopen_snapshot", "reopen_snapshot_and_replay"):
        run = result[key]
        got = run.pop("top10")
        run["same_top10_as_before_close"] = got == before
        run["top10_overlap_with_before_close"] = float(
            np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, before, strict=True)])
        )
        run["segment_dirs_rebuilt"] = not (
            run["segments_unchanged"] and set(run["segments"]) <= dirs
        )
    result["reopen_log_only"].pop("top10", None)
    base = result["load_without_replay"]["seconds"]
    replay = result["reopen_snapshot_and_replay"]["seconds"]
    result["acceptance"] = {
        "snapshot_and_replay_over_load_without_replay": replay / base,
        "snapshot_and_replay_over_reopen_without_replay": replay
        / result["reopen_snapshot"]["seconds"],
        "target": 2.0,
        "index_rebuilt_on_snapshot_reopen": any(
            result[k]["segment_dirs_rebuilt"]
            for k in ("reopen_snapshot", "reopen_snapshot_and_replay")
        ),
    }
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(logonly, ignore_errors=True)
    return result


def reopen_log_only(path: Path) -> Row:
    started = time.perf_counter()
    db = vecfleet.connect(path, snapshot_on_close=False)
    opened = time.perf_counter() - started
    col = db.collection("packages")
    col.optimize()  # waits for the index build replay started
    ready = time.perf_counter() - started
    row = {"seconds": opened, "index_ready_s": ready, "recovery": db.recovery, "points": len(col)}
    db.close()
    return row


# ------------------------------------------------------------------------------ kill cycles
def bench_kill(workdir: Path, opts: argparse.Namespace) -> Row:
    command = [sys.executable, str(KILL_TEST), "drive", "--cycles", str(opts.kill_cycles)]
    command += ["--seed", str(opts.seed), "--workdir", str(workdir)]
    log(f"kill cycles: {opts.kill_cycles}")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if not done.stdout.strip():
        raise RuntimeError(f"the kill-cycle driver failed: {done.stderr[-3000:]}")
    summary: Row = json.loads(done.stdout.splitlines()[-1])
    summary["command"] = " ".join(shlex.quote(a) for a in command)
    return summary


# ------------------------------------------------------------------------------ report
def print_report(result: Row) -> None:
    hw = result["hardware"]
    print(
        f"\n{hw['cpu_model']}, {hw['logical_cores']} cores, {hw['memory_bytes'] / 2**30:.0f} GiB; "
        f"disk {hw['disk']}; load average at start {hw['loadavg_at_start'][0]:.2f}, "
        f"at end {hw['loadavg_at_end'][0]:.2f}"
    )
    print(f"command: {result['command']}")
    if "ingest" in result:
        print_ingest(result["ingest"])
    if "recovery" in result:
        print_recovery(result["recovery"])
    if "kill" in result:
        k = result["kill"]
        print(
            f"\nkill cycles: {k['cycles']} cycles, {k['acked_writes']} acknowledged writes "
            f"({k['acked_points_written']} points written, {k['acked_points_deleted']} deleted); "
            f"lost {k['lost']}, resurrected {k['resurrected']}, wrong payload "
            f"{k['wrong_payload']}, half applied {k['half_applied']}; in flight {k['in_flight']}, "
            f"nothing in flight {k['nothing_in_flight']}; problems {k['problems'][:3]}"
        )


def print_ingest(ingest: Row) -> None:
    print("\ningest (vectors/s; batch-of-1 latency p50/p99 ms)")
    print(f"{'writers':>7} {'batch':>5} | " + " | ".join(f"{m:>22}" for m in MODES))
    rows = ingest["runs"]
    for writers in sorted({r["writers"] for r in rows}):
        for batch in BATCHES:
            cells = []
            for mode in MODES:
                r = run_of(rows, mode, batch, writers)
                lat = r.get("latency_ms")
                extra = f" ({lat['p50']:.2f}/{lat['p99']:.2f})" if lat else ""
                cells.append(f"{r['vectors_per_s']:>9.0f}{extra:>13}")
            print(f"{writers:>7} {batch:>5} | " + " | ".join(cells))
    head = ingest["headline"]
    print(f"{head['name']}: {head['ratio']:.2f} (target >= {head['target']})")


def print_recovery(rec: Row) -> None:
    print(
        f"\nrecovery, packages {rec['points']} x {rec['dim']}: ingest {rec['ingest_s']:.1f}s, "
        f"optimize {rec['optimize_s']:.1f}s, close (snapshot) {rec['close_with_snapshot_s']:.2f}s"
    )
    for key in (
        "load_without_replay",
        "reopen_snapshot",
        "reopen_snapshot_and_replay",
        "reopen_log_only",
    ):
        r = rec[key]
        facts = r.get("recovery", {})
        extra = f", index ready {r['index_ready_s']:.2f}s" if "index_ready_s" in r else ""
        replayed = f", replayed {facts['replayed_records']}" if facts else ""
        rebuilt = f", rebuilt {r['segment_dirs_rebuilt']}" if "segment_dirs_rebuilt" in r else ""
        print(f"  {key:28} {r['seconds']:7.2f}s{replayed}{rebuilt}{extra}")
    acc = rec["acceptance"]
    print(
        f"  snapshot+replay / load without replay: "
        f"{acc['snapshot_and_replay_over_load_without_replay']:.2f} (target <= {acc['target']}); "
        f"/ reopen without replay: {acc['snapshot_and_replay_over_reopen_without_replay']:.2f}"
    )


# ------------------------------------------------------------------------------ CLI
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--shared",
        type=Path,
        default=ROOT.parent / "shared",
        help="the shared folder holding data/packages (default: ../shared)",
    )
    ap.add_argument("--out", type=Path, default=BENCH / "results" / "durability.json")
    ap.add_argument(
        "--parts",
        default="ingest,recovery",
        help=f"comma-separated parts to run, of {','.join(PARTS)} (default: "
        "ingest,recovery; --kill-cycles adds kill)",
    )
    ap.add_argument("--seconds", type=float, default=3.0, help="time budget of one ingest run")
    ap.add_argument(
        "--max-vectors", type=int, default=200_000, help="vectors of one ingest run at most"
    )
    ap.add_argument("--ingest-reps", type=int, default=3, help="repetitions of each ingest run")
    ap.add_argument("--threads", type=int, default=4, help="concurrent writers")
    ap.add_argument("--reps", type=int, default=3, help="reopens per recovery figure (median)")
    ap.add_argument(
        "--replay-records",
        type=int,
        default=100,
        help="log records (of 100 points each) replayed after the snapshot",
    )
    ap.add_argument("--kill-cycles", type=int, default=0, help="run N SIGKILL cycles")
    ap.add_argument("--seed", type=int, default=20240917, help="seed of the kill schedule")
    ap.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where the databases live (default: a temporary directory)",
    )
    opts = ap.parse_args(argv)
    opts.parts = [p for p in opts.parts.split(",") if p]
    if opts.kill_cycles and "kill" not in opts.parts:
        opts.parts.append("kill")
    unknown = set(opts.parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    if "kill" in opts.parts and not opts.kill_cycles:
        ap.error("--parts kill needs --kill-cycles N")
    return opts


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vecfleet-durability-", dir=opts.workdir) as tmp:
        workdir = Path(tmp)
        result: Row = {
            "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "hardware": hardware(workdir),
            "vecfleet": vecfleet.__version__,
        }
        if "ingest" in opts.parts:
            result["ingest"] = bench_ingest(workdir, opts)
        if "recovery" in opts.parts:
            result["recovery"] = bench_recovery(workdir, opts)
        if "kill" in opts.parts:
            result["kill"] = bench_kill(workdir, opts)
        result["hardware"]["loadavg_at_end"] = os.getloadavg()
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print_report(result)
    print(f"\nwritten to {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

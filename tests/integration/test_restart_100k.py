"""A restart after 100k upserts answers exactly as before, without rebuilding any index.

100,000 points (dim 32, hnsw, batches of 2,000) land in five sealed segments; once their
indexes are built, 50 queries record their top-10. Closing writes a snapshot; reopening
must load the same segment files from it (no replay, no build, in a fraction of the time
the builds took) and return the same top-10 ids.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import vecfleet
from tests.helpers import unit_rows

POINTS = 100_000
BATCH = 2_000
DIM = 32
SEAL_ROWS = 20_000
QUERIES = 50


def wait_until_indexed(col: vecfleet.CollectionHandle, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        sealed = [s for s in col.info()["segments"] if s["rows"]]
        if len(sealed) == POINTS // SEAL_ROWS and all(s["index"] == "hnsw" for s in sealed):
            return
        assert time.monotonic() < deadline, f"indexes not built in {timeout_s}s: {sealed}"
        time.sleep(0.05)


def top10(col: vecfleet.CollectionHandle, queries: np.ndarray) -> list[list[str]]:
    return [[h.id for h in hits] for hits in col.search_batch(queries, limit=10)]


def segment_dirs(path: Path) -> set[str]:
    return {d.name for d in (path / "segments").iterdir()}


def test_restart_after_100k_upserts_answers_the_same_top10(tmp_path: Path) -> None:
    rng = np.random.default_rng(100_000)
    path = tmp_path / "db"
    queries = unit_rows(rng, QUERIES, DIM)
    started = time.perf_counter()
    with vecfleet.connect(path) as db:
        col = db.create_collection(
            "big",
            dim=DIM,
            index="hnsw",
            payload_schema={"n": "integer"},
            seal_rows=SEAL_ROWS,
            hnsw_m=16,
            ef_construction=100,
        )
        for start in range(0, POINTS, BATCH):
            ids = [f"v{i}" for i in range(start, start + BATCH)]
            col.upsert(
                ids, unit_rows(rng, BATCH, DIM), [{"n": i} for i in range(start, start + BATCH)]
            )
        wait_until_indexed(col)
        build_s = time.perf_counter() - started
        before = top10(col, queries)
        uids = {s["uid"] for s in col.info()["segments"] if s["rows"]}
        applied = col.info()["applied_seq"]
    dirs = segment_dirs(path)
    assert uids == dirs

    started = time.perf_counter()
    with vecfleet.connect(path) as db:
        reopen_s = time.perf_counter() - started
        col = db.collection("big")
        recovery = db.recovery
        info = col.info()
        assert len(col) == POINTS and info["applied_seq"] == applied
        assert recovery["snapshot_seq"] == applied and recovery["replayed_records"] == 0
        assert {s["uid"] for s in info["segments"] if s["rows"]} == uids
        assert all(s["index"] == "hnsw" for s in info["segments"] if s["rows"])
        assert segment_dirs(path) == dirs, "no segment was built or dropped by the reopen"
        assert top10(col, queries) == before
        assert col.get(["v99999"])[0].payload == {"n": 99_999}
    assert segment_dirs(path) == dirs
    print(f"ingest + index builds {build_s:.1f}s, reopen {reopen_s:.2f}s")
    assert reopen_s < build_s / 5, f"reopen took {reopen_s:.2f}s, ingest + build {build_s:.2f}s"

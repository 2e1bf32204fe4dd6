"""The single-search fast path (engine/view.py) answers exactly as the general path does.

A search with ``params`` set takes the general path, so each test compares the two on the
same collection, through the state changes that must retire a published view: deletes,
overwrites, unsealed rows, several segments.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import vecfleet
from tests.helpers import unit_rows
from vecfleet.engine.validate import check_vector
from vecfleet.engine.view import SearchView

SCHEMA = {"cat": "keyword", "n": "integer"}
RARE = {"cat": "rare"}  # 12 rows: always planned exact


def build(db: vecfleet.EmbeddedDatabase, rng: np.random.Generator, n: int = 600, **kw):
    col = db.create_collection("c", dim=8, payload_schema=SCHEMA, **kw)
    x = unit_rows(rng, n, 8)
    payloads = [{"cat": "rare" if i % 50 == 0 else "common", "n": i} for i in range(n)]
    col.upsert(ids=list(range(n)), vectors=x, payloads=payloads)
    return col, x


def general(col, q, limit=10, flt=None):
    """The general path: any ``params`` bypasses the fast path; ef 64 is the default."""
    return col.search(q, limit=limit, filter=flt, params={"ef": 64})


def same(a, b) -> None:
    assert [h.id for h in a] == [h.id for h in b]
    assert [h.payload for h in a] == [h.payload for h in b]
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("index", ["hnsw", "flat", "hnsw_sq8"])
@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("flt", [None, RARE, {"n": {"$lt": 5}}, {}, {"n": -1}])
def test_fast_path_matches_general_path(db, rng, index, metric, flt):
    col, _ = build(db, rng, index=index, metric=metric)
    col.optimize()
    for q in rng.standard_normal((5, 8)).astype(np.float32):
        for _ in range(2):  # the second call is answered by a shortcut where one applies
            same(col.search(q, limit=10, filter=flt), general(col, q, flt=flt))


@pytest.mark.parametrize("index", ["hnsw", "flat", "hnsw_sq8"])
@pytest.mark.parametrize("flt", [None, RARE, {"n": {"$lt": 5}}, {"n": -1}])
@pytest.mark.parametrize("rows", [1, 2, 7])
def test_a_batch_answers_each_row_as_a_single_search_would(db, rng, index, flt, rows):
    """The servers send a micro-batch as one ``search_batch`` call: same hits per row."""
    col, x = build(db, rng, n=900, index=index, seal_rows=300)
    col.delete(ids=[1, 2, 3])
    col.upsert(ids=[10_000], vectors=x[3:4], payloads=[{"cat": "rare", "n": 0}])  # unsealed
    queries = np.vstack([x[[0, 3, 400]], rng.standard_normal((4, 8))]).astype(np.float32)
    for state in ("segments", "optimized"):
        if state == "optimized":
            col.optimize()
        batch = col.search_batch(queries[:rows], limit=10, filter=flt)
        assert len(batch) == rows
        for q, hits in zip(queries[:rows], batch, strict=True):
            same(hits, col.search(q, limit=10, filter=flt))


def test_shortcuts_are_used_and_counted(db, rng):
    col, x = build(db, rng)
    col.optimize()
    before = dict(col.info()["plans"])
    for _ in range(3):
        col.search(x[0], limit=5)
        col.search(x[0], limit=5, filter=RARE)
        assert col.search(x[0], limit=5, filter={"n": -1}) == []
    plans = col.info()["plans"]
    assert plans["ann"] - before.get("ann", 0) == 3
    assert plans["exact"] - before.get("exact", 0) == 3
    assert plans["empty"] - before.get("empty", 0) == 3
    view = col._col.state.view
    assert view is not None and view.unfiltered and len(view.shortcuts) == 2


def test_deleted_ids_never_come_back(db, rng):
    col, x = build(db, rng)
    col.optimize()
    hit = col.search(x[50], limit=3, filter=RARE)[0]
    col.search(x[50], limit=3, filter=RARE)  # now from the shortcut
    assert hit.id == 50
    col.delete(ids=[50])
    assert 50 not in {h.id for h in col.search(x[50], limit=12, filter=RARE)}
    assert 50 not in {h.id for h in col.search(x[50], limit=12, filter=RARE)}
    assert 50 not in {h.id for h in col.search(x[50], limit=600)}
    same(col.search(x[50], limit=10), general(col, x[50]))


def test_overwrites_are_seen_at_once(db, rng):
    col, x = build(db, rng)
    col.optimize()
    col.search(x[100], limit=3, filter=RARE)
    col.search(x[100], limit=3)
    col.upsert(ids=[100], vectors=x[7:8], payloads=[{"cat": "common", "n": -100}])
    assert 100 not in {h.id for h in col.search(x[100], limit=12, filter=RARE)}
    top = col.search(x[7], limit=2)
    assert {h.id for h in top} == {7, 100}
    assert next(h for h in top if h.id == 100).payload == {"cat": "common", "n": -100}
    col.optimize()
    same(col.search(x[7], limit=10), general(col, x[7]))
    same(col.search(x[7], limit=10, filter=RARE), general(col, x[7], flt=RARE))


def test_unsealed_rows_and_several_segments(db, rng):
    col, x = build(db, rng, n=900, seal_rows=300)
    col.upsert(ids=[10_000], vectors=x[3:4], payloads=[{"cat": "rare", "n": 0}])
    for q in (x[3], x[500]):
        for flt in (None, RARE):
            got = col.search(q, limit=20, filter=flt)
            same(got, general(col, q, limit=20, flt=flt))
    assert 10_000 in {h.id for h in col.search(x[3], limit=2)}
    assert 10_000 in {h.id for h in col.search(x[3], limit=2, filter=RARE)}


def test_limit_beyond_the_default_beam_and_the_segment(db, rng):
    col, x = build(db, rng, n=100)
    col.optimize()
    assert len(col.search(x[0], limit=90)) == 90
    assert len(col.search(x[0], limit=500)) == 100
    assert len(col.search(x[0], limit=500, filter=RARE)) == 2


def test_search_view_budget_drops_the_oldest_shortcuts(db, rng):
    col, _ = build(db, rng)
    col.optimize()
    segment = col._col.state.slots[0].segment
    view = SearchView(segment, "cosine", budget_bytes=3 * 10 * 8 * 4)
    for i in range(5):
        rows = list(range(i, 600, 60))  # 10 rows each
        view.add_exact((b"f%d" % i, 10), rows, segment.vectors()[rows])
    assert [key[0] for key in view.shortcuts] == [b"f2", b"f3", b"f4"]


@pytest.mark.parametrize(
    "vector",
    [
        [0.5] * 8,
        np.full(8, 0.5, np.float64),
        np.full((1, 8), 0.5, np.float32),
        np.full(16, 0.5, np.float32)[::2],
        np.full(8, 0.5, np.float32),
    ],
)
def test_check_vector_accepts_array_likes(vector):
    out = check_vector(vector, 8, unit=True)
    assert out.shape == (8,) and out.dtype == np.float32 and out.flags.c_contiguous
    assert float(out @ out) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("vector", "needle"),
    [
        (np.full(7, 0.5, np.float32), "shape"),
        (np.array([np.nan] + [1.0] * 7, np.float32), "NaN"),
        (np.array([1e30] * 7 + [np.inf], np.float32), "NaN"),
        (np.zeros(8, np.float32), "zeros"),
        ("abc", "8 numbers"),
    ],
)
def test_check_vector_rejects(vector, needle):
    with pytest.raises(vecfleet.ValidationError, match=needle):
        check_vector(vector, 8, unit=True)


def test_huge_finite_values_pass(db):
    col = db.create_collection("d", dim=4, metric="dot")
    col.upsert(ids=[1], vectors=np.ones((1, 4), np.float32))
    hits = col.search(np.full(4, 1e30, np.float32), limit=1)
    assert [h.id for h in hits] == [1]


def test_filtered_shortcuts_stay_correct_under_concurrent_deletes(tmp_path, rng):
    """A delete acknowledged before a search starts is never in its results, shortcut or not."""
    db = vecfleet.connect(tmp_path, durability="none")
    col, x = build(db, rng, n=2000)
    col.optimize()
    deleted: set[int] = set()
    lock = threading.Lock()
    stop = threading.Event()
    problems: list[str] = []

    def deleter() -> None:
        for start in range(0, 2000, 50):  # every 50th row is rare: one rare row per batch
            col.delete(ids=list(range(start, start + 10)))
            with lock:
                deleted.update(range(start, start + 10))
            if start % 400 == 0:
                col.optimize()
        stop.set()

    def searcher(seed: int) -> None:
        local = np.random.default_rng(seed)
        while not stop.is_set():
            with lock:
                gone = set(deleted)
            q = local.standard_normal(8).astype(np.float32)
            for flt in (RARE, None):
                for h in col.search(q, limit=20, filter=flt):
                    if h.id in gone:
                        problems.append(f"deleted id {h.id} returned for {flt}")

    threads = [threading.Thread(target=deleter)]
    threads += [threading.Thread(target=searcher, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not problems, problems[:5]
    assert col.search(x[0], limit=20, filter=RARE) == []
    db.close()


def test_huge_finite_cosine_queries_are_normalised():
    out = check_vector(np.full(8, 1e30, np.float32), 8, unit=True)
    np.testing.assert_allclose(out, np.full(8, 8**-0.5), rtol=1e-6)

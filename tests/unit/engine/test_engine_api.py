"""The embedded API's contract: writes, reads, search results and the errors for bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest

import vecfleet
from tests.helpers import unit_rows

SCHEMA = {"cat": "keyword", "n": "integer", "day": "datetime", "ok": "bool", "w": "float"}


def make(db: vecfleet.EmbeddedDatabase, index: str = "hnsw", metric: str = "cosine", **kw):
    return db.create_collection("c", dim=8, metric=metric, index=index, payload_schema=SCHEMA, **kw)


def test_search_on_empty_collection_returns_nothing(db):
    col = make(db)
    assert col.search(np.ones(8, np.float32), limit=5) == []
    assert col.count() == 0


@pytest.mark.parametrize("index", ["flat", "hnsw", "hnsw_sq8", "ivf_pq"])
@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_search_matches_brute_force(db, rng, index, metric):
    col = make(db, index=index, metric=metric)
    x = rng.standard_normal((600, 8)).astype(np.float32)
    col.upsert(ids=list(range(600)), vectors=x, payloads=[{"n": i} for i in range(600)])
    col.optimize()
    q = rng.standard_normal(8).astype(np.float32)
    hits = col.search(q, limit=5, params={"ef": 256})
    if metric == "cosine":
        xn = x / np.linalg.norm(x, axis=1, keepdims=True)
        truth = np.argsort(-(xn @ (q / np.linalg.norm(q))))[:5]
    elif metric == "dot":
        truth = np.argsort(-(x @ q))[:5]
    else:
        truth = np.argsort(((x - q) ** 2).sum(1))[:5]
    assert [h.id for h in hits][:3] == truth[:3].tolist()
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=(metric != "l2"))
    if metric == "l2":
        assert hits[0].score == pytest.approx(
            float(np.sqrt(((x[truth[0]] - q) ** 2).sum())), rel=1e-4
        )


def test_get_returns_found_points_in_request_order(db, rng):
    col = make(db)
    x = unit_rows(rng, 3, 8)
    col.upsert(ids=["a", "b", 7], vectors=x, payloads=[{"n": 1}, {"n": 2}, {"n": 3}])
    got = col.get(ids=[7, "missing", "a"], with_vectors=True)
    assert [p.id for p in got] == [7, "a"]
    assert got[1].payload == {"n": 1}
    np.testing.assert_allclose(got[1].vector, x[0], rtol=1e-5)


def test_overwrite_returns_new_vector_and_payload_and_delete_hides(db, rng):
    col = make(db)
    x = unit_rows(rng, 50, 8)
    col.upsert(ids=list(range(50)), vectors=x, payloads=[{"n": i} for i in range(50)])
    col.optimize()
    col.upsert(ids=[3], vectors=x[10:11], payloads=[{"n": 999}])
    hits = col.search(x[10], limit=2)
    assert {h.id for h in hits} == {3, 10}
    assert next(h for h in hits if h.id == 3).payload == {"n": 999}
    col.delete(ids=[10])
    assert 10 not in {h.id for h in col.search(x[10], limit=50)}
    assert len(col) == 49 and col.count() == 49


def test_filters_restrict_results_and_count(db, rng):
    col = make(db)
    x = unit_rows(rng, 300, 8)
    payloads = [
        {"cat": "ab"[i % 2], "n": i, "day": f"2020-01-{1 + i % 28:02d}"} for i in range(300)
    ]
    col.upsert(ids=list(range(300)), vectors=x, payloads=payloads)
    flt = {"cat": "a", "n": {"$gte": 100}, "day": {"$lt": "2020-01-10"}}
    expected = {
        i
        for i, p in enumerate(payloads)
        if p["cat"] == "a" and p["n"] >= 100 and p["day"] < "2020-01-10"
    }
    assert col.count(flt) == len(expected)
    hits = col.search(x[0], limit=300, filter=flt)
    assert {h.id for h in hits} == expected
    col.optimize()
    assert {h.id for h in col.search(x[0], limit=300, filter=flt)} == expected


def test_explain_shows_a_plan_per_segment(db, rng):
    col = make(db)
    col.upsert(
        ids=list(range(100)),
        vectors=unit_rows(rng, 100, 8),
        payloads=[{"cat": "x" if i < 3 else "y"} for i in range(100)],
    )
    col.optimize()
    plans = col.explain(np.ones(8), filter={"cat": "x"}).plans
    sealed = [p for p in plans if p["rows"]]
    assert sealed and sealed[0]["strategy"] == "exact" and sealed[0]["candidates"] == 3


@pytest.mark.parametrize(
    ("vectors", "needle"),
    [
        (np.ones((2, 7), np.float32), "shape (n, 8)"),
        (np.array([[1.0] * 8, [np.nan] + [1.0] * 7], np.float32), "vectors[1]"),
        (np.array([[1.0] * 8, [1.0] * 7 + [np.inf]], np.float32), "vectors[1]"),
        (np.zeros((2, 8), np.float32), "vectors[0] is all zeros"),
    ],
)
def test_bad_vectors_are_rejected_naming_the_row(db, vectors, needle):
    col = make(db)
    with pytest.raises(vecfleet.ValidationError, match=re.escape(needle)):
        col.upsert(ids=["a", "b"], vectors=vectors)
    assert len(col) == 0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"ids": ["a", True]}, "ids"),
        ({"ids": ["a", ""]}, "ids"),
        ({"ids": ["a"]}, "pair up"),
        ({"ids": ["a", "b"], "payloads": [{"n": "x"}, {}]}, "payloads"),
    ],
)
def test_bad_ids_and_payloads_are_rejected(db, kwargs, needle):
    col = make(db)
    kwargs.setdefault("vectors", np.ones((2, 8), np.float32))
    with pytest.raises(vecfleet.ValidationError, match=needle):
        col.upsert(**kwargs)


def test_bad_search_arguments(db):
    col = make(db)
    with pytest.raises(vecfleet.ValidationError, match="limit"):
        col.search(np.ones(8), limit=0)
    with pytest.raises(vecfleet.ValidationError, match="params"):
        col.search(np.ones(8), params={"eff": 3})
    with pytest.raises(vecfleet.FilterError, match=r"\$"):
        col.search(np.ones(8), filter={"cat": {"$regex": "x"}})
    with pytest.raises(vecfleet.ValidationError):
        col.search(np.ones(9))


def test_collection_errors(db):
    make(db)
    with pytest.raises(vecfleet.CollectionExists):
        make(db)
    with pytest.raises(vecfleet.CollectionNotFound):
        db.collection("nope")
    with pytest.raises(vecfleet.ValidationError, match="metric"):
        db.create_collection("d", dim=4, metric="hamming")
    with pytest.raises(vecfleet.ValidationError, match="index"):
        db.create_collection("d", dim=4, index="lsh")
    with pytest.raises(vecfleet.ValidationError, match="name"):
        db.create_collection("bad/name", dim=4)


def test_data_survives_reopen(tmp_path, rng):
    x = unit_rows(rng, 200, 8)
    with vecfleet.connect(tmp_path) as db:
        col = db.create_collection("c", dim=8, payload_schema={"n": "integer"})
        col.upsert(ids=list(range(200)), vectors=x, payloads=[{"n": i} for i in range(200)])
        col.optimize()
        col.delete(ids=[5])
        col.set_payload(ids=[6], payload={"n": -6})
        before = [h.id for h in col.search(x[7], limit=10)]
    with vecfleet.connect(tmp_path) as db:
        col = db.collection("c")
        assert [h.id for h in col.search(x[7], limit=10)] == before
        assert col.get(ids=[5]) == []
        assert col.get(ids=[6])[0].payload == {"n": -6}


def test_a_data_directory_is_opened_by_one_process_at_a_time(tmp_path):
    with vecfleet.connect(tmp_path), pytest.raises(vecfleet.StorageError, match="in use"):
        vecfleet.connect(tmp_path)


def test_scroll_pages_through_every_point(db, rng):
    col = make(db)
    col.upsert(
        ids=list(range(25)), vectors=unit_rows(rng, 25, 8), payloads=[{"n": i} for i in range(25)]
    )
    seen, cursor = [], None
    while True:
        page, cursor = col.scroll(filter={"n": {"$lt": 20}}, limit=7, cursor=cursor)
        seen += [p.id for p in page]
        if cursor is None:
            break
    assert sorted(seen) == list(range(20))


def test_public_surface_is_pinned():
    assert sorted(vecfleet.__all__) == sorted(
        [
            "AlreadyExists",
            "CollectionExists",
            "CollectionHandle",
            "CollectionNotFound",
            "CorruptData",
            "EmbeddedDatabase",
            "Explain",
            "FilterError",
            "Hit",
            "MalformedRequest",
            "NotFound",
            "PayloadTooLarge",
            "RateLimited",
            "StorageError",
            "Unavailable",
            "ValidationError",
            "VecfleetError",
            "Point",
            "WriteAck",
            "__version__",
            "connect",
        ]
    )


def test_a_handle_to_a_dropped_collection_reports_it_missing(db, rng):
    col = make(db)
    col.upsert(ids=[1], vectors=unit_rows(rng, 1, 8))
    db.drop_collection("c")
    with pytest.raises(vecfleet.CollectionNotFound):
        col.search(np.ones(8), limit=1)
    with pytest.raises(vecfleet.CollectionNotFound):
        col.upsert(ids=[2], vectors=unit_rows(rng, 1, 8))
    assert db.list_collections() == []

"""Offsets, score thresholds and payload-less hits, against a brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest

import vecfleet
from vecfleet.engine.validate import MAX_LIMIT
from vecfleet.errors import ValidationError
from vecfleet.models import SearchOptions

N, DIM = 300, 8


def flat(db: vecfleet.EmbeddedDatabase, rng: np.random.Generator, metric: str):
    col = db.create_collection("c", dim=DIM, metric=metric, index="flat")
    x = rng.standard_normal((N, DIM)).astype(np.float32)
    col.upsert(ids=list(range(N)), vectors=x, payloads=[{"i": i} for i in range(N)])
    col.optimize()
    return col, x


def oracle(x: np.ndarray, q: np.ndarray, metric: str) -> tuple[list[int], list[float]]:
    """Every row id, best first, with its score as the engine reports it."""
    if metric == "cosine":
        scores = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    elif metric == "dot":
        scores = x @ q
    else:
        scores = np.sqrt(((x - q) ** 2).sum(1))
    order = np.argsort(scores if metric == "l2" else -scores, kind="stable")
    return order.tolist(), scores[order].tolist()


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_offset_pages_are_slices_of_the_full_ranking(db, rng, metric):
    col, x = flat(db, rng, metric)
    q = rng.standard_normal(DIM).astype(np.float32)
    truth, _ = oracle(x, q, metric)
    full = [h.id for h in col.search(q, limit=40)]
    assert full == truth[:40]
    for offset in (0, 5, 17, 35):
        page = col.query(q, SearchOptions(limit=5, offset=offset))
        assert [h.id for h in page[0]] == full[offset : offset + 5]
        assert [h.id for h in col.search(q, limit=5, offset=offset)] == full[offset : offset + 5]
    assert col.search(q, limit=5, offset=N - 2) == col.search(q, limit=N)[N - 2 :]


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_score_threshold_keeps_hits_at_least_as_good(db, rng, metric):
    col, x = flat(db, rng, metric)
    q = rng.standard_normal(DIM).astype(np.float32)
    truth, scores = oracle(x, q, metric)
    threshold = scores[12]  # between the 12th and the 14th best, whichever the metric
    cut = (scores[12] + scores[13]) / 2
    hits = col.search(q, limit=50, score_threshold=cut)
    assert [h.id for h in hits] == truth[:13]
    if metric == "l2":
        assert all(h.score <= cut for h in hits)
    else:
        assert all(h.score >= cut for h in hits)
    assert len(col.search(q, limit=50, score_threshold=threshold)) in (12, 13, 14)
    both = col.query(q, SearchOptions(limit=50, offset=10, score_threshold=cut))[0]
    assert [h.id for h in both] == truth[10:13]


def test_threshold_and_offset_with_a_filter_and_params(db, rng):
    col, x = flat(db, rng, "dot")
    q = rng.standard_normal(DIM).astype(np.float32)
    truth, _ = oracle(x, q, "dot")
    want = [i for i in truth if i % 2 == 0]
    keep = {"i": {"$in": want[:200]}}
    even = col.search(q, limit=10, filter=keep, offset=3, params={"exact": True})
    assert [h.id for h in even] == want[3:13]


def test_batch_equals_singles(db, rng):
    col, _ = flat(db, rng, "cosine")
    qs = rng.standard_normal((4, DIM)).astype(np.float32)
    opts = SearchOptions(limit=6, offset=4, score_threshold=-0.2)
    batch = col.query(qs, opts)
    assert batch == [col.query(q, opts)[0] for q in qs]
    assert batch == [col.query(q[None, :], opts)[0] for q in qs]
    assert batch == col.search_batch(qs, limit=6, score_threshold=-0.2, offset=4)
    assert batch == [col.search(q, 6, None, None, False, -0.2, 4) for q in qs]
    assert col.query(np.zeros((0, DIM), np.float32), opts) == []


def test_without_payload_the_hits_carry_none(db, rng):
    col, _ = flat(db, rng, "l2")
    q = rng.standard_normal(DIM).astype(np.float32)
    plain = col.query(q, SearchOptions(limit=3))[0]
    bare = col.query(q, SearchOptions(limit=3, with_payload=False))[0]
    assert [h.payload for h in bare] == [None] * 3
    assert [(h.id, h.score) for h in bare] == [(h.id, h.score) for h in plain]
    assert all(h.payload is not None for h in plain)
    vectors = col.query(q, SearchOptions(limit=3, with_payload=False, with_vectors=True))[0]
    assert all(h.payload is None and h.vector is not None for h in vectors)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (SearchOptions(offset=-1), "offset"),
        (SearchOptions(offset=True), "offset"),
        (SearchOptions(offset=1.0), "offset"),  # type: ignore[arg-type]
        (SearchOptions(offset="2"), "offset"),  # type: ignore[arg-type]
        (SearchOptions(limit=10, offset=MAX_LIMIT - 9), "offset"),
        (SearchOptions(score_threshold=float("nan")), "score_threshold"),
        (SearchOptions(score_threshold=float("inf")), "score_threshold"),
        (SearchOptions(score_threshold=True), "score_threshold"),
        (SearchOptions(score_threshold="0.5"), "score_threshold"),  # type: ignore[arg-type]
        (SearchOptions(limit=0), "limit"),
        (SearchOptions(params={"ef": 0}), "params.ef"),
    ],
)
def test_bad_options_name_their_field(db, rng, options, field):
    col, _ = flat(db, rng, "cosine")
    q = rng.standard_normal(DIM).astype(np.float32)
    with pytest.raises(ValidationError) as caught:
        col.query(q, options)
    assert caught.value.details["field"] == field
    kwargs = {"offset": options.offset, "score_threshold": options.score_threshold}
    if field in ("offset", "score_threshold"):
        with pytest.raises(ValidationError) as again:
            col.search(q, limit=options.limit, **kwargs)
        assert again.value.details["field"] == field
        with pytest.raises(ValidationError):
            col.search_batch(np.stack([q, q]), limit=options.limit, **kwargs)


def test_deepest_allowed_page_and_integer_threshold(db, rng):
    col, _ = flat(db, rng, "dot")
    q = rng.standard_normal(DIM).astype(np.float32)
    assert len(col.search(q, limit=10, offset=MAX_LIMIT - 10)) == 0
    assert col.search(q, limit=5, score_threshold=0) == [
        h for h in col.search(q, limit=5) if h.score >= 0
    ]
    with pytest.raises(ValidationError) as caught:
        col.query(q, {"limit": 3})  # type: ignore[arg-type]
    assert caught.value.details["field"] == "options"

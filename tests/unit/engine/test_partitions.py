"""Keyword partition graphs: built for frequent values, used for $eq/$in, exact results."""

from __future__ import annotations

import numpy as np
import pytest

import vecfleet
from tests.helpers import unit_rows
from vecfleet.engine.planner import PlannerSettings

# Exact scoring made expensive and post-filtering off, so the planner must use partitions
# wherever they exist; which plan wins on real costs is the planner tests' business.
PREFER_GRAPHS = PlannerSettings(exact_row_us=10.0, postfilter_max_fetch=0)


@pytest.mark.parametrize("index", ["hnsw", "hnsw_sq8"])
def test_partition_plans_return_only_matching_points_with_high_recall(tmp_path, index):
    rng = np.random.default_rng(3)
    n = 8_000
    x = unit_rows(rng, n, 16)
    cats = rng.choice(["a", "b", "c", "d"], size=n, p=[0.6, 0.15, 0.15, 0.1]).tolist()
    with vecfleet.connect(tmp_path, durability="none") as db:
        col = db.create_collection(
            "c",
            dim=16,
            index=index,
            payload_schema={"cat": "keyword", "n": "integer"},
            partition_min_rows=500,
        )
        col._col.planner = PREFER_GRAPHS
        col.upsert(
            ids=list(range(n)), vectors=x, payloads=[{"cat": c, "n": i} for i, c in enumerate(cats)]
        )
        col.optimize()
        queries = unit_rows(rng, 40, 16)
        for flt, allowed in [
            ({"cat": "b"}, {"b"}),
            ({"cat": {"$in": ["b", "c"]}}, {"b", "c"}),
            ({"cat": "b", "n": {"$lt": 7000}}, {"b"}),
        ]:
            strategies = {p["strategy"] for p in col.explain(queries[0], filter=flt).plans}
            assert "partition" in strategies, (flt, strategies)
            hits_found = 0
            for q in queries:
                hits = col.search(q, limit=10, filter=flt)
                exact = col.search(q, limit=10, filter=flt, params={"exact": True})
                assert all(h.payload["cat"] in allowed for h in hits)
                if "n" in flt:
                    assert all(h.payload["n"] < 7000 for h in hits)
                hits_found += len({h.id for h in hits} & {h.id for h in exact})
            assert hits_found / (10 * len(queries)) >= 0.95
        # a value over partition_max_share has no graph of its own
        plans = col.explain(queries[0], filter={"cat": "a"}).plans
        assert "partition" not in {p["strategy"] for p in plans}


def test_partitions_survive_restart_and_respect_deletes(tmp_path):
    rng = np.random.default_rng(4)
    x = unit_rows(rng, 2_000, 8)
    with vecfleet.connect(tmp_path) as db:
        col = db.create_collection(
            "c", dim=8, payload_schema={"cat": "keyword"}, partition_min_rows=500
        )
        col.upsert(
            ids=list(range(2_000)),
            vectors=x,
            payloads=[{"cat": "ab"[i % 2]} for i in range(2_000)],
        )
        col.optimize()
        col.delete(ids=[0, 2, 4])
    with vecfleet.connect(tmp_path) as db:
        col = db.collection("c")
        col._col.planner = PREFER_GRAPHS
        hits = col.search(x[0], limit=5, filter={"cat": "a"})
        assert 0 not in {h.id for h in hits}
        assert all(h.id % 2 == 0 for h in hits)
        assert any(
            p["strategy"] == "partition" for p in col.explain(x[0], filter={"cat": "a"}).plans
        )


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_a_filter_that_is_one_partition_gets_a_shortcut_with_the_same_answers(tmp_path, metric):
    rng = np.random.default_rng(8)
    n = 6_000
    x = unit_rows(rng, n, 16)
    cats = rng.choice(["a", "b", "c"], size=n, p=[0.7, 0.2, 0.1]).tolist()
    with vecfleet.connect(tmp_path, durability="none") as db:
        col = db.create_collection(
            "c", dim=16, metric=metric, payload_schema={"cat": "keyword"}, partition_min_rows=500
        )
        col._col.planner = PREFER_GRAPHS
        col.upsert(ids=list(range(n)), vectors=x, payloads=[{"cat": c} for c in cats])
        col.optimize()
        for q in unit_rows(rng, 20, 16):
            for flt in ({"cat": "b"}, {"cat": {"$in": ["b", "c"]}}):
                general = col.search(q, limit=10, filter=flt, params={"ef": 64})
                for _ in range(2):  # the second {"cat": "b"} search uses the shortcut
                    fast = col.search(q, limit=10, filter=flt)
                    assert [h.id for h in fast] == [h.id for h in general]
                    np.testing.assert_allclose(
                        [h.score for h in fast], [h.score for h in general], rtol=1e-6
                    )
                    assert [h.payload for h in fast] == [h.payload for h in general]
        view = col._col.state.view
        kinds = {type(s).__name__ for s in view.shortcuts.values()}
        assert kinds == {"PartitionShortcut"}  # one partition only; $in of two goes the general way
        nearest = col.search(q, limit=10, filter={"cat": "b"})[0].id
        col.delete(ids=[nearest])  # a write retires the view and its shortcuts
        for _ in range(3):  # a partition with a tombstone is no longer exactly the filter
            assert nearest not in {h.id for h in col.search(q, limit=10, filter={"cat": "b"})}

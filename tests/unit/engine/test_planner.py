"""The planner's choices as values: each branch is reachable and picks the cheaper plan."""

from __future__ import annotations

from vecfleet.engine.planner import PlannerSettings, choose_plan, raised_ef

S = PlannerSettings()


def plan(candidates: int, rows: int = 100_000, partitions: tuple[int, ...] = (), **kw):
    args = {"restricted": True, "has_index": True, "k": 10, "ef": 64, "settings": S}
    args.update(kw)
    return choose_plan("s", rows, candidates, partitions=partitions, **args)


def test_unrestricted_search_walks_the_graph():
    assert plan(100_000, restricted=False).strategy == "ann"


def test_nothing_to_find_is_empty():
    assert plan(0).strategy == "empty"


def test_segments_without_index_are_exact():
    assert plan(50_000, has_index=False).strategy == "exact"


def test_few_candidates_are_scored_exactly():
    p = plan(1_400)
    assert p.strategy == "exact" and p.candidates == 1_400


def test_a_partition_graph_beats_a_filtered_walk_for_mid_selectivity():
    assert plan(9_500, partitions=(9_500,)).strategy == "partition"
    assert plan(9_500).strategy == "exact"  # without a partition, scoring 9.5k rows wins


def test_tombstones_only_keep_walking_the_graph():
    p = plan(99_000)
    assert p.strategy in ("ann_postfilter", "ann_filtered")
    assert p.ef >= 64 and (p.strategy != "ann_postfilter" or p.fetch >= 10)


def test_mid_selectivity_without_partition_on_large_segments_walks_the_graph():
    p = plan(200_000, rows=1_000_000)
    assert p.strategy in ("ann_filtered", "ann_postfilter")
    assert p.ef > 64


def test_raised_ef_grows_as_selectivity_falls_and_is_capped():
    assert raised_ef(64, 10, 1.0, 2048) == 64
    assert raised_ef(64, 10, 0.5, 2048) == 128
    assert raised_ef(64, 10, 0.001, 2048) == 2048
    assert raised_ef(64, 100, 0.9, 2048) >= 100


def test_plans_explain_themselves():
    d = plan(1_400).to_dict()
    assert d["strategy"] == "exact" and d["selectivity"] == 0.014

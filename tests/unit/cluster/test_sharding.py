"""Shard maps: jump hash properties, stable ids, key routing and conservative pruning.

The pruning property checks ``shards_for_filter`` against the engine's own filter
evaluation: whatever the engine says matches must live on a shard the router visits.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecfleet.cluster.sharding import MAX_SHARDS, ShardMap, jump_hash, stable_key
from vecfleet.engine.filter import evaluate, parse_filter
from vecfleet.engine.payload import PayloadColumns, PayloadSchema, validate_payloads
from vecfleet.errors import ValidationError

# --- jump hash -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "buckets", "bucket"),
    [  # vectors published with other implementations (ClickHouse, rust and python ports)
        (1, 1, 0),
        (42, 57, 43),
        (256, 1024, 520),
        (0xDEAD10CC, 1, 0),
        (0xDEAD10CC, 666, 361),
        (16045690984833335023, 255, 237),
        (0, 60, 0),
        (1, 60, 55),
        (2, 60, 46),
    ],
)
def test_jump_hash_matches_the_reference_implementation(
    key: int, buckets: int, bucket: int
) -> None:
    assert jump_hash(key, buckets) == bucket


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(1, 10_000))
def test_jump_hash_stays_in_range_and_is_deterministic(key: int, buckets: int) -> None:
    bucket = jump_hash(key, buckets)
    assert 0 <= bucket < buckets
    assert jump_hash(key, buckets) == bucket


def test_jump_hash_refuses_zero_buckets() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        jump_hash(7, 0)


def test_growing_by_one_bucket_moves_about_one_key_in_n_plus_one() -> None:
    keys = [stable_key(f"point-{i}") for i in range(10_000)]
    before = [jump_hash(k, 1) for k in keys]
    for n in range(1, 21):
        after = [jump_hash(k, n + 1) for k in keys]
        moved = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
        # Keys only ever move to the new bucket, and about 1/(n + 1) of them do.
        assert {new for _, new in moved} <= {n}
        assert abs(len(moved) / len(keys) - 1 / (n + 1)) < 0.02, n
        before = after


def test_100k_ids_spread_evenly_over_shards() -> None:
    shards = 8
    ids: list[str | int] = [f"incident-{i}" for i in range(50_000)]
    ids += list(range(50_000))
    shard_map = ShardMap("hash", shards)
    counts = Counter(shard_map.shard_of(point_id) for point_id in ids)
    mean = len(ids) / shards
    assert sorted(counts) == list(range(shards))
    assert max(abs(count - mean) / mean for count in counts.values()) < 0.03


# --- stable ids ----------------------------------------------------------------------


def test_string_and_integer_ids_are_distinct() -> None:
    keys = {stable_key("a"), stable_key(1), stable_key("1"), stable_key(-1), stable_key("")}
    assert len(keys) == 5


def test_stable_key_is_pinned() -> None:
    # Changing the encoding would move every point of every existing cluster.
    assert stable_key("a") == 203481414596944432
    assert stable_key(1) == 16249564163898617599


def _keys_in_subprocess(seed: str) -> list[int]:
    code = (
        "from vecfleet.cluster.sharding import stable_key;"
        "print(stable_key('a'), stable_key(1), stable_key('é'), stable_key(2**63 - 1))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return [int(word) for word in out.stdout.split()]


def test_stable_key_is_the_same_in_every_process() -> None:
    here = [stable_key("a"), stable_key(1), stable_key("é"), stable_key(2**63 - 1)]
    assert _keys_in_subprocess("1") == here
    assert _keys_in_subprocess("2") == here


@pytest.mark.parametrize("bad", [True, 1.5, None, b"a", ("a",)])
def test_stable_key_refuses_ids_that_are_not_strings_or_integers(bad: Any) -> None:
    with pytest.raises(ValidationError, match="strings or integers"):
        stable_key(bad)


# --- the map as a value --------------------------------------------------------------


def test_map_round_trips_through_json() -> None:
    shard_map = ShardMap("key", 4, "industry", {"Healthcare": 3, "Finance": 0})
    assert ShardMap.from_json(shard_map.to_json()) == shard_map
    assert ShardMap.from_json(ShardMap("hash", 2).to_json()) == ShardMap("hash", 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"kind": "range", "shards": 2}', "invalid shard map"),
        (b'{"kind": "hash", "shards": "2"}', "invalid shard map"),
        (b'{"kind": "hash", "shards": 2, "replicas": 3}', "unknown field"),
        (b'{"kind": "hash", "shards": 0}', "shards must be in"),
    ],
)
def test_malformed_maps_are_validation_errors(text: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ShardMap.from_json(text)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "hash", "shards": 0}, "shards must be in"),
        ({"kind": "hash", "shards": MAX_SHARDS + 1}, "shards must be in"),
        ({"kind": "hash", "shards": 2, "field": "industry"}, "takes no field"),
        ({"kind": "key", "shards": 2}, "needs the payload field"),
        ({"kind": "key", "shards": 2, "field": "f", "key_map": {"a": 2}}, "shards are 0..1"),
    ],
)
def test_inconsistent_maps_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ShardMap(**kwargs)


def test_key_field_must_be_keyword_or_undeclared() -> None:
    shard_map = ShardMap("key", 2, "industry")
    shard_map.check_schema({"industry": "keyword", "date": "datetime"})
    shard_map.check_schema({"date": "datetime"})
    with pytest.raises(ValidationError, match="must be declared keyword"):
        shard_map.check_schema({"industry": "datetime"})


# --- routing -------------------------------------------------------------------------

KEYED = ShardMap("key", 4, "industry", {"Healthcare": 3, "Finance": 3, "Energy": 0})


def test_key_sharding_routes_by_the_field() -> None:
    assert KEYED.shard_of("p1", {"industry": "Healthcare"}) == 3
    assert KEYED.shard_of(2, {"industry": "Energy", "x": 1}) == 0
    unmapped = KEYED.shard_of("p3", {"industry": "Retail"})
    assert unmapped == jump_hash(stable_key("Retail"), 4)
    # The id does not matter, only the value.
    assert {KEYED.shard_of(i, {"industry": "Retail"}) for i in range(50)} == {unmapped}


@pytest.mark.parametrize("payload", [None, {}, {"industry": None}, {"other": "Healthcare"}])
def test_a_point_without_the_key_is_refused(payload: dict[str, Any] | None) -> None:
    with pytest.raises(ValidationError, match="required by the collection's sharding"):
        KEYED.shard_of("p1", payload)


@pytest.mark.parametrize("value", [1, True, ["Healthcare"], {"a": 1}])
def test_a_key_that_is_not_one_string_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match="must be a single string"):
        KEYED.shard_of("p1", {"industry": value})


def test_group_ids_by_hash_keeps_input_order() -> None:
    shard_map = ShardMap("hash", 3)
    ids: list[str | int] = ["a", 1, "1", "b", 2, "c"]
    groups = shard_map.group_ids(ids)
    assert sorted(map(str, (i for group in groups.values() for i in group))) == sorted(
        map(str, ids)
    )
    for shard, group in groups.items():
        assert group == [i for i in ids if i in group]  # input order
        assert all(shard_map.shard_of(i) == shard for i in group)


def test_group_ids_by_key_uses_payloads_or_visits_every_shard() -> None:
    ids = ["a", "b", "c"]
    payloads = [{"industry": "Healthcare"}, {"industry": "Energy"}, {"industry": "Finance"}]
    assert KEYED.group_ids(ids, payloads) == {3: ["a", "c"], 0: ["b"]}
    by_id_alone = KEYED.group_ids(ids)
    assert by_id_alone == {shard: ["a", "b", "c"] for shard in range(4)}
    by_id_alone[0].append("z")  # each shard's list is its own
    assert by_id_alone[1] == ["a", "b", "c"]
    assert KEYED.group_ids([]) == {}
    with pytest.raises(ValidationError, match="pair up"):
        KEYED.group_ids(ids, payloads[:2])


ALL = [0, 1, 2, 3]
RETAIL = jump_hash(stable_key("Retail"), 4)


@pytest.mark.parametrize(
    ("flt", "shards"),
    [
        (None, ALL),
        ({}, ALL),
        ({"industry": "Healthcare"}, [3]),
        ({"industry": {"$eq": "Energy"}}, [0]),
        ({"industry": {"$in": ["Energy", "Finance"]}}, [0, 3]),
        ({"industry": {"$in": ["Energy", "Retail"]}}, sorted({0, RETAIL})),
        ({"industry": "Healthcare", "severity": {"$gte": 3}}, [3]),
        ({"$and": [{"severity": 1}, {"industry": "Energy"}]}, [0]),
        ({"$and": [{"$and": [{"industry": {"$in": ["Energy", "Finance"]}}]}]}, [0, 3]),
        ({"industry": {"$in": ["Energy", "Finance"], "$eq": "Finance"}}, [3]),
        ({"industry": "Energy", "$and": [{"industry": {"$in": ["Energy", "Retail"]}}]}, [0]),
        ({"industry": "Energy", "$or": [{"x": 1}, {"y": 2}]}, [0]),
        ({"industry": "Energy", "$not": {"industry": "Energy"}}, [0]),  # prunes; no match
        # Contradictions match nothing; the nodes still see (and validate) the filter.
        ({"$and": [{"industry": "Energy"}, {"industry": "Healthcare"}]}, ALL),
        ({"industry": {"$in": []}}, ALL),
        # Shapes that do not pin the field visit every shard.
        ({"$or": [{"industry": "Energy"}, {"industry": "Finance"}]}, ALL),
        ({"industry": {"$ne": "Energy"}}, ALL),
        ({"industry": {"$nin": ["Energy"]}}, ALL),
        ({"industry": {"$not": {"$eq": "Energy"}}}, ALL),
        ({"$not": {"industry": "Energy"}}, ALL),
        ({"industry": {"$gte": "E", "$lt": "F"}}, ALL),
        ({"industry": {"$exists": True}}, ALL),
        ({"industry": None}, ALL),
        ({"industry": {"$in": ["Energy", None]}}, ALL),
        ({"industry": 3}, ALL),
        ({"severity": "Energy"}, ALL),
        ({"$and": "Energy"}, ALL),  # malformed: the nodes report it
    ],
)
def test_filters_pinning_the_key_visit_only_its_shards(
    flt: dict[str, Any] | None, shards: list[int]
) -> None:
    assert KEYED.shards_for_filter(flt) == shards


def test_hash_sharding_never_prunes() -> None:
    assert ShardMap("hash", 3).shards_for_filter({"industry": "Energy"}) == [0, 1, 2]


# --- pruning never loses a match (engine as the oracle) ------------------------------

KEYS = ["Energy", "Finance", "Healthcare", "Retail", "a", "b"]
OPERAND = st.sampled_from([*KEYS, "E", "Z"])
NULLABLE = st.none() | OPERAND


def industry_condition() -> st.SearchStrategy[Any]:
    ops: dict[str, st.SearchStrategy[Any]] = {
        "$eq": NULLABLE,
        "$ne": NULLABLE,
        "$in": st.lists(NULLABLE, max_size=4),
        "$nin": st.lists(NULLABLE, max_size=4),
        "$gt": OPERAND,
        "$gte": OPERAND,
        "$lt": OPERAND,
        "$lte": OPERAND,
        "$exists": st.booleans(),
    }
    # One branch per operator: hypothesis leans towards early choices, so drawing a set
    # of operator names would rarely reach ``$ne`` or ``$nin``.
    single = st.one_of(*(operand.map(lambda v, op=op: {op: v}) for op, operand in ops.items()))
    objects = st.recursive(
        single,
        lambda inner: st.one_of(
            inner.map(lambda obj: {"$not": obj}),
            st.tuples(inner, inner).map(lambda pair: {**pair[0], **pair[1]}),
        ),
        max_leaves=3,
    )
    return st.one_of(NULLABLE, objects, objects)


def filters() -> st.SearchStrategy[dict[str, Any]]:
    """Any nesting, with conjunctions of leaves drawn often: they are what prunes."""
    leaf = st.one_of(
        industry_condition().map(lambda cond: {"industry": cond}),
        industry_condition().map(lambda cond: {"industry": cond}),
        st.sampled_from(["low", "high"]).map(lambda sev: {"sev": sev}),
    )

    def combine(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
        listed = st.lists(children, min_size=1, max_size=3)
        return st.one_of(
            listed.map(lambda fs: {"$and": fs}),
            listed.map(lambda fs: {"$or": fs}),
            children.map(lambda f: {"$not": f}),
            st.tuples(children, children).map(lambda pair: {**pair[0], **pair[1]}),
        )

    nested = st.recursive(leaf, combine, max_leaves=6)
    parts = st.lists(st.one_of(leaf, leaf, nested), min_size=1, max_size=3)
    return st.one_of(
        nested,
        parts.map(lambda fs: {"$and": fs}),
        parts.map(lambda fs: {key: cond for f in fs for key, cond in f.items()}),
    )


# Every payload the domain allows, so "every match" means every possible point.
EVERY_PAYLOAD: list[dict[str, Any]] = [
    {"industry": key, **extra}
    for key in KEYS
    for extra in ({}, {"sev": "low"}, {"sev": "high"}, {"sev": None})
]


def assert_no_match_is_lost(shard_map: ShardMap, flt: dict[str, Any], declare: bool) -> None:
    schema = PayloadSchema({"industry": "keyword"} if declare else {})
    columns = PayloadColumns(schema)
    columns.append(validate_payloads(schema, EVERY_PAYLOAD, len(EVERY_PAYLOAD)))
    matches = evaluate(parse_filter(flt, schema), columns)

    visited = shard_map.shards_for_filter(flt)

    assert visited and visited == sorted(set(visited))
    for row, payload in enumerate(EVERY_PAYLOAD):
        if matches[row]:
            assert shard_map.shard_of(f"p{row}", payload) in visited, (payload, flt, visited)


MAPS = [
    ShardMap("key", 2, "industry"),
    ShardMap("key", 5, "industry"),
    ShardMap("key", 4, "industry", {"Energy": 0, "Finance": 1, "Healthcare": 2, "Retail": 3}),
]
VALUES: list[Any] = [*KEYS, "E", "Z", None]
LISTS: list[list[Any]] = [[], *([v] for v in VALUES), *itertools.combinations(VALUES, 2)]
SINGLE_CONDITIONS: list[Any] = [
    *VALUES,
    *({op: v} for op in ("$eq", "$ne") for v in VALUES),
    *({op: v} for op in ("$gt", "$gte", "$lt", "$lte") for v in VALUES if v is not None),
    *({op: list(vs)} for op in ("$in", "$nin") for vs in LISTS),
    {"$exists": True},
    {"$exists": False},
]


@pytest.mark.parametrize("shard_map", MAPS, ids=["2", "5", "4-pinned"])
def test_no_single_condition_loses_a_match(shard_map: ShardMap) -> None:
    for cond in SINGLE_CONDITIONS:
        negated = [{"$not": cond}] if isinstance(cond, dict) else []
        for flt_cond in [cond, *negated]:
            for flt in ({"industry": flt_cond}, {"$not": {"industry": flt_cond}}):
                assert_no_match_is_lost(shard_map, flt, declare=True)
                assert_no_match_is_lost(shard_map, flt, declare=False)


@st.composite
def keyed_maps(draw: st.DrawFn) -> ShardMap:
    shards = draw(st.integers(2, 8))
    pinned = draw(st.dictionaries(st.sampled_from(KEYS), st.integers(0, shards - 1)))
    return ShardMap("key", shards, "industry", pinned)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keyed_maps(), filters(), st.booleans())
def test_every_match_lives_on_a_visited_shard(
    shard_map: ShardMap, flt: dict[str, Any], declare: bool
) -> None:
    assert_no_match_is_lost(shard_map, flt, declare)

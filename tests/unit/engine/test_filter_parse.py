"""Filter parsing: every error with its JSON path, and the canonical form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vecfleet.engine.filter import (
    And,
    Compare,
    Exists,
    In,
    Instant,
    Not,
    canonical_filter,
    filter_fields,
    parse_filter,
)
from vecfleet.engine.payload import PayloadSchema
from vecfleet.errors import FilterError, ValidationError

SCHEMA = PayloadSchema(
    {
        "industry": "keyword",
        "severity": "keyword",
        "date": "datetime",
        "n": "integer",
        "x": "float",
        "ok": "bool",
    }
)
FIELD_OPS = "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists, $not"

ERRORS: list[tuple[Any, str, str]] = [
    ([], "$", "expected a filter object, got list"),
    ("industry", "$", "expected a filter object, got string"),
    ({"$foo": 1}, "$.$foo", "allowed: $and, $or, $not or a field name"),
    ({"$eq": 1}, "$.$eq", "unknown operator '$eq' at filter level"),
    ({5: 1}, "$", "filter keys must be strings"),
    ({"date": {"$gte": "yesterday"}}, "$.date.$gte", "'yesterday' is not an ISO-8601 date"),
    ({"date": 20200101}, "$.date", "declared datetime; $eq needs an ISO-8601 date string"),
    ({"severity": {"$in": ["high", "critical", 3]}}, "$.severity.$in[2]", "declared keyword"),
    (
        {"$or": [{"industry": "a"}, {"severity": {"$in": ["high", True]}}]},
        "$.$or[1].severity.$in[1]",
        "needs a string, got bool True",
    ),
    ({"$and": []}, "$.$and", "$and needs a non-empty list of filters"),
    ({"$or": []}, "$.$or", "$or needs a non-empty list of filters"),
    ({"$or": {"industry": "a"}}, "$.$or", "$or needs a non-empty list"),
    ({"$and": [{"industry": "a"}, 5]}, "$.$and[1]", "expected a filter object, got number"),
    ({"$not": [{"industry": "a"}]}, "$.$not", "expected a filter object, got list"),
    ({"severity": {"$in": "high"}}, "$.severity.$in", "$in needs a list of values, got string"),
    ({"severity": {"$nin": None}}, "$.severity.$nin", "$nin needs a list of values, got null"),
    ({"industry": {"$exists": 1}}, "$.industry.$exists", "$exists needs true or false"),
    ({"industry": {"$regex": "^H"}}, "$.industry.$regex", f"allowed: {FIELD_OPS}"),
    ({"industry": {"$or": []}}, "$.industry.$or", "unknown operator '$or' for field"),
    ({"industry": {"sub": 1}}, "$.industry.sub", "unknown operator 'sub'"),
    ({"industry": {}}, "$.industry", "empty operator object"),
    ({"industry": 5}, "$.industry", "declared keyword; $eq needs a string, got number 5"),
    ({"industry": {"$gt": 5}}, "$.industry.$gt", "declared keyword"),
    ({"n": "5"}, "$.n", "declared integer; $eq needs a number"),
    ({"n": True}, "$.n", "declared integer"),
    ({"n": {"$gt": 2**1100}}, "$.n.$gt", "out of range"),
    ({"x": {"$lt": "big"}}, "$.x.$lt", "declared float"),
    ({"x": {"$ne": False}}, "$.x.$ne", "declared float"),
    ({"ok": {"$gt": True}}, "$.ok.$gt", "$gt does not apply to bool field 'ok'"),
    ({"ok": {"$lte": False}}, "$.ok.$lte", "does not apply to bool"),
    ({"ok": "yes"}, "$.ok", "declared bool; $eq needs true or false"),
    ({"ok": 1}, "$.ok", "declared bool"),
    ({"u": [1, 2]}, "$.u", "comparison values must be JSON scalars"),
    ({"u": {"$eq": {"a": 1}}}, "$.u.$eq", "must be JSON scalars"),
    ({"u": {"$in": [1, [2]]}}, "$.u.$in[1]", "must be JSON scalars"),
    ({"u": {"$gt": None}}, "$.u.$gt", "$gt needs a number or a string, got null"),
    ({"u": {"$gte": True}}, "$.u.$gte", "$gte needs a number or a string, got bool"),
    ({"u": {"$eq": float("nan")}}, "$.u.$eq", "not a finite number"),
    ({"u": {"$lt": float("-inf")}}, "$.u.$lt", "not a finite number"),
    ({"u": {"$not": 5}}, "$.u.$not", "field-level $not needs an operator object"),
    ({"u": {"$not": {}}}, "$.u.$not", "empty operator object"),
    ({"u": {"$not": {"$foo": 1}}}, "$.u.$not.$foo", "unknown operator '$foo'"),
    ({"$not": {"$or": [{"n": {"$lt": "x"}}]}}, "$.$not.$or[0].n.$lt", "declared integer"),
    ({"odd key": {"$bad": 1}}, '$["odd key"].$bad', "unknown operator '$bad'"),
    ({"a": {"$in": [1, {"b": 2}]}, "b": 1}, "$.a.$in[1]", "JSON scalars"),
]


@pytest.mark.parametrize(("raw", "path", "message"), ERRORS, ids=[e[1] for e in ERRORS])
def test_filter_errors_carry_their_path(raw: Any, path: str, message: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse_filter(raw, SCHEMA)
    error = caught.value
    assert error.path == path
    assert message in error.message
    assert error.message.endswith(f"(at {path})")
    assert error.code == "invalid_filter"
    assert error.details["path"] == path
    assert isinstance(error, ValidationError)


@pytest.mark.parametrize("raw", [None, {}, {"$and": [{}]}, {"$or": [{}, {"n": 1}]}])
def test_match_all_filters_parse_to_none(raw: Any) -> None:
    assert parse_filter(raw, SCHEMA) is None
    assert canonical_filter(parse_filter(raw, SCHEMA)) == "{}"


def test_parse_builds_typed_nodes() -> None:
    node = parse_filter(
        {
            "industry": "Healthcare",
            "severity": {"$in": ["high", "critical", "high"]},
            "date": {"$gte": "2020-01-01"},
            "n": {"$lt": 5.0, "$not": {"$eq": 2}},
            "x": 1,
            "u": {"$exists": False},
        },
        SCHEMA,
    )
    assert node == And(
        (
            Compare("industry", "$eq", "Healthcare"),
            In("severity", ("critical", "high")),
            Compare("date", "$gte", Instant(1_577_836_800_000_000)),
            Compare("n", "$lt", 5),
            Not(Compare("n", "$eq", 2)),
            Compare("x", "$eq", 1.0),
            Exists("u", False),
        )
    )
    assert isinstance(node, And)
    assert type(node.children[5].value) is float  # type: ignore[union-attr]
    assert filter_fields(node) == {"industry", "severity", "date", "n", "x", "u"}


def test_nodes_are_hashable_values() -> None:
    raw = {"severity": {"$in": ["a", "b"]}, "$or": [{"n": {"$gt": 1}}, {"date": "2020-01-01"}]}
    first, second = parse_filter(raw, SCHEMA), parse_filter(raw, SCHEMA)
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second}) == 1


def test_canonical_text_of_the_users_example() -> None:
    node = parse_filter(
        {
            "industry": "Healthcare",
            "severity": {"$in": ["high", "critical"]},
            "date": {"$gte": "2020-01-01"},
        },
        SCHEMA,
    )
    assert canonical_filter(node) == (
        '{"$and":[{"date":{"$gte":"2020-01-01T00:00:00Z"}},'
        '{"industry":{"$eq":"Healthcare"}},'
        '{"severity":{"$in":["critical","high"]}}]}'
    )


SAME: list[tuple[Any, Any]] = [
    ({"industry": "a", "severity": "b"}, {"severity": "b", "industry": "a"}),
    ({"n": {"$gt": 1, "$lt": 5}}, {"$and": [{"n": {"$lt": 5}}, {"n": {"$gt": 1}}]}),
    ({"$and": [{"a": 1}, {"$and": [{"b": 2}, {"c": 3}]}]}, {"c": 3, "b": 2, "a": 1}),
    ({"$and": [{"a": 1}, {"a": 1}]}, {"a": 1}),
    ({"$and": [{}, {"a": 1}]}, {"a": 1}),
    ({"severity": {"$in": ["b", "a", "b"]}}, {"severity": {"$in": ["a", "b"]}}),
    ({"severity": {"$in": ["a"]}}, {"severity": "a"}),
    ({"severity": {"$nin": ["a", "a"]}}, {"severity": {"$ne": "a"}}),
    ({"$not": {"severity": "a"}}, {"severity": {"$ne": "a"}}),
    ({"severity": {"$not": {"$eq": "a"}}}, {"severity": {"$ne": "a"}}),
    ({"$not": {"severity": {"$in": ["a", "b"]}}}, {"severity": {"$nin": ["b", "a"]}}),
    ({"$not": {"$not": {"a": 1}}}, {"a": 1}),
    ({"$not": {"a": {"$exists": True}}}, {"a": {"$exists": False}}),
    ({"date": {"$gte": "2020-01-01"}}, {"date": {"$gte": "2020-01-01T02:00:00+02:00"}}),
    ({"date": "2020-01-01T10:00:00"}, {"date": "2020-01-01T10:00:00Z"}),
    ({"n": 3.0}, {"n": 3}),
    ({"x": 3}, {"x": 3.0}),
    ({"x": -0.0}, {"x": 0}),
    ({"u": 2.0}, {"u": 2}),
    ({"u": {"$in": [1, 1.0, 2]}}, {"u": {"$in": [2, 1]}}),
    ({"$or": [{"a": 1}, {"a": 1}]}, {"a": 1}),
    ({"$or": [{"a": 1}, {"b": 2}]}, {"$or": [{"b": 2}, {"a": 1}]}),
    ({"$or": [{"a": 1}, {"$or": [{"b": 2}, {"c": 3}]}]}, {"$or": [{"c": 3}, {"b": 2}, {"a": 1}]}),
    ({"$or": [{"a": 1}, {"$not": {}}]}, {"a": 1}),
    ({"$and": [{"a": 1}, {"$not": {}}]}, {"$not": {}}),
    ({"u": {"$in": []}}, {"$not": {}}),
    ({"u": {"$nin": []}, "a": 1}, {"a": 1}),
    ({"$not": {"$or": [{"a": 1}, {"b": 1}]}}, {"$not": {"$or": [{"b": 1}, {"a": 1}]}}),
]


@pytest.mark.parametrize(("left", "right"), SAME)
def test_equal_filters_have_equal_canonical_text(left: Any, right: Any) -> None:
    assert canonical_filter(parse_filter(left, SCHEMA)) == canonical_filter(
        parse_filter(right, SCHEMA)
    )


DIFFERENT: list[tuple[Any, Any]] = [
    ({"u": 1}, {"u": True}),
    ({"u": 1}, {"u": "1"}),
    ({"u": 1}, {"u": 1.5}),
    ({"u": None}, {"u": {"$exists": True}}),
    ({"a": 1}, {"b": 1}),
    ({"n": {"$gt": 1}}, {"n": {"$gte": 1}}),
    ({"$or": [{"a": 1}, {"b": 2}]}, {"a": 1, "b": 2}),
]


@pytest.mark.parametrize(("left", "right"), DIFFERENT)
def test_different_filters_have_different_canonical_text(left: Any, right: Any) -> None:
    assert canonical_filter(parse_filter(left, SCHEMA)) != canonical_filter(
        parse_filter(right, SCHEMA)
    )


@pytest.mark.parametrize("raw", [left for left, _ in SAME + DIFFERENT])
def test_canonical_text_is_a_filter_with_the_same_canonical_text(raw: Any) -> None:
    text = canonical_filter(parse_filter(raw, SCHEMA))
    assert canonical_filter(parse_filter(json.loads(text), SCHEMA)) == text


def test_filter_fields() -> None:
    assert filter_fields(None) == set()
    node = parse_filter({"$or": [{"a": 1}, {"$not": {"b": {"$gt": 2}}}], "c": None}, SCHEMA)
    assert filter_fields(node) == {"a", "b", "c"}

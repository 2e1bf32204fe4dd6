"""Filters against an independent row-by-row evaluator of the raw filter documents.

The oracle below reads the filter as the user wrote it (no parser, no columns) and
applies the documented semantics to each payload dict, so a disagreement points at the
parser, the canonical form, the columns or the vectorised evaluator.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vecfleet.engine.filter import canonical_filter, evaluate, parse_filter
from vecfleet.engine.payload import PayloadColumns, PayloadSchema, validate_payloads

DECLARABLE = {"kw": "keyword", "n": "integer", "x": "float", "d": "datetime", "b": "bool"}
FIELDS = [*DECLARABLE, "u"]  # "u" is never declared

KEYWORDS = ["", "a", "ab", "b", "B", "Healthcare", "é", "a\x00"]
DATES = [
    "2020-01-01",
    "2020-01-01T00:00:00Z",
    "2020-01-01T01:00:00+01:00",
    "2019-12-31T23:59:59.999999",
    "2020-01-02T10:00:00-05:00",
    "1969-07-20T20:17:40Z",
]
BIG = [2**62, -(2**63), 2**63 - 1]

# Values a payload may hold for each declared type (floats kept exact in float64).
TYPED_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "keyword": st.sampled_from(KEYWORDS),
    "integer": st.integers(-3, 3) | st.sampled_from(BIG),
    "float": st.integers(-3, 3) | st.sampled_from([-1.5, 0.0, -0.0, 0.5, 2.0, 2.5, 1e300]),
    "datetime": st.sampled_from(DATES),
    "bool": st.booleans(),
}
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.0, -0.0, 1e300]),
    st.sampled_from(KEYWORDS + DATES),
)
JSON_VALUES = st.one_of(
    JSON_SCALARS,
    st.lists(JSON_SCALARS, max_size=3),
    st.just({"k": 1}),
)

# Operands a filter may use for each declared type.
TYPED_OPERANDS: dict[str, st.SearchStrategy[Any]] = {
    "keyword": st.sampled_from([*KEYWORDS, "aa", "Z", "zz"]),
    "integer": st.integers(-4, 4)
    | st.sampled_from([2.0, 2.5, -0.5, 1e19, -1e19, 2**70, *BIG, 2**62 + 0.0, 2**63 - 2]),
    "float": st.integers(-3, 3) | st.sampled_from([-1.5, 0.0, 0.5, 2.0, 2.25, 1e300, -1e300]),
    "datetime": st.sampled_from([*DATES, "2020-01-01T00:00:00.000001Z", "1970-01-01"]),
    "bool": st.booleans(),
}
UNDECLARED_OPERANDS = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.0, 1e300]),
    st.sampled_from(KEYWORDS + DATES[:2]),
)
RANGE_OPS = ["$gt", "$gte", "$lt", "$lte"]
PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


# --- the oracle ---------------------------------------------------------------------


def holds(flt: dict[str, Any], payload: dict[str, Any], schema: dict[str, str]) -> bool:
    for key, cond in flt.items():
        if key == "$and":
            ok = all(holds(sub, payload, schema) for sub in cond)
        elif key == "$or":
            ok = any(holds(sub, payload, schema) for sub in cond)
        elif key == "$not":
            ok = not holds(cond, payload, schema)
        else:
            ok = field_holds(payload.get(key), cond, schema.get(key))
        if not ok:
            return False
    return True


def field_holds(value: Any, cond: Any, kind: str | None) -> bool:
    if isinstance(cond, dict):
        return all(op_holds(value, op, arg, kind) for op, arg in cond.items())
    return op_holds(value, "$eq", cond, kind)


def op_holds(value: Any, op: str, arg: Any, kind: str | None) -> bool:
    if op == "$not":
        return not field_holds(value, arg, kind)
    if op == "$exists":
        return (value is not None) == arg
    if op in ("$eq", "$ne"):
        return equals(value, arg, kind) == (op == "$eq")
    if op in ("$in", "$nin"):
        return any(equals(value, a, kind) for a in arg) == (op == "$in")
    if value is None:
        return False
    if kind == "datetime":
        return PY_OPS[op](instant(value), instant(arg))
    if same_kind(value, arg):
        return PY_OPS[op](value, arg)
    return False


def equals(value: Any, arg: Any, kind: str | None) -> bool:
    if arg is None or value is None:
        return arg is None and value is None
    if kind == "datetime":
        return instant(value) == instant(arg)
    if kind is None and isinstance(value, list):
        return any(same_kind(item, arg) and item == arg for item in value)
    return same_kind(value, arg) and value == arg


def same_kind(a: Any, b: Any) -> bool:
    def kind_of(v: Any) -> str:
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        return type(v).__name__

    return kind_of(a) == kind_of(b) and kind_of(a) in ("bool", "number", "str")


def instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- generators ---------------------------------------------------------------------


def payloads_for(
    schema: dict[str, str], fields: list[str] = FIELDS
) -> st.SearchStrategy[list[dict[str, Any]]]:
    def value(field: str) -> st.SearchStrategy[Any]:
        if field in schema:
            return st.none() | TYPED_VALUES[schema[field]]
        typed = TYPED_VALUES[DECLARABLE[field]] if field in DECLARABLE else JSON_VALUES
        return typed | JSON_VALUES

    row = st.fixed_dictionaries({}, optional={field: value(field) for field in fields})
    return st.lists(row, min_size=8, max_size=40)


def operators(field: str, schema: dict[str, str]) -> dict[str, st.SearchStrategy[Any]]:
    """Operand strategies of every field operator (but ``$not``) valid for ``field``."""
    kind = schema.get(field)
    operand = TYPED_OPERANDS[kind] if kind else UNDECLARED_OPERANDS
    eq_operand = st.none() | operand
    if kind is None:
        range_operand = UNDECLARED_OPERANDS.filter(lambda v: not isinstance(v, bool))
    else:
        range_operand = operand
    ops: dict[str, st.SearchStrategy[Any]] = {
        "$eq": eq_operand,
        "$ne": eq_operand,
        "$in": st.lists(eq_operand, max_size=4),
        "$nin": st.lists(eq_operand, max_size=4),
        "$exists": st.booleans(),
    }
    if kind != "bool":
        ops.update(dict.fromkeys(RANGE_OPS, range_operand))
    return ops


def condition(field: str, schema: dict[str, str]) -> st.SearchStrategy[Any]:
    ops = operators(field, schema)

    def op_objects(depth: int) -> st.SearchStrategy[dict[str, Any]]:
        names = [*ops, "$not"] if depth < 2 else list(ops)

        def values(keys: set[str]) -> st.SearchStrategy[dict[str, Any]]:
            return st.fixed_dictionaries(
                {op: op_objects(depth + 1) if op == "$not" else ops[op] for op in keys}
            )

        one = st.sampled_from(names).map(lambda op: {op})
        several = st.sets(st.sampled_from(names), min_size=2, max_size=3)
        return st.one_of(one, one, several).flatmap(values)

    # Mostly operator objects: the scalar form is only $eq.
    return st.integers(0, 3).flatmap(lambda pick: op_objects(0) if pick else ops["$eq"])


def filters(schema: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.sampled_from(FIELDS).flatmap(
        lambda field: condition(field, schema).map(lambda cond: {field: cond})
    )

    def combine(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
        listed = st.lists(children, min_size=1, max_size=3)
        return st.one_of(
            listed.map(lambda fs: {"$and": fs}),
            listed.map(lambda fs: {"$or": fs}),
            children.map(lambda f: {"$not": f}),
            st.tuples(children, children).map(lambda pair: {**pair[0], **pair[1]}),
        )

    return st.recursive(leaf, combine, max_leaves=8)


schemas = st.sets(st.sampled_from(sorted(DECLARABLE))).map(
    lambda names: {name: DECLARABLE[name] for name in names}
)


def build(schema: PayloadSchema, payloads: list[dict[str, Any]], split: int) -> PayloadColumns:
    columns = PayloadColumns(schema)
    checked = validate_payloads(schema, payloads, len(payloads))
    columns.append(checked[:split])
    columns.append(checked[split:])
    return columns


def oracle(flt: dict[str, Any], payloads: list[dict[str, Any]], schema: dict[str, str]) -> Any:
    return np.array([holds(flt, p, schema) for p in payloads], dtype=np.bool_)


# --- properties ---------------------------------------------------------------------

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data())
def test_evaluate_matches_the_oracle(data: st.DataObject) -> None:
    declared = data.draw(schemas, label="schema")
    schema = PayloadSchema(declared)
    payloads = data.draw(payloads_for(declared), label="payloads")
    flt = data.draw(filters(declared), label="filter")
    columns = build(schema, payloads, data.draw(st.integers(0, len(payloads))))

    mask = evaluate(parse_filter(flt, schema), columns)

    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, oracle(flt, payloads, declared))


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_each_operator_matches_the_oracle(data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(FIELDS), label="field")
    declared = (
        {field: DECLARABLE[field]} if field in DECLARABLE and data.draw(st.booleans()) else {}
    )
    schema = PayloadSchema(declared)
    ops = operators(field, declared)
    op = data.draw(st.sampled_from(sorted(ops)), label="op")
    cond = {op: data.draw(ops[op], label="operand")}
    flt = {field: data.draw(st.sampled_from([cond, {"$not": cond}]), label="condition")}
    payloads = data.draw(payloads_for(declared, [field]), label="payloads")

    mask = evaluate(parse_filter(flt, schema), build(schema, payloads, len(payloads) // 2))

    np.testing.assert_array_equal(mask, oracle(flt, payloads, declared))


@SETTINGS
@given(st.data())
def test_merged_segments_answer_like_the_rows_they_hold(data: st.DataObject) -> None:
    declared = data.draw(schemas, label="schema")
    schema = PayloadSchema(declared)
    first = data.draw(payloads_for(declared), label="first")
    second = data.draw(payloads_for(declared), label="second")
    flt = data.draw(filters(declared), label="filter")
    keep_first = data.draw(st.permutations(range(len(first))).map(list), label="keep_first")
    keep_second = data.draw(
        st.lists(st.sampled_from(range(len(second))), max_size=10) if second else st.just([]),
        label="keep_second",
    )
    merged = PayloadColumns.concat(
        [build(schema, first, 0).take(keep_first), build(schema, second, 0).take(keep_second)]
    )
    rows = [first[i] for i in keep_first] + [second[i] for i in keep_second]

    np.testing.assert_array_equal(
        evaluate(parse_filter(flt, schema), merged), oracle(flt, rows, declared)
    )


@SETTINGS
@given(st.data())
def test_canonical_text_means_the_same_and_is_stable(data: st.DataObject) -> None:
    declared = data.draw(schemas, label="schema")
    schema = PayloadSchema(declared)
    payloads = data.draw(payloads_for(declared), label="payloads")
    flt = data.draw(filters(declared), label="filter")
    columns = build(schema, payloads, 0)

    text = canonical_filter(parse_filter(flt, schema))
    reparsed = parse_filter(json.loads(text), schema)

    assert canonical_filter(reparsed) == text
    np.testing.assert_array_equal(evaluate(reparsed, columns), oracle(flt, payloads, declared))
    shuffled = json.loads(json.dumps(flt), object_pairs_hook=lambda pairs: dict(pairs[::-1]))
    assert canonical_filter(parse_filter(shuffled, schema)) == text

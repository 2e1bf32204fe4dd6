"""Payload schema, validation and the columnar store of one segment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vecfleet.engine.payload import (
    PayloadColumns,
    PayloadSchema,
    parse_datetime_us,
    validate_payloads,
)
from vecfleet.errors import CorruptData, StorageError, ValidationError

SCHEMA = PayloadSchema(
    {"industry": "keyword", "count": "integer", "score": "float", "date": "datetime", "ok": "bool"}
)
DAY_US = 86_400_000_000


def rows() -> list[dict[str, Any]]:
    return [
        {"industry": "Healthcare", "count": 3, "score": 0.5, "date": "1970-01-02", "ok": True},
        {"industry": "Finance", "count": None, "score": 2, "extra": [1, "a"]},
        {},
        {"industry": "Healthcare", "date": "1970-01-01T00:00:00Z", "ok": False, "count": -7},
        {"industry": "Retail", "score": -1.25, "date": "1970-01-01T02:00:00+02:00"},
    ]


def columns_of(payloads: list[dict[str, Any]], schema: PayloadSchema = SCHEMA) -> PayloadColumns:
    columns = PayloadColumns(schema)
    columns.append(validate_payloads(schema, payloads, len(payloads)))
    return columns


# --- schema -------------------------------------------------------------------------


def test_schema_round_trips_through_a_dict() -> None:
    assert PayloadSchema(SCHEMA.to_dict()) == SCHEMA
    assert SCHEMA.type_of("date") == "datetime"
    assert SCHEMA.type_of("nope") is None
    assert list(SCHEMA.to_dict()) == sorted(SCHEMA.to_dict())


@pytest.mark.parametrize("name", ["", "$x", "a.b", "has space", "1abc", "x" * 65])
def test_schema_rejects_bad_field_names(name: str) -> None:
    with pytest.raises(ValidationError, match="letters, digits"):
        PayloadSchema({name: "keyword"})


def test_schema_rejects_unknown_types_listing_the_allowed_ones() -> None:
    with pytest.raises(ValidationError, match="keyword, integer, float, datetime, bool"):
        PayloadSchema({"industry": "text"})


# --- datetimes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected_us"),
    [
        ("1970-01-01", 0),
        ("1970-01-02", DAY_US),
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.000001Z", 1),
        ("1970-01-01T02:00:00+02:00", 0),
        ("1969-12-31T22:00:00-02:00", 0),
        ("1970-01-01T01:00:00", 3_600_000_000),  # naive = UTC
        ("1969-12-31", -DAY_US),
        ("2020-01-01T10:00:00+05:30", 1_577_853_000_000_000),
    ],
)
def test_parse_datetime_us(text: str, expected_us: int) -> None:
    assert parse_datetime_us(text) == expected_us


@pytest.mark.parametrize("text", ["yesterday", "", "2020-13-01", "2020-01-01T25:00"])
def test_parse_datetime_us_rejects_non_iso(text: str) -> None:
    with pytest.raises(ValidationError, match="is not an ISO-8601 date"):
        parse_datetime_us(text)


# --- validation ---------------------------------------------------------------------


def test_none_means_empty_payloads() -> None:
    assert validate_payloads(SCHEMA, None, 3) == [{}, {}, {}]
    assert validate_payloads(SCHEMA, [None, {"a": 1}], 2) == [{}, {"a": 1}]


def test_validation_returns_json_copies() -> None:
    given = [{"tags": ("a", "b"), "nested": {"k": [1, 2.5, None]}}]
    result = validate_payloads(SCHEMA, given, 1)
    assert result == [{"tags": ["a", "b"], "nested": {"k": [1, 2.5, None]}}]
    assert result[0]["nested"] is not given[0]["nested"]


def test_datetime_strings_are_kept_as_given() -> None:
    result = validate_payloads(SCHEMA, [{"date": "2020-01-01T10:00:00+02:00"}], 1)
    assert result[0]["date"] == "2020-01-01T10:00:00+02:00"


@pytest.mark.parametrize(
    ("payloads", "message"),
    [
        ([{}, {}, {}, {"date": "yesterday"}], r"^payloads\[3\]\.date: 'yesterday' is not an ISO"),
        ([{"industry": 5}], r"^payloads\[0\]\.industry: .*declared keyword"),
        ([{"count": 1.5}], r"^payloads\[0\]\.count: .*declared integer"),
        ([{"count": True}], r"^payloads\[0\]\.count: .*declared integer"),
        ([{"score": "1"}], r"^payloads\[0\]\.score: .*declared float"),
        ([{"score": False}], r"^payloads\[0\]\.score: .*declared float"),
        ([{"ok": 1}], r"^payloads\[0\]\.ok: .*declared bool"),
        ([{"date": 20200101}], r"^payloads\[0\]\.date: .*declared datetime"),
        ([{}, {"x": float("nan")}], r"^payloads\[1\]\.x: nan is not a finite number"),
        ([{"score": float("inf")}], r"^payloads\[0\]\.score: inf is not a finite"),
        ([{"x": {"y": [1, {2, 3}]}}], r"^payloads\[0\]\.x\.y\[1\]: set is not JSON"),
        ([{"x": 2**63}], r"^payloads\[0\]\.x: integer .* 64-bit"),
        ([{5: "a"}], r"^payloads\[0\]: object key 5 is not a string"),
        (["a"], r"^payloads\[0\]: a payload must be a JSON object, got str"),
    ],
)
def test_validation_errors_name_row_and_field(payloads: list[Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_payloads(SCHEMA, payloads, len(payloads))


def test_validation_error_details_carry_row_and_field() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_payloads(SCHEMA, [{}, {"count": "x"}], 2)
    assert caught.value.details == {"row": 1, "field": "count"}


def test_validation_rejects_wrong_counts_and_shapes() -> None:
    with pytest.raises(ValidationError, match="got 1 payloads for 2 points"):
        validate_payloads(SCHEMA, [{}], 2)
    with pytest.raises(ValidationError, match="must be a list"):
        validate_payloads(SCHEMA, {"a": 1}, 1)  # type: ignore[arg-type]


def test_validation_rejects_deep_nesting() -> None:
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ValidationError, match="nested deeper"):
        validate_payloads(SCHEMA, [{"x": deep}], 1)


# --- columns ------------------------------------------------------------------------


def test_columns_hold_typed_values() -> None:
    columns = columns_of(rows())
    assert len(columns) == 5
    codes, dictionary = columns.keyword("industry")
    assert [dictionary.values[c] if c >= 0 else None for c in codes] == [
        "Healthcare", "Finance", None, "Healthcare", "Retail",
    ]  # fmt: skip
    assert codes.dtype == np.int32
    counts, present = columns.numeric("count")
    assert counts.dtype == np.int64
    assert present.tolist() == [True, False, False, True, False]
    assert counts[present].tolist() == [3, -7]
    scores, present = columns.numeric("score")
    assert scores.dtype == np.float64
    assert scores[present].tolist() == [0.5, 2.0, -1.25]
    dates, present = columns.numeric("date")
    assert dates[present].tolist() == [DAY_US, 0, 0]
    assert columns.boolean("ok").tolist() == [1, -1, -1, 0, -1]
    assert columns.payload(1) == rows()[1]
    assert list(columns.payloads()) == rows()


def test_appends_grow_and_keep_earlier_views_intact() -> None:
    columns = PayloadColumns(SCHEMA)
    columns.append([{"count": 0}])
    before, _ = columns.numeric("count")
    for start in range(1, 1001, 8):
        columns.append([{"count": i, "industry": f"k{i % 13}"} for i in range(start, start + 8)])
    counts, present = columns.numeric("count")
    assert len(columns) == len(counts) == 1001
    assert counts.tolist() == list(range(1001))
    assert present.all()
    assert before.tolist() == [0]
    assert len(columns.keyword("industry")[1]) == 13


def test_views_are_read_only() -> None:
    codes, _ = columns_of(rows()).keyword("industry")
    with pytest.raises(ValueError, match="read-only"):
        codes[0] = 1


def test_take_reorders_and_compacts_the_dictionary() -> None:
    taken = columns_of(rows()).take(np.array([4, 0, 2]))
    assert list(taken.payloads()) == [rows()[4], rows()[0], rows()[2]]
    codes, dictionary = taken.keyword("industry")
    assert sorted(dictionary.values) == ["Healthcare", "Retail"]
    assert [dictionary.values[c] if c >= 0 else None for c in codes] == [
        "Retail", "Healthcare", None,
    ]  # fmt: skip
    assert taken.boolean("ok").tolist() == [-1, 1, -1]
    assert taken.numeric("score")[0].tolist() == [-1.25, 0.5, 0.0]


def test_concat_merges_dictionaries() -> None:
    first = columns_of([{"industry": "a"}, {"industry": "b"}])
    second = columns_of([{"industry": "b"}, {}, {"industry": "c"}])
    merged = PayloadColumns.concat([first, second, first.take(np.array([], np.int64))])
    codes, dictionary = merged.keyword("industry")
    assert [dictionary.values[c] if c >= 0 else None for c in codes] == ["a", "b", "b", None, "c"]
    assert len(dictionary) == 3
    assert list(merged.payloads()) == [*first.payloads(), *second.payloads()]


def test_concat_needs_one_schema() -> None:
    with pytest.raises(ValidationError, match="different schemas"):
        PayloadColumns.concat([columns_of([{}]), columns_of([{}], PayloadSchema())])
    with pytest.raises(ValidationError, match="at least one"):
        PayloadColumns.concat([])


def assert_same(left: PayloadColumns, right: PayloadColumns) -> None:
    assert len(left) == len(right)
    assert list(left.payloads()) == list(right.payloads())
    for field, kind in SCHEMA.fields.items():
        if kind == "keyword":
            (lc, ld), (rc, rd) = left.keyword(field), right.keyword(field)
            assert ld.values == rd.values
            np.testing.assert_array_equal(lc, rc)
        elif kind == "bool":
            np.testing.assert_array_equal(left.boolean(field), right.boolean(field))
        else:
            for la, ra in zip(left.numeric(field), right.numeric(field), strict=True):
                assert la.dtype == ra.dtype
                np.testing.assert_array_equal(la, ra)


def test_save_load_round_trip(tmp_path: Path) -> None:
    columns = columns_of(rows())
    written = columns.save(tmp_path / "payload")
    assert all(path.is_file() for path in written)
    assert {path.parent for path in written} == {tmp_path / "payload"}
    loaded = PayloadColumns.load(tmp_path / "payload", SCHEMA)
    assert_same(columns, loaded)
    assert type(loaded.payload(1)["score"]) is int
    loaded.append(validate_payloads(SCHEMA, [{"industry": "New", "count": 9}], 1))
    assert loaded.keyword("industry")[1].values[-1] == "New"
    assert loaded.numeric("count")[0][-1] == 9


def test_save_load_empty(tmp_path: Path) -> None:
    empty = PayloadColumns(SCHEMA)
    empty.save(tmp_path)
    assert_same(empty, PayloadColumns.load(tmp_path, SCHEMA))


def test_load_refuses_another_schema(tmp_path: Path) -> None:
    columns_of(rows()).save(tmp_path)
    with pytest.raises(StorageError, match="written for schema"):
        PayloadColumns.load(tmp_path, PayloadSchema({"industry": "keyword"}))


def test_load_detects_missing_and_damaged_files(tmp_path: Path) -> None:
    written = columns_of(rows()).save(tmp_path)
    npy = next(path for path in written if path.suffix == ".npy")
    npy.write_bytes(b"garbage")
    with pytest.raises(CorruptData, match=r"not a valid \.npy"):
        PayloadColumns.load(tmp_path, SCHEMA)
    np.save(npy, np.zeros(2, np.int8))
    with pytest.raises(CorruptData, match="expected"):
        PayloadColumns.load(tmp_path, SCHEMA)
    npy.unlink()
    with pytest.raises(CorruptData, match="missing"):
        PayloadColumns.load(tmp_path, SCHEMA)
    (tmp_path / "payload.rows.msgpack").write_bytes(b"\xc1")
    with pytest.raises(CorruptData, match="not valid msgpack"):
        PayloadColumns.load(tmp_path, SCHEMA)
    (tmp_path / "payload.rows.msgpack").write_bytes(b"\x90")  # an empty array
    with pytest.raises(CorruptData, match="does not hold 5 rows"):
        PayloadColumns.load(tmp_path, SCHEMA)
    (tmp_path / "payload.meta.msgpack").write_bytes(b"\x81\xa6format\xb0vecfleet.payload")
    with pytest.raises(CorruptData, match="version"):
        PayloadColumns.load(tmp_path, SCHEMA)


def test_load_detects_a_truncated_column(tmp_path: Path) -> None:
    written = columns_of(rows()).save(tmp_path)
    npy = next(path for path in written if path.suffix == ".npy")
    npy.write_bytes(npy.read_bytes()[:-3])
    with pytest.raises(CorruptData, match=re.escape(npy.name)):
        PayloadColumns.load(tmp_path, SCHEMA)

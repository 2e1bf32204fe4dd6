"""Parse a Mongo-style filter (decoded JSON) into a checked, typed filter tree.

Every problem raises ``FilterError`` with the JSON path of the offending part, such as
``$.date.$gte`` or ``$.$or[1].severity.$in[2]``, so a client can point at it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, cast

from vecfleet.engine.filter.ast import (
    MATCH_ALL,
    RANGE_OPS,
    Compare,
    CompareOp,
    Exists,
    FilterNode,
    Instant,
    Not,
    Operand,
    all_of,
    any_of,
    one_of,
)
from vecfleet.engine.payload.schema import PayloadSchema, parse_datetime_us
from vecfleet.errors import FilterError, ValidationError
from vecfleet.types import FieldType

LOGICAL_OPS: tuple[str, ...] = ("$and", "$or", "$not")
FIELD_OPS: tuple[str, ...] = (
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not",
)  # fmt: skip
_MAX_NUMBER = 2**1023  # keeps every operand convertible to a finite float64
_PLAIN_KEY = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")


def parse_filter(raw: Any, schema: PayloadSchema) -> FilterNode | None:
    """The filter tree of ``raw``, or ``None`` when it matches everything (``None``/``{}``)."""
    if raw is None:
        return None
    node = _parse_filter(raw, schema, "$")
    return None if node == MATCH_ALL else node


def _parse_filter(raw: Any, schema: PayloadSchema, path: str) -> FilterNode:
    if not isinstance(raw, Mapping):
        raise FilterError(f"expected a filter object, got {_json_type(raw)}", path)
    children: list[FilterNode] = []
    for key, value in raw.items():
        here = _child_path(path, key)
        if key in ("$and", "$or"):
            children.append(_parse_logical(key, value, schema, here))
        elif key == "$not":
            children.append(Not(_parse_filter(value, schema, here)))
        elif key.startswith("$"):
            raise FilterError(
                f"unknown operator {key!r} at filter level; allowed: "
                f"{', '.join(LOGICAL_OPS)} or a field name",
                here,
            )
        else:
            children.append(_parse_field(key, value, schema.type_of(key), here))
    return all_of(children)


def _parse_logical(op: str, value: Any, schema: PayloadSchema, path: str) -> FilterNode:
    if not isinstance(value, list | tuple) or not value:
        raise FilterError(f"{op} needs a non-empty list of filters", path)
    children = [_parse_filter(item, schema, f"{path}[{i}]") for i, item in enumerate(value)]
    return all_of(children) if op == "$and" else any_of(children)


def _parse_field(field: str, value: Any, kind: FieldType | None, path: str) -> FilterNode:
    if not isinstance(value, Mapping):
        return _compare(field, "$eq", value, kind, path)
    if not value:
        raise FilterError(
            f"empty operator object for field {field!r}; use one of {', '.join(FIELD_OPS)}",
            path,
        )
    children: list[FilterNode] = []
    for op, operand in value.items():
        here = _child_path(path, op)
        if op in ("$in", "$nin"):
            children.append(_one_of(field, op, operand, kind, here))
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise FilterError(f"$exists needs true or false, got {_json_type(operand)}", here)
            children.append(Exists(field, operand))
        elif op == "$not":
            if not isinstance(operand, Mapping):
                raise FilterError(
                    f"field-level $not needs an operator object, got {_json_type(operand)}", here
                )
            children.append(Not(_parse_field(field, operand, kind, here)))
        elif op in FIELD_OPS:
            children.append(_compare(field, cast(CompareOp, op), operand, kind, here))
        else:
            raise FilterError(
                f"unknown operator {op!r} for field {field!r}; allowed: {', '.join(FIELD_OPS)}",
                here,
            )
    return all_of(children)


def _one_of(field: str, op: str, values: Any, kind: FieldType | None, path: str) -> FilterNode:
    if not isinstance(values, list | tuple):
        raise FilterError(f"{op} needs a list of values, got {_json_type(values)}", path)
    operands = [_operand(v, "$eq", kind, f"{path}[{i}]") for i, v in enumerate(values)]
    if not operands:
        return Not(MATCH_ALL) if op == "$in" else MATCH_ALL
    return one_of(field, operands, negated=op == "$nin")


def _compare(
    field: str, op: CompareOp, value: Any, kind: FieldType | None, path: str
) -> FilterNode:
    if op in RANGE_OPS and kind == "bool":
        raise FilterError(f"{op} does not apply to bool field {field!r}; use $eq or $ne", path)
    return Compare(field, op, _operand(value, op, kind, path))


def _operand(value: Any, op: str, kind: FieldType | None, path: str) -> Operand:
    """``value`` checked against the field type and converted to its compared form."""
    if value is None:
        if op in RANGE_OPS:
            raise FilterError(f"{op} needs a number or a string, got null", path)
        return None
    if isinstance(value, bool):
        if kind not in (None, "bool") or op in RANGE_OPS:
            raise FilterError(_wrong_type(kind, op, value), path)
        return value
    if isinstance(value, int | float):
        return _number(value, op, kind, path)
    if isinstance(value, str):
        if kind == "datetime":
            try:
                return Instant(parse_datetime_us(value))
            except ValidationError as exc:
                raise FilterError(exc.message, path) from None
        if kind not in (None, "keyword"):
            raise FilterError(_wrong_type(kind, op, value), path)
        return value
    raise FilterError(
        f"comparison values must be JSON scalars (string, number, bool or null), "
        f"got {_json_type(value)}",
        path,
    )


def _number(value: int | float, op: str, kind: FieldType | None, path: str) -> Operand:
    if kind not in (None, "integer", "float"):
        raise FilterError(_wrong_type(kind, op, value), path)
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(f"{value} is not a finite number", path)
    if abs(value) >= _MAX_NUMBER:
        raise FilterError(f"{value} is out of range (|x| < 2**1023)", path)
    if kind == "float":
        return float(value) + 0.0  # + 0.0 folds -0.0 into 0.0
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    return int(value)


_WANTS: dict[str, str] = {
    "keyword": "a string",
    "integer": "a number",
    "float": "a number",
    "datetime": "an ISO-8601 date string",
    "bool": "true or false",
}


def _wrong_type(kind: FieldType | None, op: str, value: Any) -> str:
    if kind is None:
        return f"{op} needs a number or a string, got {_json_type(value)} {value!r}"
    return f"field is declared {kind}; {op} needs {_WANTS[kind]}, got {_json_type(value)} {value!r}"


def _child_path(path: str, key: Any) -> str:
    if not isinstance(key, str):
        raise FilterError(f"filter keys must be strings, got {_json_type(key)} {key!r}", path)
    return f"{path}.{key}" if _PLAIN_KEY.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__

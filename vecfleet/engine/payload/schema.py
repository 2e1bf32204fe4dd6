"""Payload schema and validation of the JSON payloads that travel with points.

A collection declares some payload fields with a type so they get a column (and so
filters on them are checked and vectorised). Undeclared fields are still stored and can
be filtered by a scan. Validation runs once, at the write path, so columns and filters
can trust what they receive.

=========  ====================================================  =====================
type       accepted payload value                                column
=========  ====================================================  =====================
keyword    ``str``                                               int32 dictionary code
integer    ``int`` (not ``bool``), within int64                  int64 + present mask
float      ``int`` or ``float`` (not ``bool``), finite           float64 + present mask
datetime   ISO-8601 ``str``; naive means UTC                     int64 epoch µs + mask
bool       ``bool``                                              int8 (-1 missing)
=========  ====================================================  =====================

``None`` or a missing key is "missing" for every type.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from vecfleet.errors import ValidationError
from vecfleet.types import FIELD_TYPES, FieldType

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_JSON_DEPTH = 32
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATETIME_HINT = "e.g. 2020-01-01, 2020-01-01T10:00:00Z or 2020-01-01T10:00:00+02:00"


class PayloadSchema:
    """The declared payload fields of a collection: field name → field type."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, str] | None = None) -> None:
        checked: dict[str, FieldType] = {}
        for name, kind in (fields or {}).items():
            if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
                raise ValidationError(
                    f"invalid payload field name {name!r}: use 1-64 letters, digits, '_' or "
                    "'-', starting with a letter or '_'",
                    field=name,
                )
            if kind not in FIELD_TYPES:
                raise ValidationError(
                    f"invalid type {kind!r} for payload field {name!r}: allowed types are "
                    + ", ".join(FIELD_TYPES),
                    field=name,
                )
            checked[name] = cast(FieldType, kind)
        self._fields = dict(sorted(checked.items()))

    @property
    def fields(self) -> Mapping[str, FieldType]:
        """Declared fields in name order (a copy; the schema itself never changes)."""
        return self._fields.copy()

    def type_of(self, field: str) -> FieldType | None:
        """The declared type of ``field``, or ``None`` if it is not declared."""
        return self._fields.get(field)

    def to_dict(self) -> dict[str, str]:
        """Plain dict form, the inverse of the constructor (for settings and snapshots)."""
        return dict(self._fields)

    def __contains__(self, field: object) -> bool:
        return field in self._fields

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PayloadSchema) and self._fields == other._fields

    def __hash__(self) -> int:
        return hash(tuple(self._fields.items()))

    def __repr__(self) -> str:
        return f"PayloadSchema({self._fields!r})"


def parse_datetime_us(value: str) -> int:
    """Epoch microseconds (UTC) of an ISO-8601 date or date-time; naive values are UTC.

    Raises ``ValidationError`` naming the value when it does not parse, so payload
    validation and filter parsing report the same wording.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{value!r} is not an ISO-8601 date ({_DATETIME_HINT})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def validate_payloads(
    schema: PayloadSchema, payloads: Sequence[Any] | None, n: int
) -> list[dict[str, Any]]:
    """Check ``n`` payloads against ``schema``; return them as plain JSON dicts.

    ``None`` stands for ``n`` empty payloads, and a ``None`` entry for one empty payload.
    The returned dicts are copies (tuples become lists) so later edits by the caller do
    not reach stored data; datetime strings are kept as given.
    """
    if payloads is None:
        return [{} for _ in range(n)]
    if isinstance(payloads, str | bytes | Mapping) or not isinstance(payloads, Sequence):
        raise ValidationError(f"payloads must be a list of objects, got {_kind(payloads)}")
    if len(payloads) != n:
        raise ValidationError(f"got {len(payloads)} payloads for {n} points; give one per point")
    return [_validate_payload(schema, payload, row) for row, payload in enumerate(payloads)]


def _validate_payload(schema: PayloadSchema, payload: Any, row: int) -> dict[str, Any]:
    where = f"payloads[{row}]"
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ValidationError(
            f"{where}: a payload must be a JSON object, got {_kind(payload)}", row=row
        )
    result = cast(dict[str, Any], _json_value(payload, where, 0))
    for field, value in result.items():
        kind = schema.type_of(field)
        if kind is not None and value is not None:
            _check_declared(kind, value, f"{where}.{field}", row, field)
    return result


def _check_declared(kind: FieldType, value: Any, where: str, row: int, field: str) -> None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "keyword":
        ok = isinstance(value, str)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = is_number
    elif kind == "bool":
        ok = isinstance(value, bool)
    else:
        if not isinstance(value, str):
            ok = False
        else:
            try:
                parse_datetime_us(value)
            except ValidationError as exc:
                raise ValidationError(f"{where}: {exc.message}", row=row, field=field) from None
            ok = True
    if not ok:
        raise ValidationError(
            f"{where}: field {field!r} is declared {kind} ({_EXPECTED[kind]}), "
            f"got {_kind(value)} {value!r}",
            row=row,
            field=field,
        )


_EXPECTED: dict[str, str] = {
    "keyword": "a string",
    "integer": "an integer",
    "float": "a number",
    "datetime": "an ISO-8601 string",
    "bool": "true or false",
}


def _json_value(value: Any, where: str, depth: int) -> Any:
    """A JSON-safe copy of ``value``, or ``ValidationError`` naming where it is not."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValidationError(f"{where}: integer {value} is outside the 64-bit signed range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError(f"{where}: {value} is not a finite number (JSON has no NaN/Inf)")
        return value
    if depth >= MAX_JSON_DEPTH:
        raise ValidationError(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, Mapping):
        copy: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"{where}: object key {key!r} is not a string")
            copy[key] = _json_value(item, f"{where}.{key}", depth + 1)
        return copy
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise ValidationError(
        f"{where}: {_kind(value)} is not JSON-compatible; use null, bool, number, string, "
        "list or object"
    )


def _kind(value: Any) -> str:
    return type(value).__name__

"""Evaluate a filter tree over one segment's payload columns into a boolean row mask.

Declared fields are evaluated with whole-column numpy operations (keyword values are
compared through their dictionary codes); undeclared fields are scanned over the payload
dicts. Each field kind is wrapped in a small view answering three questions — which rows
have a value, which equal one of some operands, which satisfy a range — and the operator
semantics (null = missing, ``$ne``/``$nin``/``$not`` as complements) are written once on
top of them, so declared and undeclared fields cannot drift apart.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from vecfleet.engine.filter.ast import (
    And,
    Compare,
    Exists,
    FilterNode,
    In,
    Instant,
    Not,
    Operand,
    Or,
)
from vecfleet.engine.payload.columns import Codes, Flags, KeywordDictionary, PayloadColumns
from vecfleet.engine.payload.schema import INT64_MAX, INT64_MIN
from vecfleet.types import Mask

_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def evaluate(node: FilterNode | None, columns: PayloadColumns) -> Mask:
    """Rows of ``columns`` matching ``node`` (``None`` matches all), as a fresh bool array."""
    rows = len(columns)  # rows appended while we evaluate are not part of this answer
    if node is None:
        return np.ones(rows, np.bool_)
    return _mask(node, columns, rows)


def _mask(node: FilterNode, columns: PayloadColumns, rows: int) -> Mask:
    if isinstance(node, And):
        result = np.ones(rows, np.bool_)
        for child in node.children:
            result &= _mask(child, columns, rows)
        return result
    if isinstance(node, Or):
        result = np.zeros(rows, np.bool_)
        for child in node.children:
            result |= _mask(child, columns, rows)
        return result
    if isinstance(node, Not):
        return ~_mask(node.child, columns, rows)
    return _leaf(node, _view(columns, node.field, rows))


def _leaf(node: Compare | In | Exists, view: _FieldView) -> Mask:
    if isinstance(node, Exists):
        present = view.present()
        return present if node.exists else ~present
    if isinstance(node, In):
        matched = _equal_any(view, node.values)
        return ~matched if node.negated else matched
    if node.op in ("$eq", "$ne"):
        matched = _equal_any(view, (node.value,))
        return ~matched if node.op == "$ne" else matched
    return view.compare(node.op, node.value)


def _equal_any(view: _FieldView, operands: Sequence[Operand]) -> Mask:
    """Rows equal to one of ``operands``; a ``None`` operand stands for missing or null."""
    values = [value for value in operands if value is not None]
    matched = view.equal_any(values)
    if len(values) < len(operands):
        matched |= ~view.present()
    return matched


class _FieldView(Protocol):
    """One field of a segment; every method returns a fresh array of ``rows`` booleans."""

    def present(self) -> Mask: ...

    def equal_any(self, values: Sequence[Operand]) -> Mask: ...

    def compare(self, op: str, value: Operand) -> Mask: ...


def _view(columns: PayloadColumns, field: str, rows: int) -> _FieldView:
    kind = columns.schema.type_of(field)
    if kind is None:
        return _ScanView(columns.payloads(), field, rows)
    if kind == "keyword":
        codes, dictionary = columns.keyword(field)
        return _KeywordView(codes[:rows], dictionary)
    if kind == "bool":
        return _FlagView(columns.boolean(field)[:rows])
    values, present = columns.numeric(field)
    return _NumericView(values[:rows], present[:rows], kind == "integer")


class _KeywordView:
    def __init__(self, codes: Codes, dictionary: KeywordDictionary) -> None:
        self.codes = codes
        self.dictionary = dictionary

    def present(self) -> Mask:
        return self.codes >= 0

    def equal_any(self, values: Sequence[Operand]) -> Mask:
        wanted = [self.dictionary.code(v) for v in values if isinstance(v, str)]
        wanted = [code for code in wanted if code >= 0]
        if len(wanted) == 1:
            matched: Mask = self.codes == wanted[0]
            return matched
        if not wanted:
            return np.zeros(len(self.codes), np.bool_)
        return np.isin(self.codes, np.array(wanted, np.int32))

    def compare(self, op: str, value: Operand) -> Mask:
        assert isinstance(value, str)
        if op in ("$gt", "$gte"):
            matching = self.dictionary.codes_in_range(value, op == "$gte", None, False)
        else:
            matching = self.dictionary.codes_in_range(None, False, value, op == "$lte")
        # Slot -1 of the table stays False, so missing rows (code -1) never match.
        table = np.zeros(len(self.dictionary) + 1, np.bool_)
        table[matching] = True
        return table[self.codes]


class _NumericView:
    """integer, float and datetime columns (datetimes as epoch µs)."""

    def __init__(self, values: np.ndarray[Any, Any], present: Mask, integer: bool) -> None:
        self.values = values
        self._present = present
        self.integer = integer

    def present(self) -> Mask:
        return self._present.copy()

    def equal_any(self, values: Sequence[Operand]) -> Mask:
        wanted = [n for n in map(self._exact, values) if n is not None]
        if not wanted:
            return np.zeros(len(self.values), np.bool_)
        if len(wanted) == 1:
            equal: Mask = self.values == wanted[0]
            return self._present & equal
        return self._present & np.isin(self.values, np.array(wanted, self.values.dtype))

    def compare(self, op: str, value: Operand) -> Mask:
        number = value.us if isinstance(value, Instant) else value
        assert isinstance(number, int | float)
        if self.integer:
            return self._integer_compare(op, number)
        return self._present & _PY_OPS[op](self.values, number)

    def _exact(self, value: Operand) -> int | float | None:
        """``value`` as a column value it could equal, or ``None`` if it equals none."""
        if isinstance(value, Instant):
            return value.us
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if self.integer:
            if isinstance(value, float) and not value.is_integer():
                return None
            exact = int(value)
            return exact if INT64_MIN <= exact <= INT64_MAX else None
        return value

    def _integer_compare(self, op: str, bound: int | float) -> Mask:
        # Turn a (possibly fractional or out-of-range) bound into an exact int64 one.
        if op in ("$gt", "$gte"):
            low = math.floor(bound) + 1 if op == "$gt" else math.ceil(bound)
            if low > INT64_MAX:
                return np.zeros(len(self.values), np.bool_)
            if low <= INT64_MIN:
                return self.present()
            return self._present & (self.values >= low)
        high = math.ceil(bound) - 1 if op == "$lt" else math.floor(bound)
        if high < INT64_MIN:
            return np.zeros(len(self.values), np.bool_)
        if high >= INT64_MAX:
            return self.present()
        return self._present & (self.values <= high)


class _FlagView:
    def __init__(self, flags: Flags) -> None:
        self.flags = flags

    def present(self) -> Mask:
        return self.flags >= 0

    def equal_any(self, values: Sequence[Operand]) -> Mask:
        wanted = {int(v) for v in values if isinstance(v, bool)}
        if len(wanted) == 2:
            return self.flags >= 0
        if wanted:
            matched: Mask = self.flags == wanted.pop()
            return matched
        return np.zeros(len(self.flags), np.bool_)

    def compare(self, op: str, value: Operand) -> Mask:
        return np.zeros(len(self.flags), np.bool_)  # the parser rejects ranges on bools


class _ScanView:
    """An undeclared field, read row by row from the payload dicts."""

    def __init__(self, payloads: Sequence[dict[str, Any]], field: str, rows: int) -> None:
        self.payloads = payloads
        self.field = field
        self.rows = rows

    def _each(self, test: Callable[[Any], bool]) -> Mask:
        field, payloads = self.field, self.payloads
        values = (test(payloads[row].get(field)) for row in range(self.rows))
        return np.fromiter(values, np.bool_, count=self.rows)

    def present(self) -> Mask:
        return self._each(lambda value: value is not None)

    def equal_any(self, values: Sequence[Operand]) -> Mask:
        wanted = {_json_key(v) for v in values}

        def test(value: Any) -> bool:
            if isinstance(value, list):
                return any(_json_key(item) in wanted for item in value)
            return _json_key(value) in wanted

        return self._each(test)

    def compare(self, op: str, value: Operand) -> Mask:
        compare = _PY_OPS[op]
        if isinstance(value, str):
            return self._each(lambda v: isinstance(v, str) and compare(v, value))
        return self._each(lambda v: _is_number(v) and compare(v, value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_key(value: Any) -> tuple[int, Any] | None:
    """Equality key across JSON types: 1 equals 1.0, but never true or "1"."""
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return None

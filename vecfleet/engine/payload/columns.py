"""Columnar payload store of one segment: rows ``0..n-1``, append-only.

Declared fields live in numpy columns so filters over them are vectorised; the payload
dicts themselves are kept as given (for results and for scans of undeclared fields).
Columns grow by capacity doubling, so appends cost amortised O(1) per row, and readers
get read-only views that later appends never modify.

On-disk layout written by ``save`` (plain files; the caller makes them durable):

====================================  ===============================================
file                                  content
====================================  ===============================================
``payload.meta.msgpack``              msgpack map: ``format`` ("vecfleet.payload"),
                                      ``version`` (1), ``rows``, ``schema``,
                                      ``keywords`` (field → dictionary, by code)
``payload.rows.msgpack``              msgpack array of the payload objects, by row
``payload.c{i}.{part}.npy``           column of the i-th declared field (name order);
                                      part = ``codes`` (keyword, int32),
                                      ``values`` + ``present`` (numeric), ``flags``
                                      (bool, int8: -1 missing, 0, 1)
====================================  ===============================================
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from vecfleet.engine.payload.schema import PayloadSchema, parse_datetime_us
from vecfleet.errors import CorruptData, StorageError, ValidationError
from vecfleet.types import FieldType, Mask

FORMAT = "vecfleet.payload"
VERSION = 1
META_FILE = "payload.meta.msgpack"
ROWS_FILE = "payload.rows.msgpack"

Codes = npt.NDArray[np.int32]
Numbers = npt.NDArray[np.int64] | npt.NDArray[np.float64]
Flags = npt.NDArray[np.int8]


class _Growable:
    """A 1-d numpy array with spare capacity; views handed out stay valid and unchanged."""

    __slots__ = ("_data", "_size")

    def __init__(self, dtype: npt.DTypeLike, data: npt.NDArray[Any] | None = None) -> None:
        self._data: npt.NDArray[Any] = (
            np.empty(0, dtype) if data is None else np.ascontiguousarray(data, dtype)
        )
        self._size = len(self._data)

    def extend(self, values: npt.NDArray[Any]) -> None:
        need = self._size + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data), 16), self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : need] = values
        self._size = need

    def view(self) -> npt.NDArray[Any]:
        view = self._data[: self._size]
        view.flags.writeable = False
        return view


class KeywordDictionary:
    """Distinct values of one keyword column: value ↔ code, plus sorted order for ranges."""

    __slots__ = ("_by_value", "_sorted", "values")

    def __init__(self, values: Sequence[str] = ()) -> None:
        self.values: list[str] = list(values)
        self._by_value: dict[str, int] = {value: code for code, value in enumerate(self.values)}
        self._sorted: tuple[list[str], Codes] | None = None

    def __len__(self) -> int:
        return len(self.values)

    def code(self, value: str) -> int:
        """The code of ``value``, or -1 when no row has it."""
        return self._by_value.get(value, -1)

    def add(self, value: str) -> int:
        code = self._by_value.get(value)
        if code is None:
            code = self._by_value[value] = len(self.values)
            self.values.append(value)
        return code

    def codes_in_range(
        self, lower: str | None, lower_inclusive: bool, upper: str | None, upper_inclusive: bool
    ) -> Codes:
        """Codes of the values inside the bounds (``None`` = unbounded), by bisection."""
        ordered, codes = self._ordered()
        start = 0
        if lower is not None:
            start = (bisect_left if lower_inclusive else bisect_right)(ordered, lower)
        stop = len(ordered)
        if upper is not None:
            stop = (bisect_right if upper_inclusive else bisect_left)(ordered, upper)
        return codes[start:stop] if start < stop else codes[:0]

    def _ordered(self) -> tuple[list[str], Codes]:
        # Rebuilt only when the dictionary grew: sealed segments sort once.
        cached = self._sorted
        if cached is None or len(cached[0]) != len(self.values):
            order = sorted(range(len(self.values)), key=self.values.__getitem__)
            cached = ([self.values[i] for i in order], np.array(order, np.int32))
            self._sorted = cached
        return cached


class _KeywordColumn:
    __slots__ = ("codes", "dictionary")

    def __init__(self, codes: Codes | None = None, dictionary: KeywordDictionary | None = None):
        self.codes = _Growable(np.int32, codes)
        self.dictionary = dictionary or KeywordDictionary()

    def extend(self, values: list[Any]) -> None:
        add = self.dictionary.add
        codes = [-1 if v is None else add(v) for v in values]
        self.codes.extend(np.array(codes, np.int32))

    def take(self, rows: npt.NDArray[np.int64]) -> _KeywordColumn:
        picked = self.codes.view()[rows]
        used = np.unique(picked[picked >= 0])
        remap = np.full(len(self.dictionary) + 1, -1, np.int32)  # slot -1 keeps "missing"
        remap[used] = np.arange(len(used), dtype=np.int32)
        dictionary = KeywordDictionary([self.dictionary.values[c] for c in used])
        return _KeywordColumn(remap[picked], dictionary)

    @staticmethod
    def concat(parts: Sequence[_KeywordColumn]) -> _KeywordColumn:
        merged = KeywordDictionary()
        pieces = []
        for part in parts:
            remap = [merged.add(v) for v in part.dictionary.values]
            table = np.array([*remap, -1], np.int32)
            pieces.append(table[part.codes.view()])
        return _KeywordColumn(np.concatenate(pieces) if pieces else None, merged)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"codes": self.codes.view()}


class _NumericColumn:
    """integer, float and datetime columns: values plus a present mask."""

    __slots__ = ("kind", "present", "values")

    def __init__(
        self,
        kind: FieldType,
        values: Numbers | None = None,
        present: Mask | None = None,
    ) -> None:
        self.kind = kind
        self.values = _Growable(np.float64 if kind == "float" else np.int64, values)
        self.present = _Growable(np.bool_, present)

    def extend(self, values: list[Any]) -> None:
        if self.kind == "datetime":
            numbers = [0 if v is None else parse_datetime_us(v) for v in values]
        else:
            numbers = [0 if v is None else v for v in values]
        self.values.extend(np.array(numbers, self.values.view().dtype))
        self.present.extend(np.array([v is not None for v in values], np.bool_))

    def take(self, rows: npt.NDArray[np.int64]) -> _NumericColumn:
        return _NumericColumn(self.kind, self.values.view()[rows], self.present.view()[rows])

    @staticmethod
    def concat(parts: Sequence[_NumericColumn]) -> _NumericColumn:
        return _NumericColumn(
            parts[0].kind,
            np.concatenate([p.values.view() for p in parts]),
            np.concatenate([p.present.view() for p in parts]),
        )

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"values": self.values.view(), "present": self.present.view()}


class _BoolColumn:
    __slots__ = ("flags",)

    def __init__(self, flags: Flags | None = None) -> None:
        self.flags = _Growable(np.int8, flags)

    def extend(self, values: list[Any]) -> None:
        self.flags.extend(np.array([-1 if v is None else int(v) for v in values], np.int8))

    def take(self, rows: npt.NDArray[np.int64]) -> _BoolColumn:
        return _BoolColumn(self.flags.view()[rows])

    @staticmethod
    def concat(parts: Sequence[_BoolColumn]) -> _BoolColumn:
        return _BoolColumn(np.concatenate([p.flags.view() for p in parts]))

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {"flags": self.flags.view()}


_Column = _KeywordColumn | _NumericColumn | _BoolColumn


def _empty_column(kind: FieldType) -> _Column:
    if kind == "keyword":
        return _KeywordColumn()
    if kind == "bool":
        return _BoolColumn()
    return _NumericColumn(kind)


class PayloadColumns:
    """Payloads of one segment: the dicts by row plus one numpy column per declared field."""

    __slots__ = ("_columns", "_rows", "_schema")

    def __init__(self, schema: PayloadSchema) -> None:
        self._schema = schema
        self._rows: list[dict[str, Any]] = []
        self._columns: dict[str, _Column] = {
            field: _empty_column(kind) for field, kind in schema.fields.items()
        }

    @property
    def schema(self) -> PayloadSchema:
        return self._schema

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, payloads: Sequence[dict[str, Any]]) -> None:
        """Add rows ``len(self)..``; ``payloads`` must have passed ``validate_payloads``."""
        for field, column in self._columns.items():
            column.extend([payload.get(field) for payload in payloads])
        self._rows.extend(payloads)

    def payload(self, row: int) -> dict[str, Any]:
        """The payload of ``row`` as it was written."""
        return self._rows[row]

    def payloads(self) -> Sequence[dict[str, Any]]:
        """All payload dicts by row (shared, not copied: read, never modify)."""
        return self._rows

    def keyword(self, field: str) -> tuple[Codes, KeywordDictionary]:
        """Codes by row (-1 = missing) and the dictionary of a keyword field."""
        column = self._columns[field]
        assert isinstance(column, _KeywordColumn), f"{field!r} is not a keyword field"
        return column.codes.view(), column.dictionary

    def numeric(self, field: str) -> tuple[Numbers, Mask]:
        """Values by row and the present mask of an integer, float or datetime field.

        Datetimes are epoch microseconds (UTC); values of missing rows are 0.
        """
        column = self._columns[field]
        assert isinstance(column, _NumericColumn), f"{field!r} is not a numeric field"
        return column.values.view(), column.present.view()

    def boolean(self, field: str) -> Flags:
        """Flags by row of a bool field: -1 missing, 0 false, 1 true."""
        column = self._columns[field]
        assert isinstance(column, _BoolColumn), f"{field!r} is not a bool field"
        return column.flags.view()

    def take(self, rows: npt.ArrayLike) -> PayloadColumns:
        """New columns holding just ``rows``, in that order (for merging segments)."""
        picked = np.asarray(rows, dtype=np.int64)
        taken = PayloadColumns(self._schema)
        taken._rows = [self._rows[row] for row in picked.tolist()]
        taken._columns = {field: col.take(picked) for field, col in self._columns.items()}
        return taken

    @classmethod
    def concat(cls, parts: Sequence[PayloadColumns]) -> PayloadColumns:
        """Rows of every part, in order; all parts must share one schema."""
        if not parts:
            raise ValidationError("concat needs at least one set of payload columns")
        schema = parts[0].schema
        if any(part.schema != schema for part in parts):
            raise ValidationError("cannot concatenate payload columns of different schemas")
        merged = cls(schema)
        merged._rows = [row for part in parts for row in part._rows]
        for field, column in merged._columns.items():
            pieces: list[Any] = [part._columns[field] for part in parts]
            merged._columns[field] = type(column).concat(pieces)
        return merged

    def save(self, directory: Path) -> list[Path]:
        """Write the layout of the module docstring into ``directory``; return the files."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        keywords = {
            field: column.dictionary.values
            for field, column in self._columns.items()
            if isinstance(column, _KeywordColumn)
        }
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "rows": len(self),
            "schema": self._schema.to_dict(),
            "keywords": keywords,
        }
        written = [directory / META_FILE, directory / ROWS_FILE]
        written[0].write_bytes(msgspec.msgpack.encode(meta))
        written[1].write_bytes(msgspec.msgpack.encode(self._rows))
        for index, column in enumerate(self._columns.values()):
            for part, array in column.arrays().items():
                path = directory / f"payload.c{index}.{part}.npy"
                np.save(path, array, allow_pickle=False)
                written.append(path)
        return written

    @classmethod
    def load(cls, directory: Path, schema: PayloadSchema) -> PayloadColumns:
        """Read what ``save`` wrote; ``CorruptData`` if files are missing or inconsistent."""
        directory = Path(directory)
        meta = _read_msgpack(directory / META_FILE)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise CorruptData(f"{directory / META_FILE} is not a payload column file")
        if meta.get("version") != VERSION:
            raise CorruptData(f"unsupported payload column version {meta.get('version')!r}")
        try:
            saved_schema = PayloadSchema(meta["schema"])
            keywords: dict[str, list[str]] = dict(meta["keywords"])
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise CorruptData(f"{directory / META_FILE} is damaged: {exc}") from exc
        if saved_schema != schema:
            raise StorageError(
                f"payload columns in {directory} were written for schema "
                f"{saved_schema.to_dict()!r}, not {schema.to_dict()!r}"
            )
        loaded = cls(schema)
        loaded._rows = _read_msgpack(directory / ROWS_FILE)
        if not isinstance(loaded._rows, list) or meta.get("rows") != len(loaded._rows):
            raise CorruptData(f"{directory / ROWS_FILE} does not hold {meta.get('rows')!r} rows")
        for index, (field, kind) in enumerate(schema.fields.items()):
            arrays = {
                part: _read_npy(
                    directory / f"payload.c{index}.{part}.npy", empty.dtype, len(loaded)
                )
                for part, empty in _empty_column(kind).arrays().items()
            }
            loaded._columns[field] = _restore_column(kind, arrays, keywords.get(field))
        return loaded


def _restore_column(
    kind: FieldType, arrays: dict[str, npt.NDArray[Any]], keywords: list[str] | None
) -> _Column:
    if kind == "keyword":
        dictionary = KeywordDictionary(keywords or [])
        codes = arrays["codes"]
        if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= len(dictionary)):
            raise CorruptData("keyword codes point outside their dictionary")
        return _KeywordColumn(codes, dictionary)
    if kind == "bool":
        return _BoolColumn(arrays["flags"])
    return _NumericColumn(kind, arrays["values"], arrays["present"])


def _read_msgpack(path: Path) -> Any:
    try:
        return msgspec.msgpack.decode(path.read_bytes())
    except FileNotFoundError:
        raise CorruptData(f"missing payload file {path}") from None
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise CorruptData(f"{path} is not valid msgpack: {exc}") from exc


def _read_npy(path: Path, dtype: np.dtype[Any], rows: int) -> npt.NDArray[Any]:
    try:
        array: npt.NDArray[Any] = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CorruptData(f"missing payload file {path}") from None
    except (ValueError, EOFError, OSError) as exc:
        raise CorruptData(f"{path} is not a valid .npy file: {exc}") from exc
    if array.dtype != dtype or array.shape != (rows,):
        raise CorruptData(
            f"{path} holds {array.dtype}{list(array.shape)}, expected {dtype}[{rows}]"
        )
    return array

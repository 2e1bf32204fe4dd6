"""Checks on ids, vectors and search parameters, run before anything reaches the log.

Messages name the offending row and say what is allowed.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import faiss
import msgspec
import numpy as np

from vecfleet.engine.payload import PayloadSchema, validate_payloads
from vecfleet.errors import ValidationError
from vecfleet.models import SearchOptions
from vecfleet.types import Matrix, PointId, Vector

MAX_ID_CHARS = 512
MAX_LIMIT = 10_000
INT64_MAX = 2**63 - 1
SEARCH_PARAMS = ("ef", "exact")


def check_ids(ids: Any, field: str = "ids") -> list[PointId]:
    if isinstance(ids, (str, int)) or not hasattr(ids, "__iter__"):
        raise ValidationError(f"{field} must be a list of strings or integers", field=field)
    out = list(ids)
    for i, pid in enumerate(out):
        if isinstance(pid, bool) or not isinstance(pid, (str, int)):
            raise ValidationError(
                f"{field}[{i}] is {type(pid).__name__}; ids are strings or integers",
                field=field,
                row=i,
            )
        if isinstance(pid, str) and not 0 < len(pid) <= MAX_ID_CHARS:
            raise ValidationError(
                f"{field}[{i}] must be a non-empty string of at most {MAX_ID_CHARS} characters",
                field=field,
                row=i,
            )
        if isinstance(pid, int) and not -INT64_MAX - 1 <= pid <= INT64_MAX:
            raise ValidationError(
                f"{field}[{i}] does not fit a signed 64-bit integer", field=field, row=i
            )
    return out


def check_matrix(vectors: Any, dim: int, field: str = "vectors") -> Matrix:
    """A float32 (n, dim) matrix with finite values; any other shape is an error naming the row."""
    try:
        matrix = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{field} must be numbers shaped (n, {dim}): {exc}", field=field
        ) from exc
    if matrix.ndim != 2 or matrix.shape[1] != dim:
        raise ValidationError(
            f"{field} must have shape (n, {dim}), got {tuple(matrix.shape)}", field=field
        )
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValidationError(
            f"{field}[{row}] contains NaN or Inf; only finite values are allowed",
            field=field,
            row=row,
        )
    return np.ascontiguousarray(matrix)


def check_queries(vectors: Any, dim: int, field: str = "vectors") -> Matrix:
    """Queries as a float32 (n, dim) matrix; one vector of ``dim`` numbers is one row."""
    if getattr(vectors, "ndim", None) != 2:
        try:
            arr = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"{field} must be numbers shaped (n, {dim}) or ({dim},): {exc}", field=field
            ) from exc
        vectors = arr.reshape(1, -1) if arr.ndim == 1 and arr.shape[0] == dim else arr
    return check_matrix(vectors, dim, field)


_F32 = np.dtype(np.float32)


def check_query(vector: Any, dim: int, unit: bool = False) -> Matrix:
    """One query as a contiguous (1, dim) float32 row; ``unit`` scales it to length 1."""
    return check_vector(vector, dim, unit).reshape(1, dim)


def check_vector(vector: Any, dim: int, unit: bool = False) -> Vector:
    """One query as a contiguous (dim,) float32 vector; ``unit`` scales it to length 1.

    This is the hot path of every search: a contiguous float32 vector of the right length
    is recognised by four cheap tests and used as it is; the finiteness check rides on the
    squared norm (finite only if every element is), and a row already of unit length is not
    copied. The norm and the scaling are FAISS's kernels: a third of the cost of numpy's
    calls, and an overflow gives inf without a floating-point warning.
    """
    arr: Vector = vector
    if (
        type(arr) is not np.ndarray
        or arr.dtype is not _F32
        or arr.shape != (dim,)
        or not arr.flags.c_contiguous
    ):
        arr = _as_vector(vector, dim)
    squared = faiss.fvec_norm_L2sqr(faiss.swig_ptr(arr), dim)
    if not math.isfinite(squared):
        if not np.isfinite(arr).all():
            raise ValidationError(
                "vector contains NaN or Inf; only finite values are allowed", field="vector"
            )
        wide = arr.astype(np.float64)  # finite, but the float32 sum overflowed
        squared = float(np.dot(wide, wide))
        if not unit:
            return arr
        scaled: Vector = arr * (1.0 / math.sqrt(squared))
        return scaled
    if unit and abs(squared - 1.0) > 1e-6:
        if squared == 0.0:
            raise ValidationError(
                "vector is all zeros; cosine needs a non-zero vector", field="vector"
            )
        arr = arr.copy()
        # in place, no numpy ufunc call (a SWIG function the faiss stub lacks)
        faiss.fvec_renorm_L2(dim, 1, faiss.swig_ptr(arr))  # type: ignore[attr-defined]
    return arr


def _as_vector(vector: Any, dim: int) -> Vector:
    """Anything array-like of ``dim`` numbers (or one row of them) as a contiguous vector."""
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"vector must be {dim} numbers: {exc}", field="vector") from exc
    if arr.shape == (1, dim):
        arr = arr.reshape(dim)
    elif arr.shape != (dim,):
        raise ValidationError(
            f"vector must have shape ({dim},), got {tuple(arr.shape)}", field="vector"
        )
    return np.ascontiguousarray(arr)


def normalise(matrix: Matrix, field: str = "vectors") -> Matrix:
    """Unit length rows for cosine; a zero row has no direction and is rejected."""
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    zero = norms == 0
    if zero.any():
        row = int(np.flatnonzero(zero)[0])
        raise ValidationError(
            f"{field}[{row}] is all zeros; cosine needs a non-zero vector", field=field, row=row
        )
    return np.ascontiguousarray(matrix / norms[:, None], dtype=np.float32)


def unit_rows(matrix: Matrix, field: str = "vectors") -> Matrix:
    """Rows scaled to length 1 by the same kernels as ``check_vector`` scales one query,
    so a batch scores exactly as its rows searched one by one; a zero row is rejected."""
    n, dim = matrix.shape
    squared = np.empty(n, dtype=np.float32)
    faiss.fvec_norms_L2sqr(  # type: ignore[attr-defined]  # missing from the faiss stub
        faiss.swig_ptr(squared), faiss.swig_ptr(matrix), dim, n
    )
    zero = squared == 0.0
    if zero.any():
        row = int(np.flatnonzero(zero)[0])
        raise ValidationError(
            f"{field}[{row}] is all zeros; cosine needs a non-zero vector", field=field, row=row
        )
    scale = np.flatnonzero(~(np.abs(squared.astype(np.float64) - 1.0) <= 1e-6))
    if scale.size == 0:
        return matrix
    out = matrix.copy()
    for row in scale.tolist():
        if math.isfinite(squared[row]):
            faiss.fvec_renorm_L2(dim, 1, faiss.swig_ptr(out[row]))  # type: ignore[attr-defined]
        else:  # finite values whose float32 sum overflowed
            out[row] = check_vector(out[row], dim, unit=True)
    return out


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"limit must be an integer in 1..{MAX_LIMIT}, got {limit!r}", field="limit"
        )
    return limit


def check_offset(offset: Any, limit: int) -> int:
    """How many best hits to skip; with ``limit`` it may reach at most ``MAX_LIMIT``."""
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError(f"offset must be an integer >= 0, got {offset!r}", field="offset")
    if offset + limit > MAX_LIMIT:
        raise ValidationError(
            f"offset + limit must be at most {MAX_LIMIT}, got {offset} + {limit}; "
            "page with a filter on a stable field for deeper results",
            field="offset",
        )
    return offset


def check_score_threshold(threshold: Any) -> float | None:
    """``None`` (keep every hit) or a finite number as a float."""
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, Real):
        raise ValidationError(
            f"score_threshold must be a finite number or null, got {threshold!r}",
            field="score_threshold",
        )
    value = float(threshold)
    if not math.isfinite(value):
        raise ValidationError(
            f"score_threshold must be a finite number, got {threshold!r}",
            field="score_threshold",
        )
    return value


def check_options(options: Any) -> SearchOptions:
    """``options`` with every field checked but the filter (checked when it is compiled);
    a threshold given as an integer comes back as a float."""
    if not isinstance(options, SearchOptions):
        raise ValidationError(
            f"options must be SearchOptions, got {type(options).__name__}", field="options"
        )
    limit = check_limit(options.limit)
    check_offset(options.offset, limit)
    threshold = check_score_threshold(options.score_threshold)
    check_search_params(options.params)
    for name in ("with_payload", "with_vectors"):
        if not isinstance(getattr(options, name), bool):
            raise ValidationError(f"{name} must be true or false", field=name)
    if threshold is not None and type(options.score_threshold) is not float:
        return msgspec.structs.replace(options, score_threshold=threshold)
    return options


def check_search_params(params: Any) -> tuple[int | None, bool]:
    """(ef, exact) from a params mapping such as ``{"ef": 128}``."""
    if params is None:
        return None, False
    if not isinstance(params, dict):
        raise ValidationError('params must be an object such as {"ef": 128}', field="params")
    unknown = sorted(set(params) - set(SEARCH_PARAMS))
    if unknown:
        raise ValidationError(
            f"unknown search params {unknown}; allowed: {list(SEARCH_PARAMS)}", field="params"
        )
    ef = params.get("ef")
    if ef is not None and (isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= 32768):
        raise ValidationError(
            f"params.ef must be an integer in 1..32768, got {ef!r}", field="params.ef"
        )
    exact = params.get("exact", False)
    if not isinstance(exact, bool):
        raise ValidationError("params.exact must be true or false", field="params.exact")
    return ef, exact


def check_upsert(
    ids: Any, vectors: Any, payloads: Any, dim: int, schema: PayloadSchema
) -> tuple[list[PointId], Matrix, list[dict[str, Any]]]:
    """(ids, float32 matrix, validated payloads) of one upsert; shared by every client so
    embedded and remote calls refuse the same input with the same message."""
    id_list = check_ids(ids)
    matrix = check_matrix(vectors, dim)
    if matrix.shape[0] != len(id_list):
        raise ValidationError(
            f"got {len(id_list)} ids but {matrix.shape[0]} vectors; they must pair up",
            field="vectors",
        )
    if not id_list:
        raise ValidationError("upsert needs at least one point", field="ids")
    if payloads is not None and (not isinstance(payloads, list) or len(payloads) != len(id_list)):
        raise ValidationError(
            f"payloads must be a list of {len(id_list)} objects (one per id)", field="payloads"
        )
    return id_list, matrix, validate_payloads(schema, payloads, len(id_list))

"""d-vecDB's wire: request structs, the pure mapping to and from vecfleet's models, and
the ``{success, data, error}`` envelope. The routes are in ``dvecdb.py`` and
``dvecdb_points.py``; the choices where vecfleet differs are listed in ``dvecdb.py``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from vecfleet.api.errors import headers_for, status_for
from vecfleet.api.wire import json_response
from vecfleet.errors import CollectionNotFound, ValidationError, VecfleetError
from vecfleet.gateway import Gateway, PointIn
from vecfleet.models import CollectionSpec, Hit

Endpoint = Callable[[Request], Awaitable[Response]]

METRICS_IN = {"cosine": "cosine", "euclidean": "l2", "dotproduct": "dot", "manhattan": "l2"}
METRICS_OUT = {"cosine": "Cosine", "l2": "Euclidean", "dot": "DotProduct"}
VECTOR_TYPES_IN = {"float32": "hnsw", "float16": "hnsw", "int8": "hnsw_sq8"}
DEFAULT_MAX_LAYER = 16  # d-vecDB's IndexConfig default
# d-vecDB answers these failures 200 {success: false}: 404 (missing) and 409 (exists)
SOFT_FAILURES = frozenset({404, 409})
ERROR_CODE_HEADER = "X-Vecfleet-Error-Code"


# ---------------------------------------------------------------------- wire structs
class Strict(msgspec.Struct, forbid_unknown_fields=True):
    pass


class IndexConfigIn(Strict):
    max_connections: int | None = None
    ef_construction: int | None = None
    ef_search: int | None = None
    max_layer: int | None = None


class CreateCollectionIn(Strict):
    name: str
    dimension: int
    distance_metric: str = "Cosine"
    vector_type: str = "Float32"
    index_config: IndexConfigIn | None = None
    quantization: dict[str, Any] | None = None


class VectorIn(Strict):
    data: list[float]
    id: str | None = None
    metadata: dict[str, Any] | None = None


class BatchIn(Strict):
    vectors: list[VectorIn]


class SearchIn(Strict):
    vector: list[float] | None = None
    query_vector: list[float] | None = None
    limit: int | None = None
    ef_search: int | None = None
    filter: dict[str, Any] | None = None


# ---------------------------------------------------------------------- pure mapping
def metric_in(name: str) -> str:
    """vecfleet's metric for a d-vecDB ``distance_metric`` (case and ``_`` ignored)."""
    key = name.lower().replace("_", "")
    if key not in METRICS_IN:
        raise ValidationError(
            f"distance_metric {name!r} is not supported; use Cosine, Euclidean, DotProduct "
            "or Manhattan",
            field="distance_metric",
        )
    return METRICS_IN[key]


def index_in(vector_type: str, quantization: dict[str, Any] | None = None) -> str:
    """The index kind for a d-vecDB ``vector_type`` and optional ``quantization``."""
    key = vector_type.lower()
    if key not in VECTOR_TYPES_IN:
        raise ValidationError(
            f"vector_type {vector_type!r} is not supported; use Float32, Float16, or Int8 "
            "for an 8-bit quantized index",
            field="vector_type",
        )
    kind = quantization_kind(quantization)
    return "hnsw_sq8" if kind == "scalar" else VECTOR_TYPES_IN[key]


def quantization_kind(quantization: dict[str, Any] | None) -> str:
    """d-vecDB's quantization ``type`` (none, scalar, product, binary); ``none`` if absent."""
    if quantization is None:
        return "none"
    kind = quantization.get("type")
    if kind not in ("none", "scalar", "product", "binary"):
        raise ValidationError(
            f"quantization type {kind!r} is not supported; use none, scalar, product or binary",
            field="quantization.type",
        )
    return str(kind)


def query_in(body: SearchIn) -> list[float]:
    """The query vector, sent as ``vector`` or as d-vecDB's alias ``query_vector``."""
    if body.vector is not None and body.query_vector is not None:
        raise ValidationError("send vector or query_vector, not both", field="vector")
    vector = body.vector if body.vector is not None else body.query_vector
    if vector is None:
        raise ValidationError("the search needs a vector (or query_vector)", field="vector")
    return vector


def settings_in(index: IndexConfigIn | None) -> dict[str, int]:
    """Engine settings from d-vecDB's HNSW ``index_config``; omitted values keep defaults."""
    if index is None:
        return {}
    pairs = {
        "hnsw_m": index.max_connections,
        "ef_construction": index.ef_construction,
        "ef_search": index.ef_search,
    }
    return {key: value for key, value in pairs.items() if value is not None}


def distance_out(metric: str, score: float) -> float:
    """d-vecDB's non-negative distance (smaller = closer) for an engine score."""
    if metric == "l2":
        return max(0.0, score)
    return max(0.0, 1.0 - score)


def hit_out(metric: str, hit: Hit) -> dict[str, Any]:
    return {
        "id": str(hit.id),
        "distance": distance_out(metric, hit.score),
        "metadata": hit.payload or None,
    }


def config_out(info: dict[str, Any]) -> dict[str, Any]:
    config = info["config"]
    return {
        "name": info["name"],
        "dimension": config["dim"],
        "distance_metric": METRICS_OUT.get(config["metric"], config["metric"]),
        "vector_type": "Int8" if config["index"] == "hnsw_sq8" else "Float32",
        "index_config": {
            "max_connections": config["hnsw_m"],
            "ef_construction": config["ef_construction"],
            "ef_search": config["ef_search"],
            "max_layer": DEFAULT_MAX_LAYER,
        },
    }


def stats_out(info: dict[str, Any], memory_bytes: int) -> dict[str, Any]:
    """``index_size`` counts the live vectors already covered by an ANN index."""
    indexed = sum(s["rows"] - s["deleted"] for s in info["segments"] if s["index"] != "exact")
    return {
        "name": info["name"],
        "vector_count": info["points"],
        "dimension": info["config"]["dim"],
        "index_size": indexed,
        "memory_usage": memory_bytes,
    }


def collection_spec(body: CreateCollectionIn) -> CollectionSpec:
    """vecfleet's collection for d-vecDB's create request."""
    return CollectionSpec(
        body.name,
        body.dimension,
        metric_in(body.distance_metric),
        index_in(body.vector_type, body.quantization),
        settings=settings_in(body.index_config),
    )


async def server_stats(gw: Gateway, uptime_s: float) -> dict[str, Any]:
    """d-vecDB's server stats: vectors and memory summed over the collections."""
    infos = await gw.list_collections()
    memory = 0
    for info in infos:
        with contextlib.suppress(CollectionNotFound):  # dropped since it was listed
            memory += gw.data.usage.memory_bytes(info["name"])
    return {
        "total_vectors": sum(i["points"] for i in infos),
        "total_collections": len(infos),
        "memory_usage": memory,
        "disk_usage": gw.data.usage.disk_bytes(),
        "uptime_seconds": int(uptime_s),
    }


def point_in(vector: VectorIn, point_id: str | None = None) -> PointIn:
    return PointIn(point_id or vector.id or str(uuid.uuid4()), vector.data, None, vector.metadata)


def ok(data: Any = None, status: int = 200) -> Response:
    return json_response({"success": True, "data": data, "error": None}, status)


def failure(exc: VecfleetError) -> Response:
    """The envelope of a failure.

    A missing or existing collection answers 200 with d-vecDB's exact envelope (its client
    refuses extra fields there) and vecfleet's error code in ``X-Vecfleet-Error-Code``; a
    4xx adds ``code`` and ``message`` (where the client looks for an error's text).
    """
    status = status_for(exc)
    headers = {**(headers_for(exc) or {}), ERROR_CODE_HEADER: exc.code}
    body: dict[str, Any] = {"success": False, "data": None, "error": exc.message}
    if status in SOFT_FAILURES:
        return json_response(body, 200, headers)
    body |= {"code": exc.code, "message": exc.message}
    return json_response(body, status, headers)


def enveloped(endpoint: Endpoint) -> Endpoint:
    """Render vecfleet errors in the d-vecDB envelope, with the status of the one table."""

    async def run(request: Request) -> Response:
        try:
            return await endpoint(request)
        except VecfleetError as exc:
            return failure(exc)

    return run


def query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ValidationError(f"query parameter {name} must be an integer", field=name) from exc

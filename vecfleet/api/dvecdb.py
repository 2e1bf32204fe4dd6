"""d-vecDB-compatible REST routes, so the ``d-vecdb`` Python client works unchanged.

Routes, bodies and the ``{success, data, error}`` envelope follow d-vecDB's REST server:

=======  ==========================================  =========================================
method   path                                        ``data`` on success
=======  ==========================================  =========================================
GET      ``/health``                                 ``"OK"``
GET      ``/health/check``                           ``{status, timestamp, version, ...}``
GET      ``/ready``                                  ``{ready, timestamp, checks}`` (bare)
GET      ``/stats``                                  server stats (vectors, collections, ...)
POST     ``/collections``                            ``{name, message}``
GET      ``/collections``                            list of collection names
GET      ``/collections/{c}``                        ``[config, stats]``
DELETE   ``/collections/{c}``                        ``{name, message}``
GET      ``/collections/{c}/stats``                  collection stats
POST     ``/collections/{c}/vectors``                the vector's id
POST     ``/collections/{c}/vectors/batch``          the vectors' ids, in request order
POST     ``/collections/{c}/search``                 ``[{id, distance, metadata}]``
GET      ``/collections/{c}/vectors/{id}``           ``{id, data, metadata}`` or ``null``
PUT      ``/collections/{c}/vectors/{id}``           ``{id, message}`` (insert or replace)
DELETE   ``/collections/{c}/vectors/{id}``           whether a vector was removed
=======  ==========================================  =========================================

Every success answers 200, as d-vecDB does. A missing collection or an existing one
answers ``200 {success: false, error}`` as in d-vecDB (whose client cannot build its own
404/409 exceptions); vecfleet's stable error code is in the ``X-Vecfleet-Error-Code``
header, and 4xx bodies add ``code`` and ``message``.
Where d-vecDB's own request parsing refuses a request (malformed JSON, wrong types), and
for input d-vecDB would fail on later (a vector of the wrong length), vecfleet answers
400/422 with the same envelope; overload answers 429 + ``Retry-After``.

Where vecfleet deliberately differs from d-vecDB:

* Search filters are honoured: ``filter`` is vecfleet's filter language, whose
  ``{"field": value}`` form is d-vecDB's exact-match metadata filter. d-vecDB metadata is
  the point's payload; such collections declare no payload schema, so every field is
  filtered by a scan.
* Ids are any non-empty string (d-vecDB accepts only UUIDs); a vector sent without one
  gets a random UUID, as in d-vecDB.
* ``distance`` is never negative, because the d-vecDB client rejects negative values:
  Cosine → ``1 - cosine``, Euclidean → the euclidean distance, DotProduct → ``1 - dot``
  (the cosine distance for unit vectors), both clamped at 0. Results stay ranked best
  first whatever the value.
* ``vector_type`` ``Int8``, or a ``quantization`` of type ``scalar``, creates an 8-bit
  scalar-quantized index (``hnsw_sq8``, with full-precision rescoring). ``Float16`` is
  accepted and stored as float32 (info reports ``Float32``); other quantization types
  (``product``, ``binary``, ``none``) are accepted and keep full precision.
* ``Manhattan`` is accepted and ranks by Euclidean distance (info reports ``Euclidean``):
  the engine has no L1 index.
* ``index_config.max_layer`` is accepted and ignored (FAISS draws HNSW levels itself);
  info reports d-vecDB's default, 16.
* ``query_vector`` is accepted in place of ``vector``; ``limit: 0`` answers an empty list.
* Unknown request fields are refused, as in the native API, so a misspelt ``filter``
  cannot silently widen a search.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vecfleet.api.errors import headers_for, status_for
from vecfleet.api.health import readiness
from vecfleet.api.wire import DEFAULT_MAX_BODY_BYTES, decode, json_response
from vecfleet.errors import CollectionNotFound, ValidationError, VecfleetError
from vecfleet.gateway import Gateway, PointIn
from vecfleet.models import CollectionSpec, Hit, SearchOptions, SearchRequest

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


def _query_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ValidationError(f"query parameter {name} must be an integer", field=name) from exc


# ---------------------------------------------------------------------- routes
def dvecdb_routes(
    gateway: Gateway, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> list[BaseRoute]:
    gw = gateway
    started = time.monotonic()

    async def health(request: Request) -> Response:
        return ok("OK")

    async def ready(request: Request) -> Response:
        body, status = readiness(gw)
        return json_response(body, status)

    async def health_check(request: Request) -> Response:
        body, status = readiness(gw)
        return json_response(
            {
                "status": "healthy" if body.ready else "unhealthy",
                "timestamp": body.timestamp,
                "version": importlib.metadata.version("vecfleet"),
                "uptime_seconds": int(time.monotonic() - started),
                "components": body.checks,
            },
            status,
        )

    async def server_stats(request: Request) -> Response:
        infos = await gw.list_collections()
        memory = 0
        for info in infos:
            with contextlib.suppress(CollectionNotFound):  # dropped since it was listed
                memory += gw.data.usage.memory_bytes(info["name"])
        return ok(
            {
                "total_vectors": sum(i["points"] for i in infos),
                "total_collections": len(infos),
                "memory_usage": memory,
                "disk_usage": gw.data.usage.disk_bytes(),
                "uptime_seconds": int(time.monotonic() - started),
            }
        )

    async def create_collection(request: Request) -> Response:
        body = await decode(request, CreateCollectionIn, max_body_bytes)
        spec = CollectionSpec(
            body.name,
            body.dimension,
            metric_in(body.distance_metric),
            index_in(body.vector_type, body.quantization),
            settings=settings_in(body.index_config),
        )
        await gw.create_collection(spec)
        return ok({"name": body.name, "message": "Collection created successfully"})

    async def list_collections(request: Request) -> Response:
        return ok([info["name"] for info in await gw.list_collections()])

    async def get_collection(request: Request) -> Response:
        name = request.path_params["collection"]
        info = await gw.collection_info(name)
        return ok([config_out(info), stats_out(info, gw.data.usage.memory_bytes(name))])

    async def delete_collection(request: Request) -> Response:
        name = request.path_params["collection"]
        await gw.drop_collection(name)
        return ok({"name": name, "message": "Collection deleted successfully"})

    async def collection_stats(request: Request) -> Response:
        name = request.path_params["collection"]
        info = await gw.collection_info(name)
        return ok(stats_out(info, gw.data.usage.memory_bytes(name)))

    async def insert(request: Request) -> Response:
        point = point_in(await decode(request, VectorIn, max_body_bytes))
        await gw.upsert(request.path_params["collection"], [point])
        return ok(str(point.id))

    async def insert_batch(request: Request) -> Response:
        points = [point_in(v) for v in (await decode(request, BatchIn, max_body_bytes)).vectors]
        await gw.upsert(request.path_params["collection"], points)
        return ok([str(p.id) for p in points])

    async def search(request: Request) -> Response:
        name = request.path_params["collection"]
        body = await decode(request, SearchIn, max_body_bytes)
        vector = query_in(body)
        limit = body.limit if body.limit is not None else _query_int(request, "limit")
        if limit == 0:
            gw.collection(name)  # a missing collection still fails
            return ok([])
        ef = body.ef_search if body.ef_search is not None else _query_int(request, "ef_search")
        params = None if ef is None else {"ef": ef}
        options = SearchOptions(
            limit=10 if limit is None else limit, filter=body.filter, params=params
        )
        outcome = await gw.search(name, SearchRequest(vector, options=options))
        metric = gw.collection(name).config.metric
        return ok([hit_out(metric, h) for h in outcome.hits])

    async def get_vector(request: Request) -> Response:
        name, vector_id = request.path_params["collection"], request.path_params["vector_id"]
        found = await gw.get_points(name, [vector_id], with_vectors=True)
        if not found:
            return ok(None)  # d-vecDB: success, no vector
        point = found[0]
        vector = np.asarray(point.vector).tolist() if point.vector is not None else []
        return ok({"id": str(point.id), "data": vector, "metadata": point.payload or None})

    async def put_vector(request: Request) -> Response:
        name, vector_id = request.path_params["collection"], request.path_params["vector_id"]
        body = await decode(request, VectorIn, max_body_bytes)
        if body.id is not None and body.id != vector_id:
            raise ValidationError(
                f"body id {body.id!r} differs from the id {vector_id!r} in the path", field="id"
            )
        await gw.upsert(name, [point_in(body, vector_id)])
        return ok({"id": vector_id, "message": "Vector updated successfully"})

    async def delete_vector(request: Request) -> Response:
        name, vector_id = request.path_params["collection"], request.path_params["vector_id"]
        ack = await gw.delete_points(name, [vector_id])
        return ok(ack.count > 0)

    base = "/collections/{collection}"
    vector = f"{base}/vectors/{{vector_id}}"
    table: list[tuple[str, Endpoint, str]] = [
        ("/health", health, "GET"),
        ("/health/check", health_check, "GET"),
        ("/ready", ready, "GET"),
        ("/stats", server_stats, "GET"),
        ("/collections", create_collection, "POST"),
        ("/collections", list_collections, "GET"),
        (base, get_collection, "GET"),
        (base, delete_collection, "DELETE"),
        (f"{base}/stats", collection_stats, "GET"),
        (f"{base}/vectors", insert, "POST"),
        (f"{base}/vectors/batch", insert_batch, "POST"),
        (f"{base}/search", search, "POST"),
        (vector, get_vector, "GET"),
        (vector, put_vector, "PUT"),
        (vector, delete_vector, "DELETE"),
    ]
    return [Route(path, enveloped(fn), methods=[method]) for path, fn, method in table]

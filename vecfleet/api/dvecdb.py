"""d-vecDB-compatible REST routes, so the ``d-vecdb`` Python client works unchanged.

Routes, bodies and the ``{success, data, error}`` envelope follow d-vecDB's REST server:

=======  ==========================================  =========================================
method   path                                        ``data`` on success
=======  ==========================================  =========================================
GET      ``/health``                                 ``"OK"``
GET      ``/stats``                                  server stats (vectors, collections, ...)
POST     ``/collections``                            ``null`` (201)
GET      ``/collections``                            list of collection names
GET      ``/collections/{c}``                        ``[config, stats]``
DELETE   ``/collections/{c}``                        ``null``
GET      ``/collections/{c}/stats``                  collection stats
POST     ``/collections/{c}/vectors``                the vector's id (201)
POST     ``/collections/{c}/vectors/batch``          the vectors' ids, in request order (201)
POST     ``/collections/{c}/search``                 ``[{id, distance, metadata}]``
GET      ``/collections/{c}/vectors/{id}``           ``{id, data, metadata}``
PUT      ``/collections/{c}/vectors/{id}``           ``null`` (insert or replace)
DELETE   ``/collections/{c}/vectors/{id}``           whether a vector was removed
=======  ==========================================  =========================================

Where vecfleet deliberately differs from d-vecDB:

* Errors carry real status codes from ``api.errors.status_for`` (404 unknown collection or
  vector, 409 existing collection, 400/422 invalid input, 429 + ``Retry-After``) instead
  of ``200 {success: false}``. The envelope stays; ``code`` (vecfleet's stable error code)
  and ``message`` (where the d-vecDB client looks for an error's text) are added.
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
* ``vector_type`` ``Int8`` creates an 8-bit scalar-quantized index (``hnsw_sq8``, with
  full-precision rescoring); ``Float16`` is refused. ``Manhattan`` is refused.
  ``index_config.max_layer`` is accepted and ignored (FAISS draws HNSW levels itself).
* Unknown request fields are refused, as in the native API, so a misspelt ``filter``
  cannot silently widen a search.
"""

from __future__ import annotations

import contextlib
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
from vecfleet.api.wire import DEFAULT_MAX_BODY_BYTES, decode, json_response
from vecfleet.errors import CollectionNotFound, NotFound, ValidationError, VecfleetError
from vecfleet.gateway import Gateway, PointIn
from vecfleet.models import CollectionSpec, Hit, SearchOptions, SearchRequest

Endpoint = Callable[[Request], Awaitable[Response]]

METRICS_IN = {"cosine": "cosine", "euclidean": "l2", "dotproduct": "dot"}
METRICS_OUT = {"cosine": "Cosine", "l2": "Euclidean", "dot": "DotProduct"}
VECTOR_TYPES_IN = {"float32": "hnsw", "int8": "hnsw_sq8"}


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


class VectorIn(Strict):
    data: list[float]
    id: str | None = None
    metadata: dict[str, Any] | None = None


class BatchIn(Strict):
    vectors: list[VectorIn]


class SearchIn(Strict):
    vector: list[float]
    limit: int | None = None
    ef_search: int | None = None
    filter: dict[str, Any] | None = None


# ---------------------------------------------------------------------- pure mapping
def metric_in(name: str) -> str:
    """vecfleet's metric for a d-vecDB ``distance_metric`` (case and ``_`` ignored)."""
    key = name.lower().replace("_", "")
    if key not in METRICS_IN:
        raise ValidationError(
            f"distance_metric {name!r} is not supported; use Cosine, Euclidean or DotProduct",
            field="distance_metric",
        )
    return METRICS_IN[key]


def index_in(vector_type: str) -> str:
    """The index kind for a d-vecDB ``vector_type``."""
    key = vector_type.lower()
    if key not in VECTOR_TYPES_IN:
        raise ValidationError(
            f"vector_type {vector_type!r} is not supported; use Float32, or Int8 for an "
            "8-bit quantized index",
            field="vector_type",
        )
    return VECTOR_TYPES_IN[key]


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
    body = {
        "success": False,
        "data": None,
        "error": exc.message,
        "code": exc.code,
        "message": exc.message,
    }
    return json_response(body, status_for(exc), headers_for(exc))


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
            index_in(body.vector_type),
            settings=settings_in(body.index_config),
        )
        await gw.create_collection(spec)
        return ok(None, 201)

    async def list_collections(request: Request) -> Response:
        return ok([info["name"] for info in await gw.list_collections()])

    async def get_collection(request: Request) -> Response:
        name = request.path_params["collection"]
        info = await gw.collection_info(name)
        return ok([config_out(info), stats_out(info, gw.data.usage.memory_bytes(name))])

    async def delete_collection(request: Request) -> Response:
        await gw.drop_collection(request.path_params["collection"])
        return ok()

    async def collection_stats(request: Request) -> Response:
        name = request.path_params["collection"]
        info = await gw.collection_info(name)
        return ok(stats_out(info, gw.data.usage.memory_bytes(name)))

    async def insert(request: Request) -> Response:
        point = point_in(await decode(request, VectorIn, max_body_bytes))
        await gw.upsert(request.path_params["collection"], [point])
        return ok(str(point.id), 201)

    async def insert_batch(request: Request) -> Response:
        points = [point_in(v) for v in (await decode(request, BatchIn, max_body_bytes)).vectors]
        await gw.upsert(request.path_params["collection"], points)
        return ok([str(p.id) for p in points], 201)

    async def search(request: Request) -> Response:
        name = request.path_params["collection"]
        body = await decode(request, SearchIn, max_body_bytes)
        limit = body.limit if body.limit is not None else _query_int(request, "limit")
        ef = body.ef_search if body.ef_search is not None else _query_int(request, "ef_search")
        params = None if ef is None else {"ef": ef}
        options = SearchOptions(
            limit=10 if limit is None else limit, filter=body.filter, params=params
        )
        outcome = await gw.search(name, SearchRequest(body.vector, options=options))
        metric = gw.collection(name).config.metric
        return ok([hit_out(metric, h) for h in outcome.hits])

    async def get_vector(request: Request) -> Response:
        name, vector_id = request.path_params["collection"], request.path_params["vector_id"]
        found = await gw.get_points(name, [vector_id], with_vectors=True)
        if not found:
            raise NotFound(
                f"vector {vector_id!r} does not exist in collection {name!r}",
                collection=name,
                id=vector_id,
            )
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
        return ok()

    async def delete_vector(request: Request) -> Response:
        name, vector_id = request.path_params["collection"], request.path_params["vector_id"]
        ack = await gw.delete_points(name, [vector_id])
        return ok(ack.count > 0)

    base = "/collections/{collection}"
    vector = f"{base}/vectors/{{vector_id}}"
    table: list[tuple[str, Endpoint, str]] = [
        ("/health", health, "GET"),
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

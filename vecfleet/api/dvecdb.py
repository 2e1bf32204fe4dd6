"""d-vecDB-compatible REST routes, so the ``d-vecdb`` Python client works unchanged.

The point routes (upsert, batch delete, scroll, count, batch search, recommend, discover)
are in ``dvecdb_points.py``, soft delete, backup and snapshots in ``dvecdb_recovery.py``,
the gRPC service in ``dvecdb_grpc.py``; the route → status
table is ``docs/dvecdb-compat.md``.

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

import importlib.metadata
import time

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vecfleet.api.dvecdb_points import point_routes
from vecfleet.api.dvecdb_recovery import recovery_routes
from vecfleet.api.dvecdb_wire import (
    BatchIn,
    CreateCollectionIn,
    Endpoint,
    SearchIn,
    VectorIn,
    collection_spec,
    config_out,
    enveloped,
    hit_out,
    ok,
    point_in,
    query_in,
    query_int,
    server_stats,
    stats_out,
)
from vecfleet.api.health import readiness
from vecfleet.api.wire import DEFAULT_MAX_BODY_BYTES, decode, json_response
from vecfleet.errors import ValidationError
from vecfleet.gateway import Gateway
from vecfleet.models import SearchOptions, SearchRequest


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

    async def stats(request: Request) -> Response:
        return ok(await server_stats(gw, time.monotonic() - started))

    async def create_collection(request: Request) -> Response:
        body = await decode(request, CreateCollectionIn, max_body_bytes)
        await gw.create_collection(collection_spec(body))
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
        limit = body.limit if body.limit is not None else query_int(request, "limit")
        if limit == 0:
            gw.collection(name)  # a missing collection still fails
            return ok([])
        ef = body.ef_search if body.ef_search is not None else query_int(request, "ef_search")
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
        ("/stats", stats, "GET"),
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
    routes: list[BaseRoute] = [
        Route(path, enveloped(fn), methods=[method]) for path, fn, method in table
    ]
    # first: /collections/deleted must not be taken for a collection named "deleted"
    return recovery_routes(gw) + routes + point_routes(gw, max_body_bytes)

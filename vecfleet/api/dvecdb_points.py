"""d-vecDB's point routes beyond single vectors: upsert, batch delete, scroll, count, batch
search, recommend and discover. Each parses, makes its gateway calls and renders.

=======  ==========================================  =========================================
method   path (under ``/collections/{c}``)           ``data`` on success
=======  ==========================================  =========================================
POST     ``/vectors/upsert``                         ``{upserted_count, ids}``
POST     ``/vectors/batch-delete``                   ``{deleted_count}`` (ids that existed)
POST     ``/points/scroll``                          ``{points: [{id, score, vector, payload}],
                                                     next_offset}`` (a string, or null)
POST     ``/points/count``                           ``{count}``
POST     ``/points/search/batch``                    one ``[{id, distance, metadata}]`` a query
POST     ``/points/recommend``                       ``[{id, distance, metadata}]``
POST     ``/points/discover``                        ``[{id, distance, metadata}]``
=======  ==========================================  =========================================

``recommend`` and ``discover`` are ``Gateway.recommend`` and ``Gateway.discover``
(``gateway/examples.py``): d-vecDB's query vectors, ``2·mean(positive) − mean(negative)``
and ``target + mean(positive − negative)``. Unlike d-vecDB, the examples themselves are
left out of the answer (d-vecDB returns a positive example as its own best
recommendation). ``filter`` is vecfleet's filter language
everywhere. The request's ``collection`` field (d-vecDB requires it) is accepted; the path
names the collection.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vecfleet.api.dvecdb_wire import BatchIn, Endpoint, Strict, enveloped, hit_out, ok, point_in
from vecfleet.api.wire import decode
from vecfleet.errors import ValidationError
from vecfleet.gateway import Gateway
from vecfleet.models import Hit, ScrollPage, SearchOptions, SearchRequest
from vecfleet.types import PointId


# ---------------------------------------------------------------------- wire structs
class BatchDeleteIn(Strict):
    ids: list[str]


class ScrollIn(Strict):
    collection: str | None = None
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: str | None = None
    with_vectors: bool = True
    with_payload: bool = True


class CountIn(Strict):
    collection: str | None = None
    filter: dict[str, Any] | None = None
    exact: bool = False  # vecfleet's count is always exact


class QueryIn(Strict):
    vector: list[float]
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0


class BatchSearchIn(Strict):
    searches: list[QueryIn]
    collection: str | None = None


class RecommendIn(Strict):
    positive: list[str]
    negative: list[str] = msgspec.field(default_factory=list)
    collection: str | None = None
    filter: dict[str, Any] | None = None
    limit: int = 10
    strategy: str = "average_vector"
    offset: int = 0


class ContextPairIn(Strict):
    positive: str
    negative: str


class DiscoverIn(Strict):
    target: list[float] | str
    context: list[ContextPairIn] = msgspec.field(default_factory=list)
    collection: str | None = None
    filter: dict[str, Any] | None = None
    limit: int = 10
    offset: int = 0


# ---------------------------------------------------------------------- pure mapping
def scroll_cursor(offset: str | None) -> int | None:
    """vecfleet's scroll cursor from d-vecDB's string ``offset``."""
    if offset is None:
        return None
    if not offset.isdigit():
        raise ValidationError(
            "offset must be the next_offset of a previous page (a non-negative integer)",
            field="offset",
        )
    return int(offset)


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValidationError("limit and offset must not be negative", field="limit")


# ---------------------------------------------------------------------- shared calls
def _options(body: RecommendIn | DiscoverIn) -> SearchOptions:
    return SearchOptions(limit=body.limit, filter=body.filter, offset=body.offset)


async def recommend_hits(gw: Gateway, name: str, body: RecommendIn) -> list[Hit]:
    if body.strategy not in ("average_vector", "best_score"):
        raise ValidationError(
            f"strategy {body.strategy!r} is not supported; use average_vector or best_score",
            field="strategy",
        )
    negative: list[PointId] = list(body.negative)
    return await gw.recommend(name, list(body.positive), negative, _options(body))


async def discover_hits(gw: Gateway, name: str, body: DiscoverIn) -> list[Hit]:
    context: list[tuple[PointId, PointId]] = [(p.positive, p.negative) for p in body.context]
    target = body.target if isinstance(body.target, str) else np.asarray(body.target, np.float32)
    return await gw.discover(name, target, context, _options(body))


# ---------------------------------------------------------------------- routes
def point_routes(gateway: Gateway, max_body_bytes: int) -> list[BaseRoute]:
    gw = gateway

    async def upsert(request: Request) -> Response:
        points = [point_in(v) for v in (await decode(request, BatchIn, max_body_bytes)).vectors]
        await gw.upsert(request.path_params["collection"], points)
        return ok({"upserted_count": len(points), "ids": [str(p.id) for p in points]})

    async def batch_delete(request: Request) -> Response:
        body = await decode(request, BatchDeleteIn, max_body_bytes)
        ack = await gw.delete_points(request.path_params["collection"], list(body.ids))
        return ok({"deleted_count": ack.count})

    async def scroll(request: Request) -> Response:
        name = request.path_params["collection"]
        body = await decode(request, ScrollIn, max_body_bytes)
        page = ScrollPage(body.filter, body.limit, scroll_cursor(body.offset))
        points, cursor = await gw.scroll(name, page)
        vectors: dict[str, list[float]] = {}
        if body.with_vectors and points:
            found = await gw.get_points(name, [p.id for p in points], with_vectors=True)
            vectors = {str(p.id): np.asarray(p.vector).tolist() for p in found}
        out = []
        for p in points:
            point: dict[str, Any] = {"id": str(p.id), "score": 0.0}
            if body.with_vectors and str(p.id) in vectors:
                point["vector"] = vectors[str(p.id)]
            if body.with_payload:
                point["payload"] = p.payload or None
            out.append(point)
        return ok({"points": out, "next_offset": None if cursor is None else str(cursor)})

    async def count(request: Request) -> Response:
        body = await decode(request, CountIn, max_body_bytes)
        return ok({"count": await gw.count(request.path_params["collection"], body.filter)})

    async def search_batch(request: Request) -> Response:
        name = request.path_params["collection"]
        body = await decode(request, BatchSearchIn, max_body_bytes)
        for q in body.searches:
            _check_page(q.limit, q.offset)
        asked = [q for q in body.searches if q.limit > 0]
        requests = [
            SearchRequest(q.vector, options=SearchOptions(q.limit, q.filter, offset=q.offset))
            for q in asked
        ]
        outcomes = iter(await gw.search_batch(name, requests) if requests else [])
        metric = gw.collection(name).config.metric
        return ok(
            [
                [hit_out(metric, h) for h in next(outcomes).hits] if q.limit > 0 else []
                for q in body.searches
            ]
        )

    def answer(name: str, hits: list[Hit]) -> Response:
        metric = gw.collection(name).config.metric
        return ok([hit_out(metric, h) for h in hits])

    async def recommend(request: Request) -> Response:
        name = request.path_params["collection"]
        body = await decode(request, RecommendIn, max_body_bytes)
        return answer(name, await recommend_hits(gw, name, body))

    async def discover(request: Request) -> Response:
        name = request.path_params["collection"]
        body = await decode(request, DiscoverIn, max_body_bytes)
        return answer(name, await discover_hits(gw, name, body))

    base = "/collections/{collection}"
    table: list[tuple[str, Endpoint]] = [
        (f"{base}/vectors/upsert", upsert),
        (f"{base}/vectors/batch-delete", batch_delete),
        (f"{base}/points/scroll", scroll),
        (f"{base}/points/count", count),
        (f"{base}/points/search/batch", search_batch),
        (f"{base}/points/recommend", recommend),
        (f"{base}/points/discover", discover),
    ]
    return [Route(path, enveloped(fn), methods=["POST"]) for path, fn in table]

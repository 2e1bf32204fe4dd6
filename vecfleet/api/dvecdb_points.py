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

As in d-vecDB, ``recommend`` searches with ``2·mean(positive) − mean(negative)`` (the mean
of the positives alone without negatives) and ``discover`` with ``target + mean(positive −
negative)`` over the context pairs; the example vectors are read with ``get_points``.
Unlike d-vecDB, the examples themselves are left out of the answer (d-vecDB returns a
positive example as its own best recommendation). ``filter`` is vecfleet's filter language
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
from vecfleet.errors import NotFound, ValidationError
from vecfleet.gateway import Gateway
from vecfleet.models import Hit, ScrollPage, SearchOptions, SearchRequest


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
def recommend_query(positive: list[np.ndarray], negative: list[np.ndarray]) -> np.ndarray:
    """d-vecDB's recommendation vector: ``2·mean(positive) − mean(negative)``."""
    mean_positive = np.mean(positive, axis=0)
    if not negative:
        return np.asarray(mean_positive, dtype=np.float32)
    return np.asarray(2.0 * mean_positive - np.mean(negative, axis=0), dtype=np.float32)


def discover_query(target: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """d-vecDB's discovery vector: the target moved by the mean ``positive − negative``."""
    if not pairs:
        return np.asarray(target, dtype=np.float32)
    shift = np.mean([p - n for p, n in pairs], axis=0)
    return np.asarray(target + shift, dtype=np.float32)


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


def page_of(hits: list[Hit], skip: set[str], offset: int, limit: int) -> list[Hit]:
    """``limit`` hits after ``offset``, leaving out the example ids in ``skip``."""
    kept = [h for h in hits if str(h.id) not in skip]
    return kept[offset : offset + limit]


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValidationError("limit and offset must not be negative", field="limit")


# ---------------------------------------------------------------------- shared calls
async def vectors_of(gw: Gateway, name: str, ids: list[str], role: str) -> dict[str, np.ndarray]:
    """The stored vectors of example ids; a missing one is ``NotFound``."""
    found = await gw.get_points(name, list(ids), with_vectors=True)
    vectors = {str(p.id): np.asarray(p.vector, dtype=np.float32) for p in found}
    missing = [i for i in ids if i not in vectors]
    if missing:
        raise NotFound(
            f"{role} example {missing[0]!r} does not exist in collection {name!r}",
            collection=name,
            id=missing[0],
        )
    return vectors


async def ranked(
    gw: Gateway, name: str, vector: np.ndarray, body: RecommendIn | DiscoverIn, skip: set[str]
) -> list[Hit]:
    """The page of ``body`` of a search for ``vector``, without the example ids ``skip``."""
    _check_page(body.limit, body.offset)
    if body.limit == 0:
        gw.collection(name)  # a missing collection still fails
        return []
    depth = body.offset + body.limit + len(skip)
    options = SearchOptions(limit=depth, filter=body.filter)
    outcome = await gw.search(name, SearchRequest(vector, options=options))
    return page_of(outcome.hits, skip, body.offset, body.limit)


async def recommend_hits(gw: Gateway, name: str, body: RecommendIn) -> list[Hit]:
    if not body.positive:
        raise ValidationError("positive must name at least one example id", field="positive")
    if body.strategy not in ("average_vector", "best_score"):
        raise ValidationError(
            f"strategy {body.strategy!r} is not supported; use average_vector or best_score",
            field="strategy",
        )
    vectors = await vectors_of(gw, name, body.positive, "positive")
    vectors |= await vectors_of(gw, name, body.negative, "negative")
    query = recommend_query(
        [vectors[i] for i in body.positive], [vectors[i] for i in body.negative]
    )
    return await ranked(gw, name, query, body, set(body.positive) | set(body.negative))


async def discover_hits(gw: Gateway, name: str, body: DiscoverIn) -> list[Hit]:
    ids = [i for pair in body.context for i in (pair.positive, pair.negative)]
    if isinstance(body.target, str):
        ids.append(body.target)
    vectors = await vectors_of(gw, name, ids, "context") if ids else {}
    if isinstance(body.target, str):
        target = vectors[body.target]
    else:
        target = np.asarray(body.target, dtype=np.float32)
    pairs = [(vectors[p.positive], vectors[p.negative]) for p in body.context]
    return await ranked(gw, name, discover_query(target, pairs), body, set(ids))


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

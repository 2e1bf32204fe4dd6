"""Native API routes (/v1): parse, make one gateway call, render.

Searches answer with ``X-Cache`` (``l1``, ``l2``, ``l3``, ``miss`` or ``bypass``) and
``Server-Timing`` (milliseconds per pipeline stage). The GET form of text search answers
with an ``ETag`` derived from the result-cache key, which covers the caller's scope, the
query and the collection's data epoch: a write changes it, so an edge cache revalidating
with ``If-None-Match`` gets ``304`` only while the answer is still current.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec
import numpy as np
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vecfleet.api import schemas as s
from vecfleet.api.wire import decode, json_response
from vecfleet.errors import ValidationError
from vecfleet.gateway import Gateway, PointIn, SearchOutcome
from vecfleet.gateway.cache.keys import PUBLIC_SCOPE, etag_of
from vecfleet.models import CollectionSpec, Hit, Point, ScrollPage, SearchOptions, SearchRequest

GET_SEARCH_PARAMS = ("q", "limit", "filter", "score_threshold", "offset")


def _params(params: s.SearchParams | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: v for k, v in msgspec.structs.asdict(params).items() if v is not None}


def _point_out(p: Point) -> s.PointOut:
    vector = np.asarray(p.vector).tolist() if p.vector is not None else None
    return s.PointOut(p.id, p.payload, vector)


def _search_out(outcome: SearchOutcome) -> s.SearchOut:
    hits = [
        s.HitOut(
            h.id,
            h.score,
            h.payload,
            np.asarray(h.vector).tolist() if h.vector is not None else None,
        )
        for h in outcome.hits
    ]
    return s.SearchOut(hits, round(outcome.took_ms, 3), outcome.plan)


def _serving_headers(outcome: SearchOutcome) -> dict[str, str]:
    timing = ", ".join(
        f'{stage};dur={ms:.3f};desc="{outcome.cache}"'
        if stage == "cache"
        else f"{stage};dur={ms:.3f}"
        for stage, ms in outcome.timings.items()
    )
    headers = {"X-Cache": outcome.cache}
    if timing:
        headers["Server-Timing"] = timing
    return headers


def _query_param(params: QueryParams, name: str) -> str | None:
    value = params.get(name)
    if value is not None and len(value) > s.GET_MAX_PARAM_CHARS:
        raise ValidationError(
            f"query parameter {name} holds {len(value)} characters; the GET form takes at "
            f"most {s.GET_MAX_PARAM_CHARS}: send longer searches as POST",
            field=name,
        )
    return value


def _query_text(params: QueryParams) -> str:
    unknown = sorted(set(params) - set(GET_SEARCH_PARAMS))
    if unknown:
        raise ValidationError(
            f"unknown query parameter {unknown[0]!r}; known: {', '.join(GET_SEARCH_PARAMS)}",
            field=unknown[0],
        )
    text = _query_param(params, "q")
    if text is None:
        raise ValidationError("query parameter q (the text to search for) is required", field="q")
    return text


def _query_limit(params: QueryParams) -> int:
    raw = params.get("limit")
    if raw is None:
        return 10
    if not raw.isascii() or not raw.isdigit():
        raise ValidationError(f"limit must be a positive integer, got {raw!r}", field="limit")
    return int(raw)


def _query_offset(params: QueryParams) -> int:
    raw = params.get("offset")
    if raw is None:
        return 0
    if not raw.isascii() or not raw.isdigit():
        raise ValidationError(f"offset must be a non-negative integer, got {raw!r}", field="offset")
    return int(raw)


def _query_threshold(params: QueryParams) -> float | None:
    raw = _query_param(params, "score_threshold")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationError(
            f"score_threshold must be a finite number, got {raw!r}", field="score_threshold"
        )
    return value


def _request(body: s.SearchIn) -> SearchRequest:
    """The gateway's search request from a decoded search body."""
    options = SearchOptions(
        limit=body.limit,
        filter=body.filter,
        params=_params(body.params),
        with_payload=body.with_payload,
        with_vectors=body.with_vectors,
        score_threshold=body.score_threshold,
        offset=body.offset,
    )
    return SearchRequest(body.vector, body.text, options, body.consistency, body.seq, body.cache)


def _query_filter(params: QueryParams) -> dict[str, Any] | None:
    raw = _query_param(params, "filter")
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValidationError(
            'filter must be a URL-encoded JSON object such as {"industry": "Healthcare"}',
            field="filter",
        )
    return value


def _etag_matches(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _collection_out(info: dict[str, Any]) -> s.CollectionOut:
    return s.CollectionOut(
        name=info["name"],
        config=info["config"],
        points=info["points"],
        segments=[s.SegmentOut(**seg) for seg in info["segments"]],
        applied_seq=info["applied_seq"],
        plans=info["plans"],
        sharding=info.get("sharding"),
        shards=info.get("shards"),
    )


def routes(gw: Gateway, max_body_bytes: int, http_max_age_s: int = 0) -> list[Route]:
    revalidate = ", must-revalidate" if http_max_age_s == 0 else ""

    async def create_collection(request: Request) -> Response:
        body = await decode(request, s.CreateCollectionIn, max_body_bytes)
        spec = CollectionSpec(
            body.name,
            body.dim,
            body.metric,
            body.index,
            dict(body.payload_schema or {}),
            dict(body.settings or {}),
        )
        info = await gw.create_collection(spec)
        return json_response(_collection_out(info), 201)

    async def list_collections(request: Request) -> Response:
        infos = await gw.list_collections()
        return json_response(s.CollectionsOut([_collection_out(i) for i in infos]))

    async def get_collection(request: Request) -> Response:
        return json_response(_collection_out(await gw.collection_info(request.path_params["name"])))

    async def delete_collection(request: Request) -> Response:
        ack = await gw.drop_collection(request.path_params["name"])
        return json_response(s.SeqOut(ack.seq))

    async def upsert(request: Request) -> Response:
        body = await decode(request, s.UpsertIn, max_body_bytes)
        points = [PointIn(p.id, p.vector, p.text, p.payload) for p in body.points]
        ack = await gw.upsert(request.path_params["name"], points, body.consistency)
        return json_response(s.SeqOut(ack.seq, ack.count))

    async def get_points(request: Request) -> Response:
        body = await decode(request, s.GetIn, max_body_bytes)
        read = gw.read_options(body.consistency, body.seq)
        found = await gw.get_points(request.path_params["name"], body.ids, body.with_vectors, read)
        return json_response(s.PointsOut([_point_out(p) for p in found]))

    async def delete_points(request: Request) -> Response:
        body = await decode(request, s.DeleteIn, max_body_bytes)
        ack = await gw.delete_points(request.path_params["name"], body.ids, body.consistency)
        return json_response(s.SeqOut(ack.seq, ack.count))

    async def count(request: Request) -> Response:
        body = await decode(request, s.CountIn, max_body_bytes)
        read = gw.read_options(body.consistency, body.seq)
        return json_response(
            s.CountOut(await gw.count(request.path_params["name"], body.filter, read))
        )

    async def scroll(request: Request) -> Response:
        body = await decode(request, s.ScrollIn, max_body_bytes)
        read = gw.read_options(body.consistency, body.seq)
        page = ScrollPage(body.filter, body.limit, body.cursor)
        points, cursor = await gw.scroll(request.path_params["name"], page, read)
        return json_response(s.ScrollOut([_point_out(p) for p in points], cursor))

    async def search(request: Request) -> Response:
        body = await decode(request, s.SearchIn, max_body_bytes)
        outcome = await gw.search(
            request.path_params["name"], _request(body), gw.caller_scope(request.headers.raw)
        )
        return json_response(_search_out(outcome), headers=_serving_headers(outcome))

    async def search_get(request: Request) -> Response:
        params = request.query_params
        scope = gw.caller_scope(request.headers.raw)
        options = SearchOptions(
            limit=_query_limit(params),
            filter=_query_filter(params),
            score_threshold=_query_threshold(params),
            offset=_query_offset(params),
        )
        search = SearchRequest(text=_query_text(params), options=options)
        query = gw.search_query(request.path_params["name"], search, scope)
        etag = etag_of(gw.prepare(query))
        visibility = "public" if scope == PUBLIC_SCOPE else "private"
        headers = {
            "ETag": etag,
            "Cache-Control": f"{visibility}, max-age={http_max_age_s}{revalidate}",
            "Vary": "Authorization, X-Tenant",
        }
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        outcome = await gw.run(query)
        return json_response(_search_out(outcome), headers={**headers, **_serving_headers(outcome)})

    async def search_batch(request: Request) -> Response:
        body = await decode(request, s.SearchBatchIn, max_body_bytes)
        searches = [_request(q) for q in body.searches]
        outcomes = await gw.search_batch(
            request.path_params["name"], searches, gw.caller_scope(request.headers.raw)
        )
        return json_response(s.SearchBatchOut([_search_out(o) for o in outcomes]))

    def _hits_out(hits: list[Hit]) -> s.HitsOut:
        return s.HitsOut(
            [
                s.HitOut(
                    h.id,
                    h.score,
                    h.payload,
                    np.asarray(h.vector).tolist() if h.vector is not None else None,
                )
                for h in hits
            ]
        )

    def _example_options(body: s.RecommendIn | s.DiscoverIn) -> SearchOptions:
        return SearchOptions(
            limit=body.limit,
            filter=body.filter,
            with_payload=body.with_payload,
            with_vectors=body.with_vectors,
            score_threshold=body.score_threshold,
            offset=body.offset,
        )

    async def recommend(request: Request) -> Response:
        body = await decode(request, s.RecommendIn, max_body_bytes)
        hits = await gw.recommend(
            request.path_params["name"],
            body.positive,
            body.negative,
            _example_options(body),
            gw.caller_scope(request.headers.raw),
        )
        return json_response(_hits_out(hits))

    async def discover(request: Request) -> Response:
        body = await decode(request, s.DiscoverIn, max_body_bytes)
        hits = await gw.discover(
            request.path_params["name"],
            body.target,
            [(pair.positive, pair.negative) for pair in body.context],
            _example_options(body),
            gw.caller_scope(request.headers.raw),
        )
        return json_response(_hits_out(hits))

    base = "/v1/collections/{name}"
    return [
        Route("/v1/collections", create_collection, methods=["POST"]),
        Route("/v1/collections", list_collections, methods=["GET"]),
        Route(base, get_collection, methods=["GET"]),
        Route(base, delete_collection, methods=["DELETE"]),
        Route(f"{base}/points", upsert, methods=["POST"]),
        Route(f"{base}/points/get", get_points, methods=["POST"]),
        Route(f"{base}/points/delete", delete_points, methods=["POST"]),
        Route(f"{base}/points/count", count, methods=["POST"]),
        Route(f"{base}/points/scroll", scroll, methods=["POST"]),
        Route(f"{base}/search", search, methods=["POST"]),
        Route(f"{base}/search", search_get, methods=["GET"]),
        Route(f"{base}/search/batch", search_batch, methods=["POST"]),
        Route(f"{base}/points/recommend", recommend, methods=["POST"]),
        Route(f"{base}/points/discover", discover, methods=["POST"]),
    ]

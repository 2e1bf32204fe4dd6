"""Native API routes (/v1): parse, make one gateway call, render."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vecfleet.api import schemas as s
from vecfleet.api.wire import decode, json_response
from vecfleet.gateway import Gateway, PointIn, SearchOutcome
from vecfleet.models import Point


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


def _collection_out(info: dict[str, Any]) -> s.CollectionOut:
    return s.CollectionOut(
        name=info["name"],
        config=info["config"],
        points=info["points"],
        segments=[s.SegmentOut(**seg) for seg in info["segments"]],
        applied_seq=info["applied_seq"],
        plans=info["plans"],
    )


def routes(gw: Gateway, max_body_bytes: int) -> list[Route]:
    async def create_collection(request: Request) -> Response:
        body = await decode(request, s.CreateCollectionIn, max_body_bytes)
        info = await gw.create_collection(
            body.name, body.dim, body.metric, body.index, body.payload_schema, **body.settings
        )
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
        ack = await gw.upsert(request.path_params["name"], points)
        return json_response(s.SeqOut(ack.seq, ack.count))

    async def get_points(request: Request) -> Response:
        body = await decode(request, s.GetIn, max_body_bytes)
        found = await gw.get_points(request.path_params["name"], body.ids, body.with_vectors)
        return json_response(s.PointsOut([_point_out(p) for p in found]))

    async def delete_points(request: Request) -> Response:
        body = await decode(request, s.DeleteIn, max_body_bytes)
        ack = await gw.delete_points(request.path_params["name"], body.ids)
        return json_response(s.SeqOut(ack.seq, ack.count))

    async def count(request: Request) -> Response:
        body = await decode(request, s.CountIn, max_body_bytes)
        return json_response(s.CountOut(await gw.count(request.path_params["name"], body.filter)))

    async def scroll(request: Request) -> Response:
        body = await decode(request, s.ScrollIn, max_body_bytes)
        points, cursor = await gw.scroll(
            request.path_params["name"], body.filter, body.limit, body.cursor
        )
        return json_response(s.ScrollOut([_point_out(p) for p in points], cursor))

    async def search(request: Request) -> Response:
        body = await decode(request, s.SearchIn, max_body_bytes)
        outcome = await gw.search(
            request.path_params["name"],
            body.vector,
            body.text,
            body.limit,
            body.filter,
            _params(body.params),
            body.with_payload,
            body.with_vectors,
        )
        return json_response(_search_out(outcome))

    async def search_batch(request: Request) -> Response:
        body = await decode(request, s.SearchBatchIn, max_body_bytes)
        searches = [
            {
                "vector": q.vector,
                "text": q.text,
                "limit": q.limit,
                "filter": q.filter,
                "params": _params(q.params),
                "with_payload": q.with_payload,
                "with_vectors": q.with_vectors,
            }
            for q in body.searches
        ]
        outcomes = await gw.search_batch(request.path_params["name"], searches)
        return json_response(s.SearchBatchOut([_search_out(o) for o in outcomes]))

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
        Route(f"{base}/search/batch", search_batch, methods=["POST"]),
    ]

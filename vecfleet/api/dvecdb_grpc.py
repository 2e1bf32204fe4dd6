"""d-vecDB's gRPC service (``vectordb.v1.VectorDb``) over the gateway, for
``VectorDBClient(protocol="grpc")`` and stubs generated from d-vecDB's proto.

Each RPC translates its message into the request the REST routes build
(``dvecdb_wire``, ``dvecdb_points``), makes the same gateway calls and translates back.
Differences from d-vecDB's gRPC server:

* every RPC but the five snapshot ones answers (d-vecDB answers UNIMPLEMENTED for ten);
  the snapshot RPCs answer UNIMPLEMENTED here;
* a mutation (a reply with ``success``) on a missing or existing collection answers
  ``success: false`` with the message, as d-vecDB does; every other failure is a gRPC
  status from ``transport.status`` (NOT_FOUND, INVALID_ARGUMENT, RESOURCE_EXHAUSTED...);
* metadata is ``map<string, string>`` on the wire: strings travel as they are, other JSON
  values as their JSON text; ``filter`` (a map) is an exact-match filter and ``filter_json``
  is vecfleet's filter language.

The generated modules (``vecfleet.dvecdb_grpc``) come from ``make dvecdb-proto``.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import msgspec
import numpy as np

from vecfleet.api.dvecdb_points import (
    ContextPairIn,
    DiscoverIn,
    RecommendIn,
    discover_hits,
    recommend_hits,
    scroll_cursor,
)
from vecfleet.api.dvecdb_recovery import NO_COPIES
from vecfleet.api.dvecdb_wire import (
    CreateCollectionIn,
    IndexConfigIn,
    VectorIn,
    collection_spec,
    config_out,
    distance_out,
    point_in,
    server_stats,
    stats_out,
)
from vecfleet.errors import ValidationError, VecfleetError
from vecfleet.gateway import Gateway
from vecfleet.models import Hit, ScrollPage, SearchOptions, SearchRequest
from vecfleet.transport.status import grpc_status_for

METRICS = {0: "Cosine", 1: "Cosine", 2: "Euclidean", 3: "DotProduct", 4: "Manhattan"}
METRIC_ENUMS = {"Cosine": 1, "Euclidean": 2, "DotProduct": 3}
VECTOR_TYPES = {0: "Float32", 1: "Float32", 2: "Float16", 3: "Int8"}
VECTOR_TYPE_ENUMS = {"Float32": 1, "Int8": 3}
SOFT_REPLIES = {
    name: f"{name}Response"
    for name in (
        "CreateCollection",
        "DeleteCollection",
        "Insert",
        "BatchInsert",
        "Update",
        "Delete",
    )
}
SOFT_STATUSES = frozenset({grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS})
SNAPSHOT_RPCS = (
    "CreateSnapshot",
    "ListSnapshots",
    "GetSnapshot",
    "DeleteSnapshot",
    "RestoreSnapshot",
)
MISSING_STUBS = (
    "d-vecDB's gRPC code is not generated: run `make dvecdb-proto DVECDB_GIT=<a git mirror or "
    "clone of github.com/Infinidatum-LLC/d-vecDB>`"
)


def stubs() -> tuple[Any, Any]:
    """The generated ``vectordb_pb2`` and ``vectordb_pb2_grpc`` modules."""
    try:
        pb = importlib.import_module("vecfleet.dvecdb_grpc.vectordb_pb2")
        pbg = importlib.import_module("vecfleet.dvecdb_grpc.vectordb_pb2_grpc")
    except ImportError as exc:
        raise RuntimeError(MISSING_STUBS) from exc
    return pb, pbg


# ---------------------------------------------------------------------- pure mapping
def metadata_in(metadata: Any) -> dict[str, Any] | None:
    return dict(metadata) or None


def metadata_out(payload: dict[str, Any] | None) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in (payload or {}).items()}


def filter_in(filter_json: str | None) -> dict[str, Any] | None:
    if not filter_json:
        return None
    try:
        value = json.loads(filter_json)
    except ValueError as exc:
        raise ValidationError(f"filter_json is not JSON: {exc}", field="filter_json") from exc
    if not isinstance(value, dict):
        raise ValidationError("filter_json must be a JSON object", field="filter_json")
    return value


def optional(message: Any, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None


# ---------------------------------------------------------------------- the service
Method = Callable[[Any, Any], Awaitable[Any]]


def _rpc(method: Method) -> Callable[[Any, Any, grpc.aio.ServicerContext[Any, Any]], Any]:
    """``method(request)`` with vecfleet errors answered as gRPC statuses; for a reply
    with ``success`` (the mutations), a missing or existing collection is answered as
    d-vecDB does: ``success: false`` and the message."""
    reply = SOFT_REPLIES.get(method.__name__)

    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await method(self, request)
        except VecfleetError as exc:
            status = grpc_status_for(exc)
            if reply is not None and status in SOFT_STATUSES:
                return getattr(self.pb, reply)(success=False, message=exc.message)
            await context.abort(status, exc.message)
        except msgspec.ValidationError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        raise AssertionError("context.abort returned")  # pragma: no cover

    handler.__name__ = method.__name__
    return handler


class DvecdbService:
    """The ``VectorDb`` servicer: one method per RPC of d-vecDB's proto."""

    def __init__(self, gateway: Gateway, pb: Any) -> None:
        self.gw = gateway
        self.pb = pb
        self.started = time.monotonic()

    def results(self, name: str, hits: list[Hit]) -> list[Any]:
        metric = self.gw.collection(name).config.metric
        return [
            self.pb.QueryResult(
                id=str(h.id),
                distance=distance_out(metric, h.score),
                metadata=metadata_out(h.payload),
            )
            for h in hits
        ]

    def vector_in(self, vector: Any) -> VectorIn:
        return VectorIn(list(vector.data), vector.id or None, metadata_in(vector.metadata))

    def config(self, info: dict[str, Any]) -> Any:
        out = config_out(info)
        index = out["index_config"]
        return self.pb.CollectionConfig(
            name=out["name"],
            dimension=out["dimension"],
            distance_metric=METRIC_ENUMS.get(out["distance_metric"], 0),
            vector_type=VECTOR_TYPE_ENUMS.get(out["vector_type"], 0),
            index_config=self.pb.IndexConfig(**index),
        )

    # collections
    @_rpc
    async def CreateCollection(self, request: Any) -> Any:
        c = request.config
        index = c.index_config if c.HasField("index_config") else None
        body = CreateCollectionIn(
            c.name,
            c.dimension,
            METRICS.get(c.distance_metric, "Cosine"),
            VECTOR_TYPES.get(c.vector_type, "Float32"),
            None
            if index is None
            else IndexConfigIn(
                index.max_connections or None,
                index.ef_construction or None,
                index.ef_search or None,
                index.max_layer or None,
            ),
        )
        await self.gw.create_collection(collection_spec(body))
        return self.pb.CreateCollectionResponse(
            success=True, message="Collection created successfully"
        )

    @_rpc
    async def DeleteCollection(self, request: Any) -> Any:
        await self.gw.drop_collection(request.collection_name)
        return self.pb.DeleteCollectionResponse(
            success=True, message="Collection deleted successfully"
        )

    @_rpc
    async def ListCollections(self, request: Any) -> Any:
        names = [info["name"] for info in await self.gw.list_collections()]
        return self.pb.ListCollectionsResponse(collection_names=names)

    @_rpc
    async def GetCollectionInfo(self, request: Any) -> Any:
        name = request.collection_name
        info = await self.gw.collection_info(name)
        stats = stats_out(info, self.gw.data.usage.memory_bytes(name))
        return self.pb.GetCollectionInfoResponse(
            config=self.config(info), stats=self.pb.CollectionStats(**stats)
        )

    # vectors
    @_rpc
    async def Insert(self, request: Any) -> Any:
        point = point_in(self.vector_in(request.vector))
        await self.gw.upsert(request.collection_name, [point])
        return self.pb.InsertResponse(success=True, message=str(point.id))

    @_rpc
    async def BatchInsert(self, request: Any) -> Any:
        points = [point_in(self.vector_in(v)) for v in request.vectors]
        await self.gw.upsert(request.collection_name, points)
        return self.pb.BatchInsertResponse(
            success=True, message=",".join(str(p.id) for p in points), inserted_count=len(points)
        )

    @_rpc
    async def Update(self, request: Any) -> Any:
        if not request.vector.id:
            raise ValidationError("vector.id names the vector to update", field="vector.id")
        await self.gw.upsert(request.collection_name, [point_in(self.vector_in(request.vector))])
        return self.pb.UpdateResponse(success=True, message="Vector updated successfully")

    @_rpc
    async def Delete(self, request: Any) -> Any:
        ack = await self.gw.delete_points(request.collection_name, [request.vector_id])
        found = ack.count > 0
        message = "Vector deleted" if found else f"vector {request.vector_id!r} did not exist"
        return self.pb.DeleteResponse(success=found, message=message)

    # search
    @_rpc
    async def Query(self, request: Any) -> Any:
        name = request.collection_name
        started = time.monotonic()
        if request.limit == 0:
            self.gw.collection(name)  # a missing collection still fails
            return self.pb.QueryResponse(results=[], query_time_ms=0)
        ef = optional(request, "ef_search")
        options = SearchOptions(
            limit=request.limit,
            filter=dict(request.filter) or None,
            params=None if ef is None else {"ef": ef},
        )
        outcome = await self.gw.search(
            name, SearchRequest(list(request.query_vector), options=options)
        )
        took_ms = int((time.monotonic() - started) * 1000)
        return self.pb.QueryResponse(
            results=self.results(name, outcome.hits), query_time_ms=took_ms
        )

    @_rpc
    async def BatchSearch(self, request: Any) -> Any:
        name = request.collection_name
        asked = [
            SearchRequest(
                list(q.vector),
                options=SearchOptions(
                    q.limit, filter_in(optional(q, "filter_json")), offset=q.offset
                ),
            )
            for q in request.searches
            if q.limit > 0
        ]
        outcomes = iter(await self.gw.search_batch(name, asked) if asked else [])
        return self.pb.BatchSearchResponse(
            results=[
                self.pb.QueryResults(
                    results=self.results(name, next(outcomes).hits) if q.limit > 0 else []
                )
                for q in request.searches
            ]
        )

    @_rpc
    async def Recommend(self, request: Any) -> Any:
        name = request.collection_name
        body = RecommendIn(
            list(request.positive_ids),
            list(request.negative_ids),
            name,
            filter_in(optional(request, "filter_json")),
            request.limit or 10,
            request.strategy or "average_vector",
            request.offset,
        )
        return self.pb.RecommendResponse(
            results=self.results(name, await recommend_hits(self.gw, name, body))
        )

    @_rpc
    async def Discover(self, request: Any) -> Any:
        name = request.collection_name
        which = request.WhichOneof("target")
        if which is None:
            raise ValidationError("target_id or target_vector is required", field="target")
        target: list[float] | str = (
            request.target_id if which == "target_id" else list(request.target_vector.data)
        )
        body = DiscoverIn(
            target,
            [ContextPairIn(p.positive_id, p.negative_id) for p in request.context_pairs],
            name,
            filter_in(optional(request, "filter_json")),
            request.limit or 10,
            request.offset,
        )
        return self.pb.DiscoverResponse(
            results=self.results(name, await discover_hits(self.gw, name, body))
        )

    @_rpc
    async def Scroll(self, request: Any) -> Any:
        name = request.collection_name
        filter = filter_in(optional(request, "filter_json"))
        page = ScrollPage(filter, request.limit or 10, scroll_cursor(optional(request, "offset")))
        points, cursor = await self.gw.scroll(name, page)
        vectors: dict[str, list[float]] = {}
        if request.with_vectors and points:
            found = await self.gw.get_points(name, [p.id for p in points], with_vectors=True)
            vectors = {str(p.id): np.asarray(p.vector).tolist() for p in found}
        out = [
            self.pb.ScoredPoint(
                id=str(p.id),
                score=0.0,
                vector=vectors.get(str(p.id), []),
                payload=metadata_out(p.payload) if request.with_payload else {},
            )
            for p in points
        ]
        response = self.pb.ScrollResponse(points=out)
        if cursor is not None:
            response.next_offset = str(cursor)
        return response

    @_rpc
    async def Count(self, request: Any) -> Any:
        filter = filter_in(optional(request, "filter_json"))
        return self.pb.CountResponse(count=await self.gw.count(request.collection_name, filter))

    # server
    @_rpc
    async def GetStats(self, request: Any) -> Any:
        stats = await server_stats(self.gw, time.monotonic() - self.started)
        return self.pb.GetStatsResponse(stats=self.pb.ServerStats(**stats))

    @_rpc
    async def Health(self, request: Any) -> Any:
        ready = self.gw.ready
        return self.pb.HealthResponse(healthy=ready, status="OK" if ready else "loading")


async def serve_dvecdb(gateway: Gateway, host: str, port: int) -> grpc.aio.Server:
    """A started gRPC server answering d-vecDB's ``VectorDb`` service on ``host:port``."""
    pb, pbg = stubs()
    server = grpc.aio.server()
    pbg.add_VectorDbServicer_to_server(_servicer(gateway, pb, pbg), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address} for d-vecDB gRPC: {exc}") from exc
    await server.start()
    return server


def _servicer(gateway: Gateway, pb: Any, pbg: Any) -> Any:
    """The service over the generated base class, whose own answer covers any RPC a newer
    proto adds; the snapshot RPCs answer UNIMPLEMENTED with what to use instead."""

    async def no_snapshots(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, NO_COPIES.format(what="a collection snapshot")
        )

    refused = {name: no_snapshots for name in SNAPSHOT_RPCS}
    cls: Any = type("DvecdbServicer", (DvecdbService, pbg.VectorDbServicer), refused)
    return cls(gateway, pb)

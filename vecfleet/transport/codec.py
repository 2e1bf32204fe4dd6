"""Pure conversions between vecfleet values and the node's protobuf messages.

No I/O: the gRPC client and server only call these, so everything that can go wrong in
encoding is tested here without a socket (STYLE 6).

==============  ==============================================  ========================
value           on the wire                                     why
==============  ==============================================  ========================
query matrix    ``bytes`` little-endian float32 row-major        one ``frombuffer`` to
                + ``dim``                                       decode; 4 bytes a float
hit / point     ``bytes`` little-endian float32, empty = none
vector
point id        ``PointId`` oneof ``str`` / ``num`` (sint64)    ``7`` and ``"7"`` are
                                                                different points
payload,        JSON bytes (msgspec); an absent optional        the engine parses the
filter, params  field = ``None``                                same JSON users send
score           ``double``                                      the engine's Python float
                                                                survives exactly
==============  ==============================================  ========================

Decoding raises ``ValidationError`` (or ``MalformedRequest`` for bytes that are not JSON)
so a bad message is the caller's error with a message, never a ``struct``/numpy trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from vecfleet.errors import MalformedRequest, ValidationError
from vecfleet.models import (
    Hit,
    Point,
    ReadGate,
    ScrollPage,
    SearchOptions,
    SearchResult,
    ShardCount,
    ShardGet,
    ShardScroll,
    ShardSearch,
)
from vecfleet.node.base import NodeHealth, NodeStatus, ReplicaStatus
from vecfleet.transport.proto import vecfleet_pb2 as pb
from vecfleet.types import Matrix, PointId, Vector

MAX_MESSAGE_BYTES = 64 << 20
"""gRPC message limit both ways: 256 1,536-d queries are 1.5 MiB; hits with vectors more."""

_WIRE_FLOAT = np.dtype("<f4")
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


# ---------------------------------------------------------------------- vectors
def matrix_to_bytes(matrix: Any) -> tuple[bytes, int]:
    """An (n, dim) matrix as (little-endian float32 bytes, dim)."""
    arr = np.asarray(matrix, dtype=_WIRE_FLOAT)
    if arr.ndim != 2:
        raise ValidationError(
            f"vectors must be a 2-d (n, dim) array, got shape {tuple(arr.shape)}", field="vectors"
        )
    return np.ascontiguousarray(arr).tobytes(), int(arr.shape[1])


def matrix_from_bytes(data: bytes, dim: int) -> Matrix:
    """The (n, dim) native float32 matrix ``matrix_to_bytes`` encoded (read-only view)."""
    if dim <= 0:
        raise ValidationError(f"dim must be positive, got {dim}", field="dim")
    if len(data) % (4 * dim):
        raise ValidationError(
            f"vectors hold {len(data)} bytes, not a whole number of {dim}-d float32 rows",
            field="vectors",
        )
    flat = np.frombuffer(data, dtype=_WIRE_FLOAT)
    return flat.reshape(-1, dim).astype(np.float32, copy=False)


def vector_to_bytes(vector: Any) -> bytes:
    """One vector as little-endian float32 bytes; ``None`` becomes empty bytes."""
    if vector is None:
        return b""
    return np.ascontiguousarray(vector, dtype=_WIRE_FLOAT).tobytes()


def vector_from_bytes(data: bytes) -> Vector | None:
    """A writable float32 vector (callers may keep and modify it), or ``None`` if empty."""
    if not data:
        return None
    if len(data) % 4:
        raise ValidationError(f"a vector of {len(data)} bytes is not float32", field="vector")
    return np.frombuffer(data, dtype=_WIRE_FLOAT).astype(np.float32)


# ---------------------------------------------------------------------- ids
def id_to_proto(pid: PointId) -> pb.PointId:
    if isinstance(pid, bool) or not isinstance(pid, str | int):
        raise ValidationError(
            f"id {pid!r} is {type(pid).__name__}; ids are strings or integers", field="ids"
        )
    if isinstance(pid, str):
        return pb.PointId(str=pid)
    try:
        return pb.PointId(num=pid)
    except ValueError as exc:
        raise ValidationError(
            f"id {pid} does not fit a signed 64-bit integer", field="ids"
        ) from exc


def id_from_proto(message: pb.PointId) -> PointId:
    kind = message.WhichOneof("kind")
    if kind == "str":
        return message.str
    if kind == "num":
        return message.num
    raise ValidationError("a point id is empty: set either str or num", field="ids")


def ids_to_proto(ids: Sequence[PointId]) -> list[pb.PointId]:
    if isinstance(ids, str | int):
        raise ValidationError("ids must be a list of strings or integers", field="ids")
    return [id_to_proto(pid) for pid in ids]


def ids_from_proto(messages: Sequence[pb.PointId]) -> list[PointId]:
    return [id_from_proto(m) for m in messages]


# ---------------------------------------------------------------------- JSON
def json_to_bytes(value: Any, field: str = "payload") -> bytes:
    try:
        return _json_encoder.encode(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValidationError(f"{field} cannot be sent as JSON: {exc}", field=field) from exc


def json_from_bytes(data: bytes, field: str = "payload") -> Any:
    try:
        return _json_decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise MalformedRequest(f"{field} is not valid JSON: {exc}", field=field) from exc


def optional_json_to_bytes(value: Any, field: str) -> bytes | None:
    """``None`` stays absent on the wire, so "no filter" and ``{}`` remain different."""
    return None if value is None else json_to_bytes(value, field)


def optional_json_from_bytes(message: Any, name: str) -> Any:
    """Field ``name`` of ``message`` decoded, or ``None`` when the field is absent."""
    return json_from_bytes(getattr(message, name), name) if message.HasField(name) else None


# ---------------------------------------------------------------------- hits and points
def hit_to_proto(hit: Hit) -> pb.Hit:
    message = pb.Hit(id=id_to_proto(hit.id), score=hit.score, vector=vector_to_bytes(hit.vector))
    if hit.payload is not None:
        message.payload = json_to_bytes(hit.payload)
    return message


def hit_from_proto(message: pb.Hit) -> Hit:
    payload = json_from_bytes(message.payload) if message.HasField("payload") else None
    return Hit(id_from_proto(message.id), message.score, payload, vector_from_bytes(message.vector))


def result_to_proto(result: SearchResult) -> pb.SearchResponse:
    return pb.SearchResponse(
        results=[pb.HitList(hits=[hit_to_proto(h) for h in hits]) for hits in result.hits],
        plan=json_to_bytes(result.plan, "plan"),
    )


def result_from_proto(message: pb.SearchResponse) -> SearchResult:
    hits = [[hit_from_proto(h) for h in hits.hits] for hits in message.results]
    plan = json_from_bytes(message.plan, "plan") if message.plan else []
    return SearchResult(hits, plan)


# ---------------------------------------------------------------------- requests
def options_to_proto(options: SearchOptions) -> pb.SearchOptions:
    return pb.SearchOptions(
        limit=options.limit,
        filter=optional_json_to_bytes(options.filter, "filter"),
        params=optional_json_to_bytes(options.params, "params"),
        with_payload=options.with_payload,
        with_vectors=options.with_vectors,
        score_threshold=options.score_threshold,
        offset=options.offset,
    )


def options_from_proto(message: pb.SearchOptions) -> SearchOptions:
    threshold = message.score_threshold if message.HasField("score_threshold") else None
    return SearchOptions(
        limit=message.limit,
        filter=optional_json_from_bytes(message, "filter"),
        params=optional_json_from_bytes(message, "params"),
        with_payload=message.with_payload,
        with_vectors=message.with_vectors,
        score_threshold=threshold,
        offset=message.offset,
    )


def search_to_proto(request: ShardSearch) -> pb.SearchRequest:
    data, dim = matrix_to_bytes(request.vectors)
    return pb.SearchRequest(
        collection=request.collection,
        shard=request.shard,
        vectors=data,
        dim=dim,
        options=options_to_proto(request.options),
        gate=gate_to_proto(request.gate),
    )


def search_from_proto(message: pb.SearchRequest, timeout_s: float) -> ShardSearch:
    return ShardSearch(
        message.collection,
        message.shard,
        matrix_from_bytes(message.vectors, message.dim),
        options_from_proto(message.options),
        gate_from_proto(message.gate, timeout_s),
    )


def get_to_proto(request: ShardGet) -> pb.GetRequest:
    return pb.GetRequest(
        collection=request.collection,
        shard=request.shard,
        ids=ids_to_proto(request.ids),
        with_vectors=request.with_vectors,
        gate=gate_to_proto(request.gate),
    )


def get_from_proto(message: pb.GetRequest, timeout_s: float) -> ShardGet:
    gate = gate_from_proto(message.gate, timeout_s)
    ids = ids_from_proto(message.ids)
    return ShardGet(message.collection, message.shard, ids, message.with_vectors, gate)


def count_to_proto(request: ShardCount) -> pb.CountRequest:
    return pb.CountRequest(
        collection=request.collection,
        shard=request.shard,
        filter=optional_json_to_bytes(request.filter, "filter"),
        gate=gate_to_proto(request.gate),
    )


def count_from_proto(message: pb.CountRequest, timeout_s: float) -> ShardCount:
    flt = optional_json_from_bytes(message, "filter")
    return ShardCount(
        message.collection, message.shard, flt, gate_from_proto(message.gate, timeout_s)
    )


def scroll_to_proto(request: ShardScroll) -> pb.ScrollRequest:
    page = request.page
    return pb.ScrollRequest(
        collection=request.collection,
        shard=request.shard,
        filter=optional_json_to_bytes(page.filter, "filter"),
        limit=page.limit,
        cursor=page.cursor,
        gate=gate_to_proto(request.gate),
    )


def scroll_from_proto(message: pb.ScrollRequest, timeout_s: float) -> ShardScroll:
    cursor = message.cursor if message.HasField("cursor") else None
    page = ScrollPage(optional_json_from_bytes(message, "filter"), message.limit, cursor)
    return ShardScroll(
        message.collection, message.shard, page, gate_from_proto(message.gate, timeout_s)
    )


def point_to_proto(point: Point) -> pb.Point:
    return pb.Point(
        id=id_to_proto(point.id),
        payload=json_to_bytes(point.payload),
        vector=vector_to_bytes(point.vector),
    )


def point_from_proto(message: pb.Point) -> Point:
    return Point(
        id_from_proto(message.id),
        json_from_bytes(message.payload),
        vector_from_bytes(message.vector),
    )


def points_to_proto(points: Sequence[Point]) -> list[pb.Point]:
    return [point_to_proto(p) for p in points]


def points_from_proto(messages: Sequence[pb.Point]) -> list[Point]:
    return [point_from_proto(m) for m in messages]


# ---------------------------------------------------------------------- node state
def gate_to_proto(gate: ReadGate) -> pb.ReadGate:
    """The gate's freshness; its ``timeout_s`` travels as the call's gRPC deadline."""
    return pb.ReadGate(min_seq=max(0, gate.min_seq), max_lag_ms=gate.max_lag_ms)


def gate_from_proto(message: pb.ReadGate, timeout_s: float) -> ReadGate:
    max_lag_ms = message.max_lag_ms if message.HasField("max_lag_ms") else None
    return ReadGate(message.min_seq, max_lag_ms, timeout_s)


def status_to_proto(status: NodeStatus) -> pb.StatusResponse:
    return pb.StatusResponse(
        node_id=status.node_id,
        replicas=[
            pb.ReplicaStatus(
                collection=r.collection,
                shard=r.shard,
                applied_seq=r.applied_seq,
                lag_ms=r.lag_ms,
                points=r.points,
            )
            for r in status.replicas
        ],
    )


def status_from_proto(message: pb.StatusResponse) -> NodeStatus:
    return NodeStatus(
        message.node_id,
        [
            ReplicaStatus(r.collection, r.shard, r.applied_seq, r.lag_ms, r.points)
            for r in message.replicas
        ],
    )


def health_to_proto(health: NodeHealth) -> pb.HealthResponse:
    return pb.HealthResponse(
        node_id=health.node_id, serving=health.serving, replicas=health.replicas
    )


def health_from_proto(message: pb.HealthResponse) -> NodeHealth:
    return NodeHealth(message.node_id, message.serving, message.replicas)

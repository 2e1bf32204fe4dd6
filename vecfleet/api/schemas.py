"""Wire structs of the native /v1 API: decoded and validated by msgspec, and the source of
the OpenAPI document, so the published schema and the server's behaviour cannot drift."""

from __future__ import annotations

from typing import Any

import msgspec

PointIdWire = str | int
Filter = dict[str, Any]


class Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    pass


class CreateCollectionIn(Strict):
    name: str
    dim: int
    metric: str = "cosine"
    index: str = "hnsw"
    payload_schema: dict[str, str] = {}
    settings: dict[str, Any] = {}


class PointWire(Strict):
    id: PointIdWire
    vector: list[float] | None = None
    text: str | None = None
    payload: dict[str, Any] | None = None


class UpsertIn(Strict):
    points: list[PointWire]


class GetIn(Strict):
    ids: list[PointIdWire]
    with_vectors: bool = False


class DeleteIn(Strict):
    ids: list[PointIdWire]


class CountIn(Strict):
    filter: Filter | None = None


class ScrollIn(Strict):
    filter: Filter | None = None
    limit: int = 100
    cursor: int | None = None


class SearchIn(Strict):
    vector: list[float] | None = None
    text: str | None = None
    limit: int = 10
    filter: Filter | None = None
    params: dict[str, Any] | None = None
    with_payload: bool = True
    with_vectors: bool = False


class SearchBatchIn(Strict):
    searches: list[SearchIn]


# ---------------------------------------------------------------------- responses
class SegmentOut(msgspec.Struct):
    uid: str
    rows: int
    deleted: int
    index: str


class CollectionOut(msgspec.Struct):
    name: str
    config: dict[str, Any]
    points: int
    segments: list[SegmentOut]
    applied_seq: int
    plans: dict[str, int]


class CollectionsOut(msgspec.Struct):
    collections: list[CollectionOut]


class SeqOut(msgspec.Struct):
    seq: int
    count: int = 0


class PointOut(msgspec.Struct, omit_defaults=True):
    id: PointIdWire
    payload: dict[str, Any] = {}
    vector: list[float] | None = None


class PointsOut(msgspec.Struct):
    points: list[PointOut]


class ScrollOut(msgspec.Struct):
    points: list[PointOut]
    next_cursor: int | None


class CountOut(msgspec.Struct):
    count: int


class HitOut(msgspec.Struct, omit_defaults=True):
    id: PointIdWire
    score: float
    payload: dict[str, Any] | None = None
    vector: list[float] | None = None


class SearchOut(msgspec.Struct):
    hits: list[HitOut]
    took_ms: float
    plan: list[dict[str, Any]]


class SearchBatchOut(msgspec.Struct):
    results: list[SearchOut]


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    details: dict[str, Any]


class ErrorOut(msgspec.Struct):
    error: ErrorDetail


class HealthOut(msgspec.Struct):
    status: str
    collections: int = 0

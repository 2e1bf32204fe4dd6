"""Wire structs of the native /v1 API: decoded and validated by msgspec, and the source of
the OpenAPI document, so the published schema and the server's behaviour cannot drift.

Bounds that the engine and the gateway enforce (name characters, dims, limits, id and text
lengths, batch sizes) are declared here too, from the same constants, so a client reading
the schema learns them and a request outside them fails at decoding with a 422.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from vecfleet.engine.config import MAX_DIM
from vecfleet.engine.validate import INT64_MAX, MAX_ID_CHARS, MAX_LIMIT
from vecfleet.gateway.service import MAX_BATCH_SEARCHES, MAX_POINTS_PER_WRITE, MAX_TEXT_CHARS
from vecfleet.types import FieldType, IndexKind, Metric

PointIdWire = (
    Annotated[str, Meta(min_length=1, max_length=MAX_ID_CHARS)]
    | Annotated[int, Meta(ge=-INT64_MAX - 1, le=INT64_MAX)]
)
Filter = dict[str, Any]
CollectionName = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$",
        min_length=1,
        max_length=128,
        description="1-128 characters from A-Z a-z 0-9 _ - . , not starting with '.'",
    ),
]
Dim = Annotated[int, Meta(ge=1, le=MAX_DIM)]
# Vectors are stored as float32: a larger magnitude would become infinite.
FLOAT32_MAX = 3.4028234663852886e38
Vector = list[Annotated[float, Meta(ge=-FLOAT32_MAX, le=FLOAT32_MAX)]]
PayloadFieldName = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$",
        description="1-64 letters, digits, '_' or '-', starting with a letter or '_'",
    ),
]
Consistency = Annotated[
    Literal["strong", "session", "bounded", "eventual"],
    Meta(
        description="how fresh a read must be: strong = every acknowledged write, session = "
        "the write with sequence `seq`, bounded = replica lag under the server's bound "
        "(default), eventual = any replica; strong and session reads skip the result cache. "
        "An embedded server's one replica is never behind. On a write, strong waits until "
        "every replica applied it."
    ),
]
WriteSeq = Annotated[
    int, Meta(ge=0, description="sequence of the caller's last write, for session reads")
]
Limit = Annotated[int, Meta(ge=1, le=MAX_LIMIT)]
# Texts of only white space are refused (gateway ``check_text``).
NON_SPACE = r"\S"
Text = Annotated[
    str,
    Meta(
        min_length=1,
        pattern=NON_SPACE,
        description=(
            "embedded by the server's model; must hold a non-space character; "
            f"over {MAX_TEXT_CHARS} characters is a 413"
        ),
    ),
]


class Strict(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    pass


class CreateCollectionIn(Strict):
    name: CollectionName
    dim: Dim
    metric: Metric = "cosine"
    index: IndexKind = "hnsw"
    payload_schema: dict[PayloadFieldName, FieldType] = {}
    settings: dict[str, Any] = {}


class PointWire(Strict):
    id: PointIdWire
    vector: Vector | None = None
    text: Text | None = None
    payload: dict[str, Any] | None = None


class UpsertIn(Strict):
    points: Annotated[
        list[PointWire],
        Meta(min_length=1, description=f"over {MAX_POINTS_PER_WRITE} points is a 413"),
    ]
    consistency: Consistency | None = None


class GetIn(Strict):
    ids: list[PointIdWire]
    with_vectors: bool = False
    consistency: Consistency | None = None
    seq: WriteSeq | None = None


class DeleteIn(Strict):
    ids: list[PointIdWire]
    consistency: Consistency | None = None


class CountIn(Strict):
    filter: Filter | None = None
    consistency: Consistency | None = None
    seq: WriteSeq | None = None


class ScrollIn(Strict):
    filter: Filter | None = None
    limit: Limit = 100
    cursor: Annotated[int, Meta(ge=0)] | None = None
    consistency: Consistency | None = None
    seq: WriteSeq | None = None


class SearchParams(Strict):
    ef: Annotated[int, Meta(ge=1, le=32768)] | None = None
    exact: bool = False


# The GET form of search carries its query in the URL; URLs of a few kilobytes pass every
# proxy and CDN, and percent-encoding can take 12 bytes per character. POST takes longer.
GET_MAX_PARAM_CHARS = 512

CacheMode = Annotated[
    Literal["default", "bypass"],
    Meta(description="bypass: neither read nor store the result cache for this search"),
]


ScoreThreshold = Annotated[
    float,
    Meta(description="drop hits worse than this score (cosine/dot: lower; l2: a larger distance)"),
]
Offset = Annotated[
    int,
    Meta(ge=0, le=MAX_LIMIT, description="skip this many best hits (pages in a stable order)"),
]


class SearchIn(Strict):
    vector: Vector | None = None
    text: Text | None = None
    limit: Limit = 10
    filter: Filter | None = None
    params: SearchParams | None = None
    with_payload: bool = True
    with_vectors: bool = False
    score_threshold: ScoreThreshold | None = None
    offset: Offset = 0
    cache: CacheMode = "default"
    consistency: Consistency | None = None
    seq: WriteSeq | None = None


# Example points of one recommend or discover call, each read by id before the search.
MAX_EXAMPLES = 64
ExampleIds = Annotated[list[PointIdWire], Meta(max_length=MAX_EXAMPLES)]


class RecommendIn(Strict):
    """Points like the ``positive`` examples and unlike the ``negative`` ones."""

    positive: Annotated[list[PointIdWire], Meta(min_length=1, max_length=MAX_EXAMPLES)]
    negative: ExampleIds = msgspec.field(default_factory=list)
    limit: Limit = 10
    offset: Offset = 0
    filter: Filter | None = None
    with_payload: bool = True
    with_vectors: bool = False
    score_threshold: ScoreThreshold | None = None


class ContextPair(Strict):
    positive: PointIdWire
    negative: PointIdWire


class DiscoverIn(Strict):
    """Points near ``target`` (a vector or a point id) in the direction of the context."""

    target: Vector | PointIdWire
    context: Annotated[list[ContextPair], Meta(max_length=MAX_EXAMPLES // 2)] = msgspec.field(
        default_factory=list
    )
    limit: Limit = 10
    offset: Offset = 0
    filter: Filter | None = None
    with_payload: bool = True
    with_vectors: bool = False
    score_threshold: ScoreThreshold | None = None


class HitsOut(msgspec.Struct):
    hits: list[HitOut]


class SearchBatchIn(Strict):
    searches: Annotated[list[SearchIn], Meta(min_length=1, max_length=MAX_BATCH_SEARCHES)]


# ---------------------------------------------------------------------- responses
class SegmentOut(msgspec.Struct):
    uid: str
    rows: int
    deleted: int
    index: str


class CollectionOut(msgspec.Struct, omit_defaults=True):
    name: str
    config: dict[str, Any]
    points: int
    segments: list[SegmentOut]
    applied_seq: int
    plans: dict[str, int]
    # Cluster mode: the shard map, and per shard its replicas' node, applied_seq and lag.
    sharding: dict[str, Any] | None = None
    shards: list[dict[str, Any]] | None = None


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


class ComponentOut(msgspec.Struct):
    """One component of a readiness answer (d-vecDB's ``checks`` entries)."""

    name: str
    status: str  # healthy | degraded | unhealthy
    message: str | None = None
    timestamp: int = 0


class HealthOut(msgspec.Struct):
    status: str
    collections: int = 0
    alive: bool = True
    ready: bool = True
    timestamp: int = 0  # unix seconds
    checks: list[ComponentOut] = msgspec.field(default_factory=list)


class DemoStatusOut(msgspec.Struct):
    """Progress of the background demo ingest and the facet values the console offers."""

    state: str  # off | idle | embedding | indexing | ready | failed
    total: int
    done: int
    error: str
    elapsed_s: float
    collection: str
    industries: list[str]
    severities: list[str]

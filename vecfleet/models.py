"""Wire-neutral results shared by the engine, the client and the edges.

msgspec structs: a search builds one ``Hit`` per result, and these construct several times
faster than frozen dataclasses, which matters at tens of thousands of searches a second.
Results are not tracked by the cycle collector (``gc=False``): they hold no cycles, and
thousands of them kept by a caller would otherwise make every collection pass slower.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Hit(msgspec.Struct, frozen=True, gc=False):
    """One search result. cosine/dot: higher score = closer; l2: score is the distance."""

    id: str | int
    score: float
    payload: dict[str, Any] | None = None
    vector: Any = None  # numpy float32 row when asked for


class Point(msgspec.Struct, frozen=True, gc=False):
    id: str | int
    payload: dict[str, Any]
    vector: Any = None


class WriteAck(msgspec.Struct, frozen=True):
    """A write is acknowledged only once durable; ``seq`` is its position in the log."""

    seq: int
    count: int = 0


class Explain(msgspec.Struct, frozen=True):
    """The plan the engine chose for each segment of a search."""

    plans: list[dict[str, Any]] = []
    filter: str | None = None


# ---------------------------------------------------------------------- requests
class CollectionSpec(msgspec.Struct, frozen=True):
    """A collection to create: its vectors, index kind, declared payload fields, and
    ``settings``: the engine's (``hnsw_m``, ``seal_rows``, ...) and the cluster's
    (``shards``, ``replicas``, ``sharding``), checked where each is used."""

    name: str
    dim: int
    metric: str = "cosine"
    index: str = "hnsw"
    payload_schema: dict[str, str] = {}
    settings: dict[str, Any] = {}


class SearchOptions(msgspec.Struct, frozen=True):
    """Everything that shapes a search's answer except the query vectors.

    One value travels from the edge to the engine, so a new option is a field here, a
    check in the engine and a field in the codec and the API schema. ``offset`` skips that
    many of the best hits (pagination in a stable order); ``score_threshold`` drops hits
    worse than it (cosine/dot: a score below it; l2: a distance above it).
    """

    limit: int = 10
    filter: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    with_payload: bool = True
    with_vectors: bool = False
    score_threshold: float | None = None
    offset: int = 0

    @property
    def depth(self) -> int:
        """How many best hits each shard must return so a merge can cut the page."""
        return self.offset + self.limit


DEFAULT_SEARCH = SearchOptions()


class SearchRequest(msgspec.Struct, frozen=True):
    """One search as an edge received it: a vector or a text, the options shaping the
    answer, how fresh it must be (``consistency``, and ``seq`` for session reads), and
    whether the result cache may serve it (``cache``: default | bypass)."""

    vector: Any = None
    text: str | None = None
    options: SearchOptions = DEFAULT_SEARCH
    consistency: str | None = None
    seq: int | None = None
    cache: str = "default"


class ReadGate(msgspec.Struct, frozen=True):
    """How fresh a replica must be to answer, and by when.

    ``min_seq``: the replica first applies its shard's log up to this sequence (session
    and strong reads); ``max_lag_ms``: a replica lagging more refuses at once (bounded
    reads), ``None`` for any; ``timeout_s``: the call's budget from its start.
    """

    min_seq: int = 0
    max_lag_ms: float | None = None
    timeout_s: float = 5.0


OPEN_GATE = ReadGate()


class ScrollPage(msgspec.Struct, frozen=True):
    """Which page of points a scroll asks for: the filter, its size and where it starts."""

    filter: dict[str, Any] | None = None
    limit: int = 100
    cursor: int | None = None


class ShardSearch(msgspec.Struct, frozen=True):
    """A batch of queries for one shard replica: an (n, dim) float32 matrix, the options
    (the node answers the best ``options.depth`` hits; the gateway cuts the page) and the
    freshness the replica must have."""

    collection: str
    shard: int
    vectors: Any
    options: SearchOptions = DEFAULT_SEARCH
    gate: ReadGate = OPEN_GATE


class ShardGet(msgspec.Struct, frozen=True):
    """Points of one shard by id; missing ids are skipped, request order is kept."""

    collection: str
    shard: int
    ids: list[str | int]
    with_vectors: bool = False
    gate: ReadGate = OPEN_GATE


class ShardCount(msgspec.Struct, frozen=True):
    collection: str
    shard: int
    filter: dict[str, Any] | None = None
    gate: ReadGate = OPEN_GATE


class ShardScroll(msgspec.Struct, frozen=True):
    collection: str
    shard: int
    page: ScrollPage = ScrollPage()
    gate: ReadGate = OPEN_GATE


class SearchResult(msgspec.Struct, frozen=True):
    """The data side's answer to a batch: hits per query row, and the plan of each shard.

    ``plan`` holds one entry per segment searched, each naming its ``strategy`` (and, once
    shards are merged, its ``shard``), so a cluster answer explains itself like an embedded
    one.
    """

    hits: list[list[Hit]]
    plan: list[dict[str, Any]] = []

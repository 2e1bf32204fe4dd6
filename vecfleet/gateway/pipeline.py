"""The search pipeline: stages built once at start-up, each wrapping the next.

::

    validate → cache (L1 → L2 → L3) → single-flight → embed → batcher → router

The router (``router.py``) asks the shards' replicas, in-process or over gRPC alike.

Every stage is an async callable ``SearchQuery → StageResult`` holding the next stage
(STYLE 4), so a stage can answer without calling on (a cache hit), share the next
stage's answer (single-flight) or decorate it. ``validate`` settles everything that
makes two searches the same search and derives the cache key from it, so the cache and
single-flight agree on identity. The embedding runs after the cache because a text
query's key is the model id plus the normalised text: a hit costs no model call.

Each stage notes the milliseconds it spent in ``SearchQuery.timings`` (the
``Server-Timing`` header); ``PipelineStats`` adds them up for metrics.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import msgspec
import numpy as np

from vecfleet.embed import BatchingEmbedder, normalise_text
from vecfleet.engine.filter import canonical_filter, parse_filter
from vecfleet.engine.validate import check_options, check_query, check_search_params
from vecfleet.errors import Unavailable, ValidationError
from vecfleet.gateway.batcher import MicroBatcher
from vecfleet.gateway.cache.codec import decode_body, encode_body
from vecfleet.gateway.cache.keys import PUBLIC_SCOPE, SearchIdentity, search_key
from vecfleet.gateway.cache.tiered import TieredCache
from vecfleet.gateway.epochs import Epochs
from vecfleet.gateway.limits import check_text
from vecfleet.gateway.reads import DEFAULT_READ, CollectionRef, ReadOptions
from vecfleet.gateway.router import Router
from vecfleet.gateway.singleflight import SingleFlight
from vecfleet.models import DEFAULT_SEARCH, Hit, SearchOptions

T = TypeVar("T")
CACHE_MODES = ("default", "bypass")


@dataclass(slots=True)
class SearchQuery:
    """One search as it travels the pipeline; ``validate`` fills the lower block."""

    collection: str
    vector: Any = None
    text: str | None = None
    options: SearchOptions = DEFAULT_SEARCH
    scope: str = PUBLIC_SCOPE
    cache: str = "default"  # default | bypass (neither read nor write the result cache)
    read: ReadOptions = DEFAULT_READ

    handle: CollectionRef | None = None
    row: np.ndarray | None = None  # the query vector once known
    filter_text: str = "{}"  # canonical filter: searches that agree on it can share a batch
    key: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # stage → milliseconds


@dataclass(frozen=True, slots=True)
class StageResult:
    """One query's answer as it climbs the stages, with where it came from."""

    hits: list[Hit]
    plan: list[dict[str, Any]]
    took_ms: float  # router time, or the cache lookup's time on a hit
    source: str = "miss"  # l1 | l2 | l3 | miss | bypass
    shared: bool = False  # answered by another caller's router call


class Stage(Protocol):
    async def __call__(self, query: SearchQuery) -> StageResult: ...


@dataclass
class PipelineStats:
    """Plain counters per stage; ``obs`` renders them."""

    calls: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    unsynced: int = 0  # searches that skipped the cache: the epoch bus was not synced

    def add(self, timings: dict[str, float], source: str | None) -> None:
        for stage, ms in timings.items():
            self.calls[stage] = self.calls.get(stage, 0) + 1
            self.seconds[stage] = self.seconds.get(stage, 0.0) + ms / 1000
        if source is not None:
            self.sources[source] = self.sources.get(source, 0) + 1


def _filter_text(col: CollectionRef, raw: dict[str, Any] | None) -> str:
    """The canonical text of a filter, checked against the collection's schema."""
    if raw is None:
        return "{}"  # the common case skips building the schema
    return canonical_filter(parse_filter(raw, col.config.schema))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class ValidateStage:
    """Checks the request and derives its cache key; errors name the field to fix."""

    def __init__(
        self,
        next_stage: Stage,
        resolve: Callable[[str], CollectionRef],
        embedder: BatchingEmbedder | None,
        epochs: Epochs,
        namespace: str,
    ) -> None:
        self.next = next_stage
        self.resolve = resolve
        self.embedder = embedder
        self.epochs = epochs
        self.namespace = namespace

    async def __call__(self, query: SearchQuery) -> StageResult:
        if not query.key:
            started = time.perf_counter()
            self.prepare(query)
            query.timings["validate"] = _ms_since(started)
        return await self.next(query)

    def prepare(self, q: SearchQuery) -> None:
        col = self.resolve(q.collection)
        vector_bytes = model = text = None
        if q.vector is not None and q.text is not None:
            raise ValidationError("send either vector or text, not both", field="vector")
        if q.vector is not None:
            q.row = check_query(q.vector, col.config.dim)
            vector_bytes = q.row.tobytes()
        elif q.text is None:
            raise ValidationError("a search needs a vector or a text", field="vector")
        else:
            model, text = self._text_identity(col, q.text)
        if q.cache not in CACHE_MODES:
            raise ValidationError(
                f"cache must be one of {', '.join(CACHE_MODES)}, got {q.cache!r}", field="cache"
            )
        o = q.options = check_options(q.options)
        ef, exact = check_search_params(o.params)
        q.filter_text = _filter_text(col, o.filter)
        identity = SearchIdentity(
            collection=col.name,
            vector=vector_bytes,
            model=model,
            text=text,
            filter=q.filter_text,
            ef=ef,
            exact=exact,
            options=SearchIdentity.shape_of(o),
        )
        epoch = self.epochs.of(col.name, col.applied_seq)
        q.key = search_key(identity, q.scope, epoch, self.namespace)
        q.handle = col

    def _text_identity(self, col: CollectionRef, text: str) -> tuple[str, str]:
        embedder = self.embedder
        if embedder is not None and embedder.dim != col.config.dim:
            raise ValidationError(
                f"collection {col.name!r} holds {col.config.dim}-d vectors but the server's "
                f"model {embedder.model_id} makes {embedder.dim}-d ones; send vectors",
                field="text",
            )
        check_text(text, "text", "text")
        if embedder is None:
            raise Unavailable("this server has no embedding model; send vectors instead of text")
        return embedder.model_id, normalise_text(text)


class CacheStage:
    """Answers from the tiered result cache; stores what the stages below computed."""

    def __init__(
        self,
        next_stage: Stage,
        cache: TieredCache,
        epochs: Epochs,
        stats: PipelineStats,
    ) -> None:
        self.next = next_stage
        self.cache = cache
        self.epochs = epochs
        self.stats = stats

    async def __call__(self, query: SearchQuery) -> StageResult:
        if query.cache == "bypass" or not self._may_answer(query.read):
            return dataclasses.replace(await self.next(query), source="bypass")
        if not self.epochs.synced:
            self.stats.unsynced += 1
            return await self.next(query)
        started = time.perf_counter()
        hit = await self.cache.get(query.key)
        if hit is not None:
            hits, plan = decode_body(hit.entry.body)
            took_ms = query.timings["cache"] = _ms_since(started)
            return StageResult(hits, plan, took_ms, hit.tier)
        query.timings["cache"] = _ms_since(started)
        result = await self.next(query)
        if not result.shared:  # the caller that ran the search stores its answer
            started = time.perf_counter()
            body = encode_body(result.hits, result.plan)
            await self.cache.put(query.key, body, result.took_ms / 1000)
            query.timings["cache"] += _ms_since(started)
        return result

    @staticmethod
    def _may_answer(read: ReadOptions) -> bool:
        """Whether an entry may answer a read of this level.

        An entry is keyed by the data epoch the gateway knows, but the replica that
        computed it may have answered from older data, so only levels that accept that
        (``bounded``, ``eventual``) use the cache; ``strong`` and ``session`` reads go to
        a replica that has applied what they ask for.
        """
        return read.consistency in ("bounded", "eventual")


class FlightStage:
    """Identical searches in flight at once share one call of the stages below."""

    def __init__(self, next_stage: Stage, flights: SingleFlight[StageResult]) -> None:
        self.next = next_stage
        self.flights = flights

    async def __call__(self, query: SearchQuery) -> StageResult:
        started = time.perf_counter()
        # A fresher read must not share a staler read's answer: the level is in the key.
        read = query.read
        key = f"{query.key}:{read.consistency}:{read.min_seq}"
        result, shared = await self.flights.do(key, lambda: self.next(query))
        if not shared:
            return result
        query.timings["flight"] = _ms_since(started)
        return dataclasses.replace(result, shared=True)


class EmbedStage:
    """Turns a text query into its vector (batched and cached by the embedder)."""

    def __init__(
        self, next_stage: Stage, embed: Callable[[list[str]], Awaitable[np.ndarray]]
    ) -> None:
        self.next = next_stage
        self.embed = embed

    async def __call__(self, query: SearchQuery) -> StageResult:
        if query.row is None:
            started = time.perf_counter()
            query.row = (await self.embed([query.text or ""]))[0]
            query.timings["embed"] = _ms_since(started)
        return await self.next(query)


class RouteStage:
    """Asks the router for the query's hits, with the request's read options."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def __call__(self, query: SearchQuery) -> StageResult:
        q = query
        assert q.handle is not None and q.row is not None, "validate and embed run first"
        started = time.perf_counter()
        answer = await self.router.search(q.handle.name, q.row.reshape(1, -1), q.options, q.read)
        took_ms = q.timings["search"] = _ms_since(started)
        return StageResult(answer.hits[0], answer.plan, took_ms)


BatchKey = tuple[str, str, bytes, ReadOptions]


class BatchStage:
    """Searches that agree on everything but the vector share one router call.

    The key is (collection, canonical filter, the other options, read options).
    ``MicroBatcher`` (``batcher.py``) decides when a batch leaves: at once
    when the router is idle, or when a call in flight returns, the window closes or it is
    full.
    """

    def __init__(self, router: Router, max_batch: int, max_wait_s: float) -> None:
        self.router = router
        self.batcher: MicroBatcher[BatchKey, SearchQuery, list[Hit]] = MicroBatcher(
            self._call, max_batch=max_batch, max_wait_s=max_wait_s
        )
        self.plans: dict[BatchKey, list[dict[str, Any]]] = {}

    async def __call__(self, query: SearchQuery) -> StageResult:
        q = query
        assert q.handle is not None and q.row is not None, "validate and embed run first"
        rest = msgspec.json.encode(msgspec.structs.replace(q.options, filter=None))
        key = (q.handle.name, q.filter_text, rest, q.read)
        started = time.perf_counter()
        hits = await self.batcher.submit(key, q)
        took_ms = q.timings["search"] = _ms_since(started)
        return StageResult(hits, self.plans.get(key, []), took_ms)

    async def _call(self, key: BatchKey, queries: list[SearchQuery]) -> list[list[Hit]]:
        rows = np.vstack([q.row.reshape(1, -1) for q in queries if q.row is not None])
        answer = await self.router.search(key[0], rows, queries[0].options, key[3])
        self.plans[key] = answer.plan
        if len(self.plans) > 4096:  # keys are many only under unusual traffic
            self.plans.clear()
        return answer.hits


class Pipeline:
    """The built stage chain plus its first stage's ``prepare`` (validation alone)."""

    def __init__(
        self,
        first: Stage,
        validate: ValidateStage,
        stats: PipelineStats,
        batcher: MicroBatcher[Any, Any, Any] | None = None,
    ) -> None:
        self.first = first
        self.validate = validate
        self.stats = stats
        self.batcher = batcher

    def prepare(self, query: SearchQuery) -> str:
        """Validate ``query`` and return its cache key, without searching."""
        if not query.key:
            started = time.perf_counter()
            self.validate.prepare(query)
            query.timings["validate"] = _ms_since(started)
        return query.key

    async def __call__(self, query: SearchQuery) -> StageResult:
        source = None
        try:
            result = await self.first(query)
            source = result.source
            return result
        finally:
            self.stats.add(query.timings, source)


def build_pipeline(
    router: Router,
    resolve: Callable[[str], CollectionRef],
    embedder: BatchingEmbedder | None,
    embed: Callable[[list[str]], Awaitable[np.ndarray]],
    epochs: Epochs,
    cache: TieredCache | None,
    flights: SingleFlight[StageResult],
    namespace: str = "vf",
    batch_max: int = 0,
    batch_wait_s: float = 0.002,
) -> Pipeline:
    """The search pipeline, innermost stage first; ``cache=None`` leaves that stage out.

    ``namespace`` prefixes cache keys: gateways share entries only within one namespace.
    ``batch_max > 1`` puts the micro-batcher in front of the router.
    """
    stats = PipelineStats()
    stage: Stage = RouteStage(router)
    batcher = None
    if batch_max > 1:
        stage = BatchStage(router, batch_max, batch_wait_s)
        batcher = stage.batcher
    stage = EmbedStage(stage, embed)
    stage = FlightStage(stage, flights)
    if cache is not None:
        stage = CacheStage(stage, cache, epochs, stats)
    validate = ValidateStage(stage, resolve, embedder, epochs, namespace)
    return Pipeline(validate, validate, stats, batcher)

"""Gateway calls shared by every edge: validate, embed text, search through the pipeline.

Edges parse their wire format, make one call here and render the result, so the native
API and the d-vecDB-compatible API validate identically (STYLE 5). The data side is a
``DataPlane`` (``data_plane.py``): a router, a writer and an admin over the shards'
nodes and logs, in this process (embedded mode) or across the cluster; nothing here
knows which.

Searches run through the pipeline of ``pipeline.py`` (validate → result cache →
single-flight → embed → batcher → router), built once here. Every acknowledged write raises its
collection's data epoch (``epochs.py``) before the caller hears of it, so no cached
answer from before the write can be served afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vecfleet.embed import BatchingEmbedder
from vecfleet.errors import (
    CollectionNotFound,
    PayloadTooLarge,
    Unavailable,
    ValidationError,
    VecfleetError,
)
from vecfleet.gateway.cache.keys import PUBLIC_SCOPE, scope_of
from vecfleet.gateway.cache.tiered import TieredCache
from vecfleet.gateway.data_plane import DataPlane
from vecfleet.gateway.epochs import Epochs
from vecfleet.gateway.examples import deeper, discover_vector, page_without, recommend_vector
from vecfleet.gateway.limits import (
    MAX_BATCH_SEARCHES,
    MAX_POINTS_PER_WRITE,
    MAX_TEXT_CHARS,
    check_text,
)
from vecfleet.gateway.pipeline import SearchQuery, StageResult, build_pipeline
from vecfleet.gateway.reads import CONSISTENCY_LEVELS, DEFAULT_READ, CollectionRef, ReadOptions
from vecfleet.gateway.singleflight import SingleFlight
from vecfleet.models import (
    CollectionSpec,
    Hit,
    Point,
    ScrollPage,
    SearchOptions,
    SearchRequest,
    WriteAck,
)
from vecfleet.types import PointId

__all__ = [
    "MAX_BATCH_SEARCHES",
    "MAX_POINTS_PER_WRITE",
    "MAX_TEXT_CHARS",
    "Gateway",
    "PointIn",
    "SearchOutcome",
    "SearchRequest",
]


@dataclass
class PointIn:
    """A point as an edge received it: a vector, or a text the server embeds."""

    id: PointId
    vector: Any = None
    text: str | None = None
    payload: dict[str, Any] | None = None


@dataclass
class SearchOutcome:
    hits: list[Hit]
    took_ms: float
    plan: list[dict[str, Any]] = field(default_factory=list)
    cache: str = "miss"  # l1 | l2 | l3 | miss | bypass
    timings: dict[str, float] = field(default_factory=dict)  # stage → milliseconds
    key: str = ""  # the result-cache key (ETag source)


class Gateway:
    """The shared core every edge calls; ``data`` is the data side (router, writer, admin)."""

    def __init__(
        self,
        data: DataPlane,
        embedder: BatchingEmbedder | None,
        cache: TieredCache | None = None,
        epochs: Epochs | None = None,
        cache_namespace: str = "vf",
        default_read: ReadOptions = DEFAULT_READ,
        batch_max: int = 0,
        batch_wait_s: float = 0.002,
    ) -> None:
        self.data = data
        self.embedder = embedder
        self.embed_seconds_total = 0.0
        self.embed_calls = 0
        self.ready = True
        self.cache = cache
        self.epochs = epochs if epochs is not None else Epochs()
        self.default_read = default_read
        self.flights: SingleFlight[StageResult] = SingleFlight()
        self.pipeline = build_pipeline(
            data.router,
            data.collection,
            embedder,
            self.embed,
            self.epochs,
            cache,
            self.flights,
            cache_namespace,
            batch_max,
            batch_wait_s,
        )

    async def start(self) -> None:
        """Read the catalog, join the epoch bus; call once, inside the serving loop."""
        await self.data.start()
        await self.epochs.start()

    # ------------------------------------------------------------------ collections
    async def create_collection(self, spec: CollectionSpec) -> dict[str, Any]:
        info = await self.data.admin.create(spec)
        await self.epochs.note_write(spec.name, info["applied_seq"])
        return info

    async def list_collections(self) -> list[dict[str, Any]]:
        infos = []
        for name in self.data.collection_names():
            with contextlib.suppress(CollectionNotFound):  # dropped since it was listed
                infos.append(await self.data.admin.info(name))
        return infos

    async def collection_info(self, name: str) -> dict[str, Any]:
        return await self.data.admin.info(name)

    async def drop_collection(self, name: str) -> WriteAck:
        ack = await self.data.admin.drop(name)
        await self.epochs.note_write(name, ack.seq)
        return ack

    def collection(self, name: str) -> CollectionRef:
        return self.data.collection(name)

    def data_epoch(self, name: str) -> int | None:
        """The collection's data epoch for cache keys, ``None`` when no cache may answer.

        ``None`` means an unknown or invalid collection name (the request goes on to a
        clear 404 or 422) or an epoch bus not yet synced (another gateway's write might be
        unseen).
        """
        if not self.epochs.synced:
            return None
        try:
            col = self.data.collection(name)
        except VecfleetError:
            return None
        return self.epochs.of(name, col.applied_seq)

    def caller_scope(self, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The cache scope of the request with these headers, computed once per request.

        Every cache tier keys on it, the HTTP edge's included, so this is the one hook
        that decides whose entries a caller may read: today its tenant header and a hash
        of its credentials.
        """
        tenant = authorization = None
        for name, value in headers:
            if name == b"x-tenant":
                tenant = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
        return scope_of(tenant, authorization)

    def read_options(self, consistency: str | None = None, seq: int | None = None) -> ReadOptions:
        """The request's read options: its consistency level over the server's default."""
        return read_options(self.default_read, consistency, seq)

    # ------------------------------------------------------------------ embedding
    async def embed(self, texts: list[str], field_name: str = "text") -> np.ndarray:
        for i, text in enumerate(texts):
            check_text(text, f"{field_name}[{i}]", field_name)
        if self.embedder is None:
            raise Unavailable("this server has no embedding model; send vectors instead of text")
        started = time.perf_counter()
        vectors = await self.embedder.embed_many(texts)
        self.embed_seconds_total += time.perf_counter() - started
        self.embed_calls += 1
        return vectors

    def _check_dim(self, col: CollectionRef) -> None:
        if self.embedder is not None and self.embedder.dim != col.config.dim:
            raise ValidationError(
                f"collection {col.name!r} holds {col.config.dim}-d vectors but the server's "
                f"model {self.embedder.model_id} makes {self.embedder.dim}-d ones; send vectors",
                field="text",
            )

    # ------------------------------------------------------------------ points
    async def upsert(
        self, name: str, points: list[PointIn], consistency: str | None = None
    ) -> WriteAck:
        col = self.collection(name)
        if not points:
            raise ValidationError("points must hold at least one point", field="points")
        if len(points) > MAX_POINTS_PER_WRITE:
            raise PayloadTooLarge(
                f"{len(points)} points in one request; the limit is {MAX_POINTS_PER_WRITE}",
                field="points",
            )
        vectors: list[Any] = [None] * len(points)
        need_text: list[int] = []
        for i, p in enumerate(points):
            if p.vector is not None:
                vectors[i] = p.vector
            elif p.text is not None:
                need_text.append(i)
            else:
                raise ValidationError(
                    f"points[{i}] needs a vector or a text", field="points", row=i
                )
        if need_text:
            self._check_dim(col)
            embedded = await self.embed(
                [points[i].text for i in need_text],  # type: ignore[misc]
                "points[].text",
            )
            for j, i in enumerate(need_text):
                vectors[i] = embedded[j]
        matrix = _stack(vectors, col.config.dim)
        ids = [p.id for p in points]
        payloads = [p.payload if p.payload is not None else {} for p in points]
        ack = await self.data.writer.upsert(name, ids, matrix, payloads, _visible(consistency))
        await self.epochs.note_write(name, ack.seq)
        return ack

    async def get_points(
        self, name: str, ids: list[PointId], with_vectors: bool, read: ReadOptions | None = None
    ) -> list[Point]:
        return await self.data.router.get(name, ids, with_vectors, read or self.default_read)

    async def delete_points(
        self, name: str, ids: list[PointId], consistency: str | None = None
    ) -> WriteAck:
        ack = await self.data.writer.delete(name, ids, _visible(consistency))
        await self.epochs.note_write(name, ack.seq)
        return ack

    async def count(
        self, name: str, filter: dict[str, Any] | None, read: ReadOptions | None = None
    ) -> int:
        return await self.data.router.count(name, filter, read or self.default_read)

    async def scroll(
        self, name: str, page: ScrollPage, read: ReadOptions | None = None
    ) -> tuple[list[Point], int | None]:
        return await self.data.router.scroll(name, page, read or self.default_read)

    # ------------------------------------------------------------------ search
    def search_query(
        self, name: str, request: SearchRequest, scope: str = PUBLIC_SCOPE
    ) -> SearchQuery:
        """``request`` as it travels the pipeline; ``scope`` isolates callers' cache entries."""
        read = self.read_options(request.consistency, request.seq)
        return SearchQuery(
            name, request.vector, request.text, request.options, scope, request.cache, read
        )

    def prepare(self, query: SearchQuery) -> str:
        """Validate ``query`` without running it; its cache key (changes with the data)."""
        return self.pipeline.prepare(query)

    async def run(self, query: SearchQuery) -> SearchOutcome:
        result = await self.pipeline(query)
        return SearchOutcome(
            result.hits, result.took_ms, result.plan, result.source, query.timings, query.key
        )

    async def search(
        self, name: str, request: SearchRequest, scope: str = PUBLIC_SCOPE
    ) -> SearchOutcome:
        """``request`` run through the pipeline."""
        return await self.run(self.search_query(name, request, scope))

    async def recommend(
        self,
        name: str,
        positive: list[PointId],
        negative: list[PointId],
        options: SearchOptions,
        scope: str = PUBLIC_SCOPE,
    ) -> list[Hit]:
        """Points like the ``positive`` examples and unlike the ``negative`` ones
        (``examples.py``); the examples themselves are not answered."""
        vectors = await self._examples(name, [*positive, *negative])
        query = recommend_vector([vectors[i] for i in positive], [vectors[i] for i in negative])
        return await self._without(name, query, options, {*positive, *negative}, scope)

    async def discover(
        self,
        name: str,
        target: Any,
        context: list[tuple[PointId, PointId]],
        options: SearchOptions,
        scope: str = PUBLIC_SCOPE,
    ) -> list[Hit]:
        """Points near ``target`` (a vector, or the id of an example) in the direction
        the ``(positive, negative)`` context pairs point to; examples are not answered."""
        by_id = isinstance(target, str | int) and not isinstance(target, bool)
        ids: list[PointId] = [i for pair in context for i in pair]
        if by_id:
            ids.append(target)
        vectors = await self._examples(name, ids)
        base = vectors[target] if by_id else target
        dim = self.collection(name).config.dim
        if np.shape(base) != (dim,):
            raise ValidationError(
                f"target vector must have {dim} numbers, got shape {np.shape(base)}",
                field="target",
            )
        query = discover_vector(base, [(vectors[p], vectors[n]) for p, n in context])
        return await self._without(name, query, options, set(ids), scope)

    async def _examples(self, name: str, ids: list[PointId]) -> dict[PointId, np.ndarray]:
        if not ids:
            self.collection(name)  # a missing collection still fails
            return {}
        found = await self.get_points(name, list(dict.fromkeys(ids)), with_vectors=True)
        vectors: dict[PointId, np.ndarray] = {}
        for p in found:
            vectors[p.id] = vectors[str(p.id)] = np.asarray(p.vector, dtype=np.float32)
        missing = [i for i in ids if i not in vectors]
        if missing:  # the request names it: invalid input, not a missing resource
            raise ValidationError(
                f"example point {missing[0]!r} does not exist in collection {name!r}",
                field="examples",
                collection=name,
                id=missing[0],
            )
        return vectors

    async def _without(
        self,
        name: str,
        query: np.ndarray,
        options: SearchOptions,
        skip: set[PointId],
        scope: str,
    ) -> list[Hit]:
        ask = deeper(options, len(skip))
        if options.limit == 0:
            self.collection(name)
            return []
        outcome = await self.search(name, SearchRequest(query, options=ask), scope)
        return page_without(outcome.hits, skip, options)

    async def search_batch(
        self, name: str, requests: list[SearchRequest], scope: str = PUBLIC_SCOPE
    ) -> list[SearchOutcome]:
        if not 1 <= len(requests) <= MAX_BATCH_SEARCHES:
            raise ValidationError(
                f"searches must hold 1..{MAX_BATCH_SEARCHES} entries", field="searches"
            )
        return list(await asyncio.gather(*(self.search(name, r, scope) for r in requests)))

    async def close(self) -> None:
        if self.pipeline.batcher is not None:
            await self.pipeline.batcher.aclose()
        if self.cache is not None:
            await self.cache.aclose()
        await self.epochs.aclose()
        if self.embedder is not None:
            await self.embedder.aclose()
        await self.data.aclose()


def _check_level(level: str) -> str:
    if level not in CONSISTENCY_LEVELS:
        raise ValidationError(
            f"consistency must be one of {', '.join(CONSISTENCY_LEVELS)}, got {level!r}",
            field="consistency",
        )
    return level


def _visible(consistency: str | None) -> bool:
    """Whether a write asks to be acknowledged only once every replica applied it."""
    return consistency is not None and _check_level(consistency) == "strong"


def read_options(default: ReadOptions, consistency: str | None, seq: int | None) -> ReadOptions:
    """``default`` with the request's consistency level and session sequence applied."""
    if consistency is None and seq is None:
        return default
    level = _check_level(consistency or ("session" if seq is not None else default.consistency))
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise ValidationError("seq must be a non-negative write sequence", field="seq")
    if level == "session" and seq is None:
        raise ValidationError(
            "session consistency needs seq: the sequence of your last write", field="seq"
        )
    return dataclasses.replace(default, consistency=level, min_seq=seq or 0)


def _stack(vectors: list[Any], dim: int) -> np.ndarray:
    rows = []
    for i, v in enumerate(vectors):
        try:
            arr = np.asarray(v, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"points[{i}].vector must be {dim} numbers", field="points", row=i
            ) from exc
        if arr.shape != (dim,):
            raise ValidationError(
                f"points[{i}].vector must have {dim} numbers, got shape {tuple(arr.shape)}",
                field="points",
                row=i,
            )
        rows.append(arr)
    return np.stack(rows).astype(np.float32, copy=False)

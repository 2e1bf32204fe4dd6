"""The L1 hit path at the HTTP edge: repeated searches answered from their request bytes.

A search that the pipeline's L1 would answer still pays for routing, JSON decoding of a
384-number vector, validation, key derivation and response encoding: about four fifths
of its time on this server (docs/serving.md). Most repeated searches are byte-identical
(the same client asking the same thing), so this plain ASGI layer keeps the encoded
response of each successful ``POST /v1/collections/{name}/search`` under a key of

    caller scope, collection, data epoch, request body bytes   (``keys.request_key``)

and answers the next identical request with it before any of that work. It is as
correct as the pipeline's cache because its key holds the same epoch: a write raises the
epoch (``Gateway.data_epoch``), so every answer stored before it becomes unreachable at
once. Requests it cannot judge go through untouched: an unknown collection, an epoch
bus not yet synced, ``"cache": "bypass"``, a ``strong`` or ``session`` read, a body over
``max_body_bytes``, and any answer other than a ``200`` from the pipeline.
Byte-different but equivalent requests
(another key order, say) still meet in the pipeline's L1, whose key is canonical.

Under ``vecfleet serve`` most hits never reach this layer: the HTTP protocol of
``edge.py`` answers them from the same store (``answer``) before an ASGI request
exists. This layer stores every answer, counts the misses and answers the hits that the
protocol hands on (a request pipelined behind another, for one).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vecfleet.gateway.cache.base import TierStats
from vecfleet.gateway.cache.keys import request_key
from vecfleet.gateway.cache.memory import MemoryCache

PREFIX = "/v1/collections/"
SUFFIX = "/search"
ROUTE = PREFIX + "{name}" + SUFFIX
Headers = list[tuple[bytes, bytes]]
CACHEABLE = frozenset({b"miss", b"l1", b"l2", b"l3"})


class HotSearchCache:
    """ASGI layer answering byte-identical repeated searches (see the module docstring).

    ``epoch_of(name)`` is the collection's data epoch, or ``None`` when the cache must
    not be used (unknown collection, epochs not synced). ``observe_hit(seconds)`` records
    a request the layer answered itself, as the metrics middleware would have.
    """

    def __init__(
        self,
        app: ASGIApp | None,
        epoch_of: Callable[[str], int | None],
        scope_of: Callable[[Headers], str],
        max_bytes: int,
        ttl_s: float,
        max_body_bytes: int,
        observe_hit: Callable[[float], None] | None = None,
    ) -> None:
        self.app = app
        self.epoch_of = epoch_of
        self.scope_of = scope_of
        self.entries = MemoryCache(max_bytes)
        self.ttl_s = ttl_s
        self.max_body_bytes = max_body_bytes
        self.observe_hit = observe_hit
        # Replicas may lag writes, so a request that asks for a fresh answer (strong,
        # session) is never answered from here; see CacheStage.
        self.fresh_markers = (b'"strong"', b'"session"')
        # hit, miss, skip (a request it may not answer) and hit latency, exported as the
        # cache tier "edge" (obs/metrics.py)
        self.stats = TierStats()

    def wrap(self, app: ASGIApp) -> HotSearchCache:
        """This layer in front of ``app``: a middleware factory that keeps the instance
        reachable, so the connection-level protocol (``edge.py``) can share its store."""
        self.app = app
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "wrap() an app first"
        name = _search_collection(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body, complete = await _read_body(receive, self.max_body_bytes)
        key = self._key_now(name, scope["headers"], body) if complete else None
        stored = None if key is None else self.entries.get_now(key)
        if stored is not None:
            # Only bodies that passed the checks below were ever stored, and this body is
            # byte-identical to one of them, so the hit needs no scan of its own.
            await _send_stored(send, stored, started)
            self.hit_answered(time.perf_counter() - started)
            return
        replay = _replay(body, complete, receive)
        if key is None or b'"bypass"' in body or any(m in body for m in self.fresh_markers):
            self.stats.count("skip")
            await self.app(scope, replay, send)
            return
        self.stats.count("miss")
        await self.app(scope, replay, self._storing(send, key))

    def answer(self, name: str, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes | None:
        """The stored response to a byte-identical earlier search, or None.

        For callers below ASGI (``edge.py``), which report a hit they answered with
        ``hit_answered``; a miss is counted by ``__call__``, where the request goes next.
        """
        key = self._key_now(name, headers, body)
        return None if key is None else self.entries.get_now(key)

    def _key_now(self, name: str, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes | None:
        """The request's key at the collection's current epoch; None while it has none."""
        epoch = self.epoch_of(name)
        return None if epoch is None else request_key(self.scope_of(headers), name, epoch, body)

    def hit_answered(self, seconds: float) -> None:
        """Count a hit answered in ``seconds``, in this tier's and the request metrics."""
        self.stats.count("hit")
        self.stats.latency.observe(seconds)
        if self.observe_hit is not None:
            self.observe_hit(seconds)

    def _storing(self, send: Send, key: bytes) -> Send:
        """``send`` that keeps a copy of a cacheable single-body answer under ``key``."""
        keep = False

        async def send_and_keep(message: Message) -> None:
            nonlocal keep
            if message["type"] == "http.response.start":
                keep = message["status"] == 200 and _cacheable(message["headers"])
            elif keep and message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    self.entries.set_now(key, message.get("body", b""), self.ttl_s)
                keep = False
            await send(message)

        return send_and_keep


def _search_collection(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    return search_collection(scope["path"])


def search_collection(path: str) -> str | None:
    """The collection a search path names, or None for any other path."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    name = path[len(PREFIX) : -len(SUFFIX)]
    return name if name and "/" not in name else None


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, and whether it is all there (False past ``limit`` or a hangup)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if size > limit:
            return b"".join(chunks), False


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the bytes already read, then the rest."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": not complete}
        return await receive()

    return replay


def _cacheable(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k == b"x-cache" and v in CACHEABLE for k, v in headers)


def stored_headers(body: bytes, started: float) -> list[tuple[bytes, bytes]]:
    """The headers of an answer from the stored response ``body``."""
    timing = f'cache;dur={(time.perf_counter() - started) * 1000:.3f};desc="l1"'.encode()
    return [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"x-cache", b"l1"),
        (b"server-timing", timing),
    ]


async def _send_stored(send: Send, body: bytes, started: float) -> None:
    headers = stored_headers(body, started)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})

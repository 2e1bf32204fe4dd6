"""The edge L1 at the connection: repeated searches answered before an ASGI request exists.

``hot.py`` answers a byte-identical repeated search from its stored response, but only
after uvicorn has built the request's ASGI scope, its receive/send pair, an event and a
task, and the app has passed it down to the layer: on a hit that machinery is most of
the work. This HTTP protocol (uvicorn's httptools protocol, one method each for the
parser's header, body and end-of-message events) holds back a ``POST`` to a search path
until its body is in, asks ``HotSearchCache.answer`` for a stored response and writes it
to the socket at once. Anything else (a miss, a body over the limit, a request behind
another on a pipelined connection, a client that is not reading its answers,
``Expect: 100-continue``, a query string) is handed to the ASGI app exactly as uvicorn
would have, late by the time the body took to arrive; the ASGI layer of ``hot.py`` then
stores or answers as before.

The protocol works on uvicorn's internals (``HttpToolsProtocol``'s callbacks and its
``cycle``/``flow`` fields); ``tests/unit/api/test_edge_protocol.py`` holds the
behaviour it must keep against a real uvicorn: keep-alive, ``Connection: close``,
HTTP/1.0, pipelining, bodies in pieces, chunked and oversized bodies, tenants and writes.
"""

from __future__ import annotations

import asyncio
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from vecfleet.api.hot import HotSearchCache, search_collection, stored_headers

STATUS_OK = b"HTTP/1.1 200 OK\r\n"


class EdgeHttpProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that answers L1 hits itself (see the module docstring)."""

    hot: HotSearchCache  # set on the subclass ``edge_protocol`` makes
    _held: list[bytes] | None = None  # the body of a search held back, while it arrives
    _held_size = 0
    _collection = ""

    def on_headers_complete(self) -> None:
        # A hit answered earlier in this read armed the keep-alive timer; a request that
        # follows it in the same read must not be cut off by it.
        self._unset_keepalive_if_required()
        name = self._search_to_hold()
        if name is None:
            super().on_headers_complete()
            return
        self._collection = name
        self._held = []
        self._held_size = 0

    def on_body(self, body: bytes) -> None:
        held = self._held
        if held is None:
            super().on_body(body)
            return
        held.append(body)
        self._held_size += len(body)
        if self._held_size > self.hot.max_body_bytes:
            self._hand_over()

    def on_message_complete(self) -> None:
        if self._held is None:
            super().on_message_complete()
            return
        started = time.perf_counter()
        body = b"".join(self._held)
        stored = self.hot.answer(self._collection, self.headers, body)
        if stored is None:
            self._hand_over()
            super().on_message_complete()
            return
        self._held = None
        keep_alive = self.parser.get_http_version() == "1.1" and self.parser.should_keep_alive()
        self.transport.write(self._response(stored, started, keep_alive))
        self.hot.hit_answered(time.perf_counter() - started)
        if keep_alive:
            self.on_response_complete()  # counts it, arms the keep-alive timer
        else:
            self.transport.close()

    def _search_to_hold(self) -> str | None:
        """The collection of a search this connection may answer itself, or None."""
        if self.parser.get_method() != b"POST" or self.expect_100_continue:
            return None
        if self.cycle is not None and not self.cycle.response_complete:
            return None  # pipelined behind a request still running: keep the order
        if self.flow.write_paused or self.parser.should_upgrade():
            return None
        url = self.url
        if b"?" in url or b"%" in url or not url.startswith(b"/"):
            return None
        return search_collection(url.decode("ascii", "replace"))

    def _hand_over(self) -> None:
        """Give the held request to the ASGI app as uvicorn would have at its headers."""
        body = b"".join(self._held or ())
        self._held = None
        super().on_headers_complete()
        if body:
            super().on_body(body)

    def _response(self, body: bytes, started: float, keep_alive: bool) -> bytes:
        parts = [STATUS_OK]
        for name, value in (*self.server_state.default_headers, *stored_headers(body, started)):
            parts += (name, b": ", value, b"\r\n")
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        parts += (b"\r\n", body)
        return b"".join(parts)


def edge_protocol(hot: HotSearchCache) -> type[asyncio.Protocol]:
    """The HTTP protocol class for uvicorn (``http=``) answering from ``hot``."""
    return type("EdgeHttpProtocol", (EdgeHttpProtocol,), {"hot": hot})

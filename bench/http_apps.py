"""ASGI applications the HTTP benchmark serves, importable by uvicorn and granian.

``raw`` is the floor: a hand-written ASGI callable. ``bare`` is the same answer through a
Starlette route, ``middleware`` adds one ``BaseHTTPMiddleware`` (what ``vecfleet.api.app``
uses for request metrics). ``vecfleet_app`` builds the real embedded server from the
``VECFLEET__SECTION__KEY`` environment, as ``vecfleet serve`` does.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"status":"ok"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"15")]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def _hello(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


class _Noop(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        return await call_next(request)


bare = Starlette(routes=[Route("/", _hello)])
middleware = Starlette(routes=[Route("/", _hello)], middleware=[Middleware(_Noop)])


def vecfleet_app() -> Starlette:
    from vecfleet.config import load_settings
    from vecfleet.runtime import build_embedded

    return build_embedded(load_settings(None, os.environ)).app

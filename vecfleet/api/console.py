"""The incident search page served at ``/`` and the demo status it polls.

The page is static HTML, CSS and JavaScript shipped as package data (no build step, no
third-party assets); it searches through the native API, so it exercises exactly what a
client does. ``GET /v1/demo/status`` reports the background demo ingest and the facet
values the page offers as filters.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vecfleet.api.schemas import DemoStatusOut
from vecfleet.api.wire import json_response
from vecfleet.demo.incidents import INDUSTRY_NAMES, SEVERITIES
from vecfleet.gateway import Gateway

DEFAULT_COLLECTION = "incidents"
ASSETS = {
    "/": ("console.html", "text/html; charset=utf-8"),
    "/console/console.css": ("console.css", "text/css; charset=utf-8"),
    "/console/console.js": ("console.js", "text/javascript; charset=utf-8"),
}
# The page loads only its own files and talks only to this server; payload text is never
# parsed as HTML, and the policy makes an injected inline script inert all the same.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def demo_status(demo: Any, collection: str) -> DemoStatusOut:
    """The loader's progress (``state`` ``off`` without a loader) plus the page's facets."""
    progress: dict[str, Any] = demo.progress.as_dict() if demo is not None else {"state": "off"}
    return DemoStatusOut(
        state=progress["state"],
        total=progress.get("total", 0),
        done=progress.get("done", 0),
        error=progress.get("error", ""),
        elapsed_s=progress.get("elapsed_s", 0.0),
        collection=collection,
        industries=list(INDUSTRY_NAMES),
        severities=list(SEVERITIES),
    )


def _asset_route(path: str, filename: str, media_type: str) -> Route:
    body = resources.files("vecfleet.api").joinpath("static", filename).read_bytes()

    async def serve(request: Request) -> Response:
        return Response(body, media_type=media_type, headers=HEADERS)

    return Route(path, serve, methods=["GET"])


def console_routes(gateway: Gateway, demo: Any) -> list[BaseRoute]:
    """Routes of the console: the page, its two assets and ``GET /v1/demo/status``.

    ``demo`` is the background loader (anything with ``name`` and ``progress.as_dict()``)
    or ``None`` when the server runs without the demo collection.
    """
    collection = getattr(demo, "name", DEFAULT_COLLECTION)

    async def status(request: Request) -> Response:
        return json_response(demo_status(demo, collection), headers={"Cache-Control": "no-store"})

    routes: list[BaseRoute] = [
        _asset_route(path, filename, media_type) for path, (filename, media_type) in ASSETS.items()
    ]
    routes.append(Route("/v1/demo/status", status, methods=["GET"]))
    return routes

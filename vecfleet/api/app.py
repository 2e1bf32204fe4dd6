"""The ASGI application: routes from every edge, one error handler, request metrics."""

from __future__ import annotations

import logging
import time

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vecfleet.api import v1
from vecfleet.api.errors import headers_for, status_for
from vecfleet.api.health import liveness, readiness
from vecfleet.api.hot import ROUTE, HotSearchCache
from vecfleet.api.openapi import build_openapi
from vecfleet.api.wire import DEFAULT_MAX_BODY_BYTES, error_response, json_response
from vecfleet.errors import VecfleetError
from vecfleet.gateway import Gateway
from vecfleet.obs.metrics import Metrics

log = logging.getLogger(__name__)


class MetricsMiddleware:
    """Observes each HTTP request's route template, method, status and latency.

    Plain ASGI: Starlette's ``BaseHTTPMiddleware`` cut a hello route's throughput to a
    third (docs/http-server.md). An exception that escapes the app is counted as a 500,
    which is what the outer error handler sends.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(path, scope["method"], status, time.perf_counter() - started)


async def vecfleet_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VecfleetError)
    return error_response(status_for(exc), exc.code, exc.message, exc.details, headers_for(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = f"{request.method} {request.url.path}: {exc.detail}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(exc.status_code, code, message, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on the request's path.

    Starlette's 405 names only the first route matching the path, and a path served by
    several routes (``GET`` and ``POST /v1/collections``) needs them all in ``Allow``.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal", "internal error; the server log has the details")


def build_app(
    gateway: Gateway,
    extra_routes: list[BaseRoute] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    http_max_age_s: int = 0,
    hot_cache_bytes: int = 0,
    hot_cache_ttl_s: float = 60.0,
) -> Starlette:
    """The HTTP app; ``hot_cache_bytes > 0`` adds the edge L1 of ``hot.py`` in front."""
    metrics = Metrics(gateway)
    openapi = msgspec.json.encode(build_openapi())

    async def live(request: Request) -> Response:
        return json_response(liveness())

    async def ready(request: Request) -> Response:
        body, status = readiness(gateway)
        return json_response(body, status)

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    async def openapi_route(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    routes: list[BaseRoute] = [
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/openapi.json", openapi_route, methods=["GET"]),
        *v1.routes(gateway, max_body_bytes, http_max_age_s),
        *(extra_routes or []),
    ]
    middleware = [Middleware(MetricsMiddleware, metrics=metrics)]
    hot = None
    if hot_cache_bytes > 0:
        hot = HotSearchCache(
            None,
            epoch_of=gateway.data_epoch,
            scope_of=gateway.caller_scope,
            max_bytes=hot_cache_bytes,
            ttl_s=hot_cache_ttl_s,
            max_body_bytes=max_body_bytes,
            observe_hit=metrics.observer(ROUTE, "POST", 200),
        )
        middleware.insert(0, Middleware(hot.wrap))
        metrics.serving.edge = (hot.stats, hot.entries)
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            VecfleetError: vecfleet_error,
            HTTPException: http_error,
            Exception: unexpected_error,
        },
    )
    app.state.gateway = gateway
    app.state.metrics = metrics
    app.state.hot = hot  # the edge L1, for the connection-level protocol (edge.py)
    return app

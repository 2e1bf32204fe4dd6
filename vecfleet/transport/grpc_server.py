"""The node's gRPC edge: decode a request, make one ``NodeAPI`` call, encode the answer.

Thin by design (STYLE 5): validation lives in the engine behind ``NodeService``, so the
in-process and gRPC transports agree on every answer and every error. A vecfleet error
becomes the status of ``status.GRPC_STATUS`` plus the exact error in trailing metadata; any
other exception is a bug, logged here with its trace and sent as ``INTERNAL``.

The call's budget is the client's gRPC deadline (``context.time_remaining()``), so a
gateway's remaining time travels with each request without a field of its own.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
import grpc.aio

from vecfleet.errors import VecfleetError
from vecfleet.node.base import DEFAULT_TIMEOUT_S, NodeAPI
from vecfleet.transport import codec
from vecfleet.transport.proto import vecfleet_pb2 as pb
from vecfleet.transport.proto import vecfleet_pb2_grpc as pb_grpc
from vecfleet.transport.status import error_metadata, grpc_status_for

log = logging.getLogger(__name__)

SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_receive_message_length", codec.MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", codec.MAX_MESSAGE_BYTES),
    # Accept the client's keepalive pings (every 20 s, even when idle) instead of
    # answering them with GOAWAY "too_many_pings".
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
)

_PORTS: weakref.WeakKeyDictionary[grpc.aio.Server, int] = weakref.WeakKeyDictionary()

Request = TypeVar("Request")
Reply = TypeVar("Reply")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[Reply]]


def _budget_s(context: grpc.aio.ServicerContext[Any, Any]) -> float:
    remaining = context.time_remaining()
    return DEFAULT_TIMEOUT_S if remaining is None else remaining


def _rpc(method: Callable[[Any, Request, float], Awaitable[Reply]]) -> Handler[Request, Reply]:
    """``method(request, timeout_s)`` with vecfleet errors turned into gRPC statuses."""

    @functools.wraps(method)
    async def handler(
        self: Any, request: Request, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Reply:
        try:
            return await method(self, request, _budget_s(context))
        except VecfleetError as exc:
            await context.abort(
                grpc_status_for(exc), exc.message, trailing_metadata=error_metadata(exc)
            )
        except Exception as exc:
            log.exception("node %s failed", method.__name__)
            internal = VecfleetError(f"internal error in node: {type(exc).__name__}: {exc}")
            await context.abort(
                grpc.StatusCode.INTERNAL,
                internal.message,
                trailing_metadata=error_metadata(internal),
            )
        raise AssertionError("context.abort returned")  # pragma: no cover

    return handler


class NodeServicer(pb_grpc.NodeServicer):
    """Serves one ``NodeAPI`` (normally a ``NodeService``) over gRPC."""

    def __init__(self, node: NodeAPI) -> None:
        self._node = node

    @_rpc
    async def Search(self, request: pb.SearchRequest, timeout_s: float) -> pb.SearchResponse:
        result = await self._node.search(codec.search_from_proto(request, timeout_s))
        return codec.result_to_proto(result)

    @_rpc
    async def Get(self, request: pb.GetRequest, timeout_s: float) -> pb.GetResponse:
        points = await self._node.get(codec.get_from_proto(request, timeout_s))
        return pb.GetResponse(points=codec.points_to_proto(points))

    @_rpc
    async def Count(self, request: pb.CountRequest, timeout_s: float) -> pb.CountResponse:
        return pb.CountResponse(
            count=await self._node.count(codec.count_from_proto(request, timeout_s))
        )

    @_rpc
    async def Scroll(self, request: pb.ScrollRequest, timeout_s: float) -> pb.ScrollResponse:
        points, cursor = await self._node.scroll(codec.scroll_from_proto(request, timeout_s))
        return pb.ScrollResponse(points=codec.points_to_proto(points), next_cursor=cursor)

    @_rpc
    async def Status(self, request: pb.StatusRequest, timeout_s: float) -> pb.StatusResponse:
        return codec.status_to_proto(await self._node.status(timeout_s=timeout_s))

    @_rpc
    async def Health(self, request: pb.HealthRequest, timeout_s: float) -> pb.HealthResponse:
        return codec.health_to_proto(await self._node.health(timeout_s=timeout_s))


async def serve_node(node: NodeAPI, host: str = "127.0.0.1", port: int = 0) -> grpc.aio.Server:
    """A started gRPC server answering for ``node`` on ``host:port``.

    ``port=0`` picks a free port; ``server_port(server)`` tells which (a node registers it
    in membership). Stop with ``stop_node``.
    """
    server = grpc.aio.server(options=SERVER_OPTIONS)
    pb_grpc.add_NodeServicer_to_server(NodeServicer(node), server)
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {address}: {exc}") from exc
    await server.start()
    _PORTS[server] = bound
    return server


def server_port(server: grpc.aio.Server) -> int:
    """The port ``serve_node`` bound (the real one when it was asked for port 0)."""
    return _PORTS[server]


async def stop_node(server: grpc.aio.Server, grace_s: float = 5.0) -> None:
    """Refuse new calls at once; calls in flight get ``grace_s`` to finish, then are cancelled.

    For a stop without failed reads, ``NodeService.drain()`` first and wait for routers to
    notice (one membership heartbeat) before calling this.
    """
    await server.stop(grace_s)


__all__ = ["NodeServicer", "serve_node", "server_port", "stop_node"]

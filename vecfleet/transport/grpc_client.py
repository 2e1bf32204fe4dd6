"""``GrpcNode``: ``NodeAPI`` over a gRPC channel to one node process (cluster mode).

One ``grpc.aio`` channel per node address, shared by every call (HTTP/2 multiplexes them),
created on first use so the object can be built by synchronous composition code. The
channel sends keepalive pings so a dead peer is noticed between calls, and reconnects with
a short backoff (0.1 s doubling to 2 s) so a restarted node is found again within seconds.

Each call's gRPC deadline is its ``timeout_s``; the node reads it as its own budget. Calls
fail fast while the node is unreachable (no ``wait_for_ready``): the router, not the
channel, decides whether to try another replica. Every failure is a ``vecfleet.errors``
exception: the node's own error rebuilt exactly, ``DeadlineExceeded`` past the deadline,
``Unavailable`` when the node cannot be reached or goes away mid-call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import grpc.aio

from vecfleet.errors import ValidationError
from vecfleet.models import Point, SearchResult, ShardCount, ShardGet, ShardScroll, ShardSearch
from vecfleet.node.base import DEFAULT_TIMEOUT_S, NodeHealth, NodeStatus
from vecfleet.transport import codec
from vecfleet.transport.proto import vecfleet_pb2 as pb
from vecfleet.transport.proto import vecfleet_pb2_grpc as pb_grpc
from vecfleet.transport.status import error_from_status

M = TypeVar("M")


def channel_options(keepalive_s: float = 20.0, max_backoff_s: float = 2.0) -> list[tuple[str, int]]:
    """Channel arguments of a node connection (see the module docstring for why)."""
    return [
        ("grpc.keepalive_time_ms", int(keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", 5_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", int(max_backoff_s * 1000)),
        ("grpc.max_receive_message_length", codec.MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", codec.MAX_MESSAGE_BYTES),
    ]


def _encode(make: Callable[[], M]) -> M:
    """A request message; a value protobuf cannot hold is the caller's ``ValidationError``."""
    try:
        return make()
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"cannot encode the request: {exc}") from exc


class GrpcNode:
    """The node at ``address`` (``host:port``), as a ``NodeAPI``."""

    def __init__(self, address: str, *, keepalive_s: float = 20.0, max_backoff_s: float = 2.0):
        self.address = address
        self._options = channel_options(keepalive_s, max_backoff_s)
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.NodeStub | None = None

    def _node(self) -> pb_grpc.NodeStub:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=self._options)
            self._stub = pb_grpc.NodeStub(self._channel)
        return self._stub

    async def _call(self, rpc: str, request: Any, timeout_s: float) -> Any:
        method = getattr(self._node(), rpc)
        try:
            return await method(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise error_from_status(
                exc.code(), exc.details(), exc.trailing_metadata(), self.address
            ) from exc

    async def search(self, request: ShardSearch) -> SearchResult:
        message = _encode(lambda: codec.search_to_proto(request))
        reply = await self._call("Search", message, request.gate.timeout_s)
        return codec.result_from_proto(reply)

    async def get(self, request: ShardGet) -> list[Point]:
        message = _encode(lambda: codec.get_to_proto(request))
        reply = await self._call("Get", message, request.gate.timeout_s)
        return codec.points_from_proto(reply.points)

    async def count(self, request: ShardCount) -> int:
        message = _encode(lambda: codec.count_to_proto(request))
        reply = await self._call("Count", message, request.gate.timeout_s)
        return int(reply.count)

    async def scroll(self, request: ShardScroll) -> tuple[list[Point], int | None]:
        message = _encode(lambda: codec.scroll_to_proto(request))
        reply = await self._call("Scroll", message, request.gate.timeout_s)
        next_cursor = reply.next_cursor if reply.HasField("next_cursor") else None
        return codec.points_from_proto(reply.points), next_cursor

    async def status(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeStatus:
        reply = await self._call("Status", pb.StatusRequest(), timeout_s)
        return codec.status_from_proto(reply)

    async def health(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeHealth:
        reply = await self._call("Health", pb.HealthRequest(), timeout_s)
        return codec.health_from_proto(reply)

    async def aclose(self) -> None:
        """Close the channel; calls still in flight fail with ``Unavailable``."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            await channel.close()

    def __repr__(self) -> str:
        return f"<GrpcNode {self.address}>"


__all__ = ["GrpcNode", "channel_options"]

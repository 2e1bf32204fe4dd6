"""The node seam: what a gateway may ask of a process hosting shard replicas.

Two protocols live here so neither side depends on the other's implementation:

* ``ReplicaView`` is all the node service needs of a replica (a local engine handle plus
  how far it has applied its shard's log). ``vecfleet.node.replica`` builds the real one
  over a log consumer; tests wrap an embedded collection, which is never behind.
* ``NodeAPI`` is what the gateway calls. ``NodeService`` implements it over replica views;
  ``vecfleet.transport`` carries it in-process (embedded mode) or over gRPC (cluster
  mode) with the same results and the same exceptions, so the gateway never knows which.

Every data read takes the same freshness gate, a ``models.ReadGate``: ``min_seq``
(session / strong reads wait until the replica has applied that sequence) and
``max_lag_ms`` (bounded staleness: a replica lagging more refuses with ``ReplicaBehind``
at once, so the router tries another), all within ``timeout_s`` (``DeadlineExceeded``
past it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec

from vecfleet.models import (
    Point,
    SearchResult,
    ShardCount,
    ShardGet,
    ShardScroll,
    ShardSearch,
)

if TYPE_CHECKING:  # the gateway imports this module and must not load the engine
    from vecfleet.engine.api import CollectionHandle

DEFAULT_TIMEOUT_S = 5.0
"""Budget of a node call when the caller gives none; a gateway always passes its own."""

Filter = dict[str, Any]


@runtime_checkable
class ReplicaView(Protocol):
    """One shard replica as the node service sees it.

    ``wait_for`` may block (it runs in a worker thread) and must return by ``timeout``
    seconds: ``True`` once ``applied_seq >= seq``, ``False`` if that did not happen in time.
    ``applied_seq`` and ``lag_ms`` are read on the event loop, so they must not block.
    """

    collection: str
    shard: int

    def handle(self) -> CollectionHandle: ...

    @property
    def applied_seq(self) -> int: ...

    def lag_ms(self) -> float: ...

    def wait_for(self, seq: int, timeout: float) -> bool: ...


class ReplicaStatus(msgspec.Struct, frozen=True):
    """One hosted replica, as reported to membership and to the router's lag tracking."""

    collection: str
    shard: int
    applied_seq: int
    lag_ms: float
    points: int


class NodeStatus(msgspec.Struct, frozen=True):
    node_id: str
    replicas: list[ReplicaStatus] = []


class NodeHealth(msgspec.Struct, frozen=True):
    """``serving`` turns false while the node drains before a stop, so routers move away."""

    node_id: str
    serving: bool
    replicas: int


class NodeAPI(Protocol):
    """The calls a gateway makes to one node; every call raises ``vecfleet.errors`` only.

    Each call takes one request object (``models.ShardSearch``, ``ShardGet``,
    ``ShardCount``, ``ShardScroll``) naming the collection, the shard and the read's
    ``ReadGate``. Searches are batch-native: the request's vectors are an (n, dim) float32
    matrix and the answer has one hit list per row, because the gateway's micro-batcher
    sends many queries at once; a node answers the best ``options.depth`` hits of its
    shard so the gateway can merge and cut the page. Unknown ``(collection, shard)``
    raises ``ShardNotHosted``.
    """

    async def search(self, request: ShardSearch) -> SearchResult: ...

    async def get(self, request: ShardGet) -> list[Point]: ...

    async def count(self, request: ShardCount) -> int: ...

    async def scroll(self, request: ShardScroll) -> tuple[list[Point], int | None]:
        """A page of points and the cursor of the next page (``None`` at the end)."""
        ...

    async def status(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeStatus: ...

    async def health(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> NodeHealth: ...

    async def aclose(self) -> None:
        """Release what this handle owns (a channel); never the node it talks to."""
        ...


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "Filter",
    "NodeAPI",
    "NodeHealth",
    "NodeStatus",
    "ReplicaStatus",
    "ReplicaView",
]

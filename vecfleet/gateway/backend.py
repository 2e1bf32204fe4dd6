"""The seam between the gateway and the data: one protocol, a local and a cluster side.

The gateway validates, caches, de-duplicates and batches; a ``Backend`` stores and
searches. ``LocalBackend`` (``local_backend.py``) runs the embedded engine in this
process on thread pools; ``ClusterBackend`` (``cluster_backend.py``) appends writes to
the JetStream shard logs and scatters reads to node replicas over gRPC. Nothing above
this protocol knows which one it holds (STYLE 2).

Reads carry ``ReadOptions``: the request's deadline and the consistency it asks for.
The local backend is always ``strong`` (a write is applied before it is acknowledged),
so it only honours the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vecfleet.engine.config import CollectionConfig
from vecfleet.gateway.hedging import HedgeBudget
from vecfleet.gateway.replicas import ReplicaSet
from vecfleet.gateway.retry import RetryBudget
from vecfleet.models import Hit, Point, WriteAck
from vecfleet.types import PointId

CONSISTENCY_LEVELS = ("strong", "session", "bounded", "eventual")


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How fresh a read must be and how long it may take.

    ``consistency``: ``strong`` (the replica applied the shard's last write), ``session``
    (it applied ``min_seq``, the caller's last write), ``bounded`` (its lag is at most
    ``max_lag_ms``), ``eventual`` (any replica).
    """

    consistency: str = "bounded"
    min_seq: int = 0
    max_lag_ms: float = 1000.0
    timeout_s: float = 5.0


DEFAULT_READ = ReadOptions()


class CollectionRef(Protocol):
    """What validation needs of a collection: its name, settings and newest write."""

    name: str
    config: CollectionConfig

    @property
    def applied_seq(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """Hits per query of one batched search, and the plan the data side chose."""

    hits: list[list[Hit]]
    plan: list[dict[str, Any]]


class Backend(Protocol):
    # True when every read sees every acknowledged write (one process applies writes
    # before acknowledging them): the result cache may then answer any consistency level.
    reads_are_strong: bool

    async def start(self) -> None:
        """Connect, inside the event loop that serves requests."""
        ...

    def collection(self, name: str) -> CollectionRef:
        """The collection called ``name``; raises ``CollectionNotFound``."""
        ...

    def collection_names(self) -> list[str]: ...

    async def create_collection(
        self,
        name: str,
        dim: int,
        metric: str,
        index: str,
        payload_schema: dict[str, str] | None,
        settings: dict[str, Any],
    ) -> dict[str, Any]: ...

    async def drop_collection(self, name: str) -> WriteAck: ...

    async def info(self, name: str) -> dict[str, Any]: ...

    async def upsert(
        self,
        name: str,
        ids: list[PointId],
        vectors: np.ndarray,
        payloads: list[dict[str, Any]],
        visible: bool = False,
    ) -> WriteAck:
        """Store the points; ``visible`` waits until every replica applied them."""
        ...

    async def delete(self, name: str, ids: list[PointId], visible: bool = False) -> WriteAck: ...

    async def get(
        self, name: str, ids: list[PointId], with_vectors: bool, read: ReadOptions
    ) -> list[Point]: ...

    async def count(self, name: str, filter: dict[str, Any] | None, read: ReadOptions) -> int: ...

    async def scroll(
        self,
        name: str,
        filter: dict[str, Any] | None,
        limit: int,
        cursor: int | None,
        read: ReadOptions,
    ) -> tuple[list[Point], int | None]: ...

    async def search(
        self,
        name: str,
        vectors: np.ndarray,
        limit: int,
        filter: dict[str, Any] | None,
        params: dict[str, Any] | None,
        with_vectors: bool,
        read: ReadOptions,
    ) -> BatchAnswer:
        """Top ``limit`` hits for each row of ``vectors`` (validated, ``n × dim``)."""
        ...

    def stats(self, name: str) -> dict[str, Any]:
        """``info`` without waiting: the newest figures at hand (for metrics scrapes)."""
        ...

    def memory_bytes(self, name: str) -> int: ...

    # Telemetry of the read path (empty in embedded mode): the replica sets the router
    # chooses from, the hedge and retry budgets, and each replica's reported lag.
    hedges: HedgeBudget | None
    retries: RetryBudget | None

    def replica_sets(self) -> list[ReplicaSet[Any]]: ...

    def replica_lags(self) -> list[tuple[str, int, str, float]]:
        """(collection, shard, node, lag in seconds) per replica, as last reported."""
        ...

    def disk_bytes(self) -> int: ...

    async def aclose(self) -> None: ...

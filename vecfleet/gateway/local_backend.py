"""``Backend`` over the embedded engine in this process (embedded mode).

The engine is synchronous; this module owns the thread pools that run it, keeping
searches apart from writes so a burst of ingest cannot queue ahead of queries (STYLE 7).
A write is applied before it is acknowledged, so every read is ``strong`` whatever the
request asks; only the deadline applies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from vecfleet.engine.api import CollectionHandle, EmbeddedDatabase
from vecfleet.errors import DeadlineExceeded
from vecfleet.gateway.backend import BatchAnswer, ReadOptions
from vecfleet.gateway.replicas import ReplicaSet
from vecfleet.models import Point, WriteAck
from vecfleet.types import PointId

T = TypeVar("T")


class LocalBackend:
    reads_are_strong = True
    hedges = None  # one in-process engine: nothing to hedge, retry or balance
    retries = None

    def __init__(self, db: EmbeddedDatabase, search_threads: int = 4, write_threads: int = 2):
        self.db = db
        self._search_pool = ThreadPoolExecutor(search_threads, thread_name_prefix="search")
        self._write_pool = ThreadPoolExecutor(write_threads, thread_name_prefix="write")

    async def start(self) -> None:
        return None

    async def _read(self, fn: Callable[[], T], read: ReadOptions | None = None) -> T:
        future = asyncio.get_running_loop().run_in_executor(self._search_pool, fn)
        if read is None:
            return await future
        try:
            return await asyncio.wait_for(future, read.timeout_s)
        except TimeoutError:
            raise DeadlineExceeded(
                f"the search took longer than the request's {read.timeout_s * 1000:.0f} ms"
            ) from None

    async def _write(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._write_pool, fn)

    # ------------------------------------------------------------------ collections
    def collection(self, name: str) -> CollectionHandle:
        return self.db.collection(name)

    def collection_names(self) -> list[str]:
        return self.db.list_collections()

    async def create_collection(
        self,
        name: str,
        dim: int,
        metric: str,
        index: str,
        payload_schema: dict[str, str] | None,
        settings: dict[str, Any],
    ) -> dict[str, Any]:
        col = await self._write(
            lambda: self.db.create_collection(name, dim, metric, index, payload_schema, **settings)
        )
        return col.info()

    async def drop_collection(self, name: str) -> WriteAck:
        return await self._write(lambda: self.db.drop_collection(name))

    async def info(self, name: str) -> dict[str, Any]:
        return self.db.collection(name).info()

    # ------------------------------------------------------------------ points
    async def upsert(
        self,
        name: str,
        ids: list[PointId],
        vectors: np.ndarray,
        payloads: list[dict[str, Any]],
        visible: bool = False,
    ) -> WriteAck:
        col = self.db.collection(name)
        return await self._write(lambda: col.upsert(ids, vectors, payloads))

    async def delete(self, name: str, ids: list[PointId], visible: bool = False) -> WriteAck:
        col = self.db.collection(name)
        return await self._write(lambda: col.delete(ids))

    async def get(
        self, name: str, ids: list[PointId], with_vectors: bool, read: ReadOptions
    ) -> list[Point]:
        col = self.db.collection(name)
        return await self._read(lambda: col.get(ids, with_vectors), read)

    async def count(self, name: str, filter: dict[str, Any] | None, read: ReadOptions) -> int:
        col = self.db.collection(name)
        return await self._read(lambda: col.count(filter), read)

    async def scroll(
        self,
        name: str,
        filter: dict[str, Any] | None,
        limit: int,
        cursor: int | None,
        read: ReadOptions,
    ) -> tuple[list[Point], int | None]:
        col = self.db.collection(name)
        return await self._read(lambda: col.scroll(filter, limit, cursor), read)

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
        col = self.db.collection(name)

        def run() -> BatchAnswer:
            hits = col.search_batch(vectors, limit, filter, params, with_vectors)
            return BatchAnswer(hits, col.explain(None, filter, limit, params).plans)

        return await self._read(run, read)

    # ------------------------------------------------------------------ stats
    def stats(self, name: str) -> dict[str, Any]:
        return self.db.collection(name).info()

    def memory_bytes(self, name: str) -> int:
        return self.db.collection(name).memory_bytes()

    def disk_bytes(self) -> int:
        """Bytes under the data directory; files removed during the walk count 0."""
        total = 0
        for entry in Path(self.db.path).rglob("*"):
            with contextlib.suppress(OSError):
                total += entry.stat().st_size if entry.is_file() else 0
        return total

    def replica_sets(self) -> list[ReplicaSet[Any]]:
        return []

    def replica_lags(self) -> list[tuple[str, int, str, float]]:
        return []

    async def aclose(self) -> None:
        self._search_pool.shutdown(wait=True)
        self._write_pool.shutdown(wait=True)

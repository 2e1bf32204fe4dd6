"""Sealed segments: immutable rows with a FAISS index; only tombstones change."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from vecfleet.engine.index import VectorIndex
from vecfleet.engine.payload import PayloadColumns
from vecfleet.types import Mask, Matrix, PointId


class Segment(Protocol):
    """What the planner and the collection need of any segment."""

    uid: str
    size: int
    deleted: int
    ids: list[PointId]
    payloads: PayloadColumns
    index: VectorIndex | None
    version: int

    @property
    def alive(self) -> Mask: ...

    @property
    def live(self) -> int: ...

    def vectors(self) -> Matrix: ...

    def tombstone(self, row: int) -> None: ...


class SealedSegment:
    """Rows 0..size-1 frozen at seal time, searched through ``index``."""

    def __init__(
        self,
        uid: str,
        ids: list[PointId],
        payloads: PayloadColumns,
        index: VectorIndex,
        alive: Mask | None = None,
    ) -> None:
        self.uid = uid
        self.ids = ids
        self.payloads = payloads
        self.index = index
        self.size = len(ids)
        self._alive = np.ones(self.size, dtype=np.bool_) if alive is None else alive.copy()
        self.deleted = int(self.size - np.count_nonzero(self._alive))
        self.version = 0

    @property
    def alive(self) -> Mask:
        return self._alive

    @property
    def live(self) -> int:
        return self.size - self.deleted

    def vectors(self) -> Matrix:
        return self.index.vectors()

    def tombstone(self, row: int) -> None:
        if self._alive[row]:
            self._alive[row] = False
            self.deleted += 1
            self.version += 1

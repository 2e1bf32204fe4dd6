"""The growing segment: takes every write, searched exactly, sealed when it is full."""

from __future__ import annotations

import numpy as np

from vecfleet.engine.payload import PayloadColumns, PayloadSchema
from vecfleet.types import Mask, Matrix, Payload, PointId

_INITIAL_ROWS = 1024


class GrowingSegment:
    """Append-only rows with capacity doubling; no ANN index (exact search is fast while small).

    The collection's lock orders writers against readers, so the buffers need none of their own.
    """

    index = None

    def __init__(self, uid: str, dim: int, schema: PayloadSchema) -> None:
        self.uid = uid
        self.dim = dim
        self.size = 0
        self.deleted = 0
        self.ids: list[PointId] = []
        self.payloads = PayloadColumns(schema)
        self._vectors = np.zeros((_INITIAL_ROWS, dim), dtype=np.float32)
        self._alive = np.zeros(_INITIAL_ROWS, dtype=np.bool_)
        self.version = 0

    @property
    def alive(self) -> Mask:
        return self._alive[: self.size]

    def vectors(self) -> Matrix:
        return self._vectors[: self.size]

    def append(self, ids: list[PointId], vectors: Matrix, payloads: list[Payload]) -> int:
        """Add rows; returns the first new row offset."""
        start, end = self.size, self.size + len(ids)
        if end > len(self._vectors):
            capacity = max(end, 2 * len(self._vectors))
            grown = np.zeros((capacity, self.dim), dtype=np.float32)
            grown[:start] = self._vectors[:start]
            alive = np.zeros(capacity, dtype=np.bool_)
            alive[:start] = self._alive[:start]
            self._vectors, self._alive = grown, alive
        self._vectors[start:end] = vectors
        self._alive[start:end] = True
        self.ids.extend(ids)
        self.payloads.append(payloads)
        self.size = end
        self.version += 1
        return start

    def tombstone(self, row: int) -> None:
        if self._alive[row]:
            self._alive[row] = False
            self.deleted += 1
            self.version += 1

    @property
    def live(self) -> int:
        return self.size - self.deleted

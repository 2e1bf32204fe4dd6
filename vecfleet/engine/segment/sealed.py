"""Sealed segments: immutable rows with a FAISS index; only tombstones change."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from vecfleet.engine.filter import And, Compare, FilterNode, In
from vecfleet.engine.index import VectorIndex
from vecfleet.engine.index.partitions import Partition
from vecfleet.engine.payload import PayloadColumns
from vecfleet.types import Mask, Matrix, PointId


class Segment(Protocol):
    """What the planner and the collection need of any segment."""

    uid: str
    size: int
    deleted: int
    ids: list[PointId]
    payloads: PayloadColumns
    version: int

    @property
    def index(self) -> VectorIndex | None: ...

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
        partitions: list[Partition] | None = None,
    ) -> None:
        self.uid = uid
        self.ids = ids
        self.payloads = payloads
        self.index = index
        self.size = len(ids)
        self._alive = np.ones(self.size, dtype=np.bool_) if alive is None else alive.copy()
        self.deleted = int(self.size - np.count_nonzero(self._alive))
        self.version = 0
        self.partitions = {(p.field, p.value): p for p in partitions or []}

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

    def partitions_for(self, node: FilterNode | None) -> list[Partition]:
        """Partitions covering every row a filter can match, found from a keyword ``$eq`` or
        ``$in`` that the whole filter requires; the smallest such cover, or none."""
        if node is None or not self.partitions:
            return []
        terms = node.children if isinstance(node, And) else (node,)
        best: list[Partition] = []
        for term in terms:
            if isinstance(term, Compare) and term.op == "$eq" and isinstance(term.value, str):
                values: tuple[object, ...] = (term.value,)
            elif isinstance(term, In) and not term.negated:
                values = term.values
            else:
                continue
            found = [self.partitions.get((term.field, v)) for v in values if isinstance(v, str)]
            cover = [p for p in found if p is not None]
            if len(cover) != len(values):
                continue
            if not best or sum(p.size for p in cover) < sum(p.size for p in best):
                best = cover
        return best

"""A collection's segments and id map, and the readers-writer lock that guards them.

The collection's search and its index builder share one ``ShardState``: searches take the
shared side of the lock and never wait for a build; writes and swaps take the exclusive
side (``writing``), which also drops the published search view, for as long as it takes to
move tombstones and id-map entries across.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.rwlock import RWLock
from vecfleet.engine.segment import GrowingSegment, Segment
from vecfleet.types import PointId

if TYPE_CHECKING:
    from vecfleet.engine.view import SearchView


class Slot:
    """A stable handle on a segment, so swapping in a rebuilt one is a single assignment."""

    __slots__ = ("segment",)

    def __init__(self, segment: Segment) -> None:
        self.segment = segment


def new_uid() -> str:
    return uuid.uuid4().hex


class ShardState:
    """Sealed segments (``slots``), the ``growing`` segment and where each live id lives.

    ``view`` is the search view published for the current state; ``writing`` drops it.
    """

    def __init__(
        self, config: CollectionConfig, sealed: list[Segment], growing: GrowingSegment | None
    ) -> None:
        self.config = config
        self.lock = RWLock()
        self.view: SearchView | None = None
        self.slots: list[Slot] = [Slot(s) for s in sealed]
        self.growing = Slot(growing or self.new_growing())
        self.id_map: dict[PointId, tuple[Slot, int]] = {}
        for slot in self.all_slots():
            self.index_rows(slot)

    def new_growing(self) -> GrowingSegment:
        return GrowingSegment(new_uid(), self.config.dim, self.config.schema)

    def index_rows(self, slot: Slot) -> None:
        """Point the id map at every live row of ``slot``."""
        segment = slot.segment
        for row in np.flatnonzero(segment.alive).tolist():
            self.id_map[segment.ids[row]] = (slot, row)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """The exclusive lock for a change of state; the published view is dropped first,
        so no search that starts from here on can read it."""
        with self.lock.write():
            self.view = None
            yield

    def all_slots(self) -> list[Slot]:
        return [*self.slots, self.growing]

"""A collection in memory: the facade over its shard state, its search and its index builds.

The collection knows nothing of the log: the database appends a record, then calls one of
the ``apply_*`` methods with that record's sequence number. Applying is idempotent (a
record at or below ``applied_seq`` is ignored), so replay after a crash is safe.

Lifecycle of rows::

    upsert ──► growing segment (exact search)
                 │ reaches seal_rows / optimize()
                 ▼
               frozen (still searched exactly) ──build HNSW in a thread──► sealed (swapped in)
                                                                           │ deleted share high
                                                                           ▼ / optimize()
                                                                   merged into a new segment

The parts, one job each: ``shard_state.py`` holds the segments, the id map and the lock;
``collection_search.py`` plans and runs searches; ``index_builder.py`` seals, builds and
merges segments in a background thread. This module applies records and reads points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vecfleet.engine.collection_search import CollectionSearch
from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.filter import FilterNode, evaluate
from vecfleet.engine.filter.compiled import FilterCompiler
from vecfleet.engine.index_builder import IndexBuilder
from vecfleet.engine.masks import MaskCache
from vecfleet.engine.planner import Plan, PlannerSettings
from vecfleet.engine.segment import GrowingSegment, SealedSegment, Segment
from vecfleet.engine.shard_state import ShardState, Slot, new_uid
from vecfleet.models import Hit, Point
from vecfleet.types import Matrix, Payload, PointId, Seq, Vector

__all__ = ["Collection", "Slot", "new_uid"]


class Collection:
    def __init__(
        self,
        config: CollectionConfig,
        segments_dir: Path,
        sealed: list[SealedSegment] | None = None,
        growing: GrowingSegment | None = None,
        frozen: list[GrowingSegment] | None = None,
        applied_seq: Seq = 0,
        planner: PlannerSettings | None = None,
    ) -> None:
        self.config = config
        self.schema = config.schema
        self.segments_dir = segments_dir
        self.applied_seq = applied_seq
        self.masks = MaskCache()
        self.filters = FilterCompiler(self.schema)
        self.state = ShardState(config, list(sealed or []), growing)
        self.searcher = CollectionSearch(
            self.state, config, self.masks, self.filters, planner or PlannerSettings()
        )
        self.builder = IndexBuilder(self.state, config, self.masks, segments_dir)
        self.dropped = False
        for segment in frozen or []:
            self.builder.adopt_frozen(segment)

    @property
    def planner(self) -> PlannerSettings:
        return self.searcher.planner

    @planner.setter
    def planner(self, settings: PlannerSettings) -> None:
        self.searcher.planner = settings

    @property
    def plan_counts(self) -> dict[str, int]:
        """How many segment searches each plan strategy answered."""
        return self.searcher.counts.as_dict()

    @property
    def build_errors(self) -> list[BaseException]:
        return self.builder.errors

    def segments(self) -> list[Segment]:
        with self.state.lock.read():
            return [s.segment for s in self.state.all_slots()]

    # ------------------------------------------------------------------ writes
    def apply_upsert(
        self, seq: Seq, ids: list[PointId], vectors: Matrix, payloads: list[Payload]
    ) -> None:
        if seq <= self.applied_seq:
            return
        with self.state.writing():
            if len(set(ids)) != len(ids):  # the last occurrence of a repeated id wins
                last = {pid: i for i, pid in enumerate(ids)}
                keep = sorted(last.values())
                ids = [ids[i] for i in keep]
                vectors = vectors[keep]
                payloads = [payloads[i] for i in keep]
            for pid in ids:
                old = self.state.id_map.get(pid)
                if old is not None:
                    old[0].segment.tombstone(old[1])
            growing = self.state.growing
            segment = growing.segment
            assert isinstance(segment, GrowingSegment)  # the growing slot holds no other kind
            start = segment.append(ids, vectors, payloads)
            for offset, pid in enumerate(ids):
                self.state.id_map[pid] = (growing, start + offset)
            self.applied_seq = seq
            full = segment.size >= self.config.seal_rows
        if full:
            self.builder.freeze_growing()

    def apply_delete(self, seq: Seq, ids: list[PointId]) -> int:
        if seq <= self.applied_seq:
            return 0
        removed = 0
        with self.state.writing():
            for pid in ids:
                old = self.state.id_map.pop(pid, None)
                if old is not None:
                    old[0].segment.tombstone(old[1])
                    removed += 1
            self.applied_seq = seq
        self.builder.maybe_compact()
        return removed

    def current_points(self, ids: list[PointId]) -> list[tuple[PointId, np.ndarray, Payload]]:
        """(id, vector, payload) of the ids that exist, for read-modify-write records."""
        with self.state.lock.read():
            out = []
            for pid in ids:
                loc = self.state.id_map.get(pid)
                if loc is not None:
                    seg, row = loc[0].segment, loc[1]
                    out.append((pid, np.array(seg.vectors()[row]), seg.payloads.payload(row)))
            return out

    def mark_applied(self, seq: Seq) -> None:
        self.applied_seq = max(self.applied_seq, seq)

    # ------------------------------------------------------------------ reads
    def count(self, node: FilterNode | None, key: str | None) -> int:
        with self.state.lock.read():
            if node is None:
                return len(self.state.id_map)
            return sum(
                self.masks.candidates(s.segment, node, key).count for s in self.state.all_slots()
            )

    def get(self, ids: list[PointId], with_vectors: bool) -> list[Point]:
        with self.state.lock.read():
            found = []
            for pid in ids:
                loc = self.state.id_map.get(pid)
                if loc is None:
                    continue
                seg, row = loc[0].segment, loc[1]
                vector = np.array(seg.vectors()[row]) if with_vectors else None
                found.append(Point(seg.ids[row], seg.payloads.payload(row), vector))
            return found

    def scroll(
        self, node: FilterNode | None, limit: int, after: int
    ) -> tuple[list[Point], int | None]:
        """Points in a stable order (segment, row); ``after`` is an opaque position cursor."""
        with self.state.lock.read():
            out: list[Point] = []
            position = 0
            for slot in self.state.all_slots():
                seg = slot.segment
                mask = seg.alive if node is None else evaluate(node, seg.payloads) & seg.alive
                for row in np.flatnonzero(mask).tolist():
                    if position >= after:
                        if len(out) == limit:
                            return out, position
                        out.append(Point(seg.ids[row], seg.payloads.payload(row)))
                    position += 1
            return out, None

    def search_one(self, query: Vector, k: int, raw_filter: Any) -> list[Hit]:
        """One query at the default parameters, ``raw_filter`` as the caller wrote it."""
        return self.searcher.search_one(query, k, raw_filter)

    def explain(
        self, k: int, node: FilterNode | None, key: str | None, ef: int | None
    ) -> list[Plan]:
        return self.searcher.explain(k, node, key, ef)

    def __len__(self) -> int:
        return len(self.state.id_map)

    # ------------------------------------------------------------------ builds
    def wait_for_builds(self) -> None:
        self.builder.wait_for_builds()

    def optimize(self) -> None:
        """Seal the growing segment, build every index, merge small or dirty segments."""
        self.builder.optimize()

    # ------------------------------------------------------------------ snapshots
    def frozen_state(
        self,
    ) -> tuple[list[tuple[SealedSegment, np.ndarray]], list[tuple[str, Segment, bool]]]:
        """What a snapshot must write, taken under the write lock so it is one consistent cut.

        Returns (sealed segments with a copy of their tombstones, unsealed segments to copy,
        each flagged True when it is the active growing segment).
        """
        with self.state.lock.write():
            sealed = []
            loose: list[tuple[str, Segment, bool]] = []
            for slot in self.state.all_slots():
                seg = slot.segment
                if isinstance(seg, SealedSegment):
                    sealed.append((seg, seg.alive.copy()))
                elif seg.size:
                    active = slot is self.state.growing
                    loose.append((seg.uid, _copy_growing(seg, self.config.dim), active))
            return sealed, loose

    def live_segment_uids(self) -> set[str]:
        with self.state.lock.read():
            return {s.segment.uid for s in self.state.all_slots()} | set(self.builder.building)

    def memory_bytes(self) -> int:
        """Resident bytes of indexes and unsealed vectors (memory-mapped files excluded)."""
        with self.state.lock.read():
            total = 0
            for slot in self.state.all_slots():
                seg = slot.segment
                if seg.index is not None:
                    total += seg.index.memory_bytes()
                    partitions = getattr(seg, "partitions", {})
                    total += sum(p.memory_bytes() for p in partitions.values())
                else:
                    total += seg.size * self.config.dim * 4
            return total

    def close(self) -> None:
        self.builder.close()


def _copy_growing(seg: Segment, dim: int) -> GrowingSegment:
    copy = GrowingSegment(seg.uid, dim, seg.payloads.schema)
    size = seg.size
    copy.append(
        list(seg.ids[:size]),
        np.array(seg.vectors()[:size]),
        [seg.payloads.payload(r) for r in range(size)],
    )
    for row in np.flatnonzero(~seg.alive[:size]).tolist():
        copy.tombstone(row)
    return copy

"""Index building in the background: seal the growing segment, build, merge, swap in.

One builder thread per collection. A build reads its rows under the shared lock, builds
the FAISS index and payload partitions without any lock (FAISS releases the GIL), writes
the segment to disk, and swaps it in under the exclusive lock, carrying over the
tombstones that arrived meanwhile. Merges rebuild segments whose deleted share passed
``merge_deleted_fraction`` (or, on ``optimize``, small segments) the same way. A failed
build leaves the old segments serving and is kept in ``errors``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.index import build_index
from vecfleet.engine.index.partitions import build_partitions
from vecfleet.engine.masks import MaskCache
from vecfleet.engine.payload import PayloadColumns
from vecfleet.engine.segment import GrowingSegment, SealedSegment
from vecfleet.engine.segment.store import remove_segment, write_segment
from vecfleet.engine.shard_state import ShardState, Slot, new_uid
from vecfleet.types import Matrix, PointId

log = logging.getLogger(__name__)


class IndexBuilder:
    """Builds and merges the segments of ``state`` on one background thread."""

    def __init__(
        self, state: ShardState, config: CollectionConfig, masks: MaskCache, segments_dir: Path
    ) -> None:
        self.state = state
        self.config = config
        self.params = config.index_params
        self.masks = masks
        self.segments_dir = segments_dir
        self._builder = ThreadPoolExecutor(1, thread_name_prefix=f"build-{config.name}")
        self._pending: list[Future[None]] = []
        self._pending_lock = threading.Lock()
        self.errors: list[BaseException] = []
        self.building: set[str] = set()  # segment dirs being written; not orphans
        self._merge_queued: set[int] = set()  # slots with a compaction already queued
        self._closed = False

    def adopt_frozen(self, segment: GrowingSegment) -> None:
        """Serve a full, unsealed segment (from a snapshot) exactly, and build its index."""
        slot = Slot(segment)
        with self.state.writing():
            self.state.slots.append(slot)
            self.state.index_rows(slot)
        self._submit(partial(self._build_sealed, slot))

    def _submit(self, job: Callable[[], None]) -> None:
        if self._closed:
            return

        def run() -> None:
            try:
                job()
            except BaseException as exc:  # a failed build leaves the old segments serving
                log.exception("segment build failed in collection %s", self.config.name)
                self.errors.append(exc)

        with self._pending_lock:
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._builder.submit(run))

    def freeze_growing(self) -> None:
        """Move the growing segment to the sealed list (still exact) and build its index."""
        with self.state.writing():
            frozen = self.state.growing
            if frozen.segment.size == 0:
                return
            self.state.slots.append(frozen)
            self.state.growing = Slot(self.state.new_growing())
        self._submit(lambda: self._build_sealed(frozen))

    def _build_sealed(self, slot: Slot) -> None:
        segment = slot.segment
        with self.state.lock.read():
            size = segment.size
            vectors = np.array(segment.vectors()[:size])
            ids = list(segment.ids[:size])
            payloads = segment.payloads.take(np.arange(size))
        sealed = self._build(ids, vectors, payloads)
        with self.state.writing():
            sealed_alive = segment.alive[:size]
            for row in np.flatnonzero(~sealed_alive).tolist():
                sealed.tombstone(row)
            slot.segment = sealed
            self.building.discard(sealed.uid)
        self.masks.forget(segment.uid)
        self.maybe_compact()

    def _build(
        self, ids: list[PointId], vectors: Matrix, payloads: PayloadColumns
    ) -> SealedSegment:
        uid = new_uid()
        self.building.add(uid)
        directory = self.segments_dir / uid
        directory.mkdir(parents=True, exist_ok=True)
        cfg = self.config
        index = build_index(cfg.index, vectors, cfg.metric, self.params, directory)
        partitions = build_partitions(
            cfg.index,
            vectors,
            payloads,
            cfg.keyword_partition_fields,
            cfg.metric,
            self.params,
            cfg.partition_min_rows,
            cfg.partition_max_share,
        )
        sealed = SealedSegment(uid, ids, payloads, index, partitions=partitions)
        write_segment(directory, sealed, self.config.index, self.config.metric)
        return sealed

    def _merge_slots(self, slots: list[Slot]) -> None:
        """Rebuild the live rows of ``slots`` as one segment and swap it in."""
        with self.state.lock.read():
            sources = [(slot, slot.segment) for slot in slots]
            pieces = []
            for slot, seg in sources:
                rows = np.flatnonzero(seg.alive)
                pieces.append((slot, seg, rows))
            ids = [seg.ids[r] for _, seg, rows in pieces for r in rows.tolist()]
            vectors = (
                np.concatenate([np.asarray(seg.vectors()[rows]) for _, seg, rows in pieces])
                if pieces
                else np.zeros((0, self.config.dim), np.float32)
            )
            payloads = PayloadColumns.concat([seg.payloads.take(rows) for _, seg, rows in pieces])
        merged = self._build(ids, vectors, payloads) if ids else None
        with self.state.writing():
            if any(slot.segment is not seg for slot, seg, _ in pieces):
                # A source was swapped while building (cannot happen with one builder thread).
                if merged is not None:
                    self.building.discard(merged.uid)
                    remove_segment(self.segments_dir / merged.uid)
                return
            new_slot = Slot(merged) if merged is not None else None
            new_row = 0
            for _, seg, rows in pieces:
                alive = seg.alive
                for row in rows.tolist():
                    if new_slot is not None:
                        if alive[row]:
                            self.state.id_map[seg.ids[row]] = (new_slot, new_row)
                        else:
                            new_slot.segment.tombstone(new_row)
                    new_row += 1
            gone = {id(s) for s in slots}
            self.state.slots = [s for s in self.state.slots if id(s) not in gone]
            if new_slot is not None:
                self.state.slots.append(new_slot)
                self.building.discard(new_slot.segment.uid)
        for _, seg, _ in pieces:
            self.masks.forget(seg.uid)

    def maybe_compact(self) -> None:
        threshold = self.config.merge_deleted_fraction
        with self.state.lock.read():
            dirty = [
                s
                for s in self.state.slots
                if isinstance(s.segment, SealedSegment)
                and s.segment.size
                and s.segment.deleted / s.segment.size >= threshold
            ]
        for slot in dirty:
            if id(slot) in self._merge_queued:  # one queued merge per segment is enough
                continue
            self._merge_queued.add(id(slot))
            self._submit(partial(self._merge_if_still_dirty, slot))

    def _merge_if_still_dirty(self, slot: Slot) -> None:
        self._merge_queued.discard(id(slot))
        seg = slot.segment
        if (
            slot in self.state.slots
            and seg.size
            and seg.deleted / seg.size >= self.config.merge_deleted_fraction
        ):
            self._merge_slots([slot])

    def wait_for_builds(self) -> None:
        while True:
            with self._pending_lock:
                pending = [f for f in self._pending if not f.done()]
            if not pending:
                return
            for future in pending:
                future.result()

    def optimize(self) -> None:
        """Seal the growing segment, build every index, merge small or dirty segments."""
        self.freeze_growing()
        self.wait_for_builds()
        self._submit(self._merge_for_optimize)
        self.wait_for_builds()
        if self.errors:
            raise self.errors[-1]

    def _merge_for_optimize(self) -> None:
        with self.state.lock.read():
            slots = [s for s in self.state.slots if isinstance(s.segment, SealedSegment)]
        group: list[Slot] = []
        total = 0
        for slot in sorted(slots, key=lambda s: s.segment.live):
            if total + slot.segment.live > self.config.max_segment_rows and group:
                break
            group.append(slot)
            total += slot.segment.live
        if len(group) > 1 or (group and group[0].segment.deleted):
            self._merge_slots(group)

    def close(self) -> None:
        self._closed = True
        self._builder.shutdown(wait=True)

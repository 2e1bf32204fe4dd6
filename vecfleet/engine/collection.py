"""A collection's in-memory state: segments, id map, tombstones, search and background builds.

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

Reads take the shared side of a readers-writer lock and never wait for a build; swaps take
the exclusive side for as long as it takes to move tombstones and id-map entries across.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.filter import FilterNode, evaluate
from vecfleet.engine.filter.compiled import FilterCompiler, filter_text
from vecfleet.engine.index import build_index
from vecfleet.engine.index.faiss_indexes import exact_search
from vecfleet.engine.index.partitions import Partition, build_partitions
from vecfleet.engine.masks import Candidates, MaskCache
from vecfleet.engine.payload import PayloadColumns
from vecfleet.engine.planner import Plan, PlannerSettings, choose_plan, raised_ef
from vecfleet.engine.rwlock import RWLock
from vecfleet.engine.segment import GrowingSegment, SealedSegment, Segment
from vecfleet.engine.segment.store import remove_segment, write_segment
from vecfleet.engine.view import SearchView, ShortcutKey
from vecfleet.models import Hit, Point
from vecfleet.types import Matrix, Payload, PointId, Seq, Vector

# a partition of a planned segment, with the bitmap of its rows that pass (None: all)
ScopedPartition = tuple[Partition, npt.NDArray[np.uint8] | None]

log = logging.getLogger(__name__)


class Slot:
    """A stable handle on a segment, so swapping in a rebuilt one is a single assignment."""

    __slots__ = ("segment",)

    def __init__(self, segment: Segment) -> None:
        self.segment = segment


def new_uid() -> str:
    return uuid.uuid4().hex


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
        self.params = config.index_params
        self.segments_dir = segments_dir
        self.applied_seq = applied_seq
        self.planner = planner or PlannerSettings()
        self.masks = MaskCache()
        self.filters = FilterCompiler(self.schema)
        self.plan_counts: dict[str, int] = {}
        self._lock = RWLock()
        self._view: SearchView | None = None  # dropped by every write section
        self._slots: list[Slot] = [Slot(s) for s in sealed or []]
        self._growing = Slot(growing or self._new_growing())
        self._id_map: dict[PointId, tuple[Slot, int]] = {}
        for slot in [*self._slots, self._growing]:
            self._index_rows(slot)
        self._builder = ThreadPoolExecutor(1, thread_name_prefix=f"build-{config.name}")
        self._pending: list[Future[None]] = []
        self._pending_lock = threading.Lock()
        self.build_errors: list[BaseException] = []
        self._building: set[str] = set()  # segment dirs being written; not orphans
        self._merge_queued: set[int] = set()  # slots with a compaction already queued
        self._closed = False
        self.dropped = False
        for segment in frozen or []:
            slot = Slot(segment)
            with self._writing():
                self._slots.append(slot)
                self._index_rows(slot)
            self._submit(lambda slot=slot: self._build_sealed(slot))

    # ------------------------------------------------------------------ helpers
    def _new_growing(self) -> GrowingSegment:
        return GrowingSegment(new_uid(), self.config.dim, self.schema)

    def _index_rows(self, slot: Slot) -> None:
        segment = slot.segment
        alive = segment.alive
        for row in np.flatnonzero(alive).tolist():
            self._id_map[segment.ids[row]] = (slot, row)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The exclusive lock for a change of state; the published view is dropped first,
        so no search that starts from here on can read it."""
        with self._lock.write():
            self._view = None
            yield

    def _all_slots(self) -> list[Slot]:
        return [*self._slots, self._growing]

    def segments(self) -> list[Segment]:
        with self._lock.read():
            return [s.segment for s in self._all_slots()]

    # ------------------------------------------------------------------ writes
    def apply_upsert(
        self, seq: Seq, ids: list[PointId], vectors: Matrix, payloads: list[Payload]
    ) -> None:
        if seq <= self.applied_seq:
            return
        with self._writing():
            if len(set(ids)) != len(ids):  # the last occurrence of a repeated id wins
                last = {pid: i for i, pid in enumerate(ids)}
                keep = sorted(last.values())
                ids = [ids[i] for i in keep]
                vectors = vectors[keep]
                payloads = [payloads[i] for i in keep]
            for pid in ids:
                old = self._id_map.get(pid)
                if old is not None:
                    old[0].segment.tombstone(old[1])
            growing = self._growing
            start = growing.segment.append(ids, vectors, payloads)  # type: ignore[attr-defined]
            for offset, pid in enumerate(ids):
                self._id_map[pid] = (growing, start + offset)
            self.applied_seq = seq
            full = growing.segment.size >= self.config.seal_rows
        if full:
            self._freeze_growing()

    def apply_delete(self, seq: Seq, ids: list[PointId]) -> int:
        if seq <= self.applied_seq:
            return 0
        removed = 0
        with self._writing():
            for pid in ids:
                old = self._id_map.pop(pid, None)
                if old is not None:
                    old[0].segment.tombstone(old[1])
                    removed += 1
            self.applied_seq = seq
        self._maybe_compact()
        return removed

    def current_points(self, ids: list[PointId]) -> list[tuple[PointId, np.ndarray, Payload]]:
        """(id, vector, payload) of the ids that exist, for read-modify-write records."""
        with self._lock.read():
            out = []
            for pid in ids:
                loc = self._id_map.get(pid)
                if loc is not None:
                    seg, row = loc[0].segment, loc[1]
                    out.append((pid, np.array(seg.vectors()[row]), seg.payloads.payload(row)))
            return out

    def mark_applied(self, seq: Seq) -> None:
        self.applied_seq = max(self.applied_seq, seq)

    # ------------------------------------------------------------------ reads
    def count(self, node: FilterNode | None, key: str | None) -> int:
        with self._lock.read():
            if node is None:
                return len(self._id_map)
            return sum(self.masks.candidates(s.segment, node, key).count for s in self._all_slots())

    def get(self, ids: list[PointId], with_vectors: bool) -> list[Point]:
        with self._lock.read():
            found = []
            for pid in ids:
                loc = self._id_map.get(pid)
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
        with self._lock.read():
            out: list[Point] = []
            position = 0
            for slot in self._all_slots():
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
        """One query at the default parameters, ``raw_filter`` as the caller wrote it.

        Answered from the published view when it has a shortcut for the request (see
        view.py), otherwise by ``search``; the results are the same either way.
        """
        view = self._view
        if view is None:
            view = self._publish_view()
        counts = self.plan_counts
        if raw_filter is None:
            if view.unfiltered:
                counts["ann"] = counts.get("ann", 0) + 1
                return view.search(query, k)
            return self.search(query.reshape(1, -1), k, None, None, None)[0]
        text = filter_text(raw_filter)
        if text is not None:
            shortcut = view.shortcuts.get((text, k))
            if shortcut is not None:
                counts[shortcut.strategy] = counts.get(shortcut.strategy, 0) + 1
                return shortcut.search(query, k)
        node, key = self.filters.compile(raw_filter, text)
        if node is None:  # a filter that matches everything
            return self.search_one(query, k, None)
        hits = self.search(query.reshape(1, -1), k, node, key, None)[0]
        if text is not None and view.segment is not None and (text, k) not in view.declined:
            self._add_shortcut(view, (text, k), node, key)
        return hits

    def _publish_view(self) -> SearchView:
        """Describe the current state for ``search_one``; built under the read lock, so no
        write can land between looking at the state and publishing it."""
        with self._lock.read():
            slots = self._slots
            seg = slots[0].segment if len(slots) == 1 else None
            empty = self._growing.segment.size == 0
            settled = seg if isinstance(seg, SealedSegment) and empty else None
            view = SearchView(settled, self.config.metric)
            self._view = view
            return view

    def _add_shortcut(
        self, view: SearchView, key: ShortcutKey, node: FilterNode, canonical: str | None
    ) -> None:
        """Give ``view`` a shortcut for a filter whose plan on its segment is exact or empty."""
        with self._lock.read():
            segment = view.segment
            if self._view is not view or segment is None:
                return  # a write came first: the view is gone
            plan, cands, partitions = self._plan(
                segment, node, canonical, key[1], self.params.ef_search, False
            )
            if plan.strategy == "empty":
                view.add_exact(key, [], None)
            elif plan.strategy == "exact" and cands.mask is not None and view.fits(cands.count):
                subset = self.masks.subset_vectors(cands, segment)
                view.add_exact(key, cands.row_ids().tolist(), subset)
            elif (
                plan.strategy == "partition"
                and len(partitions) == 1
                and partitions[0][1] is None  # the filter is exactly this partition
                and not partitions[0][0].quantized
            ):
                view.add_partition(key, partitions[0][0], max(plan.ef, key[1]))
            else:
                view.decline(key)

    def search(
        self,
        queries: Matrix,
        k: int,
        node: FilterNode | None,
        key: str | None,
        ef: int | None,
        with_vectors: bool = False,
        exact: bool = False,
    ) -> list[list[Hit]]:
        ef = ef or self.params.ef_search
        nq = queries.shape[0]
        slots = self._slots
        if len(slots) == 1 and self._growing.segment.size == 0:
            # One sealed segment and nothing unsealed (the usual state after ingest): its
            # rows are immutable, slots are swapped by assignment, and the segment object
            # stays valid while this call holds it, so no lock is needed.
            seg = slots[0].segment
            if isinstance(seg, SealedSegment):
                if node is None and seg.deleted == 0 and not exact and not with_vectors:
                    self.plan_counts["ann"] = self.plan_counts.get("ann", 0) + 1
                    found = seg.index.search(queries, min(k, seg.size), ef, None)
                    return self._merge([(seg, found.scores, found.rows)], nq, k, False)
                scores, rows = self._search_segment(seg, queries, k, node, key, ef, exact)
                parts = [] if scores is None else [(seg, scores, rows)]
                return self._merge(parts, nq, k, with_vectors)
        with self._lock.read():
            parts: list[tuple[Segment, np.ndarray, np.ndarray]] = []
            for slot in self._all_slots():
                segment = slot.segment
                if segment.size == 0:
                    continue
                scores, rows = self._search_segment(segment, queries, k, node, key, ef, exact)
                if scores is not None:
                    parts.append((segment, scores, rows))
            return self._merge(parts, nq, k, with_vectors)

    def _plan(
        self,
        segment: Segment,
        node: FilterNode | None,
        key: str | None,
        k: int,
        ef: int,
        exact: bool,
    ) -> tuple[Plan, Candidates, list[ScopedPartition]]:
        """The plan for ``node`` on ``segment``, its candidates and, for a partition plan,
        each partition with the bitmap of its rows that pass (None: all of them)."""
        cands = self.masks.candidates(segment, node, key)
        memo = (k, ef, exact)
        known = cands.plans.get(memo)
        if known is not None:
            return known[0], cands, known[1]
        partitions = [] if exact else _partitions(segment, node)
        plan = choose_plan(
            segment.uid,
            segment.size,
            cands.count,
            cands.mask is not None,
            segment.index is not None and not exact,
            k,
            ef,
            self.planner,
            tuple(p.size for p in partitions),
            self.config.dim,
        )
        scoped: list[ScopedPartition] = []
        if plan.strategy == "partition" and cands.mask is not None:
            for partition in partitions:
                local = cands.mask[partition.rows]
                bitmap = None if local.all() else np.packbits(local, bitorder="little")
                scoped.append((partition, bitmap))
        if cands.mask is not None:  # cached with the mask, so valid for this segment version
            cands.plans[memo] = (plan, scoped)
        return plan, cands, scoped

    def _search_segment(
        self,
        segment: Segment,
        queries: Matrix,
        k: int,
        node: FilterNode | None,
        key: str | None,
        ef: int,
        exact: bool,
    ) -> tuple[np.ndarray | None, np.ndarray]:
        plan, cands, partitions = self._plan(segment, node, key, k, ef, exact)
        self.plan_counts[plan.strategy] = self.plan_counts.get(plan.strategy, 0) + 1
        if plan.strategy == "empty":
            return None, np.empty(0)
        if plan.strategy == "exact":
            if cands.mask is None:
                return exact_search(segment.vectors(), queries, k, self.config.metric)
            subset = self.masks.subset_vectors(cands, segment)
            scores, local = exact_search(subset, queries, k, self.config.metric)
            if cands.count >= local.shape[1]:  # every slot filled: no -1 to carry over
                return scores, cands.row_ids()[local]
            rows = cands.row_ids()[np.maximum(local, 0)]
            rows[local < 0] = -1
            return scores, rows
        if plan.strategy == "partition":
            assert cands.mask is not None
            results = [
                partition.search(queries, k, plan.ef, bitmap, segment.vectors())
                for partition, bitmap in partitions
            ]
            return _best_of(results, k)
        assert segment.index is not None
        if plan.strategy == "ann_postfilter":
            assert cands.mask is not None
            return self._postfilter(segment, cands, queries, k, plan)
        bitmap = None if plan.strategy == "ann" else cands.packed()
        result = segment.index.search(queries, min(k, segment.size), plan.ef, bitmap)
        return result.scores, result.rows

    def _postfilter(
        self, segment: Segment, cands: Candidates, queries: Matrix, k: int, plan: Plan
    ) -> tuple[np.ndarray, np.ndarray]:
        """Unrestricted search for ``plan.fetch`` neighbours, keeping the first k that pass.

        Queries whose neighbourhood held fewer than k passing rows are searched again under
        the selector, so the answer never comes back short while enough candidates exist.
        """
        assert segment.index is not None and cands.mask is not None
        found = segment.index.search(queries, plan.fetch, plan.ef, None)
        rows = found.rows
        passing = np.zeros(rows.shape, dtype=np.bool_)
        valid = rows >= 0
        passing[valid] = cands.mask[rows[valid]]
        want = min(k, cands.count)
        out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        out_rows = np.full((len(queries), k), -1, dtype=np.int64)
        short = []
        for i in range(len(queries)):
            keep = np.flatnonzero(passing[i])[:k]
            if keep.size < want:
                short.append(i)
                continue
            out_scores[i, : keep.size] = found.scores[i, keep]
            out_rows[i, : keep.size] = rows[i, keep]
        if short:
            self.plan_counts["ann_postfilter_fallback"] = self.plan_counts.get(
                "ann_postfilter_fallback", 0
            ) + len(short)
            ef = raised_ef(plan.ef, k, plan.selectivity, self.planner.ef_max)
            again = segment.index.search(queries[short], k, ef, cands.packed())
            out_scores[short] = again.scores
            out_rows[short] = again.rows
        return out_scores, out_rows

    def _merge(
        self,
        parts: list[tuple[Segment, np.ndarray, np.ndarray]],
        nq: int,
        k: int,
        with_vectors: bool,
    ) -> list[list[Hit]]:
        l2 = self.config.metric == "l2"
        if len(parts) == 1 and not l2 and not with_vectors:
            seg, scores, rows = parts[0]
            ids, payload = seg.ids, seg.payloads.payload
            return [
                [
                    Hit(ids[r], s, payload(r))
                    for s, r in zip(scores[q].tolist(), rows[q].tolist(), strict=True)
                    if r >= 0
                ][:k]
                for q in range(nq)
            ]
        out: list[list[Hit]] = []
        for q in range(nq):
            cand = [
                (score, seg, row)
                for seg, scores, rows in parts
                for score, row in zip(scores[q].tolist(), rows[q].tolist(), strict=True)
                if row >= 0
            ]
            if len(parts) > 1:
                cand.sort(key=lambda c: -c[0])
            hits = []
            for score, seg, row in cand[:k]:
                vector = np.array(seg.vectors()[row]) if with_vectors else None
                if l2:
                    score = math.sqrt(max(-score, 0.0))
                hits.append(Hit(seg.ids[row], score, seg.payloads.payload(row), vector))
            out.append(hits)
        return out

    def explain(
        self, k: int, node: FilterNode | None, key: str | None, ef: int | None
    ) -> list[Plan]:
        ef = ef or self.params.ef_search
        with self._lock.read():
            return [
                self._plan(slot.segment, node, key, k, ef, False)[0] for slot in self._all_slots()
            ]

    def __len__(self) -> int:
        return len(self._id_map)

    # ------------------------------------------------------------------ builds
    def _submit(self, job: Callable[[], None]) -> None:
        if self._closed:
            return

        def run() -> None:
            try:
                job()
            except BaseException as exc:  # a failed build leaves the old segments serving
                log.exception("segment build failed in collection %s", self.config.name)
                self.build_errors.append(exc)

        with self._pending_lock:
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._builder.submit(run))

    def _freeze_growing(self) -> None:
        """Move the growing segment to the sealed list (still exact) and build its index."""
        with self._writing():
            frozen = self._growing
            if frozen.segment.size == 0:
                return
            self._slots.append(frozen)
            self._growing = Slot(self._new_growing())
        self._submit(lambda: self._build_sealed(frozen))

    def _build_sealed(self, slot: Slot) -> None:
        segment = slot.segment
        with self._lock.read():
            size = segment.size
            vectors = np.array(segment.vectors()[:size])
            ids = list(segment.ids[:size])
            payloads = segment.payloads.take(np.arange(size))
        sealed = self._build(ids, vectors, payloads)
        with self._writing():
            sealed_alive = segment.alive[:size]
            for row in np.flatnonzero(~sealed_alive).tolist():
                sealed.tombstone(row)
            slot.segment = sealed
            self._building.discard(sealed.uid)
        self.masks.forget(segment.uid)
        self._maybe_compact()

    def _build(
        self, ids: list[PointId], vectors: Matrix, payloads: PayloadColumns
    ) -> SealedSegment:
        uid = new_uid()
        self._building.add(uid)
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
        with self._lock.read():
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
        with self._writing():
            if any(slot.segment is not seg for slot, seg, _ in pieces):
                # A source was swapped while building (cannot happen with one builder thread).
                if merged is not None:
                    self._building.discard(merged.uid)
                    remove_segment(self.segments_dir / merged.uid)
                return
            new_slot = Slot(merged) if merged is not None else None
            new_row = 0
            for _, seg, rows in pieces:
                alive = seg.alive
                for row in rows.tolist():
                    if new_slot is not None:
                        if alive[row]:
                            self._id_map[seg.ids[row]] = (new_slot, new_row)
                        else:
                            new_slot.segment.tombstone(new_row)
                    new_row += 1
            gone = {id(s) for s in slots}
            self._slots = [s for s in self._slots if id(s) not in gone]
            if new_slot is not None:
                self._slots.append(new_slot)
                self._building.discard(new_slot.segment.uid)
        for _, seg, _ in pieces:
            self.masks.forget(seg.uid)

    def _maybe_compact(self) -> None:
        threshold = self.config.merge_deleted_fraction
        with self._lock.read():
            dirty = [
                s
                for s in self._slots
                if isinstance(s.segment, SealedSegment)
                and s.segment.size
                and s.segment.deleted / s.segment.size >= threshold
            ]
        for slot in dirty:
            if id(slot) in self._merge_queued:  # one queued merge per segment is enough
                continue
            self._merge_queued.add(id(slot))
            self._submit(lambda slot=slot: self._merge_if_still_dirty(slot))

    def _merge_if_still_dirty(self, slot: Slot) -> None:
        self._merge_queued.discard(id(slot))
        seg = slot.segment
        if (
            slot in self._slots
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
        self._freeze_growing()
        self.wait_for_builds()
        self._submit(self._merge_for_optimize)
        self.wait_for_builds()
        if self.build_errors:
            raise self.build_errors[-1]

    def _merge_for_optimize(self) -> None:
        with self._lock.read():
            slots = [s for s in self._slots if isinstance(s.segment, SealedSegment)]
        group: list[Slot] = []
        total = 0
        for slot in sorted(slots, key=lambda s: s.segment.live):
            if total + slot.segment.live > self.config.max_segment_rows and group:
                break
            group.append(slot)
            total += slot.segment.live
        if len(group) > 1 or (group and group[0].segment.deleted):
            self._merge_slots(group)

    # ------------------------------------------------------------------ snapshots
    def frozen_state(
        self,
    ) -> tuple[list[tuple[SealedSegment, np.ndarray]], list[tuple[str, Segment, bool]]]:
        """What a snapshot must write, taken under the write lock so it is one consistent cut.

        Returns (sealed segments with a copy of their tombstones, unsealed segments to copy,
        each flagged True when it is the active growing segment).
        """
        with self._lock.write():
            sealed = []
            loose: list[tuple[str, Segment, bool]] = []
            for slot in self._all_slots():
                seg = slot.segment
                if isinstance(seg, SealedSegment):
                    sealed.append((seg, seg.alive.copy()))
                elif seg.size:
                    active = slot is self._growing
                    loose.append((seg.uid, _copy_growing(seg, self.config.dim), active))
            return sealed, loose

    def live_segment_uids(self) -> set[str]:
        with self._lock.read():
            return {s.segment.uid for s in self._all_slots()} | set(self._building)

    def memory_bytes(self) -> int:
        """Resident bytes of indexes and unsealed vectors (memory-mapped files excluded)."""
        with self._lock.read():
            total = 0
            for slot in self._all_slots():
                seg = slot.segment
                if seg.index is not None:
                    total += seg.index.memory_bytes()
                    partitions = getattr(seg, "partitions", {})
                    total += sum(p.memory_bytes() for p in partitions.values())
                else:
                    total += seg.size * self.config.dim * 4
            return total

    def close(self) -> None:
        self._closed = True
        self._builder.shutdown(wait=True)


def _partitions(segment: Segment, node: FilterNode | None) -> list[Partition]:
    finder = getattr(segment, "partitions_for", None)
    return finder(node) if finder is not None else []


def _best_of(results: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of several (scores, rows) results over disjoint row sets."""
    if len(results) == 1:
        return results[0]
    scores = np.concatenate([r[0] for r in results], axis=1)
    rows = np.concatenate([r[1] for r in results], axis=1)
    scores = np.where(rows >= 0, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


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

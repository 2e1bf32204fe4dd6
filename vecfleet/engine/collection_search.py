"""Searching a collection's segments: plans per segment, their execution, the merge.

Every answer is counted under the strategy that produced it, in one place
(``PlanCounts.record``): the planner's per-segment plans, and the shortcuts of the
published ``SearchView`` (view.py), which are strategies of their own (``ann`` for the
unfiltered view, ``exact``/``empty``/``partition`` for a remembered filter).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from vecfleet.engine.config import CollectionConfig
from vecfleet.engine.filter import FilterNode
from vecfleet.engine.filter.compiled import FilterCompiler, filter_text
from vecfleet.engine.index.faiss_indexes import exact_search
from vecfleet.engine.index.partitions import Partition
from vecfleet.engine.masks import Candidates, MaskCache
from vecfleet.engine.planner import Plan, PlanCounts, PlannerSettings, choose_plan, raised_ef
from vecfleet.engine.segment import SealedSegment, Segment
from vecfleet.engine.shard_state import ShardState
from vecfleet.engine.view import SearchView, Shortcut, ShortcutKey
from vecfleet.models import Hit
from vecfleet.types import Matrix, Vector

# a partition of a planned segment, with the bitmap of its rows that pass (None: all)
ScopedPartition = tuple[Partition, npt.NDArray[np.uint8] | None]
# one segment's answer: its top-k scores and rows per query (row -1: nothing)
SegmentHits = tuple[Segment, npt.NDArray[np.float32], npt.NDArray[np.int64]]


class CollectionSearch:
    """Searches ``state`` under its read lock, or lock-free where the state allows it."""

    def __init__(
        self,
        state: ShardState,
        config: CollectionConfig,
        masks: MaskCache,
        filters: FilterCompiler,
        planner: PlannerSettings,
    ) -> None:
        self.state = state
        self.config = config
        self.params = config.index_params
        self.masks = masks
        self.filters = filters
        self.planner = planner
        self.counts = PlanCounts()

    def search_one(self, query: Vector, k: int, raw_filter: Any) -> list[Hit]:
        """One query at the default parameters, ``raw_filter`` as the caller wrote it.

        Answered from the published view when it has a shortcut for the request (see
        view.py), otherwise by ``search``; the results are the same either way.
        """
        view = self.state.view
        if view is None:
            view = self._publish_view()
        if raw_filter is None:
            if view.unfiltered is not None:
                return self._answer(view.unfiltered, query, k)
            return self.search(query.reshape(1, -1), k, None, None, None)[0]
        text = filter_text(raw_filter)
        if text is not None:
            shortcut = view.shortcuts.get((text, k))
            if shortcut is not None:
                return self._answer(shortcut, query, k)
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
        state = self.state
        with state.lock.read():
            slots = state.slots
            seg = slots[0].segment if len(slots) == 1 else None
            empty = state.growing.segment.size == 0
            settled = seg if isinstance(seg, SealedSegment) and empty else None
            view = SearchView(settled, self.config.metric)
            state.view = view
            return view

    def _add_shortcut(
        self, view: SearchView, key: ShortcutKey, node: FilterNode, canonical: str | None
    ) -> None:
        """Give ``view`` a shortcut for a filter whose plan on its segment is exact or empty."""
        with self.state.lock.read():
            segment = view.segment
            if self.state.view is not view or segment is None:
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
        parts: list[SegmentHits] = []
        state = self.state
        slots = state.slots
        if len(slots) == 1 and state.growing.segment.size == 0:
            # One sealed segment and nothing unsealed (the usual state after ingest): its
            # rows are immutable, slots are swapped by assignment, and the segment object
            # stays valid while this call holds it, so no lock is needed.
            seg = slots[0].segment
            if isinstance(seg, SealedSegment):
                if node is None and seg.deleted == 0 and not exact and not with_vectors:
                    self.counts.record("ann")
                    found = seg.index.search(queries, min(k, seg.size), ef, None)
                    return self._merge([(seg, found.scores, found.rows)], nq, k, False)
                scores, rows = self._search_segment(seg, queries, k, node, key, ef, exact)
                if scores is not None:
                    parts.append((seg, scores, rows))
                return self._merge(parts, nq, k, with_vectors)
        with state.lock.read():
            for slot in state.all_slots():
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
        self.counts.record(plan.strategy)
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
            self.counts.record("ann_postfilter_fallback", len(short))
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
        with self.state.lock.read():
            return [
                self._plan(slot.segment, node, key, k, ef, False)[0]
                for slot in self.state.all_slots()
            ]

    def _answer(self, shortcut: Shortcut, query: Vector, k: int) -> list[Hit]:
        """A search answered by a shortcut of the published view, counted as its strategy."""
        self.counts.record(shortcut.strategy)
        return shortcut.search(query, k)


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

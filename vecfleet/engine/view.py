"""The collection's settled state, published so single searches can skip the general path.

After ingest and ``optimize()`` a collection usually holds one sealed segment and an empty
growing segment, and most searches are one query at the default parameters. There the
Python around the FAISS call is what a search costs on a small collection (~15 µs against
~50 µs of FAISS on 3k rows; most of a 100-row exact scan), so the collection publishes a
``SearchView`` of that state and answers from it:

* unfiltered, no tombstones: one FAISS call into reused buffers, hits read off by row
  (strategy ``ann``);
* a filter whose plan on the segment was ``exact`` (or ``empty``): the candidates'
  vectors, ids and payloads gathered once, so a query is one brute-force kernel call over
  a contiguous matrix and the hits are read off by position.

Filters are recognised by their JSON text (``filter_text``), an exact key, so a repeated
filter costs one encoding and one dict look-up. A view is a snapshot: the collection drops
it at the start of every write section and builds views, and adds shortcuts, only under
its read lock. A search holding a view therefore reads a state that was current when it
began: the segment's rows, ids and payloads never change, and its tombstones only change
in write sections (such a search is ordered before the write, as with the lock).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from vecfleet.engine.index import VectorIndex
from vecfleet.engine.index.faiss_indexes import ExactScan, GraphScan
from vecfleet.engine.index.partitions import Partition
from vecfleet.engine.planner import Strategy
from vecfleet.engine.segment import SealedSegment
from vecfleet.models import Hit
from vecfleet.types import Matrix, PointId, Vector

ShortcutKey = tuple[bytes, int]  # (filter text, k)


def hits_from(
    values: list[float],
    rows: list[int],
    ids: Sequence[PointId],
    payloads: Sequence[dict[str, Any]],
    l2: bool,
) -> list[Hit]:
    """Hits from FAISS's raw (value, row) lists: rows of -1 (nothing found) are dropped and
    squared l2 distances become distances, as the general path reports them."""
    if -1 in rows:
        kept = [(v, r) for v, r in zip(values, rows, strict=True) if r >= 0]
        values, rows = [v for v, _ in kept], [r for _, r in kept]
    if l2:
        values = [math.sqrt(v) if v > 0.0 else 0.0 for v in values]
    if len(rows) > 1:  # itemgetter of one index returns the item, not a tuple
        pick = itemgetter(*rows)
        return list(map(Hit, pick(ids), values, pick(payloads)))
    return [Hit(ids[r], v, payloads[r]) for v, r in zip(values, rows, strict=True)]


class ExactShortcut:
    """One filter's candidate rows on the view's segment, gathered for brute-force scans."""

    __slots__ = ("_scan", "ids", "l2", "nbytes", "payloads", "strategy")

    def __init__(
        self,
        vectors: Matrix | None,
        ids: list[PointId],
        payloads: list[dict[str, Any]],
        metric: str,
    ) -> None:
        self._scan = ExactScan(vectors, metric) if vectors is not None and len(ids) else None
        self.ids = ids
        self.payloads = payloads
        self.l2 = metric == "l2"
        self.nbytes = 0 if self._scan is None else self._scan.vectors.nbytes
        self.strategy: Strategy = "empty" if self._scan is None else "exact"

    def search(self, query: Vector, k: int) -> list[Hit]:
        if self._scan is None:
            return []
        values, rows = self._scan.top_k(query, k)
        return hits_from(values, rows, self.ids, self.payloads, self.l2)


class PartitionShortcut:
    """A filter that is exactly one keyword partition of the view's segment: its graph
    searched at the plan's efSearch, hits read off the partition's own id and payload
    lists by label (the partition search of the general path, without its arrays)."""

    __slots__ = ("_partition", "_scan", "ids", "l2", "nbytes", "payloads", "strategy")

    def __init__(
        self,
        partition: Partition,
        ef: int,
        ids: list[PointId],
        payloads: list[dict[str, Any]],
        metric: str,
    ) -> None:
        self._partition = partition  # owns the graph's placed memory: kept while searched
        self._scan = GraphScan(partition.index, ef)
        self.ids = ids
        self.payloads = payloads
        self.l2 = metric == "l2"
        self.nbytes = 16 * len(ids)  # the two lists of references
        self.strategy: Strategy = "partition"

    def search(self, query: Vector, k: int) -> list[Hit]:
        values, rows = self._scan.top_k(query, k)
        return hits_from(values, rows, self.ids, self.payloads, self.l2)


class GraphShortcut:
    """The unfiltered search of a settled segment without tombstones: one FAISS call into
    reused buffers, hits read off by row (the ``ann`` plan, without its arrays)."""

    __slots__ = ("_index", "_size", "ids", "l2", "nbytes", "payloads", "strategy")

    def __init__(self, segment: SealedSegment, metric: str) -> None:
        self._index: VectorIndex = segment.index
        self._size = segment.size
        self.ids = segment.ids
        self.payloads: Sequence[dict[str, Any]] = segment.payloads.payloads()
        self.l2 = metric == "l2"
        self.nbytes = 0  # holds only references to the segment's own lists
        self.strategy: Strategy = "ann"

    def search(self, query: Vector, k: int) -> list[Hit]:
        values, rows = self._index.search_one(query, min(k, self._size))
        return hits_from(values, rows, self.ids, self.payloads, self.l2)


Shortcut = ExactShortcut | PartitionShortcut | GraphShortcut


class SearchView:
    """A snapshot of a collection; ``segment`` is its only segment when it is settled.

    ``unfiltered`` answers an unfiltered search when the state is settled and without
    tombstones (else None); ``shortcuts`` hold filters already seen, within a byte budget.
    Every shortcut names the plan ``strategy`` it stands for, to be counted as such.
    """

    MAX_SHORTCUTS = 256

    def __init__(
        self, segment: SealedSegment | None, metric: str, budget_bytes: int = 64 << 20
    ) -> None:
        self.segment = segment
        self.unfiltered = (
            GraphShortcut(segment, metric)
            if segment is not None and segment.deleted == 0 and segment.size > 0
            else None
        )
        self.shortcuts: dict[ShortcutKey, Shortcut] = {}
        self.declined: set[ShortcutKey] = set()  # seen, and planned otherwise
        self.budget_bytes = budget_bytes
        self._metric = metric
        self._bytes = 0
        self._lock = threading.Lock()
        self._ids: list[PointId] = segment.ids if segment is not None else []
        self._payloads: Sequence[dict[str, Any]] = (
            segment.payloads.payloads() if segment is not None else []
        )

    def fits(self, rows: int) -> bool:
        """Whether gathering ``rows`` rows for a shortcut stays within one eighth of the budget."""
        assert self.segment is not None
        dim = int(self.segment.vectors().shape[1])
        return rows * dim * 4 <= self.budget_bytes // 8

    def add_exact(self, key: ShortcutKey, rows: list[int], vectors: Matrix | None) -> None:
        """Remember the candidate ``rows`` (and their gathered ``vectors``) of a filter; the
        oldest shortcuts make room when the byte budget or the entry cap is reached."""
        assert self.segment is not None
        ids, payloads = self._ids, self._payloads
        shortcut = ExactShortcut(
            vectors, [ids[r] for r in rows], [payloads[r] for r in rows], self._metric
        )
        self._remember(key, shortcut)

    def add_partition(self, key: ShortcutKey, partition: Partition, ef: int) -> None:
        """Remember that ``key`` is exactly ``partition`` (full precision), searched at ``ef``."""
        rows = partition.rows.tolist()
        ids, payloads = self._ids, self._payloads
        shortcut = PartitionShortcut(
            partition, ef, [ids[r] for r in rows], [payloads[r] for r in rows], self._metric
        )
        self._remember(key, shortcut)

    def _remember(self, key: ShortcutKey, shortcut: Shortcut) -> None:
        with self._lock:
            if key in self.shortcuts:
                return
            while self.shortcuts and (
                self._bytes + shortcut.nbytes > self.budget_bytes
                or len(self.shortcuts) >= self.MAX_SHORTCUTS
            ):
                oldest = self.shortcuts.pop(next(iter(self.shortcuts)))
                self._bytes -= oldest.nbytes
            self.shortcuts[key] = shortcut
            self._bytes += shortcut.nbytes

    def decline(self, key: ShortcutKey) -> None:
        """Remember that ``key`` plans otherwise, so it is not looked at again."""
        if len(self.declined) >= 4 * self.MAX_SHORTCUTS:
            self.declined.clear()
        self.declined.add(key)

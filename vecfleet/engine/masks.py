"""Per-segment cache of evaluated filters.

Evaluating a filter is a few vectorised passes over the payload columns; repeated filters
(the common case: a console's industry picker, an API client's tenant filter) reuse the
result until the segment changes. Entries are keyed by the canonical filter text and
tagged with the segment's version, so a write or a tombstone makes them stale at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vecfleet.engine.filter import FilterNode, evaluate
from vecfleet.engine.segment import Segment
from vecfleet.types import Mask, Matrix


@dataclass
class Candidates:
    """The rows of one segment that a search may return."""

    mask: Mask | None  # None = every row (no filter, no tombstones)
    count: int
    rows: npt.NDArray[np.int64] | None = None
    bitmap: npt.NDArray[np.uint8] | None = None
    subset: Matrix | None = None  # the candidate rows' vectors, gathered once
    plans: dict[tuple[int, int, bool], Any] = field(default_factory=dict)  # planner memo

    def row_ids(self) -> npt.NDArray[np.int64]:
        if self.rows is None:
            assert self.mask is not None
            self.rows = np.flatnonzero(self.mask)
        return self.rows

    def packed(self) -> npt.NDArray[np.uint8]:
        if self.bitmap is None:
            assert self.mask is not None
            self.bitmap = np.packbits(self.mask, bitorder="little")
        return self.bitmap


class MaskCache:
    """LRU of evaluated filters; gathered candidate vectors share a byte budget."""

    def __init__(self, max_entries: int = 256, subset_budget_bytes: int = 256 << 20) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[int, Candidates]] = OrderedDict()
        self._max = max_entries
        self._subset_budget = subset_budget_bytes
        self._subset_bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def candidates(self, segment: Segment, node: FilterNode | None, key: str | None) -> Candidates:
        if node is None and segment.deleted == 0:
            return Candidates(None, segment.size)
        cache_key = (segment.uid, key or "")
        # Read the version once, before the mask: a tombstone landing meanwhile then files
        # this entry under the old version, where it can never be served again.
        version = segment.version
        with self._lock:
            found = self._entries.get(cache_key)
            if found is not None and found[0] == version:
                self._entries.move_to_end(cache_key)
                self.hits += 1
                return found[1]
        self.misses += 1
        mask = (
            segment.alive.copy()
            if node is None
            else evaluate(node, segment.payloads) & segment.alive
        )
        result = Candidates(mask, int(np.count_nonzero(mask)))
        with self._lock:
            stale = self._entries.get(cache_key)
            if stale is not None:
                self._drop(stale[1])
            self._entries[cache_key] = (version, result)
            self._entries.move_to_end(cache_key)
            while len(self._entries) > self._max:
                self._drop(self._entries.popitem(last=False)[1][1])
        return result

    def subset_vectors(self, cands: Candidates, segment: Segment) -> Matrix:
        """The candidates' vectors as one contiguous matrix, kept while the budget allows.

        Gathering scattered rows costs more than scoring them, so a repeated filter reuses
        the gathered copy; the copy is only valid for this segment version, like the mask.
        """
        if cands.subset is not None:
            return cands.subset
        subset = np.ascontiguousarray(segment.vectors()[cands.row_ids()])
        if subset.nbytes <= self._subset_budget // 4:
            with self._lock:
                self._subset_bytes += subset.nbytes
                cands.subset = subset
                for _, (_, old) in list(self._entries.items()):
                    if self._subset_bytes <= self._subset_budget:
                        break
                    if old is not cands:
                        self._drop(old)
        return subset

    def _drop(self, cands: Candidates) -> None:
        if cands.subset is not None:
            self._subset_bytes -= cands.subset.nbytes
            cands.subset = None

    def forget(self, segment_uid: str) -> None:
        with self._lock:
            for key in [k for k in self._entries if k[0] == segment_uid]:
                self._drop(self._entries.pop(key)[1])

"""The contract every sealed-segment index keeps.

Scores are "internal similarities": larger is closer for every metric (l2 distances are
negated here and turned back into distances at the collection's edge), so merging results
across segments and plans is one sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vecfleet.types import Matrix, Vector


@dataclass(frozen=True)
class IndexParams:
    """Build and default search parameters of an index kind (measured defaults, docs/)."""

    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 64
    rescore_factor: int = 4
    ivf_nprobe: int = 64
    pq_subquantizers: int = 48


@dataclass
class SearchResult:
    """Top-k per query: ``rows`` are segment row offsets (-1 = none), ``scores`` larger=closer."""

    scores: npt.NDArray[np.float32]
    rows: npt.NDArray[np.int64]


class VectorIndex(Protocol):
    """A built, immutable ANN index over one segment's rows 0..n-1."""

    kind: str

    def search(
        self, queries: Matrix, k: int, ef: int, bitmap: npt.NDArray[np.uint8] | None
    ) -> SearchResult:
        """Top-k rows per query; ``bitmap`` (packed, little bit order) limits rows searched."""
        ...

    def search_one(self, query: Vector, k: int) -> tuple[list[float], list[int]]:
        """Top-k of one contiguous query row at the default parameters, as lists: FAISS's raw
        values (inner products; squared distances for l2) and rows (-1 = none). The search
        fast path; results equal ``search``'s up to the sign convention."""
        ...

    def vectors(self) -> Matrix:
        """The full-precision vectors (a view or a memory map), for exact plans and rescoring."""
        ...

    def memory_bytes(self) -> int:
        """Bytes held in RAM by the index (memory-mapped files excluded)."""
        ...

    def save(self, directory: Path) -> list[Path]:
        """Write the index files into ``directory``; returns the files written."""
        ...

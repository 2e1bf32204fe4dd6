"""Build or load the index kind a collection asked for."""

from __future__ import annotations

from pathlib import Path

from vecfleet.engine.index.base import IndexParams, VectorIndex
from vecfleet.engine.index.faiss_indexes import (
    FlatIndex,
    HNSWIndex,
    HNSWSQ8Index,
    IVFPQIndex,
    load_faiss_index,
)
from vecfleet.types import Matrix

# Below this many rows IVF-PQ cannot train (PQ wants 39 points per centroid); exact instead.
IVF_MIN_ROWS = 10_000


def build_index(
    kind: str, vectors: Matrix, metric: str, params: IndexParams, directory: Path
) -> VectorIndex:
    """Build ``kind`` over ``vectors``; quantized kinds write their vectors file into directory."""
    if kind == "hnsw":
        return HNSWIndex.build(vectors, metric, params)
    if kind == "hnsw_sq8":
        return HNSWSQ8Index.build(vectors, metric, params, directory)
    if kind == "ivf_pq" and len(vectors) >= IVF_MIN_ROWS:
        return IVFPQIndex.build(vectors, metric, params, directory)
    return FlatIndex.build(vectors, metric, params)


def load_index(directory: Path, metric: str, params: IndexParams) -> VectorIndex:
    return load_faiss_index(directory, metric, params)

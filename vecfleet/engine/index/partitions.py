"""Partition indexes: one small HNSW graph per frequent keyword value of a segment.

A filter such as ``{"category": "data"}`` that keeps ~10 % of a segment is the hard case
for a single graph: a selector-restricted walk must step over ~9 non-matching nodes per
match (FAISS needed efSearch 512 for recall 0.95 on the packages corpus), while scoring
the ~10k matching rows exactly costs a full scan of them. A graph built over just the rows
of that value answers it like an unfiltered search of a small index. This is the idea
behind Qdrant's payload-aware extra HNSW links, realised here as separate graphs.

Only values holding between ``min_rows`` and ``max_share`` of a segment get one: smaller
sets are scored exactly (cheaper), larger ones filter well on the main graph. Quantized
segments get quantized partitions, re-ranked on the segment's full-precision vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

import faiss
import msgspec
import numpy as np
import numpy.typing as npt

from vecfleet.engine.index.base import IndexParams
from vecfleet.engine.index.faiss_indexes import (
    exact_search,
    faiss_metric,
    hnsw_params,
    to_similarity,
)
from vecfleet.engine.index.placement import PlacedArrays, place
from vecfleet.engine.payload import PayloadColumns
from vecfleet.types import Matrix

PARTITION_DIR = "partitions"


@dataclass
class Partition:
    field: str
    value: str
    rows: npt.NDArray[np.int64]  # segment rows, ascending; local label i = rows[i]
    index: faiss.Index
    metric: str
    params: IndexParams
    quantized: bool
    placed: PlacedArrays = dataclass_field(init=False, repr=False)  # see placement.py

    def __post_init__(self) -> None:
        self.placed = place(self.index)  # a partition's graph is sealed with its segment

    @property
    def size(self) -> int:
        return int(self.rows.size)

    def search(
        self,
        queries: Matrix,
        k: int,
        ef: int,
        local_bitmap: npt.NDArray[np.uint8] | None,
        full_vectors: Matrix,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k as (similarities, segment rows); ``local_bitmap`` is over partition rows."""
        fetch = min(k * self.params.rescore_factor, self.size) if self.quantized else k
        selector = None
        if local_bitmap is not None:
            selector = faiss.IDSelectorBitmap(self.size, faiss.swig_ptr(local_bitmap))
        params = hnsw_params(max(ef, fetch), selector)
        distances, labels = self.index.search(queries, fetch, params=params)
        del selector
        rows = np.where(labels >= 0, self.rows[np.maximum(labels, 0)], -1)
        if not self.quantized:
            return to_similarity(distances, self.metric), rows
        return _rescore(rows, queries, k, full_vectors, self.metric)

    def memory_bytes(self) -> int:
        return int(faiss.serialize_index(self.index).nbytes) + self.rows.nbytes


def _rescore(
    candidates: np.ndarray, queries: Matrix, k: int, full_vectors: Matrix, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    out_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    out_rows = np.full((len(queries), k), -1, dtype=np.int64)
    for i in range(len(queries)):
        cand = np.sort(candidates[i][candidates[i] >= 0])
        if cand.size == 0:
            continue
        scores, local = exact_search(full_vectors[cand], queries[i : i + 1], k, metric)
        found = local[0] >= 0
        n = int(found.sum())
        out_scores[i, :n] = scores[0][found]
        out_rows[i, :n] = cand[local[0][found]]
    return out_scores, out_rows


def build_partitions(
    kind: str,
    vectors: Matrix,
    payloads: PayloadColumns,
    fields: list[str],
    metric: str,
    params: IndexParams,
    min_rows: int,
    max_share: float,
) -> list[Partition]:
    if kind not in ("hnsw", "hnsw_sq8"):
        return []
    n = len(vectors)
    out = []
    for field in fields:
        codes, dictionary = payloads.keyword(field)
        counts = np.bincount(codes[codes >= 0], minlength=len(dictionary))
        for code in np.flatnonzero((counts >= min_rows) & (counts <= max_share * n)).tolist():
            rows = np.flatnonzero(codes == code).astype(np.int64)
            index = _graph(kind, vectors[rows], metric, params)
            out.append(
                Partition(
                    field, dictionary.values[code], rows, index, metric, params, kind == "hnsw_sq8"
                )
            )
    return out


def _graph(kind: str, vectors: Matrix, metric: str, params: IndexParams) -> faiss.Index:
    dim = vectors.shape[1]
    index: faiss.IndexHNSW
    if kind == "hnsw_sq8":
        index = faiss.IndexHNSWSQ(
            dim,
            faiss.ScalarQuantizer.QT_8bit,  # type: ignore[arg-type]  # the stub wants an object
            params.hnsw_m,
            faiss_metric(metric),
        )
        index.hnsw.efConstruction = params.ef_construction
        index.train(vectors)
    else:
        index = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss_metric(metric))
        index.hnsw.efConstruction = params.ef_construction
    index.add(np.ascontiguousarray(vectors))
    return index


def save_partitions(directory: Path, partitions: list[Partition]) -> list[Path]:
    if not partitions:
        return []
    root = directory / PARTITION_DIR
    root.mkdir(exist_ok=True)
    files = []
    listing = []
    for i, part in enumerate(partitions):
        index_path, rows_path = root / f"{i}.faiss", root / f"{i}.rows.npy"
        faiss.write_index(part.index, str(index_path))
        np.save(rows_path, part.rows)
        files += [index_path, rows_path]
        listing.append(
            {"field": part.field, "value": part.value, "file": i, "quantized": part.quantized}
        )
    meta = root / "partitions.json"
    meta.write_bytes(msgspec.json.encode(listing))
    return [*files, meta]


def load_partitions(directory: Path, metric: str, params: IndexParams) -> list[Partition]:
    meta = directory / PARTITION_DIR / "partitions.json"
    if not meta.exists():
        return []
    out = []
    for entry in msgspec.json.decode(meta.read_bytes()):
        root = directory / PARTITION_DIR
        index = faiss.read_index(str(root / f"{entry['file']}.faiss"))
        rows = np.load(root / f"{entry['file']}.rows.npy")
        out.append(
            Partition(
                entry["field"], entry["value"], rows, index, metric, params, entry["quantized"]
            )
        )
    return out

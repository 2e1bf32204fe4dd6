"""FAISS-backed index kinds: flat, hnsw, hnsw_sq8 and ivf_pq.

Quantized kinds (``hnsw_sq8``, ``ivf_pq``) keep only codes in RAM. Full-precision vectors
live in a memory-mapped ``vectors.f32`` file beside the index; a search over-fetches
``rescore_factor × k`` candidates from the codes and re-ranks them exactly, which buys back
the recall the quantizer loses at a fraction of the memory.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from vecfleet.engine.index.base import IndexParams, SearchResult
from vecfleet.engine.index.placement import place
from vecfleet.types import Matrix, Vector

INDEX_FILE = "index.faiss"
VECTORS_FILE = "vectors.f32"

# faiss ships partial stubs: the SWIG methods used below (``search_c``, ``get_xb``, the
# ``hnsw`` and IVF attributes, ``SearchParametersHNSW``) are missing from them, so those
# few calls carry a narrow ``type: ignore`` and raw pointers are typed ``Any``.
Pointer = Any


def hnsw_params(ef: int, selector: faiss.IDSelector | None = None) -> faiss.SearchParameters:
    """Per-search HNSW parameters: efSearch ``ef``, restricted to ``selector`` if given."""
    params: faiss.SearchParameters = faiss.SearchParametersHNSW(  # type: ignore[attr-defined]
        efSearch=ef, sel=selector
    )
    return params


def faiss_metric(metric: str) -> int:
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def to_similarity(distances: npt.NDArray[np.float32], metric: str) -> npt.NDArray[np.float32]:
    """FAISS gives squared l2 distances (smaller = closer); the engine ranks larger = closer."""
    return -distances if metric == "l2" else distances


def exact_search(
    vectors: Matrix, queries: Matrix, k: int, metric: str
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Exact top-k of ``queries`` over ``vectors`` (larger = closer), -1 rows when short.

    FAISS's brute-force kernel is used instead of a numpy product: for a handful of queries
    it runs single-threaded SIMD code, where a BLAS call can spin up threads that cost
    milliseconds on a busy machine.
    """
    k = max(1, min(k, len(vectors)))
    if not (queries.flags.c_contiguous and queries.dtype == np.float32):
        queries = np.ascontiguousarray(queries, dtype=np.float32)
    if not (vectors.flags.c_contiguous and vectors.dtype == np.float32):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    nq, dim = queries.shape
    distances = np.empty((nq, k), dtype=np.float32)
    rows = np.empty((nq, k), dtype=np.int64)
    kernel = faiss.knn_L2sqr if metric == "l2" else faiss.knn_inner_product
    kernel(
        faiss.swig_ptr(queries),
        faiss.swig_ptr(vectors),
        dim,
        nq,
        len(vectors),
        k,
        faiss.swig_ptr(distances),
        faiss.swig_ptr(rows),
    )
    return to_similarity(distances, metric), rows


def _write_vectors(directory: Path, vectors: Matrix) -> Path:
    path = directory / VECTORS_FILE
    np.ascontiguousarray(vectors, dtype=np.float32).tofile(path)
    return path


def _map_vectors(directory: Path, dim: int) -> Matrix:
    path = directory / VECTORS_FILE
    n = path.stat().st_size // (4 * dim)
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return np.memmap(path, dtype=np.float32, mode="r", shape=(n, dim))


def _search_into(
    index: faiss.Index, queries: Matrix, k: int, params: faiss.SearchParameters | None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """``index.search`` without the wrapper's re-checks: queries are already contiguous
    float32 rows of the right width, validated once at the API edge."""
    n = queries.shape[0]
    distances = np.empty((n, k), dtype=np.float32)
    labels = np.empty((n, k), dtype=np.int64)
    index.search_c(  # type: ignore[attr-defined]
        n, faiss.swig_ptr(queries), k, faiss.swig_ptr(distances), faiss.swig_ptr(labels), params
    )
    return distances, labels


# distances and labels of k results, and their FAISS pointers
Buffers = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], Pointer, Pointer]


class _ResultBuffers(threading.local):
    """Per-thread output arrays by k for single-query searches, with their FAISS pointers.

    A one-query search reads its results out as Python lists before it returns, so the next
    search on the same thread can reuse the arrays: this saves two allocations and two
    pointer conversions per call on the hot path.
    """

    def __init__(self) -> None:
        self.by_k: dict[int, Buffers] = {}


_BUFFERS = _ResultBuffers()
_MAX_BUFFERED_K = 64


def _new_buffers(k: int) -> Buffers:
    """(distances, labels, their pointers) for k results, kept for this thread's next calls."""
    distances = np.empty(k, dtype=np.float32)
    labels = np.empty(k, dtype=np.int64)
    made = (distances, labels, faiss.swig_ptr(distances), faiss.swig_ptr(labels))
    if len(_BUFFERS.by_k) < _MAX_BUFFERED_K:
        _BUFFERS.by_k[k] = made
    return made


def _search_one_c(
    index: faiss.Index, query: Vector, k: int, params: faiss.SearchParameters | None
) -> tuple[np.ndarray, np.ndarray]:
    """One query's top ``k`` by one ``search_c`` call into this thread's reusable buffers:
    (distances, labels), valid until the next single-query search on the thread."""
    distances, labels, d_ptr, l_ptr = _BUFFERS.by_k.get(k) or _new_buffers(k)
    index.search_c(1, faiss.swig_ptr(query), k, d_ptr, l_ptr, params)  # type: ignore[attr-defined]
    return distances, labels


class ExactScan:
    """Brute-force top-k of single queries over one fixed matrix, for the search fast path.

    The matrix is made contiguous and its pointer taken once; each query is one call of
    FAISS's brute-force kernel (the one ``exact_search`` uses, so results are identical)
    into per-thread buffers, returned as lists: raw FAISS values, i.e. inner products, or
    squared distances for l2.
    """

    __slots__ = ("_kernel", "_pointer", "dim", "size", "vectors")

    def __init__(self, vectors: Matrix, metric: str) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.size, self.dim = self.vectors.shape
        self._pointer = faiss.swig_ptr(self.vectors)
        self._kernel = faiss.knn_L2sqr if metric == "l2" else faiss.knn_inner_product

    def top_k(self, query: Vector, k: int) -> tuple[list[float], list[int]]:
        """(values, rows) of the min(k, size) best rows; ``query`` is a contiguous row."""
        k = min(k, self.size)
        distances, labels, d_ptr, l_ptr = _BUFFERS.by_k.get(k) or _new_buffers(k)
        self._kernel(faiss.swig_ptr(query), self._pointer, self.dim, 1, self.size, k, d_ptr, l_ptr)
        return distances.tolist(), labels.tolist()


class GraphScan:
    """Top-k of single queries on one HNSW graph at a fixed efSearch, for the search fast
    path: one ``search_c`` into per-thread buffers with a parameters object made once,
    returned as lists of raw FAISS values and graph labels (-1 where fewer were found)."""

    __slots__ = ("_index", "_params")

    def __init__(self, index: faiss.Index, ef: int) -> None:
        self._index = index
        self._params = hnsw_params(ef)

    def top_k(self, query: Vector, k: int) -> tuple[list[float], list[int]]:
        distances, labels = _search_one_c(self._index, query, k, self._params)
        return distances.tolist(), labels.tolist()


def _selector(bitmap: npt.NDArray[np.uint8] | None, n: int) -> faiss.IDSelector | None:
    if bitmap is None:
        return None
    return faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))


class FaissIndex:
    """Common search/save plumbing; subclasses choose the FAISS structure and parameters.

    Every instance wraps a sealed index (built or loaded whole, never added to), so its
    large arrays are moved to aligned, large-page memory at once (see placement.py); the
    wrapper keeps that memory for the index's lifetime.
    """

    kind = "flat"

    def __init__(self, index: faiss.Index, metric: str, params: IndexParams) -> None:
        self.index = index
        self._placed = place(index)
        self.metric = metric
        self.params = params
        self.dim = index.d
        self.size = index.ntotal
        self._view: Matrix | None = None

    def _params(self, ef: int, selector: faiss.IDSelector | None) -> faiss.SearchParameters | None:
        if selector is None:
            return None
        params = faiss.SearchParameters()
        params.sel = selector
        return params

    def _raw_search(
        self, queries: Matrix, k: int, ef: int, bitmap: npt.NDArray[np.uint8] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        selector = _selector(bitmap, self.size)
        distances, labels = _search_into(self.index, queries, k, self._params(ef, selector))
        del selector, bitmap  # the selector points into bitmap; both must outlive the search
        return distances, labels

    def search(
        self, queries: Matrix, k: int, ef: int, bitmap: npt.NDArray[np.uint8] | None
    ) -> SearchResult:
        distances, labels = self._raw_search(queries, k, ef, bitmap)
        return SearchResult(to_similarity(distances, self.metric), labels)

    def search_one(self, query: Vector, k: int) -> tuple[list[float], list[int]]:
        """Top-k of one query at the default search parameters, as (raw values, rows) lists.

        Raw values are FAISS's: inner products, or squared distances for l2; rows are -1
        where fewer than k were found. Kinds without a direct path go through ``search``.
        """
        found = self.search(query.reshape(1, self.dim), k, self.params.ef_search, None)
        values = found.scores[0] if self.metric != "l2" else -found.scores[0]
        return values.tolist(), found.rows[0].tolist()

    def _search_one_direct(self, query: Vector, k: int) -> tuple[list[float], list[int]]:
        """``search_one`` as one ``search_c`` call into per-thread buffers (no parameters)."""
        distances, labels = _search_one_c(self.index, query, k, None)
        return distances.tolist(), labels.tolist()

    def vectors(self) -> Matrix:
        if self._view is None and self._placed.codes is not None:
            # a view of the placed bytes keeps their memory alive for as long as it is held
            self._view = self._placed.codes.view(np.float32).reshape(self.size, self.dim)
        if self._view is None:
            storage = faiss.downcast_index(self.index)
            if isinstance(storage, faiss.IndexHNSW):
                storage = faiss.downcast_index(storage.storage)
            xb = storage.get_xb()  # type: ignore[attr-defined]
            ptr = faiss.rev_swig_ptr(xb, self.size * self.dim)
            self._view = np.asarray(ptr).reshape(self.size, self.dim)
        return self._view

    def memory_bytes(self) -> int:
        return int(faiss.serialize_index(self.index).nbytes)

    def save(self, directory: Path) -> list[Path]:
        path = directory / INDEX_FILE
        faiss.write_index(self.index, str(path))
        return [path]


class FlatIndex(FaissIndex):
    kind = "flat"

    def search_one(self, query: Vector, k: int) -> tuple[list[float], list[int]]:
        return self._search_one_direct(query, k)  # a flat index has no parameters to set

    @classmethod
    def build(cls, vectors: Matrix, metric: str, params: IndexParams) -> FlatIndex:
        index = faiss.IndexFlat(vectors.shape[1], faiss_metric(metric))
        index.add(vectors)
        return cls(index, metric, params)


class HNSWIndex(FaissIndex):
    kind = "hnsw"

    def __init__(self, index: faiss.Index, metric: str, params: IndexParams) -> None:
        super().__init__(index, metric, params)
        index.hnsw.efSearch = params.ef_search  # type: ignore[attr-defined]

    @classmethod
    def build(cls, vectors: Matrix, metric: str, params: IndexParams) -> HNSWIndex:
        index = faiss.IndexHNSWFlat(vectors.shape[1], params.hnsw_m, faiss_metric(metric))
        index.hnsw.efConstruction = params.ef_construction
        index.add(vectors)
        return cls(index, metric, params)

    def _params(self, ef: int, selector: faiss.IDSelector | None) -> faiss.SearchParameters:
        return hnsw_params(ef, selector)

    def search_one(self, query: Vector, k: int) -> tuple[list[float], list[int]]:
        if k > self.params.ef_search:  # the beam must widen to k: needs a parameters object
            return super().search_one(query, k)
        # _search_one_direct inlined: this is the unfiltered hot path, one frame less.
        distances, labels, d_ptr, l_ptr = _BUFFERS.by_k.get(k) or _new_buffers(k)
        self.index.search_c(1, faiss.swig_ptr(query), k, d_ptr, l_ptr, None)  # type: ignore[attr-defined]
        return distances.tolist(), labels.tolist()

    def _raw_search(
        self, queries: Matrix, k: int, ef: int, bitmap: npt.NDArray[np.uint8] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        ef = max(ef, k)
        if bitmap is None and ef == self.params.ef_search:
            # The index keeps the default efSearch, so the common search needs no
            # per-call parameters object (and stays thread-safe: nothing is mutated).
            return _search_into(self.index, queries, k, None)
        return super()._raw_search(queries, k, ef, bitmap)


class RescoredIndex(FaissIndex):
    """An index over quantized codes, re-ranked on memory-mapped full-precision vectors."""

    def __init__(self, index: faiss.Index, metric: str, params: IndexParams, full: Matrix) -> None:
        super().__init__(index, metric, params)
        self._full = full
        # a plain array over the same map: fancy indexing skips np.memmap's subclass hooks
        self._full_rows = np.asarray(full)
        self._kernel = faiss.knn_L2sqr if metric == "l2" else faiss.knn_inner_product
        self._direct = False  # subclasses: True when the index's own state is the default

    def vectors(self) -> Matrix:
        return self._full

    def search_one(self, query: Vector, k: int) -> tuple[list[float], list[int]]:
        """One query at the default parameters, without the batch path's per-row arrays:
        the codes' top ``rescore_factor × k`` straight into per-thread buffers, re-ranked by
        FAISS's exact kernel on their full-precision rows (the kernel ``search`` re-ranks
        with, over the same sorted candidates, so the answer is the same)."""
        fetch = min(max(k * self.params.rescore_factor, k), self.size)
        if not self._direct or fetch > self.params.ef_search:
            return super().search_one(query, k)  # the search needs a parameters object
        _, labels = _search_one_c(self.index, query, fetch, None)
        candidates = labels[labels >= 0]  # a copy: the buffers are reused below
        if candidates.size == 0:
            return [], []
        candidates.sort()  # sequential reads of the memory map
        rows = self._full_rows[candidates]
        top = min(k, candidates.size)
        values, picks, v_ptr, p_ptr = _BUFFERS.by_k.get(top) or _new_buffers(top)
        self._kernel(
            faiss.swig_ptr(query), faiss.swig_ptr(rows), self.dim, 1, candidates.size, top,
            v_ptr, p_ptr,
        )  # fmt: skip
        return values.tolist(), candidates[picks].tolist()

    def search(
        self, queries: Matrix, k: int, ef: int, bitmap: npt.NDArray[np.uint8] | None
    ) -> SearchResult:
        fetch = min(max(k * self.params.rescore_factor, k), self.size)
        _, labels = self._raw_search(queries, fetch, max(ef, fetch), bitmap)
        nq = queries.shape[0]
        out_scores = np.full((nq, k), -np.inf, dtype=np.float32)
        out_rows = np.full((nq, k), -1, dtype=np.int64)
        for i in range(nq):
            cand = labels[i][labels[i] >= 0]
            if cand.size == 0:
                continue
            cand.sort()  # sequential reads of the memory map
            best_scores, best = exact_search(self._full[cand], queries[i : i + 1], k, self.metric)
            found = best[0] >= 0
            out_scores[i, : found.sum()] = best_scores[0][found]
            out_rows[i, : found.sum()] = cand[best[0][found]]
        return SearchResult(out_scores, out_rows)

    def save(self, directory: Path) -> list[Path]:
        files = super().save(directory)
        if not (directory / VECTORS_FILE).exists():
            files.append(_write_vectors(directory, np.asarray(self._full)))
        return files


class HNSWSQ8Index(RescoredIndex):
    kind = "hnsw_sq8"

    def __init__(self, index: faiss.Index, metric: str, params: IndexParams, full: Matrix) -> None:
        super().__init__(index, metric, params, full)
        # the default search needs no parameters
        index.hnsw.efSearch = params.ef_search  # type: ignore[attr-defined]
        self._direct = True

    @classmethod
    def build(
        cls, vectors: Matrix, metric: str, params: IndexParams, directory: Path
    ) -> HNSWSQ8Index:
        index = faiss.IndexHNSWSQ(
            vectors.shape[1],
            faiss.ScalarQuantizer.QT_8bit,  # type: ignore[arg-type]  # the stub wants an object
            params.hnsw_m,
            faiss_metric(metric),
        )
        index.hnsw.efConstruction = params.ef_construction
        index.train(vectors)
        index.add(vectors)
        _write_vectors(directory, vectors)
        return cls(index, metric, params, _map_vectors(directory, vectors.shape[1]))

    def _params(self, ef: int, selector: faiss.IDSelector | None) -> faiss.SearchParameters:
        return hnsw_params(ef, selector)


class IVFPQIndex(RescoredIndex):
    kind = "ivf_pq"

    def __init__(self, index: faiss.Index, metric: str, params: IndexParams, full: Matrix) -> None:
        super().__init__(index, metric, params, full)
        ivf: Any = faiss.downcast_index(index)  # an IndexIVFPQ; the stub says Index
        default = min(max(params.ivf_nprobe, params.ef_search // 4), ivf.nlist)
        self._direct = ivf.nprobe == default  # then the default search needs no parameters

    @classmethod
    def build(
        cls, vectors: Matrix, metric: str, params: IndexParams, directory: Path
    ) -> IVFPQIndex:
        n, dim = vectors.shape
        nlist = int(max(1, min(4 * np.sqrt(n), n // 39)))
        m = params.pq_subquantizers if dim % params.pq_subquantizers == 0 else 1
        quantizer = faiss.IndexFlat(dim, faiss_metric(metric))
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss_metric(metric))
        index.train(vectors)
        index.add(vectors)
        index.nprobe = min(params.ivf_nprobe, nlist)
        _write_vectors(directory, vectors)
        return cls(index, metric, params, _map_vectors(directory, dim))

    def _params(self, ef: int, selector: faiss.IDSelector | None) -> faiss.SearchParameters:
        ivf: Any = faiss.downcast_index(self.index)  # an IndexIVFPQ; the stub says Index
        params = faiss.SearchParametersIVF()
        params.nprobe = min(max(self.params.ivf_nprobe, ef // 4), ivf.nlist)
        params.sel = selector
        return params


def load_faiss_index(directory: Path, metric: str, params: IndexParams) -> FaissIndex:
    """Read an index file back; the FAISS structure in the file says which kind it is."""
    index = faiss.read_index(str(directory / INDEX_FILE))  # already the concrete class, owning
    if isinstance(index, faiss.IndexHNSWSQ):
        return HNSWSQ8Index(index, metric, params, _map_vectors(directory, index.d))
    if isinstance(index, faiss.IndexIVFPQ):
        index.nprobe = min(params.ivf_nprobe, index.nlist)
        return IVFPQIndex(index, metric, params, _map_vectors(directory, index.d))
    if isinstance(index, faiss.IndexHNSW):
        return HNSWIndex(index, metric, params)
    return FlatIndex(index, metric, params)

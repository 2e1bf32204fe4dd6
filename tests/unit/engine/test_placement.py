"""Sealed FAISS arrays moved to page-aligned maps: same answers, FAISS's copy freed."""

from __future__ import annotations

import gc

import faiss
import numpy as np
import pytest

from tests.helpers import unit_rows
from vecfleet.engine.index.base import IndexParams
from vecfleet.engine.index.faiss_indexes import FlatIndex, HNSWIndex, HNSWSQ8Index
from vecfleet.engine.index.placement import MIN_BYTES, place

PAGE = 4096


def storage_of(index: faiss.Index) -> faiss.Index:
    index = faiss.downcast_index(index)
    return faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index


@pytest.mark.parametrize("kind", ["flat", "hnsw", "hnsw_sq8"])
def test_placed_index_answers_as_before_from_aligned_memory(kind):
    rng = np.random.default_rng(3)
    x = unit_rows(rng, 3000, 32)
    queries = unit_rows(rng, 40, 32)
    if kind == "flat":
        index = faiss.IndexFlatIP(32)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(32, 16, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexHNSWSQ(32, faiss.ScalarQuantizer.QT_8bit, 16, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
    index.add(x)
    before = index.search(queries, 10)

    placed = place(index)

    storage = storage_of(index)
    assert int(storage.codes.data()) % PAGE == 0
    assert not storage.codes.is_owned
    assert storage.codes.owned_data.size() == 0  # FAISS's own copy is gone
    expected_arrays = 1 if kind == "flat" else 2  # codes, and the graph's links
    assert len(placed.arrays) == expected_arrays
    after = index.search(queries, 10)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])
    reread = faiss.deserialize_index(faiss.serialize_index(index))  # saving reads the views
    np.testing.assert_array_equal(reread.search(queries, 10)[1], before[1])


def test_small_arrays_stay_where_faiss_put_them():
    index = faiss.IndexFlatIP(8)
    index.add(np.ones((MIN_BYTES // 64, 8), dtype=np.float32))  # half of MIN_BYTES
    assert place(index).arrays == []
    assert index.codes.is_owned


def test_wrappers_place_on_build_and_vectors_outlive_the_wrapper(tmp_path):
    rng = np.random.default_rng(5)
    x = unit_rows(rng, 3000, 32)  # sq8 codes of 96 KiB: over MIN_BYTES
    params = IndexParams()
    hnsw = HNSWIndex.build(x, "cosine", params)
    flat = FlatIndex.build(x, "cosine", params)
    sq8 = HNSWSQ8Index.build(x, "cosine", params, tmp_path)
    for wrapper in (hnsw, flat):
        assert int(storage_of(wrapper.index).codes.data()) % PAGE == 0
    assert not storage_of(sq8.index).codes.is_owned
    vectors = hnsw.vectors()
    np.testing.assert_array_equal(vectors, x)
    del hnsw
    gc.collect()
    np.testing.assert_array_equal(vectors, x)  # the view holds the placed memory

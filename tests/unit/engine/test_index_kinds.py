"""Quantized index kinds on segments big enough to use them, against exact search."""

from __future__ import annotations

import numpy as np
import pytest

import vecfleet
from tests.helpers import unit_rows


def clustered(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    centres = unit_rows(rng, 64, dim)
    x = centres[rng.integers(0, 64, n)] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("index", ["hnsw_sq8", "ivf_pq"])
def test_quantized_kinds_rescore_to_high_recall(tmp_path, index):
    rng = np.random.default_rng(11)
    x = clustered(rng, 12_000, 48)  # IVF-PQ trains only from 10k rows on
    with vecfleet.connect(tmp_path, durability="none") as db:
        col = db.create_collection("c", dim=48, index=index)
        col.upsert(ids=list(range(len(x))), vectors=x)
        col.optimize()
        info = col.info()
        assert {s["index"] for s in info["segments"] if s["rows"]} == {index}
        queries = clustered(rng, 50, 48)

        def recall(params: dict | None) -> float:
            overlap = 0
            for q in queries:
                got = {h.id for h in col.search(q, limit=10, params=params)}
                want = {h.id for h in col.search(q, limit=10, params={"exact": True})}
                overlap += len(got & want)
            return overlap / 500

        # defaults are tuned for speed; a wider search (ef → more IVF lists) buys recall back
        assert recall(None) >= (0.9 if index == "hnsw_sq8" else 0.8)
        assert recall({"ef": 512}) >= 0.95
        # rescoring returns exact cosine scores, not quantized ones
        hit = col.search(x[7], limit=1)[0]
        assert hit.id == 7 and hit.score == pytest.approx(1.0, abs=1e-5)


def test_sq8_keeps_codes_in_memory_and_vectors_on_disk(tmp_path):
    rng = np.random.default_rng(12)
    x = clustered(rng, 3000, 384)  # at 384-d vectors, not graph links, dominate memory
    sizes = {}
    with vecfleet.connect(tmp_path, durability="none") as db:
        for kind in ("hnsw", "hnsw_sq8"):
            col = db.create_collection(kind, dim=384, index=kind, partition_fields=[])
            col.upsert(ids=list(range(len(x))), vectors=x)
            col.optimize()
            sizes[kind] = col.memory_bytes()
    assert sizes["hnsw_sq8"] <= 0.4 * sizes["hnsw"]
    segment_files = list((tmp_path / "segments").glob("*/vectors.f32"))
    assert segment_files and segment_files[0].stat().st_size == 3000 * 384 * 4

"""The real all-MiniLM-L6-v2 model, loaded offline, against the shipped reference vectors.

Needs the ``embed`` extra. It fails, rather than skips, when the model cannot load; it
skips only when the reference data folder (outside the repository) is not present.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vecfleet.embed import Embedder, MiniLMEmbedder


def _incidents_dir() -> Path | None:
    """The reference folder: $VECFLEET_INCIDENTS_DIR, else shared/ beside the repo."""
    repo = Path(__file__).resolve().parents[2]
    candidates = [
        os.environ.get("VECFLEET_INCIDENTS_DIR", ""),
        str(repo.parent / "shared" / "data" / "incidents"),
        "/work/shared/data/incidents",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "queries_dev.f16.npy").is_file():
            return Path(candidate)
    return None


INCIDENTS = _incidents_dir()
needs_reference = pytest.mark.skipif(
    INCIDENTS is None,
    reason="reference data (shared/data/incidents with queries_dev.f16.npy) is not present",
)


def _no_network(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the model loader tried to open a network connection")


@pytest.fixture(scope="module")
def model() -> Iterator[MiniLMEmbedder]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _no_network)
        patch.setattr(socket, "create_connection", _no_network)
        embedder = MiniLMEmbedder(torch_threads=2)
    yield embedder


def test_contract(model: MiniLMEmbedder) -> None:
    assert isinstance(model, Embedder)
    assert (model.model_id, model.dim) == ("all-MiniLM-L6-v2", 384)
    vectors = model.embed(["laptop stolen at hospital", "ransomware at a school district"])
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert model.embed([]).shape == (0, 384)


def test_similar_meaning_scores_higher(model: MiniLMEmbedder) -> None:
    query, near, far = model.embed(
        [
            "stolen laptop exposed patient records",
            "an unencrypted notebook computer with medical files was taken from a car",
            "ransomware encrypted the servers of a school district",
        ]
    )
    assert float(query @ near) > float(query @ far) + 0.1


@needs_reference
def test_query_vectors_match_reference(model: MiniLMEmbedder) -> None:
    assert INCIDENTS is not None
    with open(INCIDENTS / "queries_dev.jsonl", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for _, line in zip(range(20), fh, strict=False)]
    reference = np.load(INCIDENTS / "queries_dev.f16.npy")[:20].astype(np.float32)
    cosines = np.sum(model.embed(texts) * reference, axis=1)
    assert cosines.min() >= 0.99, f"lowest cosine {cosines.min():.4f} at {cosines.argmin()}"


@needs_reference
def test_record_vectors_match_reference(model: MiniLMEmbedder) -> None:
    """Records are embedded as title + newline + text, truncated at 256 word pieces."""
    assert INCIDENTS is not None
    with gzip.open(INCIDENTS / "records.jsonl.gz", "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for _, line in zip(range(8), fh, strict=False)]
    texts = [f"{r['title']}\n{r['text']}" for r in records]
    reference = np.load(INCIDENTS / "embeddings.f16.npy", mmap_mode="r")[:8].astype(np.float32)
    cosines = np.sum(model.embed(texts) * reference, axis=1)
    assert cosines.min() >= 0.99, f"lowest cosine {cosines.min():.4f} at {cosines.argmin()}"

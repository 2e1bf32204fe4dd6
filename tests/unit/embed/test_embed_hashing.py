"""HashEmbedder: the deterministic stand-in used by unit tests and model-free runs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from vecfleet.embed import Embedder, HashEmbedder
from vecfleet.errors import ValidationError


def test_shape_dtype_and_unit_length() -> None:
    vectors = HashEmbedder(64).embed(["stolen laptop", "ransomware at a hospital", "?!"])
    assert vectors.shape == (3, 64)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)


def test_is_an_embedder() -> None:
    embedder = HashEmbedder(32)
    assert isinstance(embedder, Embedder)
    assert (embedder.model_id, embedder.dim) == ("hash-32", 32)


def test_shared_words_mean_higher_cosine() -> None:
    a, b, c = HashEmbedder(384).embed(
        [
            "laptop stolen from hospital car park",
            "hospital laptop stolen overnight",
            "ransomware encrypted school district servers",
        ]
    )
    assert float(a @ b) > 0.3
    assert float(a @ b) > float(a @ c) + 0.2


def test_word_order_matters_through_bigrams() -> None:
    a, b, swapped = HashEmbedder(384).embed(
        ["card skimmer found", "card skimmer found", "found skimmer card"]
    )
    assert float(a @ b) == pytest.approx(1.0)
    assert float(a @ swapped) < 0.99


def test_same_vectors_in_another_process() -> None:
    """str hashes are salted per process; the embedder must not depend on them."""
    code = (
        "from vecfleet.embed import HashEmbedder;"
        "print(HashEmbedder(16).embed(['phishing email at credit union']).tobytes().hex())"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    here = HashEmbedder(16).embed(["phishing email at credit union"]).tobytes().hex()
    assert run.stdout.strip() == here


def test_empty_batch() -> None:
    assert HashEmbedder(8).embed([]).shape == (0, 8)


@pytest.mark.parametrize("texts", ["one string", ["ok", ""], ["ok", "   "], ["ok", 3]])
def test_rejects_what_cannot_be_embedded(texts: object) -> None:
    with pytest.raises(ValidationError):
        HashEmbedder(8).embed(texts)  # type: ignore[arg-type]


def test_dim_must_be_sensible() -> None:
    with pytest.raises(ValidationError):
        HashEmbedder(1)

"""Small helpers shared by tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from vecfleet.models import SearchOptions, SearchRequest


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def search_request(
    vector: Any = None,
    *,
    text: str | None = None,
    consistency: str | None = None,
    seq: int | None = None,
    cache: str = "default",
    **options: Any,
) -> SearchRequest:
    """A gateway ``SearchRequest``; ``options`` are ``SearchOptions`` fields (limit, filter…)."""
    return SearchRequest(vector, text, SearchOptions(**options), consistency, seq, cache)

"""The embedder seam: text in, unit-length float32 vectors out.

Every embedder (the local MiniLM model, an OpenAI-compatible HTTP service, the hashing
fake) answers the same synchronous call so the async shell can run any of them in a
worker thread and the cache can key entries by ``model_id`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from vecfleet.errors import ValidationError
from vecfleet.types import Matrix


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of a fixed width.

    ``model_id`` names the vector space: two embedders with the same id must give the
    same vector for the same text, because caches and stored collections rely on it.
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Return float32 ``(len(texts), dim)``, each row of unit length."""
        ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """Reject what no model can embed, so every embedder fails the same way.

    A bare ``str`` is refused because iterating it would embed single characters.
    """
    if isinstance(texts, str | bytes):
        raise ValidationError("texts must be a list of strings, not a single string")
    checked = list(texts)
    for i, text in enumerate(checked):
        if not isinstance(text, str):
            raise ValidationError(
                f"texts[{i}] is {type(text).__name__}; every text must be a string", index=i
            )
        if not text.strip():
            raise ValidationError(f"texts[{i}] is blank; give some text to embed", index=i)
    return checked


def l2_normalise(matrix: Matrix) -> Matrix:
    """Scale rows to unit length in a new array; all-zero rows stay zero, not NaN."""
    out = np.array(matrix, dtype=np.float32, order="C")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def empty_matrix(dim: int) -> Matrix:
    """The answer to an empty batch, shaped so callers can still stack it."""
    return np.zeros((0, dim), dtype=np.float32)

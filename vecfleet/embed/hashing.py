"""A deterministic, model-free embedder for tests and for running without a model.

Feature hashing (Weinberger et al., 2009): each lower-cased word and each pair of
adjacent words is hashed to one of ``dim`` buckets with a hashed sign, and the counts
are L2-normalised. Texts that share words share buckets, so their cosine is higher;
unrelated texts land near zero. It knows no synonyms, so it is a stand-in, not a model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b
from itertools import pairwise

import numpy as np

from vecfleet.embed.base import check_texts, empty_matrix, l2_normalise
from vecfleet.errors import ValidationError
from vecfleet.types import Matrix

_WORD = re.compile(r"\w+")
_BIGRAM_WEIGHT = 0.5
"""Bigrams add word order without letting phrase matches drown shared vocabulary."""


@lru_cache(maxsize=1 << 18)
def _feature(token: str, dim: int) -> tuple[int, float]:
    """Bucket and sign of one token; cached because corpora repeat their words a lot."""
    # blake2b rather than hash(): Python salts str hashes per process, vectors must not.
    value = int.from_bytes(blake2b(token.encode(), digest_size=8).digest(), "little")
    return value % dim, (1.0 if value >> 63 else -1.0)


def tokens(text: str) -> tuple[list[str], list[str]]:
    """Lower-cased word unigrams and adjacent-word bigrams of ``text``."""
    words = _WORD.findall(text.lower())
    return words, [f"{a} {b}" for a, b in pairwise(words)]


class HashEmbedder:
    """Signed feature hashing of unigrams and bigrams into ``dim`` buckets."""

    def __init__(self, dim: int = 384) -> None:
        if dim < 2:
            raise ValidationError(f"dim must be at least 2, got {dim}", dim=dim)
        self._dim = dim

    @property
    def model_id(self) -> str:
        return f"hash-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Vectors for ``texts``; a text with no word characters maps to one fixed bucket."""
        checked = check_texts(texts)
        if not checked:
            return empty_matrix(self._dim)
        out = np.zeros((len(checked), self._dim), dtype=np.float32)
        for row, text in enumerate(checked):
            words, bigrams = tokens(text)
            out[row] = self._counts(words or ["\x00"], bigrams)
        return l2_normalise(out)

    def _counts(self, words: list[str], bigrams: list[str]) -> Matrix:
        features = [_feature(tok, self._dim) for tok in words + bigrams]
        idx = np.fromiter((bucket for bucket, _ in features), dtype=np.int64, count=len(features))
        weight = np.fromiter((sign for _, sign in features), dtype=np.float64, count=len(features))
        weight[len(words) :] *= _BIGRAM_WEIGHT
        return np.bincount(idx, weights=weight, minlength=self._dim).astype(np.float32)

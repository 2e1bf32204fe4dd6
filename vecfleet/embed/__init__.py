"""Text → vector: the ``Embedder`` protocol, its implementations, cache and batching.

``MiniLMEmbedder`` needs the ``embed`` extra (torch, sentence-transformers and the
packaged model); everything else here needs only numpy and httpx.
"""

from vecfleet.embed.base import Embedder
from vecfleet.embed.batching import BatchingEmbedder, BatchStats
from vecfleet.embed.cache import CacheStats, EmbeddingCache, normalise_text
from vecfleet.embed.hashing import HashEmbedder
from vecfleet.embed.minilm import MiniLMEmbedder
from vecfleet.embed.openai_http import OpenAIEmbedder

__all__ = [
    "BatchStats",
    "BatchingEmbedder",
    "CacheStats",
    "Embedder",
    "EmbeddingCache",
    "HashEmbedder",
    "MiniLMEmbedder",
    "OpenAIEmbedder",
    "normalise_text",
]

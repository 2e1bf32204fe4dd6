"""Vector indexes of sealed segments, all built on FAISS."""

from vecfleet.engine.index.base import IndexParams, SearchResult, VectorIndex
from vecfleet.engine.index.factory import build_index, load_index

__all__ = ["IndexParams", "SearchResult", "VectorIndex", "build_index", "load_index"]

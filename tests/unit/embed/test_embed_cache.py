"""EmbeddingCache: key normalisation, LRU order, TTL, counters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vecfleet.embed import EmbeddingCache, normalise_text
from vecfleet.errors import ValidationError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def vec(x: float) -> np.ndarray:
    return np.full(4, x, dtype=np.float32)


def test_normalise_text() -> None:
    assert normalise_text("  stolen\t\nlaptop  ") == "stolen laptop"
    assert normalise_text("ﬁle ＳＳＮ") == "file SSN"  # NFKC: ligature, full-width letters
    assert normalise_text("US Bank") != normalise_text("us bank")  # case kept on purpose


@given(st.text())
def test_normalise_text_is_idempotent(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once


def test_hit_and_miss_counters_and_equivalent_keys() -> None:
    cache = EmbeddingCache(max_entries=10)
    assert cache.get("m", "stolen laptop") is None
    cache.put("m", "stolen laptop", vec(1))
    got = cache.get("m", " stolen   laptop ")
    assert got is not None and got[0] == 1
    assert cache.get("other-model", "stolen laptop") is None
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)


def test_stored_vector_is_a_private_read_only_copy() -> None:
    cache = EmbeddingCache()
    source = vec(1)
    cache.put("m", "t", source)
    source[:] = 9
    got = cache.get("m", "t")
    assert got is not None and got[0] == 1
    with pytest.raises(ValueError):
        got[0] = 5


def test_ttl_expires_entries_from_put_time() -> None:
    clock = FakeClock()
    cache = EmbeddingCache(ttl_s=10, clock=clock)
    cache.put("m", "t", vec(1))
    clock.now += 9.9
    assert cache.get("m", "t") is not None
    clock.now += 0.2  # reads do not extend the life of an entry
    assert cache.get("m", "t") is None
    assert cache.stats.expirations == 1
    assert len(cache) == 0


def test_lru_evicts_least_recently_used() -> None:
    cache = EmbeddingCache(max_entries=2)
    cache.put("m", "a", vec(1))
    cache.put("m", "b", vec(2))
    assert cache.get("m", "a") is not None  # a is now the most recent
    cache.put("m", "c", vec(3))
    assert cache.get("m", "b") is None
    assert cache.get("m", "a") is not None and cache.get("m", "c") is not None
    assert cache.stats.evictions == 1


def test_put_again_refreshes_value() -> None:
    cache = EmbeddingCache(max_entries=2)
    cache.put("m", "a", vec(1))
    cache.put("m", "a", vec(2))
    got = cache.get("m", "a")
    assert len(cache) == 1 and got is not None and got[0] == 2


@pytest.mark.parametrize("kwargs", [{"max_entries": 0}, {"ttl_s": 0}, {"ttl_s": -1}])
def test_rejects_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        EmbeddingCache(**kwargs)  # type: ignore[arg-type]

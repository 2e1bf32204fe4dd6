"""BatchingEmbedder: concurrent texts go to the model together, through the cache."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from vecfleet.embed import BatchingEmbedder, EmbeddingCache, HashEmbedder
from vecfleet.errors import Unavailable, ValidationError
from vecfleet.types import Matrix


class CountingEmbedder:
    """HashEmbedder that records each call; can be slowed down or made to refuse texts."""

    def __init__(self, dim: int = 32, delay_s: float = 0.0, refuse: str | None = None) -> None:
        self.inner = HashEmbedder(dim)
        self.calls: list[list[str]] = []
        self.delay_s = delay_s
        self.refuse = refuse
        self.threads: set[str] = set()

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        self.threads.add(threading.current_thread().name)
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.refuse is not None and any(self.refuse in t for t in texts):
            raise ValidationError(f"text contains {self.refuse!r}")
        return self.inner.embed(texts)


class BrokenEmbedder(CountingEmbedder):
    def embed(self, texts: Sequence[str]) -> Matrix:
        self.calls.append(list(texts))
        raise Unavailable("model is down")


TEXTS = [f"incident number {i} at a regional hospital" for i in range(50)]


def test_fifty_concurrent_calls_share_few_model_calls() -> None:
    model = CountingEmbedder()

    async def main() -> list[np.ndarray]:
        batcher = BatchingEmbedder(model, max_batch=64, max_wait_s=0.002)
        try:
            return await asyncio.gather(*(batcher.embed_one(t) for t in TEXTS))
        finally:
            await batcher.aclose()

    got = asyncio.run(main())
    assert len(model.calls) <= 2
    assert sum(len(c) for c in model.calls) == 50
    np.testing.assert_array_equal(np.stack(got), HashEmbedder(32).embed(TEXTS))
    assert all(name.startswith("vecfleet-embed") for name in model.threads)


def test_max_batch_caps_each_model_call() -> None:
    model = CountingEmbedder()
    texts = [f"text {i}" for i in range(130)]

    async def main() -> np.ndarray:
        batcher = BatchingEmbedder(model, max_batch=64)
        try:
            return await batcher.embed_many(texts)
        finally:
            await batcher.aclose()

    got = asyncio.run(main())
    assert [len(c) for c in model.calls] == [64, 64, 2]
    np.testing.assert_array_equal(got, HashEmbedder(32).embed(texts))


def test_cache_first_and_identical_texts_coalesce() -> None:
    model = CountingEmbedder()
    cache = EmbeddingCache()

    async def main() -> tuple[np.ndarray, np.ndarray]:
        batcher = BatchingEmbedder(model, cache)
        try:
            first = await batcher.embed_many(["stolen laptop", "stolen  laptop ", "phishing"])
            again = await batcher.embed_many(["phishing", "stolen laptop"])
            assert batcher.stats.coalesced == 1
            return first, again
        finally:
            await batcher.aclose()

    first, again = asyncio.run(main())
    assert model.calls == [["stolen laptop", "phishing"]]
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_array_equal(again, first[[2, 0]])
    assert (cache.stats.hits, cache.stats.misses) == (2, 3)


def test_busy_model_gets_the_next_batch_as_soon_as_it_returns() -> None:
    model = CountingEmbedder(delay_s=0.05)

    async def main() -> None:
        batcher = BatchingEmbedder(model, max_wait_s=0.001)
        try:
            first = asyncio.ensure_future(batcher.embed_one("first"))
            while not model.calls:  # wait until the model is busy with "first"
                await asyncio.sleep(0.001)
            await asyncio.gather(first, *(batcher.embed_one(f"later {i}") for i in range(20)))
        finally:
            await batcher.aclose()

    asyncio.run(main())
    assert [len(c) for c in model.calls] == [1, 20]


def test_model_failure_reaches_every_caller() -> None:
    async def main() -> list[object]:
        batcher = BatchingEmbedder(BrokenEmbedder())
        try:
            return await asyncio.gather(
                *(batcher.embed_one(t) for t in TEXTS[:5]), return_exceptions=True
            )
        finally:
            await batcher.aclose()

    results = asyncio.run(main())
    assert all(isinstance(r, Unavailable) for r in results)


def test_a_refused_text_fails_alone() -> None:
    model = CountingEmbedder(refuse="BAD")

    async def main() -> tuple[list[object], BatchingEmbedder]:
        batcher = BatchingEmbedder(model)
        try:
            texts = ["fine one", "BAD text", "fine two"]
            return await asyncio.gather(
                *(batcher.embed_one(t) for t in texts), return_exceptions=True
            ), batcher
        finally:
            await batcher.aclose()

    (ok1, bad, ok2), batcher = asyncio.run(main())
    assert isinstance(bad, ValidationError)
    assert isinstance(ok1, np.ndarray) and isinstance(ok2, np.ndarray)
    assert batcher.stats.failed_batches == 1
    assert model.calls[0] == ["fine one", "BAD text", "fine two"]


def test_a_caller_giving_up_does_not_cancel_others() -> None:
    model = CountingEmbedder(delay_s=0.05)

    async def main() -> np.ndarray:
        batcher = BatchingEmbedder(model)
        try:
            quitter = asyncio.ensure_future(batcher.embed_one("shared text"))
            stayer = asyncio.ensure_future(batcher.embed_one("shared text"))
            await asyncio.sleep(0.01)
            quitter.cancel()
            return await stayer
        finally:
            await batcher.aclose()

    got = asyncio.run(main())
    np.testing.assert_array_equal(got, HashEmbedder(32).embed(["shared text"])[0])


def test_returned_arrays_belong_to_the_caller() -> None:
    async def main() -> tuple[np.ndarray, np.ndarray]:
        batcher = BatchingEmbedder(CountingEmbedder(), EmbeddingCache())
        try:
            first = await batcher.embed_one("ransomware")
            first[:] = 0
            return first, await batcher.embed_one("ransomware")
        finally:
            await batcher.aclose()

    first, second = asyncio.run(main())
    assert not first.any()
    assert np.linalg.norm(second) == pytest.approx(1.0)


def test_stats_histogram() -> None:
    model = CountingEmbedder()

    async def main() -> BatchingEmbedder:
        batcher = BatchingEmbedder(model, max_batch=64)
        await batcher.embed_many([f"t{i}" for i in range(70)])
        await batcher.embed_one("single")
        await batcher.aclose()
        return batcher

    stats = asyncio.run(main()).stats
    assert (stats.batches, stats.texts, stats.largest) == (3, 71, 64)
    assert stats.sizes == {64: 1, 8: 1, 1: 1}


def test_input_checks() -> None:
    async def main() -> None:
        batcher = BatchingEmbedder(CountingEmbedder())
        try:
            assert (await batcher.embed_many([])).shape == (0, 32)
            with pytest.raises(ValidationError):
                await batcher.embed_one("   ")
            with pytest.raises(ValidationError):
                await batcher.embed_one(7)  # type: ignore[arg-type]
        finally:
            await batcher.aclose()

    asyncio.run(main())
    with pytest.raises(ValidationError):
        BatchingEmbedder(CountingEmbedder(), max_batch=0)

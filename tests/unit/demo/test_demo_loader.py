"""The demo loader: loads, caches its vectors, and stops promptly when the server does."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from vecfleet.demo.loader import EMBED_CHUNK, UPSERT_CHUNK, DemoLoader
from vecfleet.embed import HashEmbedder
from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.types import Matrix

DIM = 16


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting its calls; call ``pause_at`` signals and then lingers,
    as a model call would, so the test can ask for a stop while it runs."""

    def __init__(self, pause_at: int = 0) -> None:
        super().__init__(DIM)
        self.calls = 0
        self.pause_at = pause_at
        self.paused = threading.Event()

    def embed(self, texts: Sequence[str]) -> Matrix:
        self.calls += 1
        if self.calls == self.pause_at:
            self.paused.set()
            time.sleep(0.2)
        return super().embed(texts)


def loader(tmp_path: Path, embedder: CountingEmbedder, size: int) -> DemoLoader:
    db = EmbeddedDatabase(str(tmp_path / "db"), DatabaseSettings(durability="none"))
    return DemoLoader(db, embedder, tmp_path, "incidents", size, seed=7)


def wait_ready(demo: DemoLoader, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while demo.progress.state not in ("ready", "failed"):
        assert time.monotonic() < deadline, f"demo not ready: {demo.progress.as_dict()}"
        time.sleep(0.05)
    assert demo.progress.state == "ready", demo.progress.error


def test_loads_every_incident_and_reuses_its_vectors(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    demo = loader(tmp_path, embedder, 300)
    demo.start()
    wait_ready(demo)
    demo.stop()
    assert len(demo.db.collection("incidents")) == 300
    assert embedder.calls == -(-300 // EMBED_CHUNK)
    assert demo.cache_path.exists()
    demo.db.close()

    again = CountingEmbedder()
    (tmp_path / "db2").mkdir()
    db = EmbeddedDatabase(str(tmp_path / "db2"), DatabaseSettings(durability="none"))
    second = DemoLoader(db, again, tmp_path, "incidents", 300, seed=7)
    second.start()
    wait_ready(second)
    second.stop()
    assert len(db.collection("incidents")) == 300
    assert again.calls == 0  # the vectors came from the cache
    db.close()


def test_a_stop_waits_for_one_model_call_not_a_whole_upsert_chunk(tmp_path: Path) -> None:
    embedder = CountingEmbedder(pause_at=3)
    demo = loader(tmp_path, embedder, UPSERT_CHUNK * 2)
    demo.start()
    assert embedder.paused.wait(30)
    demo.stop()  # while the third model call runs
    assert embedder.calls == 3  # the loop asked no more of the model
    assert demo._thread is not None and not demo._thread.is_alive()
    assert len(demo.db.collection("incidents")) == 0  # the chunk was never half-written
    demo.db.close()

"""Loads the synthetic demo incidents into a collection in the background.

Embeddings are cached beside the data (``<data_dir>/demo-cache/``) keyed by model, seed
and size, so a restart, or a fresh data directory on the same machine, skips the model.
Progress is kept in ``DemoProgress`` for the log, the console page and readiness.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vecfleet.demo.incidents import demo_payload_schema, generate_incidents, record_text
from vecfleet.embed import Embedder
from vecfleet.engine.api import CollectionHandle, EmbeddedDatabase
from vecfleet.errors import CollectionNotFound

log = logging.getLogger(__name__)

EMBED_CHUNK = 32
UPSERT_CHUNK = 1024
PAYLOAD_FIELDS = (
    "title",
    "narrative",
    "industry",
    "severity",
    "event_type",
    "date",
    "location",
    "records_affected",
)


@dataclass
class DemoProgress:
    total: int = 0
    done: int = 0
    state: str = "idle"  # idle | embedding | indexing | ready | failed
    error: str = ""
    started_at: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        elapsed = time.time() - self.started_at if self.started_at else 0.0
        return {
            "total": self.total,
            "done": self.done,
            "state": self.state,
            "error": self.error,
            "elapsed_s": round(elapsed, 1),
        }


def open_demo_collection(db: EmbeddedDatabase, name: str, dim: int) -> CollectionHandle:
    try:
        return db.collection(name)
    except CollectionNotFound:
        return db.create_collection(
            name, dim=dim, metric="cosine", index="hnsw", payload_schema=dict(demo_payload_schema())
        )


def _payload(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: rec[k] for k in PAYLOAD_FIELDS if rec.get(k) is not None}


class DemoLoader:
    def __init__(
        self,
        db: EmbeddedDatabase,
        embedder: Embedder,
        data_dir: Path,
        name: str,
        size: int,
        seed: int,
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.name = name
        self.size = size
        self.seed = seed
        safe_model = embedder.model_id.replace("/", "_").replace(":", "_")
        self.cache_path = data_dir / "demo-cache" / f"{safe_model}-{seed}-{size}.f16.npy"
        self.progress = DemoProgress(total=size)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-loader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        self.progress.started_at = time.time()
        try:
            self._load()
        except Exception as exc:
            self.progress.state, self.progress.error = "failed", str(exc)
            log.exception("demo load failed")

    def _load(self) -> None:
        col = open_demo_collection(self.db, self.name, self.embedder.dim)
        existing = len(col)
        if existing >= self.size:
            self.progress.done, self.progress.state = existing, "ready"
            log.info("demo collection %r already holds %d incidents", self.name, existing)
            return
        records = list(generate_incidents(self.size, self.seed))
        vectors = self._cached_vectors()
        self.progress.state = "embedding" if vectors is None else "indexing"
        fresh = np.zeros((len(records), self.embedder.dim), np.float32) if vectors is None else None
        last_log = 0.0
        for start in range(0, len(records), UPSERT_CHUNK):
            if self._stop.is_set():
                return
            chunk = records[start : start + UPSERT_CHUNK]
            if vectors is not None:
                block = vectors[start : start + len(chunk)].astype(np.float32)
            else:
                assert fresh is not None
                embedded = self._embed(chunk)
                if embedded is None:
                    return
                block = fresh[start : start + len(chunk)] = embedded
            col.upsert([r["id"] for r in chunk], block, [_payload(r) for r in chunk])
            self.progress.done = start + len(chunk)
            if time.time() - last_log > 10:
                last_log = time.time()
                log.info(
                    "demo incidents: %d/%d loaded (%s)",
                    self.progress.done,
                    self.size,
                    self.progress.state,
                )
        if fresh is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_path.with_suffix(".tmp.npy")
            np.save(tmp, fresh.astype(np.float16))
            tmp.rename(self.cache_path)
        self.progress.state = "indexing"
        col.optimize()
        self.progress.state = "ready"
        log.info(
            "demo incidents ready: %d points in %.0fs",
            len(col),
            time.time() - self.progress.started_at,
        )

    def _embed(self, chunk: list[dict[str, Any]]) -> np.ndarray | None:
        """The chunk's vectors, ``EMBED_CHUNK`` texts a model call; None once ``stop()`` is
        asked, so a shutdown waits for one small model call, not a whole upsert chunk
        (1,024 texts take ~18 s with MiniLM on two cores)."""
        parts = []
        for i in range(0, len(chunk), EMBED_CHUNK):
            if self._stop.is_set():
                return None
            parts.append(self.embedder.embed([record_text(r) for r in chunk[i : i + EMBED_CHUNK]]))
        return np.concatenate(parts)

    def _cached_vectors(self) -> np.ndarray | None:
        if not self.cache_path.exists():
            return None
        try:
            vectors: np.ndarray = np.load(self.cache_path, mmap_mode="r")
        except (OSError, ValueError):
            return None
        if vectors.shape != (self.size, self.embedder.dim):
            return None
        return vectors

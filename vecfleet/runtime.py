"""Composition root: the only place that knows which mode it is in and what to wire.

``build_embedded`` assembles the one-process server: engine, embedder, gateway and HTTP
app. ``serve`` reads settings (defaults → file → environment → flags) and runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from vecfleet.api.app import build_app
from vecfleet.config import EmbedSettings, Settings, load_settings
from vecfleet.demo.loader import DemoLoader, open_demo_collection
from vecfleet.embed import (
    BatchingEmbedder,
    Embedder,
    EmbeddingCache,
    HashEmbedder,
    MiniLMEmbedder,
    OpenAIEmbedder,
)
from vecfleet.engine.api import EmbeddedDatabase
from vecfleet.engine.database import DatabaseSettings
from vecfleet.gateway import Gateway

log = logging.getLogger("vecfleet")


def build_embedder(settings: EmbedSettings) -> Embedder:
    if settings.model == "hash":
        return HashEmbedder(settings.dim)
    if settings.model == "openai":
        return OpenAIEmbedder(
            settings.base_url, settings.openai_model, settings.api_key, settings.dim
        )
    return MiniLMEmbedder()


@dataclass
class Embedded:
    settings: Settings
    db: EmbeddedDatabase
    embedder: Embedder
    gateway: Gateway
    app: Starlette
    demo: DemoLoader | None


def build_embedded(settings: Settings, embedder: Embedder | None = None) -> Embedded:
    server, storage = settings.server, settings.storage
    data_dir = Path(server.data_dir)
    db = EmbeddedDatabase(
        str(data_dir),
        DatabaseSettings(
            durability=storage.durability,
            snapshot_every_rows=storage.snapshot_every_rows,
            snapshot_every_s=storage.snapshot_every_s,
            keep_snapshots=storage.keep_snapshots,
        ),
    )
    model = embedder or build_embedder(settings.embed)
    batching = BatchingEmbedder(
        model,
        EmbeddingCache(settings.embed.cache_entries, settings.embed.cache_ttl_s),
        max_batch=settings.embed.max_batch,
        max_wait_s=settings.embed.max_wait_ms / 1000,
    )
    gateway = Gateway(db, batching, server.search_threads, server.write_threads)
    demo = None
    extra: list[Any] = []
    if settings.demo.enabled:
        open_demo_collection(db, settings.demo.collection, model.dim)  # answers at once
        demo = DemoLoader(
            db, model, data_dir, settings.demo.collection, settings.demo.size, settings.demo.seed
        )
    from vecfleet.api.console import console_routes
    from vecfleet.api.dvecdb import dvecdb_routes

    extra += console_routes(gateway, demo)
    extra += dvecdb_routes(gateway)
    app = build_app(gateway, extra, server.max_body_bytes)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if demo is not None:
            demo.start()
        try:
            yield
        finally:
            if demo is not None:
                demo.stop()
            await gateway.close()
            db.close()

    app.router.lifespan_context = lifespan
    return Embedded(settings, db, model, gateway, app, demo)


def _flags(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {
        "server": {
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "workers": args.workers,
        },
        "demo": {"enabled": args.demo},
    }


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings(args.config, os.environ, _flags(args))
    if settings.server.workers != 1:
        log.warning("embedded mode holds the data directory in one process; using 1 worker")
    embedded = build_embedded(settings)
    log.info(
        "vecfleet listening on http://%s:%d (data in %s)",
        settings.server.host,
        settings.server.port,
        settings.server.data_dir,
    )
    uvicorn.run(
        embedded.app,
        host=settings.server.host,
        port=settings.server.port,
        log_level="warning",
        access_log=False,
    )
    return 0

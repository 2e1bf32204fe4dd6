"""Composition root: the only place that knows which mode it is in and what to wire.

``build_embedded`` assembles the one-process server: engine, embedder, gateway and HTTP
app. ``serve`` reads settings (defaults → file → environment → flags) and runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import hashlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from vecfleet.api.app import build_app
from vecfleet.cluster.base import Catalog, ShardLog
from vecfleet.config import (
    CacheSettings,
    EmbedSettings,
    ServerSettings,
    Settings,
    load_settings,
)
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
from vecfleet.gateway.admin import CollectionAdmin
from vecfleet.gateway.breaker import CircuitBreaker
from vecfleet.gateway.cache import MemoryCache, RedisCache, Tier, TieredCache, redis_client
from vecfleet.gateway.cluster_view import ClusterView
from vecfleet.gateway.data_plane import DataPlane, Usage
from vecfleet.gateway.epochs import EpochBus, Epochs, LocalEpochBus, RedisEpochBus
from vecfleet.gateway.router import Router
from vecfleet.gateway.writes import Writer
from vecfleet.node.base import NodeAPI
from vecfleet.node.local import LocalCatalog, LocalShardLog, LocalUsage
from vecfleet.node.service import NodeService
from vecfleet.transport.inprocess import InProcessNode

log = logging.getLogger("vecfleet")


def build_embedder(settings: EmbedSettings) -> Embedder:
    if settings.model == "hash":
        return HashEmbedder(settings.dim)
    if settings.model == "openai":
        return OpenAIEmbedder(
            settings.base_url, settings.openai_model, settings.api_key, settings.dim
        )
    return MiniLMEmbedder(torch_threads=settings.threads)


def cache_namespace(settings: CacheSettings, data_dir: Path) -> str:
    """The key namespace: the configured one, else one naming this host's data directory."""
    if settings.namespace:
        return settings.namespace
    where = f"{socket.gethostname()}:{data_dir.resolve()}"
    return "vf-" + hashlib.blake2b(where.encode(), digest_size=6).hexdigest()


def build_cache(settings: CacheSettings, namespace: str) -> tuple[TieredCache | None, Epochs]:
    """The result cache tiers and the epoch table the settings ask for.

    Networked tiers each get a breaker and the ``timeout_ms`` deadline. Epochs travel
    over Redis pub/sub when ``bus_url`` is set, otherwise they stay in this process.
    """
    timeout_s = settings.timeout_ms / 1000
    bus: EpochBus = LocalEpochBus()
    if settings.bus_url:
        bus = RedisEpochBus(redis_client(settings.bus_url, 4), namespace, timeout_s)
    epochs = Epochs(bus)
    if not settings.enabled:
        return None, epochs
    tiers = []
    if settings.l1_bytes > 0:
        tiers.append(Tier("l1", MemoryCache(settings.l1_bytes), settings.l1_ttl_s))
    for name, url, ttl_s in (
        ("l2", settings.l2_url, settings.l2_ttl_s),
        ("l3", settings.l3_url, settings.l3_ttl_s),
    ):
        if url:
            breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
            cache = RedisCache.from_url(url, settings.pool_size)
            tiers.append(Tier(name, cache, ttl_s, breaker, timeout_s))
    if not tiers:
        return None, epochs
    return TieredCache(tiers, settings.ttl_jitter, settings.xfetch_beta), epochs


def build_batching(settings: EmbedSettings, model: Embedder) -> BatchingEmbedder:
    """``model`` behind the embedding cache and the batcher the settings ask for."""
    return BatchingEmbedder(
        model,
        EmbeddingCache(settings.cache_entries, settings.cache_ttl_s),
        max_batch=settings.max_batch,
        max_wait_s=settings.max_wait_ms / 1000,
    )


def freeze_startup_heap() -> None:
    """Move every object alive after start-up out of the cycle collector's reach.

    A served collection's ids and payloads are millions of long-lived containers, and a
    full collection walks them all: ~32 ms with the 100k packages payloads loaded, a
    pause every request in flight then waits out. They are never garbage, so they are
    collected once and frozen; objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()


def build_http_app(gateway: Gateway, settings: Settings, extra: list[Any]) -> Starlette:
    """The HTTP app over ``gateway``; the edge L1 is on whenever L1 is."""
    c = settings.cache
    hot_bytes = c.l1_response_bytes if c.enabled and c.l1_bytes > 0 else 0
    return build_app(
        gateway, extra, settings.server.max_body_bytes, c.http_max_age_s, hot_bytes, c.l1_ttl_s
    )


def build_data_plane(
    catalog: Catalog,
    log: ShardLog,
    connect_node: Callable[[str], NodeAPI],
    settings: Settings,
    usage: Usage | None = None,
) -> DataPlane:
    """The gateway's data side over a catalog, shard logs and a way to reach nodes: the
    one place where embedded and cluster mode part (by what is passed in)."""
    c = settings.cluster
    view = ClusterView(catalog, connect_node)
    router = Router(view, log)
    writer = Writer(view, log, router)
    admin = CollectionAdmin(
        view,
        catalog,
        log,
        router,
        stream_replicas=settings.nats.stream_replicas,
        default_shards=c.default_shards,
        default_replicas=c.default_replicas,
    )
    if usage is None:
        return DataPlane(view, router, writer, admin)
    return DataPlane(view, router, writer, admin, usage)


def embedded_data_plane(db: EmbeddedDatabase, settings: Settings | None = None) -> DataPlane:
    """Embedded mode's data side: one in-process node holding every shard of ``db``, its
    log the database's own; closing it leaves ``db`` open for its owner to close."""
    settings = settings_for_embedded(settings or Settings())
    server = settings.server
    service = NodeService("local", search_threads=server.search_threads)
    catalog = LocalCatalog(db, service)
    catalog.host_all()
    log_ = LocalShardLog(db, service, server.write_threads)
    node = InProcessNode(service)
    data = build_data_plane(catalog, log_, lambda _address: node, settings, LocalUsage(db))
    data.closers += [log_.close, service.close]
    return data


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
    batching = build_batching(settings.embed, model)
    namespace = cache_namespace(settings.cache, data_dir)
    cache, epochs = build_cache(settings.cache, namespace)
    gateway = Gateway(
        embedded_data_plane(db, settings),
        batching,
        cache=cache,
        epochs=epochs,
        cache_namespace=namespace,
        batch_max=server.batch_max,
        batch_wait_s=server.batch_wait_ms / 1000,
    )
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
    app = build_http_app(gateway, settings, extra)

    dvecdb_port = settings.server.dvecdb_grpc_port

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        dvecdb_grpc = None
        if dvecdb_port:
            from vecfleet.api.dvecdb_grpc import serve_dvecdb

            dvecdb_grpc = await serve_dvecdb(gateway, settings.server.host, dvecdb_port)
            log.info("d-vecDB gRPC service on %s:%d", settings.server.host, dvecdb_port)
        freeze_startup_heap()
        if demo is not None:
            demo.start()
        try:
            yield
        finally:
            if demo is not None:
                demo.stop()
            if dvecdb_grpc is not None:
                await dvecdb_grpc.stop(2.0)
            await gateway.close()
            db.close()

    app.router.lifespan_context = lifespan
    return Embedded(settings, db, model, gateway, app, demo)


def settings_for_embedded(settings: Settings) -> Settings:
    """Embedded mode's shard layout: one shard and one replica per collection."""
    cluster = dataclasses.replace(settings.cluster, default_shards=1, default_replicas=1)
    return dataclasses.replace(settings, cluster=cluster)


def _flags(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    return {
        "server": {
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "workers": args.workers,
            "dvecdb_grpc_port": args.dvecdb_grpc_port,
        },
        "demo": {"enabled": args.demo},
    }


def serve(args: argparse.Namespace) -> int:
    import faiss

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = load_settings(args.config, os.environ, _flags(args))
    # Searches run in parallel on the gateway's thread pool, one FAISS thread each;
    # FAISS's own OpenMP threads would compete with them and with the model for two cores.
    faiss.omp_set_num_threads(1)
    if settings.server.workers != 1:
        log.warning("embedded mode holds the data directory in one process; using 1 worker")
    embedded = build_embedded(settings)
    log.info(
        "vecfleet listening on http://%s:%d (data in %s)",
        settings.server.host,
        settings.server.port,
        settings.server.data_dir,
    )
    run_http(embedded.app, settings.server)
    return 0


def run_http(app: Starlette, server: ServerSettings) -> None:
    """Serve ``app`` under uvicorn until stopped; with the edge L1 on, its hits are
    answered by the connection itself (``api/edge.py``) unless ``edge_answers`` is off."""
    import uvicorn

    from vecfleet.api.edge import edge_protocol

    hot = app.state.hot
    http = edge_protocol(hot) if hot is not None and server.edge_answers else "auto"
    uvicorn.run(
        app, host=server.host, port=server.port, log_level="warning", access_log=False, http=http
    )

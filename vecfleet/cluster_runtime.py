"""Composition root of cluster mode: ``vecfleet node`` and ``vecfleet gateway``.

A node process: one NATS connection for the catalog (async) and one for the replicas'
logs (``NatsThread``, synchronous engine code), a ``NodeService`` served over gRPC, and
the ``NodeHost`` control loop that opens the replicas placement gives it and heartbeats.

A gateway process: the same gateway, pipeline and HTTP app as embedded mode, over a
``ClusterBackend`` whose node clients are gRPC channels. Like ``runtime.py`` this module
alone knows what it wires together; nothing below it reads the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from vecfleet.config import Settings, load_settings

log = logging.getLogger("vecfleet")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


# ---------------------------------------------------------------------- node
async def run_node(settings: Settings) -> None:
    """Serve one node until SIGTERM or SIGINT; then drain, leave and close."""
    import faiss
    import nats

    from vecfleet.cluster.blobstore.nats_object import NatsBlobStore
    from vecfleet.cluster.catalog import Catalog
    from vecfleet.cluster.jetstream_source import JetStreamLogSource
    from vecfleet.cluster.nats_thread import NatsThread
    from vecfleet.engine.database import DatabaseSettings
    from vecfleet.node.host import NodeHost
    from vecfleet.node.replica import Replica
    from vecfleet.node.service import NodeService
    from vecfleet.transport.grpc_server import serve_node, server_port, stop_node

    faiss.omp_set_num_threads(1)
    c = settings.cluster
    node_id = c.node_id or f"node-{c.node_port}"
    data_dir = Path(settings.server.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    nats_thread = await loop.run_in_executor(
        None, lambda: NatsThread(settings.nats.url, name=f"{node_id}-log").start()
    )
    nc = await nats.connect(
        settings.nats.url, name=f"{node_id}-state", max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
    )  # fmt: skip
    catalog = await Catalog.open(nc, c.member_ttl_s, settings.nats.stream_replicas)
    blobstore = NatsBlobStore(nats_thread, replicas=settings.nats.stream_replicas)
    db_settings = DatabaseSettings(
        durability="none",  # the log is JetStream's; local files are a cache of it
        snapshot_every_rows=10**12,  # the host snapshots, then uploads
        snapshot_every_s=10**9,
    )

    logs = JetStreamLogSource(nats_thread)

    def open_replica(collection: str, shard: int, directory: Path) -> Replica:
        return Replica(collection, shard, directory, logs, blobstore, settings=db_settings)

    service = NodeService(node_id, search_threads=settings.server.search_threads)
    server = await serve_node(service, c.node_host, c.node_port)
    address = f"{c.advertise_host or c.node_host}:{server_port(server)}"
    host = NodeHost(
        node_id, address, data_dir, catalog, service, open_replica,
        heartbeat_s=c.heartbeat_s, snapshot_every_s=c.snapshot_every_s,
    )  # fmt: skip
    await host.start()
    log.info("node %s serving gRPC on %s (data in %s)", node_id, address, data_dir)
    await _until_signalled()
    log.info("node %s stopping", node_id)
    await host.stop()
    await stop_node(server, grace_s=2.0)
    service.close()
    with contextlib.suppress(Exception):
        await nc.close()
    await loop.run_in_executor(None, nats_thread.close)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


# ---------------------------------------------------------------------- gateway
def build_gateway_app(settings: Settings) -> Starlette:
    """The HTTP app of a cluster gateway; the backend connects in the app's lifespan."""
    from vecfleet.api.console import console_routes
    from vecfleet.api.dvecdb import dvecdb_routes
    from vecfleet.cluster.gateway_link import NatsLink
    from vecfleet.gateway import Gateway
    from vecfleet.gateway.reads import ReadOptions
    from vecfleet.runtime import (
        build_batching,
        build_cache,
        build_data_plane,
        build_embedder,
        build_http_app,
        freeze_startup_heap,
    )
    from vecfleet.transport.grpc_client import GrpcNode

    c = settings.cluster
    link = NatsLink(settings.nats.url, stream_replicas=settings.nats.stream_replicas)
    data = build_data_plane(link.catalog, link.log, GrpcNode, settings)
    batching = build_batching(settings.embed, build_embedder(settings.embed))
    namespace = settings.cache.namespace or "vf-cluster"
    cache, epochs = build_cache(settings.cache, namespace)
    read = ReadOptions(c.consistency, 0, c.max_lag_ms, c.read_timeout_ms / 1000)
    gateway = Gateway(
        data,
        batching,
        cache=cache,
        epochs=epochs,
        cache_namespace=namespace,
        default_read=read,
        batch_max=settings.server.batch_max,
        batch_wait_s=settings.server.batch_wait_ms / 1000,
    )
    extra: list[Any] = console_routes(gateway, None) + dvecdb_routes(gateway)
    app = build_http_app(gateway, settings, extra)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await link.connect()
        await gateway.start()
        freeze_startup_heap()
        try:
            yield
        finally:
            await gateway.close()
            await link.aclose()

    app.router.lifespan_context = lifespan
    return app


# ---------------------------------------------------------------------- commands
def _settings(args: argparse.Namespace, section: dict[str, Any]) -> Settings:
    flags = {
        "server": {
            "host": args.host,
            "port": getattr(args, "port", None),
            "data_dir": getattr(args, "data_dir", None),
        },
        "nats": {"url": args.nats},
        "cluster": section,
    }
    return load_settings(args.config, os.environ, flags)


def node_command(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    settings = _settings(
        args, {"node_id": args.node_id, "node_port": args.grpc_port, "node_host": args.host}
    )
    asyncio.run(run_node(settings))
    return 0


def gateway_command(args: argparse.Namespace) -> int:
    from vecfleet.runtime import run_http

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    settings = _settings(args, {})
    app = build_gateway_app(settings)
    log.info("vecfleet gateway on http://%s:%d", settings.server.host, settings.server.port)
    run_http(app, settings.server)
    return 0

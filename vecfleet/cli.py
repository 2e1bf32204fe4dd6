"""``vecfleet`` command line: serve, node, gateway, cluster, ingest, snapshot.

Each sub-command parses its flags, builds what it needs, and calls into the library.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from vecfleet.errors import VecfleetError


def _snapshot_create(args: argparse.Namespace) -> int:
    from vecfleet.engine.api import EmbeddedDatabase

    with EmbeddedDatabase(str(args.data_dir)) as db:
        info = db.snapshot()
    print(f"snapshot {info.path.name} at sequence {info.seq} ({info.bytes} bytes of its own)")
    return 0


def _snapshot_list(args: argparse.Namespace) -> int:
    from vecfleet.engine.snapshot import list_snapshots, read_info

    snaps = list_snapshots(Path(args.data_dir) / "snapshots")
    if not snaps:
        print(f"no snapshots in {args.data_dir}")
        return 0
    print(f"{'id':<22} {'sequence':>10} {'created (UTC)':<20} {'bytes':>12}  collections")
    for path in snaps:
        try:
            info = read_info(path)
        except VecfleetError as exc:
            print(f"{path.name:<22} unreadable: {exc}")
            continue
        created = dt.datetime.fromtimestamp(info.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        names = ", ".join(info.collections) or "-"
        print(f"{path.name:<22} {info.seq:>10} {created:<20} {info.bytes:>12}  {names}")
    return 0


def _snapshot_restore(args: argparse.Namespace) -> int:
    from vecfleet.engine.snapshot import list_snapshots, restore_snapshot

    root = Path(args.data_dir)
    snaps = list_snapshots(root / "snapshots")
    chosen = [p for p in snaps if args.snapshot in ("latest", p.name, p.name.lstrip("0"))]
    if not chosen:
        available = ", ".join(p.name for p in snaps) or "none"
        print(
            f"snapshot {args.snapshot!r} not found in {root}; available: {available}",
            file=sys.stderr,
        )
        return 2
    target = restore_snapshot(chosen[0], root / "segments", Path(args.to))
    print(f"restored snapshot {chosen[0].name} into {target}; open it with --data-dir {target}")
    return 0


def _ingest(args: argparse.Namespace) -> int:
    import numpy as np

    from vecfleet.ingest import EmbeddedSink, HttpSink, Report, count_lines, ingest, parse_lines

    path = Path(args.file)
    if not path.exists():
        print(f"vecfleet: {path} does not exist", file=sys.stderr)
        return 2
    vectors = np.load(args.vectors, mmap_mode="r") if args.vectors else None
    report = Report()
    lines = parse_lines(path, args.id_field, args.text_field, vectors, report)
    total = count_lines(path)
    if args.data_dir:
        from vecfleet.engine.api import EmbeddedDatabase
        from vecfleet.errors import CollectionNotFound

        embedder = None
        if vectors is not None:
            dim = int(vectors.shape[1])
        else:
            from vecfleet.embed import MiniLMEmbedder

            embedder = MiniLMEmbedder()
            dim = embedder.dim
        with EmbeddedDatabase(args.data_dir) as db:
            try:
                col = db.collection(args.collection)
            except CollectionNotFound:
                col = db.create_collection(
                    args.collection, dim=dim, index=args.index, payload_schema=_schema(args.schema)
                )
            ingest(lines, EmbeddedSink(col, embedder), args.batch_size, report, total)
            col.optimize()
    else:
        import httpx

        client = httpx.Client(base_url=args.url, timeout=60)
        if client.get(f"/v1/collections/{args.collection}").status_code == 404:
            dim = int(vectors.shape[1]) if vectors is not None else 384
            created = client.post(
                "/v1/collections",
                json={
                    "name": args.collection,
                    "dim": dim,
                    "index": args.index,
                    "payload_schema": _schema(args.schema),
                },
            )
            if created.status_code >= 300:
                print(f"vecfleet: cannot create {args.collection}: {created.text}", file=sys.stderr)
                return 2
        ingest(lines, HttpSink(args.url, args.collection), args.batch_size, report, total)
    print(report.summary())
    return 0 if report.written or not report.read else 1


def _schema(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = [item.split("=", 1) for item in text.split(",") if item.strip()]
    if any(len(p) != 2 for p in pairs):
        raise SystemExit(
            "vecfleet: --schema wants field=type pairs, e.g. industry=keyword,date=datetime"
        )
    return {k.strip(): v.strip() for k, v in pairs}


def _serve(args: argparse.Namespace) -> int:
    from vecfleet.runtime import serve

    return serve(args)


def _node(args: argparse.Namespace) -> int:
    from vecfleet.cluster_runtime import node_command

    return node_command(args)


def _gateway(args: argparse.Namespace) -> int:
    from vecfleet.cluster_runtime import gateway_command

    return gateway_command(args)


def _cluster(args: argparse.Namespace) -> int:
    from vecfleet import local_cluster

    return int(getattr(local_cluster, args.action)(args))


def _cluster_parsers(sub: Any) -> None:
    node = sub.add_parser(
        "node",
        help="run a cluster node: hosts shard replicas, serves gRPC",
        description="Host the shard replicas that placement (NATS KV) gives this node, "
        "follow their JetStream logs and answer gateways over gRPC.",
    )
    node.add_argument("--node-id", default=None, help="stable node name (default node-<port>)")
    node.add_argument("--grpc-port", type=int, default=None, help="gRPC port (default 7070)")
    gateway = sub.add_parser(
        "gateway",
        help="run a cluster gateway: the HTTP API over the cluster's nodes",
        description="Serve the REST API (the same as embedded mode) over the nodes of a "
        "cluster: writes go to JetStream, reads to node replicas.",
    )
    gateway.add_argument("--port", type=int, default=None, help="HTTP port (default 8080)")
    for p, func in ((node, _node), (gateway, _gateway)):
        p.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
        p.add_argument("--nats", default=None, help="NATS URL (default nats://127.0.0.1:4222)")
        p.add_argument("--config", default=None, help="TOML settings file")
        p.set_defaults(func=func, data_dir=getattr(p, "data_dir", None))
    node.add_argument("--data-dir", default=None, help="replica data (default ./data)")
    gateway.set_defaults(data_dir=None)

    cluster = sub.add_parser("cluster", help="start or stop a local cluster on loopback")
    actions = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up",
        help="start NATS, nodes and a gateway; print the gateway URL",
        description="Start a supervised local cluster: a private nats-server -js (unless "
        "--nats is given), NODES node processes and one gateway. Processes that die are "
        "restarted. State, logs and data live in --state-dir (cluster.json lists pids).",
    )
    up.add_argument("--nodes", type=int, default=3, help="node processes (default 3)")
    up.add_argument("--shards", type=int, default=4, help="shards per new collection (default 4)")
    up.add_argument("--replicas", type=int, default=2, help="replicas per shard (default 2)")
    up.add_argument("--port", type=int, default=8090, help="gateway HTTP port (default 8090)")
    up.add_argument("--nats", default=None, help="use this NATS server instead of a private one")
    up.add_argument("--state-dir", default="./cluster", help="state directory (default ./cluster)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for readiness")
    supervise = actions.add_parser("supervise", help=argparse.SUPPRESS)
    for flag in ("--nodes", "--shards", "--replicas", "--port"):
        supervise.add_argument(flag, type=int, required=True)
    supervise.add_argument("--nats", default=None)
    supervise.add_argument("--state-dir", required=True)
    down = actions.add_parser("down", help="stop the cluster started from --state-dir")
    down.add_argument("--state-dir", default="./cluster", help="its state directory")
    for p in (up, supervise, down):
        p.set_defaults(func=_cluster)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vecfleet",
        description="vecfleet: filtered vector search, embedded or as a service.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the embedded server (API, console, metrics)")
    serve.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="TCP port (default 8080)")
    serve.add_argument("--data-dir", default=None, help="where data lives (default ./data)")
    serve.add_argument(
        "--demo",
        dest="demo",
        action="store_true",
        default=None,
        help="load the synthetic demo incidents in the background (default)",
    )
    serve.add_argument(
        "--no-demo",
        dest="demo",
        action="store_false",
        help="start with only the collections already in --data-dir",
    )
    serve.add_argument("--workers", type=int, default=None, help="server worker processes")
    serve.add_argument(
        "--dvecdb-grpc-port",
        type=int,
        default=None,
        help="also serve d-vecDB's gRPC service on this port (default off; d-vecDB uses 9090)",
    )
    serve.add_argument("--config", default=None, help="TOML settings file")
    serve.set_defaults(func=_serve)
    _cluster_parsers(sub)

    ing = sub.add_parser(
        "ingest",
        help="load a JSONL(.gz) file into a collection",
        description="Load one JSON object per line into a collection, in batches, with a "
        "progress bar; lines that cannot be used are reported and skipped.",
    )
    ing.add_argument("file", help="JSONL or JSONL.gz file, one object per line")
    ing.add_argument("--collection", required=True, help="target collection (created if missing)")
    ing.add_argument("--id-field", default="id", help="field holding the point id (default id)")
    ing.add_argument(
        "--text-field",
        default="text",
        help="field to embed when no --vectors file is given (default text)",
    )
    ing.add_argument(
        "--vectors", default=None, help=".npy float matrix, row i = line i (skips embedding)"
    )
    ing.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        help="server to write to (default http://127.0.0.1:8080)",
    )
    ing.add_argument(
        "--data-dir", default=None, help="write into this data directory instead of a server"
    )
    ing.add_argument("--index", default="hnsw", help="index kind for a new collection")
    ing.add_argument(
        "--schema",
        default=None,
        help="payload schema for a new collection: field=type,... "
        "(types: keyword, integer, float, datetime, bool)",
    )
    ing.add_argument("--batch-size", type=int, default=256, help="points per write (default 256)")
    ing.set_defaults(func=_ingest)

    snap = sub.add_parser("snapshot", help="create, list or restore snapshots of a data directory")
    snap_sub = snap.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = snap_sub.add_parser("create", help="write a snapshot now (the directory must be idle)")
    create.add_argument("--data-dir", default="./data")
    create.set_defaults(func=_snapshot_create)
    listing = snap_sub.add_parser("list", help="list snapshots, newest first")
    listing.add_argument("--data-dir", default="./data")
    listing.set_defaults(func=_snapshot_list)
    restore = snap_sub.add_parser(
        "restore", help="copy one snapshot into a new data directory (the source is untouched)"
    )
    restore.add_argument("snapshot", help="snapshot id from 'snapshot list', or 'latest'")
    restore.add_argument("--data-dir", default="./data", help="directory holding the snapshot")
    restore.add_argument("--to", required=True, help="new, empty data directory to create")
    restore.set_defaults(func=_snapshot_restore)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except VecfleetError as exc:
        print(f"vecfleet: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Cluster throughput and p99: one node against two, and the cost of ``strong`` reads.

Each configuration is a real local cluster (``vecfleet cluster up``: private nats-server,
N node processes, one gateway) holding the packages corpus (real MiniLM vectors of
PyPI package summaries, ``--rows`` of them) in ``--shards`` shards with one replica each,
so one node holds every shard and two nodes split them. Load is wrk, closed loop, at
``--connections``, POSTing searches drawn from the corpus's dev queries with the result
cache bypassed (every request reaches the nodes), first ``bounded`` (the default), then
``strong`` (each shard's replica first applies the shard's newest record, read from
JetStream per request).

Everything shares this machine's cores (gateway, nodes, NATS and wrk), so the node
scaling figures say what one more process costs or gains here, not what one more
machine would; ``docs/capacity.md`` uses the per-process figures.

    .venv/bin/python bench/cluster.py --rows 20000 --seconds 10 --out bench/results/cluster.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
from bench.common import load_corpus  # noqa: E402
from bench.load import free_port, wrk  # noqa: E402

SHARED = ROOT.parent / "shared"


@contextlib.contextmanager
def cluster(nodes: int, shards: int, work: Path, batch_max: int = 32) -> Iterator[str]:
    state = work / f"cluster-{nodes}-{batch_max}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECFLEET__")}
    env["VECFLEET__EMBED__MODEL"] = "hash"
    env["VECFLEET__SERVER__BATCH_MAX"] = str(batch_max)
    vecfleet = [sys.executable, "-m", "vecfleet.cli", "cluster"]
    up = [*vecfleet, "up", "--nodes", str(nodes), "--shards", str(shards), "--replicas", "1"]
    up += ["--port", str(free_port()), "--state-dir", str(state)]
    done = subprocess.run(up, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cluster up failed: {done.stderr}")
    try:
        yield done.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([*vecfleet, "down", "--state-dir", str(state)], cwd=ROOT, check=False)


def load(url: str, corpus: Any, rows: int) -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=url, timeout=120) as http:
        body = {
            "name": "packages",
            "dim": corpus.dim,
            "payload_schema": corpus.schema,
            "settings": {"seal_rows": 5000},
        }
        http.post("/v1/collections", json=body).raise_for_status()
        for start in range(0, rows, 1000):
            points = [
                {"id": corpus.ids[i], "vector": corpus.vectors[i].tolist(),
                 "payload": corpus.payloads[i]}
                for i in range(start, min(start + 1000, rows))
            ]  # fmt: skip
            body = {"points": points, "consistency": "strong"}
            http.post("/v1/collections/packages/points", json=body).raise_for_status()
    return time.perf_counter() - started


def bodies(path: Path, corpus: Any, consistency: str) -> Path:
    with path.open("w") as out:
        for q in corpus.queries:
            body = {
                "vector": [round(float(x), 6) for x in q],
                "limit": 10,
                "cache": "bypass",
                "consistency": consistency,
            }
            out.write("/v1/collections/packages/search\t" + json.dumps(body) + "\n")
    return path


def batching(
    nodes: int, corpus: Any, lines: Path, work: Path, opts: argparse.Namespace
) -> dict[str, Any]:
    """Cache-miss searches through the cluster gateway, batcher off against on."""
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for mode, batch_max in (("off", 1), ("on", 32)):
        with cluster(nodes, opts.shards, work, batch_max) as url:
            load(url, corpus, opts.rows)
            port = int(url.rsplit(":", 1)[1])
            wrk(port, "/", 2, opts.connections, str(lines))  # warm-up
            for _ in range(opts.runs):
                row = wrk(port, "/", opts.seconds, opts.connections, str(lines))
                runs[mode].append(row)
                print(f"batching {mode}: {row['rps']:.0f}/s p99 {row['p99_ms']:.1f} ms")
    summary: dict[str, Any] = {
        mode: {
            "rps_median": float(np.median([r["rps"] for r in rows])),
            "p99_ms_median": float(np.median([r["p99_ms"] for r in rows])),
        }
        for mode, rows in runs.items()
    }
    summary["speedup"] = round(summary["on"]["rps_median"] / summary["off"]["rps_median"], 3)
    return {"nodes": nodes, "runs": runs, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="packages rows to load")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--nodes", default="1,2", help="node counts to compare")
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk run length")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per point (median)")
    parser.add_argument(
        "--batching",
        action="store_true",
        help="instead: the gateway's micro-batcher off (batch_max 1) against on (32), "
        "bounded reads, on the largest node count",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cluster.json")
    opts = parser.parse_args(argv)
    if shutil.which("wrk") is None or shutil.which("nats-server") is None:
        parser.error("needs wrk and nats-server (apt-get install wrk nats-server)")
    corpus = load_corpus("packages", SHARED)
    work = Path(tempfile.mkdtemp(prefix="vecfleet-cluster-bench-"))
    files = {c: bodies(work / f"{c}.tsv", corpus, c) for c in ("bounded", "strong")}
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "rows": opts.rows,
        "shards": opts.shards,
        "connections": opts.connections,
        "configs": [],
    }
    if opts.batching:
        nodes = max(int(n) for n in opts.nodes.split(","))
        result["batching"] = batching(nodes, corpus, files["bounded"], work, opts)
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        opts.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["batching"]["summary"], indent=2))
        shutil.rmtree(work, ignore_errors=True)
        return 0
    try:
        for nodes in [int(n) for n in opts.nodes.split(",")]:
            with cluster(nodes, opts.shards, work) as url:
                load_s = load(url, corpus, opts.rows)
                row: dict[str, Any] = {"nodes": nodes, "load_s": round(load_s, 1)}
                for consistency, lines in files.items():
                    port = int(url.rsplit(":", 1)[1])
                    wrk(port, "/", 2, opts.connections, str(lines))  # warm-up
                    runs = [
                        wrk(port, "/", opts.seconds, opts.connections, str(lines))
                        for _ in range(opts.runs)
                    ]
                    row[consistency] = {
                        "rps_median": float(np.median([r["rps"] for r in runs])),
                        "p50_ms_median": float(np.median([r["p50_ms"] for r in runs])),
                        "p99_ms_median": float(np.median([r["p99_ms"] for r in runs])),
                        "errors": [r["errors"] for r in runs],
                        "runs": runs,
                    }
                    print(f"nodes={nodes} {consistency}: {json.dumps(row[consistency])[:300]}")
                result["configs"].append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["configs"]:
        b, s = row["bounded"], row["strong"]
        print(
            f"{row['nodes']} node(s): bounded {b['rps_median']:.0f}/s "
            f"p99 {b['p99_ms_median']:.1f} ms"
            f" | strong {s['rps_median']:.0f}/s p99 {s['p99_ms_median']:.1f} ms"
            f" ({s['rps_median'] / b['rps_median']:.2f}x)"
        )
    print(f"wrote {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

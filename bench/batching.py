"""Cache-miss vector searches with the micro-batcher on against off, same data, same run.

Two ``vecfleet serve`` processes over the same data directory in turn (result cache off,
so every request reaches the engine), each loaded by wrk at ``--connections`` with the
shared corpora's dev queries (no filter, or ``--filter`` from the corpus's filters).
Runs alternate off/on ``--runs`` times; medians are reported. Batching on means
``server.batch_max`` 32 (the default); off means 1.

    .venv/bin/python bench/batching.py --data-dir /tmp/loaddata --out bench/results/batching.json

``--data-dir`` must hold the ``packages`` collection (``bench/load.py`` fills one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
from bench.common import load_corpus  # noqa: E402
from bench.load import ingest, server, wrk  # noqa: E402

SHARED = ROOT.parent / "shared"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="packages", choices=["packages", "incidents"])
    parser.add_argument("--filter", default=None, help="a filter name of the corpus")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "batching.json")
    opts = parser.parse_args(argv)
    corpus = load_corpus(opts.collection, SHARED)
    if not (opts.data_dir / "LOCK").exists():
        ingest(opts.data_dir, [corpus])
    work = Path(tempfile.mkdtemp(prefix="vecfleet-batching-"))
    lines = work / "searches.tsv"
    flt = corpus.filters[opts.filter] if opts.filter else None
    with lines.open("w") as out:
        for q in corpus.queries:
            body = {"vector": [round(float(x), 6) for x in q], "limit": 10, "filter": flt}
            out.write(f"/v1/collections/{opts.collection}/search\t{json.dumps(body)}\n")
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for i in range(opts.runs):
        for mode, batch_max in (("off", 1), ("on", 32)):
            env = {"VECFLEET__SERVER__BATCH_MAX": str(batch_max)}
            with server(opts.data_dir, "off", work, env) as port:
                wrk(port, "/", 2, opts.connections, str(lines))  # warm-up
                row = wrk(port, "/", opts.seconds, opts.connections, str(lines))
            runs[mode].append(row)
            print(f"run {i} batching {mode}: {row['rps']:.0f}/s p99 {row['p99_ms']:.1f} ms")
    summary = {
        mode: {
            "rps_median": float(np.median([r["rps"] for r in rows])),
            "p99_ms_median": float(np.median([r["p99_ms"] for r in rows])),
        }
        for mode, rows in runs.items()
    }
    summary["speedup"] = round(summary["on"]["rps_median"] / summary["off"]["rps_median"], 3)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "collection": opts.collection,
        "filter": opts.filter,
        "connections": opts.connections,
        "runs": runs,
        "summary": summary,
    }
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

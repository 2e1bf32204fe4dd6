"""Where a sealed index's arrays live: FAISS's own malloc'd arrays against placed ones.

Builds one FAISS HNSW graph over a corpus, copies it, and moves the copy's arrays with
``vecfleet.engine.index.placement.place`` (page-aligned maps, 2 MiB pages where the kernel
gives them). The same queries then run through ``search_c`` on both, single-threaded,
interleaved in blocks so that both see the same machine speed; the figure is the median
over rounds of (in place time / placed time), i.e. the placed index's speed-up.

    python bench/placement.py --corpus incidents
    python bench/placement.py --corpus packages --ef-construction 100
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPORA, load_corpus

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
from vecfleet.engine.index.placement import place  # noqa: E402

BLOCK = 25


def offset_in_line(index: faiss.Index) -> int:
    storage = faiss.downcast_index(faiss.downcast_index(index).storage)
    return int(storage.codes.data()) % 64


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--corpus", choices=CORPORA, default="incidents")
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef-search", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--synthetic-n", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=None, help="also write the result as JSON")
    opts = ap.parse_args()
    faiss.omp_set_num_threads(1)

    corpus = load_corpus(opts.corpus, opts.shared, opts.synthetic_n, opts.queries)
    queries = list(corpus.queries[: opts.queries])
    dim = corpus.vectors.shape[1]
    t0 = time.perf_counter()
    in_place = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    in_place.hnsw.efConstruction = opts.ef_construction
    in_place.add(corpus.vectors)
    print(f"built HNSW32 over {len(corpus.vectors):,} vectors in {time.perf_counter() - t0:.1f}s")
    placed_index = faiss.deserialize_index(faiss.serialize_index(in_place))
    placed = place(placed_index)
    for index in (in_place, placed_index):
        index.hnsw.efSearch = opts.ef_search

    distances = np.empty(10, dtype=np.float32)
    labels = np.empty(10, dtype=np.int64)
    d_ptr, l_ptr = faiss.swig_ptr(distances), faiss.swig_ptr(labels)

    def run(index: faiss.Index, block: list[np.ndarray]) -> float:
        t = time.thread_time()
        for q in block:
            index.search_c(1, faiss.swig_ptr(q), 10, d_ptr, l_ptr, None)
        return time.thread_time() - t

    blocks = [queries[i : i + BLOCK] for i in range(0, len(queries), BLOCK)]
    rounds = []
    for _ in range(opts.rounds):
        mine = theirs = 0.0
        for i, block in enumerate(blocks):
            pair = (in_place, placed_index) if i % 2 else (placed_index, in_place)
            times = {id(ix): run(ix, block) for ix in pair}
            mine += times[id(placed_index)]
            theirs += times[id(in_place)]
        rounds.append(theirs / mine)
    result = {
        "corpus": opts.corpus,
        "n": len(corpus.vectors),
        "queries": len(queries),
        "ef_search": opts.ef_search,
        "rounds": rounds,
        "speedup_median": statistics.median(rounds),
        "in_place_offset_in_cache_line": offset_in_line(in_place),
        "placed_bytes": placed.nbytes,
        "system_anon_huge_pages_kib": _anon_huge_kib(),
    }
    print(
        f"placed / in place speed: median {result['speedup_median']:.3f} over {opts.rounds} "
        f"rounds ({min(rounds):.3f}..{max(rounds):.3f}); in-place vectors start "
        f"{result['in_place_offset_in_cache_line']} bytes into a cache line; "
        f"{placed.nbytes / 2**20:.1f} MiB placed (machine-wide AnonHugePages "
        f"{result['system_anon_huge_pages_kib']} KiB)"
    )
    if opts.out:
        opts.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def _anon_huge_kib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())

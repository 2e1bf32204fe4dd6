"""Measures the planner's two cost constants on this machine.

* ``exact_row_us``: microseconds to score one candidate row exactly (FAISS brute force over a
  gathered, contiguous subset; the engine caches the gathered subset per filter).
* ``graph_ef_us``: microseconds per unit of efSearch for one HNSW query.

Both are per query, single-threaded, 384-d, on the packages corpus (real MiniLM vectors).
Usage: python bench/planner_costs.py [--shared ../shared] [--queries 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import faiss
import numpy as np


def per_query_us(fn, queries: np.ndarray, reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        for q in queries:
            fn(q[None, :])
        times.append((time.perf_counter() - started) / len(queries) * 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared")
    )
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    data = Path(args.shared) / "data" / "packages"
    vectors = np.load(data / "embeddings.f16.npy").astype(np.float32)
    queries = np.load(data / "queries_dev.f16.npy").astype(np.float32)[: args.queries]
    rng = np.random.default_rng(0)
    print("exact scoring of a gathered subset")
    exact = []
    for rows in (1_000, 4_000, 16_000):
        subset = np.ascontiguousarray(vectors[np.sort(rng.choice(len(vectors), rows, False))])
        us = per_query_us(
            lambda q, s=subset: faiss.knn(q, s, 10, faiss.METRIC_INNER_PRODUCT), queries
        )
        exact.append(us / rows)
        print(f"  {rows:>6} rows: {us:8.1f} us/query = {us / rows:.4f} us/row")
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 200
    started = time.perf_counter()
    index.add(vectors)
    print(f"HNSW32 over {len(vectors)} rows built in {time.perf_counter() - started:.0f}s")
    graph = []
    for ef in (32, 64, 128, 256):
        index.hnsw.efSearch = ef
        us = per_query_us(lambda q: index.search(q, 10), queries)
        graph.append(us / ef)
        print(f"  ef {ef:>4}: {us:8.1f} us/query = {us / ef:.2f} us per ef")
    row_us, ef_us = statistics.median(exact), statistics.median(graph)
    print(f"exact_row_us ~ {row_us:.4f}   graph_ef_us ~ {ef_us:.2f}")
    crossover = ef_us * 64 / row_us
    print(f"at ef 64 a graph query costs as much as scoring {crossover:.0f} rows exactly")


if __name__ == "__main__":
    main()

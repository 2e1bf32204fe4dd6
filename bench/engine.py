"""Engine benchmark: vecfleet's index kinds against raw FAISS, exact search and qdrant-edge.

Every figure comes from one process on one machine, single-threaded (OpenMP/BLAS threads
= 1, engine thread knobs = 1), k = 10, recall@10 against exact ground truth, so the ratios
between engines are measured under the same conditions. Per corpus and per filter:

* ``vecfleet`` (one collection per index kind): build time (batched upserts + optimize),
  recall, QPS with one ``search`` per query, QPS of one ``search_batch`` over all queries,
  bytes per vector (process RSS delta around the build; ``memory_bytes()`` when the
  collection has it) and the plan ``explain`` gives for the first query;
* ``faiss``: ``IndexHNSWFlat(dim, 32, METRIC_INNER_PRODUCT)``, efConstruction 200; an
  unfiltered efSearch sweep 16..512 and, per filter, an ``IDSelectorBitmap`` sweep
  16..4096 (stopped once recall reaches 0.98 or a pass gets too slow);
* ``exact``: numpy brute force on the rows that pass the filter. The row set is computed
  once per filter; each query pays for gathering ``vectors[rows] @ q`` plus argpartition,
  as a planner would on a segment;
* ``qdrant``: qdrant-edge-py, one segment, HNSW m=32 / ef_construct=200 (as the peer
  benchmark), payload indexes on the schema fields created before ingest; hnsw_ef sweep.

Ratios: unfiltered vecfleet QPS / FAISS QPS at the smallest efSearch whose recall is at
least vecfleet's; filtered vecfleet QPS / the better of FAISS filtered HNSW at recall
>= 0.95 and exact; vecfleet / qdrant at the smallest hnsw_ef whose recall is at least
vecfleet's. Each ratio is also measured in ``--pairs`` rounds that interleave vecfleet with its
baseline every 25 queries (``paired_vs_faiss``, ``paired_vs_best_baseline``: median round),
which is the figure to trust on a shared machine. Timings are the median of ``--reps`` passes after
a 20-query warm-up, by wall clock (``qps``) and by process CPU time (``qps_cpu``, steadier on
a shared machine).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CORPORA, Corpus, K, filter_mask, load_corpus, recall_at_k  # noqa: E402

faiss.omp_set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # an installed vecfleet, if any, still comes first

KINDS = ("hnsw", "hnsw_sq8", "flat", "ivf_pq")
ENGINES = ("vecfleet", "faiss", "exact", "qdrant")
EF_UNFILTERED = (16, 24, 32, 40, 48, 56, 64, 80, 96, 128, 192, 256, 384, 512)
EF_FILTERED = (16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)
EF_QDRANT = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)
RECALL_TARGETS = (0.90, 0.95, 0.97, 0.98, 0.99)
FILTERED_TARGET = 0.95
STOP_RECALL = 0.99
STOP_RECALL_FAISS_FILTERED = 0.98  # the slow sweeps: enough for the 0.95..0.98 targets
WARMUP = 20
PAIR_BLOCK = 25  # queries per engine turn in the interleaved unfiltered ratio
UPSERT_BATCH = 2000
FAISS_M, FAISS_EF_CONSTRUCTION = 32, 200
QDRANT_M, QDRANT_EF_CONSTRUCT, QDRANT_FULL_SCAN_KB = 32, 200, 10_000

Row = dict[str, Any]
SearchFn = Callable[[np.ndarray], Sequence[int]]
Results = Sequence[Sequence[int]]


@dataclasses.dataclass
class Rivals:
    """What vecfleet is timed against, interleaved: FAISS's index and unfiltered sweep,
    and per filter the faster baseline's search function (as ``baseline_best`` picks)."""

    faiss_index: Any = None
    faiss_sweep: list[Row] = dataclasses.field(default_factory=list)
    filtered: dict[str, tuple[str, SearchFn]] = dataclasses.field(default_factory=dict)


def log(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ measuring
def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


def settle() -> None:
    """Collect garbage and hand freed heap back to the OS so RSS deltas mean something."""
    gc.collect()
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def timed(run: Callable[[], Results], opts: argparse.Namespace) -> tuple[Results, Row]:
    """Run `run` up to `opts.reps` times; wall and process-CPU seconds of each pass.

    CPU time is kept next to wall time because the machine may be shared: when other
    processes compete for the cores, wall-clock QPS drops while CPU-time QPS does not.
    """
    walls: list[float] = []
    cpus: list[float] = []
    first: Results | None = None
    for _ in range(opts.reps):
        w0, c0 = time.perf_counter(), time.process_time()
        got = run()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        first = got if first is None else first
        if walls[-1] > opts.single_pass_s:
            break
    assert first is not None
    return first, {
        "wall_s": statistics.median(walls),
        "cpu_s": statistics.median(cpus),
        "passes_s": [round(w, 4) for w in walls],
    }


def measure(
    fn: SearchFn,
    queries: np.ndarray,
    truth: list[np.ndarray],
    opts: argparse.Namespace,
) -> Row:
    """Recall and QPS of `fn` called once per query (after a short warm-up)."""
    for q in queries[:WARMUP]:
        fn(q)
    got, t = timed(lambda: [fn(q) for q in queries], opts)
    nq = len(queries)
    return {
        "recall": recall_at_k(got, truth),
        "qps": nq / t["wall_s"],
        "qps_cpu": nq / t["cpu_s"],
        "ms_per_query": 1000 * t["wall_s"] / nq,
        "passes_s": t["passes_s"],
    }


def measure_batch(
    run: Callable[[], Results], nq: int, truth: list[np.ndarray], opts: argparse.Namespace
) -> Row:
    """Recall and QPS of one call answering all `nq` queries."""
    got, t = timed(run, opts)
    return {
        "recall": recall_at_k(got, truth),
        "qps": nq / t["wall_s"],
        "qps_cpu": nq / t["cpu_s"],
        "passes_s": t["passes_s"],
    }


def sweep(
    make: Callable[[int], SearchFn],
    knobs: Sequence[int],
    corpus: Corpus,
    fname: str,
    opts: argparse.Namespace,
    label: str,
    stop: float | None = STOP_RECALL,
) -> list[Row]:
    """Measure `make(knob)` for each knob until recall reaches `stop` or a pass gets slow."""
    rows: list[Row] = []
    for knob in knobs:
        row = {"ef": knob, **measure(make(knob), corpus.queries, corpus.truth[fname], opts)}
        rows.append(row)
        log(
            f"  {label} {fname} ef={knob} recall={row['recall']:.4f} qps={row['qps']:.0f} "
            f"cpu-qps={row['qps_cpu']:.0f}"
        )
        if (stop is not None and row["recall"] >= stop) or max(row["passes_s"]) > opts.max_pass_s:
            break
    return rows


def first_reaching(rows: list[Row], target: float) -> Row | None:
    return next((r for r in rows if r["recall"] >= target), None)


def best_recall(rows: list[Row]) -> Row | None:
    return max(rows, key=lambda r: r["recall"]) if rows else None


def topk(scores: np.ndarray, k: int = K) -> np.ndarray:
    """Positions of the k largest scores, best first."""
    if len(scores) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.argsort(-scores[part])]
    return np.argsort(-scores)


# ------------------------------------------------------------------------------ FAISS
def bench_faiss(
    corpus: Corpus,
    masks: dict[str, np.ndarray | None],
    opts: argparse.Namespace,
) -> tuple[Row, Any]:
    """FAISS's results, and its index (kept for the paired passes against vecfleet)."""
    n, dim = corpus.vectors.shape
    settle()
    rss0, t0 = rss_bytes(), time.perf_counter()
    index = faiss.IndexHNSWFlat(dim, FAISS_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = FAISS_EF_CONSTRUCTION
    index.add(corpus.vectors)
    build_s = time.perf_counter() - t0
    settle()
    rss_delta = rss_bytes() - rss0
    serialized = int(faiss.serialize_index(index).nbytes)
    log(f"faiss HNSW{FAISS_M} built in {build_s:.1f}s, rss +{rss_delta / 2**20:.0f} MiB")
    out: Row = {
        "index": f"IndexHNSWFlat(d={dim}, M={FAISS_M}, METRIC_INNER_PRODUCT)",
        "params": {"M": FAISS_M, "efConstruction": FAISS_EF_CONSTRUCTION, "build_threads": 1},
        "build_s": build_s,
        "rss_delta_bytes": rss_delta,
        "serialized_bytes": serialized,
        "bytes_per_vector_rss": rss_delta / n,
        "bytes_per_vector_serialized": serialized / n,
        "filtered": {},
    }
    for fname, mask in masks.items():
        if mask is None:
            out["unfiltered"] = faiss_unfiltered(index, corpus, fname, opts)
        else:
            out["filtered"][fname] = faiss_filtered(index, corpus, fname, mask, opts)
    return out, index


def faiss_search(index: Any, params: Any) -> SearchFn:
    return lambda q: index.search(q[None, :], K, params=params)[1][0]


def faiss_unfiltered(index: Any, corpus: Corpus, fname: str, opts: argparse.Namespace) -> Row:
    def make(ef: int) -> SearchFn:
        return faiss_search(index, faiss.SearchParametersHNSW(efSearch=ef))

    rows = sweep(make, EF_UNFILTERED, corpus, fname, opts, "faiss", stop=None)
    firsts = {str(t): (r["ef"] if (r := first_reaching(rows, t)) else None) for t in RECALL_TARGETS}
    batched = {}
    for target in (0.95, 0.99):
        row = first_reaching(rows, target)
        if row is None:
            continue
        params = faiss.SearchParametersHNSW(efSearch=row["ef"])
        run = lambda p=params: index.search(corpus.queries, K, params=p)[1]  # noqa: E731
        timing = measure_batch(run, len(corpus.queries), corpus.truth[fname], opts)
        batched[str(target)] = {"ef": row["ef"], **timing}
    return {"filter": fname, "sweep": rows, "first_ef_reaching": firsts, "batched": batched}


def faiss_filtered_search(index: Any, mask: np.ndarray, ef: int) -> SearchFn:
    """FAISS's HNSW search restricted to ``mask`` by a bitmap selector, at ``ef``."""
    bitmap = np.packbits(mask.astype(np.uint8), bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
    search = faiss_search(index, faiss.SearchParametersHNSW(sel=selector, efSearch=ef))
    # the closure keeps the bitmap the selector points into
    return lambda q, bitmap=bitmap: search(q)


def faiss_filtered(
    index: Any, corpus: Corpus, fname: str, mask: np.ndarray, opts: argparse.Namespace
) -> Row:
    def make(ef: int) -> SearchFn:
        return faiss_filtered_search(index, mask, ef)

    rows = sweep(make, EF_FILTERED, corpus, fname, opts, "faiss", STOP_RECALL_FAISS_FILTERED)
    return {
        "sweep": rows,
        "at_target": first_reaching(rows, FILTERED_TARGET),
        "target": FILTERED_TARGET,
        "best": best_recall(rows),
    }


# ------------------------------------------------------------------------------ exact
def exact_search_fn(vectors: np.ndarray, mask: np.ndarray | None) -> SearchFn:
    """numpy brute force over the rows where ``mask`` holds (all rows without one); the
    row set is found once, each query pays for the gather, the product and the top-k."""
    if mask is None:
        return lambda q: topk(vectors @ q)
    rows = np.nonzero(mask)[0]
    return lambda q: rows[topk(vectors[rows] @ q)]


def bench_exact(
    corpus: Corpus,
    masks: dict[str, np.ndarray | None],
    opts: argparse.Namespace,
) -> Row:
    vectors = corpus.vectors
    out: Row = {
        "method": (
            "numpy float32, one query at a time; unfiltered: vectors @ q; filtered: the "
            "matching row set is computed once per filter, each query pays for "
            "vectors[rows] @ q (gather + matvec) and argpartition"
        ),
        "bytes_per_vector": vectors.itemsize * vectors.shape[1],
        "filters": {},
    }
    for fname, mask in masks.items():
        row = measure(exact_search_fn(vectors, mask), corpus.queries, corpus.truth[fname], opts)
        out["filters"][fname] = row
        log(f"  exact {fname} recall={row['recall']:.4f} qps={row['qps']:.0f}")
    return out


# ------------------------------------------------------------------------------ qdrant-edge
def qdrant_filter(qe: Any, flt: dict[str, Any], schema: dict[str, str]) -> Any:
    """Translate the Mongo-style filters the corpora use into a qdrant-edge Filter."""
    must: list[Any] = []
    for key, cond in flt.items():
        if key == "$and":
            must += [qdrant_filter(qe, sub, schema) for sub in cond]
        elif key.startswith("$"):
            raise NotImplementedError(f"qdrant translation of {key}")
        else:
            must += qdrant_field(qe, key, cond, schema[key])
    return qe.Filter(must=must)


def qdrant_field(qe: Any, key: str, cond: Any, kind: str) -> list[Any]:
    ops = cond if isinstance(cond, dict) else {"$eq": cond}
    out, bounds = [], {}
    for op, arg in ops.items():
        if op == "$eq":
            out.append(qe.FieldCondition(key=key, match=qe.MatchValue(arg)))
        elif op == "$in":
            out.append(qe.FieldCondition(key=key, match=qe.MatchAny(list(arg))))
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            bounds[op[1:]] = arg
        else:
            raise NotImplementedError(f"qdrant translation of {op}")
    if bounds:
        rng = qe.RangeDateTime(**bounds) if kind == "datetime" else qe.RangeFloat(**bounds)
        out.append(qe.FieldCondition(key=key, range=rng))
    return out


def qdrant_build(qe: Any, corpus: Corpus, path: str) -> Any:
    cfg = qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=corpus.dim, distance=qe.Distance.Cosine),
        hnsw_config=qe.HnswIndexConfig(
            m=QDRANT_M,
            ef_construct=QDRANT_EF_CONSTRUCT,
            full_scan_threshold=QDRANT_FULL_SCAN_KB,
            max_indexing_threads=1,
        ),
        optimizers=qe.EdgeOptimizersConfig(default_segment_number=1),
        max_search_threads=1,
    )
    shard = qe.EdgeShard.create(path, cfg)
    types = {
        "keyword": qe.PayloadSchemaType.Keyword,
        "integer": qe.PayloadSchemaType.Integer,
        "datetime": qe.PayloadSchemaType.Datetime,
    }
    for field, kind in corpus.schema.items():
        shard.update(qe.UpdateOperation.create_field_index(field, types[kind]))
    for s in range(0, len(corpus.ids), 1000):
        points = [
            qe.Point(id=i, vector=corpus.vectors[i].tolist(), payload=corpus.payloads[i])
            for i in range(s, min(len(corpus.ids), s + 1000))
        ]
        shard.update(qe.UpdateOperation.upsert_points(points))
    shard.optimize()
    shard.flush()
    return shard


def bench_qdrant(corpus: Corpus, opts: argparse.Namespace) -> Row:
    import qdrant_edge as qe

    path = tempfile.mkdtemp(prefix="bench-qdrant-")
    try:
        settle()
        rss0, t0 = rss_bytes(), time.perf_counter()
        shard = qdrant_build(qe, corpus, os.path.join(path, "shard"))
        build_s = time.perf_counter() - t0
        settle()
        rss_delta, disk = rss_bytes() - rss0, dir_bytes(path)
        info = shard.info()
        log(f"qdrant built in {build_s:.1f}s, rss +{rss_delta / 2**20:.0f} MiB")
        out: Row = {
            "params": {
                "m": QDRANT_M,
                "ef_construct": QDRANT_EF_CONSTRUCT,
                "full_scan_threshold_kb": QDRANT_FULL_SCAN_KB,
                "default_segment_number": 1,
                "max_indexing_threads": 1,
                "max_search_threads": 1,
                "distance": "Cosine",
                "payload_indexes": corpus.schema,
                "payload_indexes_before_ingest": True,
            },
            "segments": info.segments_count,
            "indexed_vectors": info.indexed_vectors_count,
            "build_s": build_s,
            "rss_delta_bytes": rss_delta,
            "disk_bytes": disk,
            "bytes_per_vector_rss": rss_delta / len(corpus.ids),
            "bytes_per_vector_disk": disk / len(corpus.ids),
            "filters": {},
        }
        for fname, flt in corpus.filters.items():
            out["filters"][fname] = qdrant_filter_sweep(qe, shard, corpus, fname, flt, opts)
        shard.close()
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return out


def qdrant_filter_sweep(
    qe: Any,
    shard: Any,
    corpus: Corpus,
    fname: str,
    flt: dict[str, Any] | None,
    opts: argparse.Namespace,
) -> Row:
    qfilter = qdrant_filter(qe, flt, corpus.schema) if flt else None

    def make(ef: int) -> SearchFn:
        params = qe.SearchParams(hnsw_ef=ef)

        def fn(q: np.ndarray) -> Sequence[int]:
            req = qe.QueryRequest(
                limit=K,
                query=qe.Query.Nearest(q.tolist()),
                filter=qfilter,
                params=params,
                with_payload=False,
                with_vector=False,
            )
            return [p.id for p in shard.query(req)]

        return fn

    rows = sweep(make, EF_QDRANT, corpus, fname, opts, "qdrant")
    return {
        "sweep": rows,
        "at_target": first_reaching(rows, FILTERED_TARGET),
        "target": FILTERED_TARGET,
        "best": best_recall(rows),
    }


def dir_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


# ------------------------------------------------------------------------------ vecfleet
def bench_vecfleet(
    corpus: Corpus, kinds: Sequence[str], opts: argparse.Namespace, rivals: Rivals | None = None
) -> Row:
    """vecfleet per index kind; with ``rivals`` each search is also timed interleaved with
    the baseline it is compared with (see interleaved)."""
    import vecfleet

    rows_of = {x: i for i, x in enumerate(corpus.ids)}
    out: Row = {"version": getattr(vecfleet, "__version__", None), "kinds": {}}
    for kind in kinds:
        path = tempfile.mkdtemp(prefix=f"bench-vecfleet-{kind}-")
        try:
            out["kinds"][kind] = vecfleet_kind(vecfleet, corpus, kind, path, rows_of, opts, rivals)
        finally:
            shutil.rmtree(path, ignore_errors=True)
    return out


def vecfleet_kind(
    vecfleet: Any,
    corpus: Corpus,
    kind: str,
    path: str,
    rows_of: dict[str, int],
    opts: argparse.Namespace,
    rivals: Rivals | None,
) -> Row:
    settle()
    rss0, t0 = rss_bytes(), time.perf_counter()
    db = vecfleet.connect(path)
    col = db.create_collection(
        corpus.name, dim=corpus.dim, metric="cosine", index=kind, payload_schema=corpus.schema
    )
    for s in range(0, len(corpus.ids), UPSERT_BATCH):
        e = s + UPSERT_BATCH
        col.upsert(ids=corpus.ids[s:e], vectors=corpus.vectors[s:e], payloads=corpus.payloads[s:e])
    col.optimize()
    build_s = time.perf_counter() - t0
    settle()
    rss_delta = rss_bytes() - rss0
    n = len(corpus.ids)
    mem = int(col.memory_bytes()) if hasattr(col, "memory_bytes") else None
    log(f"vecfleet {kind} built in {build_s:.1f}s, rss +{rss_delta / 2**20:.0f} MiB")
    out: Row = {
        "build_s": build_s,
        "rss_delta_bytes": rss_delta,
        "bytes_per_vector_rss": rss_delta / n,
        "memory_bytes": mem,
        "bytes_per_vector": None if mem is None else mem / n,
        "filters": {},
    }
    to_rows = lambda hits: [rows_of[h.id] for h in hits]  # noqa: E731
    for fname, flt in corpus.filters.items():

        def fn(q: np.ndarray, flt: Any = flt) -> Sequence[int]:
            return to_rows(col.search(q, limit=K, filter=flt))

        def run(flt: Any = flt) -> list[list[int]]:
            return [to_rows(h) for h in col.search_batch(corpus.queries, limit=K, filter=flt)]

        row = measure(fn, corpus.queries, corpus.truth[fname], opts)
        row["batched"] = measure_batch(run, len(corpus.queries), corpus.truth[fname], opts)
        row["plan_first_query"] = jsonable(col.explain(corpus.queries[0], flt))
        # both engines' own calls, as a user makes them: ids and payloads from vecfleet,
        # labels from FAISS (the row mapping above is only there to score recall)
        native = lambda q, flt=flt: col.search(q, limit=K, filter=flt)  # noqa: E731
        if rivals is not None and flt is None and rivals.faiss_index is not None:
            ref = equal_recall(rivals.faiss_sweep, row["recall"])
            if ref is not None:
                theirs = faiss_search(
                    rivals.faiss_index, faiss.SearchParametersHNSW(efSearch=ref["ef"])
                )
                row["paired_vs_faiss"] = {
                    "faiss_ef": ref["ef"],
                    "faiss_recall": ref["recall"],
                    **interleaved(native, theirs, corpus, opts),
                }
        elif rivals is not None and fname in rivals.filtered:
            label, theirs = rivals.filtered[fname]
            row["paired_vs_best_baseline"] = {
                "baseline": label,
                **interleaved(native, theirs, corpus, opts),
            }
        out["filters"][fname] = row
        log(
            f"  vecfleet {kind} {fname} recall={row['recall']:.4f} qps={row['qps']:.0f} "
            f"batched={row['batched']['qps']:.0f}"
        )
    db.close()
    return out


def interleaved(
    ours: SearchFn,
    theirs: SearchFn,
    corpus: Corpus,
    opts: argparse.Namespace,
) -> Row:
    """vecfleet's speed over a baseline's on the same queries, timed interleaved.

    Each of ``--pairs`` rounds runs all queries through both in blocks of ``PAIR_BLOCK``,
    alternating which goes first, and the round's ratio is the baseline's total thread CPU
    time over vecfleet's; the median round is reported. Interleaving at block granularity
    means both see the same machine speed: separate measurements minutes apart drift by
    ±30 % on a shared VM.
    """
    queries = list(corpus.queries)
    blocks = [queries[i : i + PAIR_BLOCK] for i in range(0, len(queries), PAIR_BLOCK)]

    def run(search: SearchFn, block: list[np.ndarray]) -> float:
        t0 = time.thread_time()
        for q in block:
            search(q)
        return time.thread_time() - t0

    rounds: list[float] = []
    for _ in range(opts.pairs):
        ours_s = theirs_s = 0.0
        for i, block in enumerate(blocks):
            if i % 2:
                theirs_s += run(theirs, block)
                ours_s += run(ours, block)
            else:
                ours_s += run(ours, block)
                theirs_s += run(theirs, block)
        rounds.append(theirs_s / ours_s)
    return {
        "ratios": rounds,
        "median": statistics.median(rounds),
        "block": PAIR_BLOCK,
        "clock": "thread CPU time",
    }


def rivals_for(
    corpus: Corpus, masks: dict[str, np.ndarray | None], engines: Row, index: Any
) -> Rivals:
    """The baselines vecfleet is timed against, interleaved, once FAISS and exact ran."""
    out = Rivals(
        faiss_index=index,
        faiss_sweep=engines.get("faiss", {}).get("unfiltered", {}).get("sweep", []),
    )
    for fname, mask in masks.items():
        if mask is None or (best := baseline_best(engines, fname)) is None:
            continue
        if best["engine"] == "exact_subset":
            out.filtered[fname] = ("exact_subset", exact_search_fn(corpus.vectors, mask))
        else:
            out.filtered[fname] = (
                f"faiss_hnsw_filtered ef{best['ef']}",
                faiss_filtered_search(index, mask, best["ef"]),
            )
    return out


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if hasattr(value, "__struct_fields__"):  # msgspec.Struct
        return {f: jsonable(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


# ------------------------------------------------------------------------------ ratios
def baseline_best(engines: Row, fname: str) -> Row | None:
    """The faster of FAISS filtered HNSW at recall >= 0.95 and exact on the subset."""
    options = []
    hit = engines.get("faiss", {}).get("filtered", {}).get(fname, {}).get("at_target")
    if hit:
        options.append(
            {
                "engine": "faiss_hnsw_filtered",
                "ef": hit["ef"],
                "qps": hit["qps"],
                "qps_cpu": hit["qps_cpu"],
                "recall": hit["recall"],
            }
        )
    exact = engines.get("exact", {}).get("filters", {}).get(fname)
    if exact:
        options.append(
            {
                "engine": "exact_subset",
                "qps": exact["qps"],
                "qps_cpu": exact["qps_cpu"],
                "recall": exact["recall"],
            }
        )
    return max(options, key=lambda o: o["qps"]) if options else None


def equal_recall(rows: list[Row], recall: float) -> Row | None:
    """The first sweep row at least as accurate as `recall`, else the most accurate one."""
    row = first_reaching(rows, recall) or best_recall(rows)
    return None if row is None else {**row, "reached": row["recall"] >= recall}


def speedup(engine: Row, ref: Row | None) -> Row | None:
    """QPS ratio engine/ref by wall clock and by process CPU time."""
    if not ref:
        return None
    return {"wall": engine["qps"] / ref["qps"], "cpu": engine["qps_cpu"] / ref["qps_cpu"]}


def ratios(corpus: Corpus, engines: Row) -> Row:
    out: Row = {}
    kinds = engines.get("vecfleet", {}).get("kinds", {})
    for kind, res in kinds.items():
        for fname, flt in corpus.filters.items():
            vf = res["filters"][fname]
            entry: Row = {"vecfleet_qps": vf["qps"], "vecfleet_recall": vf["recall"]}
            if flt is None and "faiss" in engines:
                ref = equal_recall(engines["faiss"]["unfiltered"]["sweep"], vf["recall"])
                entry["faiss_equal_recall"] = ref
                entry["vs_faiss"] = speedup(vf, ref)
                if vf.get("paired_vs_faiss"):
                    entry["vs_faiss_paired"] = vf["paired_vs_faiss"]["median"]
            elif flt is not None and (base := baseline_best(engines, fname)):
                entry["best_baseline"] = base
                entry["vs_best_baseline"] = speedup(vf, base)
                if vf.get("paired_vs_best_baseline"):
                    entry["vs_best_baseline_paired"] = vf["paired_vs_best_baseline"]["median"]
            if "qdrant" in engines:
                ref = equal_recall(engines["qdrant"]["filters"][fname]["sweep"], vf["recall"])
                entry["qdrant_equal_recall"] = ref
                entry["vs_qdrant"] = speedup(vf, ref)
            out[f"{kind}/{fname}"] = entry
    return out


# ------------------------------------------------------------------------------ report
def hardware() -> Row:
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name", "?"),
        "cpu_mhz": fields.get("cpu MHz"),
        "cache_size": fields.get("cache size"),
        "cpu_family": fields.get("cpu family"),
        "cpu_model_number": fields.get("model"),
        "virtualized": "hypervisor" in flags,
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "simd": sorted(flags & {"avx2", "fma", "avx512f", "avx512_vpopcntdq", "avx512vl"}),
        "loadavg_at_start": os.getloadavg(),
        "platform": platform.platform(),
    }


def versions() -> Row:
    out: Row = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "faiss-cpu": faiss.__version__,
        "faiss_compile": faiss.get_compile_options(),
    }
    for pkg in ("qdrant-edge-py", "psutil", "vecfleet"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def fmt(row: Row | None, key: str = "qps") -> str:
    if not row:
        return "-"
    ef = f"ef{row['ef']} " if "ef" in row else ""
    return f"{ef}{row['recall']:.3f}/{row[key]:.0f}"


def print_table(result: Row) -> None:
    eng, corpus = result["engines"], result["corpus"]
    print(f"\n== {corpus['name']}: {corpus['description']} (n={corpus['n']}, nq={corpus['nq']})")
    hw = result["hardware"]
    print(
        f"{hw['cpu_model']}, {hw['logical_cores']} cores; load average at start "
        f"{hw['loadavg_at_start'][0]:.2f}, at end {hw['loadavg_at_end'][0]:.2f}"
    )
    if "faiss" in eng:
        f = eng["faiss"]
        print(
            f"faiss HNSW32 build {f['build_s']:.1f}s, {f['bytes_per_vector_rss']:.0f} B/vec "
            f"(rss), first ef reaching {f['unfiltered']['first_ef_reaching']}"
        )
        print(
            "  unfiltered sweep (recall/QPS): "
            + "; ".join(
                f"ef{r['ef']} {r['recall']:.3f}/{r['qps']:.0f}" for r in f["unfiltered"]["sweep"]
            )
        )
    if "qdrant" in eng:
        q = eng["qdrant"]
        print(f"qdrant-edge build {q['build_s']:.1f}s, {q['bytes_per_vector_rss']:.0f} B/vec (rss)")
    kinds = eng.get("vecfleet", {}).get("kinds", {})
    head = [
        "filter",
        "match",
        "faiss@0.95 (rec/QPS)",
        "faiss best",
        "exact",
        "qdrant@0.95",
        *[f"vf:{k}" for k in kinds],
    ]
    print(" | ".join(head))
    for fname in result["filters"]:
        print(" | ".join(table_cells(result, fname, kinds)))
    for kind, res in kinds.items():
        for fname, row in res["filters"].items():
            if p := row.get("paired_vs_faiss"):
                against = f"FAISS ef{p['faiss_ef']} {p['faiss_recall']:.3f}, equal recall"
            elif p := row.get("paired_vs_best_baseline"):
                against = p["baseline"]
            else:
                continue
            print(
                f"{kind} {fname}: vecfleet speed / {against}, {len(p['ratios'])} interleaved "
                f"rounds: median {p['median']:.3f}, range {min(p['ratios']):.3f}.."
                f"{max(p['ratios']):.3f}"
            )


def table_cells(result: Row, fname: str, kinds: Row) -> list[str]:
    eng = result["engines"]
    share = f"{result['filters'][fname]['share']:.2%}"
    if "faiss" not in eng:
        faiss_cells = ["-", "-"]
    elif fname in eng["faiss"]["filtered"]:
        fl = eng["faiss"]["filtered"][fname]
        faiss_cells = [fmt(fl["at_target"]), fmt(fl["best"])]
    else:
        faiss_cells = [fmt(first_reaching(eng["faiss"]["unfiltered"]["sweep"], 0.95)), "-"]
    exact = fmt(eng["exact"]["filters"][fname]) if "exact" in eng else "-"
    qd = eng.get("qdrant", {}).get("filters", {}).get(fname, {})
    qcell = fmt(qd.get("at_target") or qd.get("best")) if qd else "-"
    vf = [fmt(kinds[k]["filters"][fname]) for k in kinds]
    return [fname, share, *faiss_cells, exact, qcell, *vf]


# ------------------------------------------------------------------------------ CLI
def run_corpus(name: str, opts: argparse.Namespace) -> Row:
    t_start = time.time()
    nq_default = 200 if name == "synthetic1m" else 1000
    nq = opts.queries or nq_default
    log(f"loading {name}")
    corpus = load_corpus(name, opts.shared, opts.synthetic_n, nq).head(nq)
    masks = {
        f: (None if flt is None else filter_mask(corpus.payloads, flt))
        for f, flt in corpus.filters.items()
    }
    n = len(corpus.ids)
    result: Row = {
        "corpus": {
            "name": name,
            "description": corpus.description,
            "synthetic": corpus.synthetic,
            "n": n,
            "dim": corpus.dim,
            "nq": len(corpus.queries),
        },
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "hardware": hardware(),
        "versions": versions(),
        "protocol": {
            "k": K,
            "threads": 1,
            "reps": opts.reps,
            "warmup_queries": WARMUP,
            "recall": "mean over queries of |top10 ∩ exact top10| / |exact top10|",
            "qps": "median pass; one search call per query unless 'batched'",
        },
        "filters": {
            f: {
                "filter": flt,
                "matching": int(n if m is None else m.sum()),
                "share": 1.0 if m is None else float(m.mean()),
            }
            for (f, flt), m in zip(corpus.filters.items(), masks.values(), strict=True)
        },
        "engines": {},
    }
    eng = result["engines"]
    index = None
    if "faiss" in opts.engines:
        eng["faiss"], index = bench_faiss(corpus, masks, opts)
    if "exact" in opts.engines:
        eng["exact"] = bench_exact(corpus, masks, opts)
    if "vecfleet" in opts.engines:
        rivals = rivals_for(corpus, masks, eng, index) if index is not None else None
        eng["vecfleet"] = bench_vecfleet(corpus, opts.kinds, opts, rivals)
    rivals = index = None  # frees FAISS's index before qdrant runs
    if "qdrant" in opts.engines:
        eng["qdrant"] = bench_qdrant(corpus, opts)
    result["baseline_best"] = {f: baseline_best(eng, f) for f, flt in corpus.filters.items() if flt}
    result["ratios"] = ratios(corpus, eng)
    result["hardware"]["loadavg_at_end"] = os.getloadavg()
    result["wall_s"] = time.time() - t_start
    return result


def csv_choice(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        items = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in items if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {','.join(allowed)}")
        return items

    return parse


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Benchmark vecfleet index kinds against raw FAISS HNSW, exact numpy search "
        "and qdrant-edge on the same data, single-threaded, in one process.",
        epilog="Example (baselines only): bench/engine.py --corpus packages "
        "--engines faiss,exact,qdrant",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument(
        "--corpus",
        choices=[*CORPORA, "all"],
        default="packages",
        help="which corpus; 'all' runs each and writes one JSON per corpus",
    )
    ap.add_argument(
        "--kinds",
        type=csv_choice(KINDS),
        default=",".join(KINDS),
        help="vecfleet index kinds, comma separated",
    )
    ap.add_argument(
        "--engines",
        type=csv_choice(ENGINES),
        default=",".join(ENGINES),
        help="engines to run, comma separated",
    )
    ap.add_argument(
        "--queries",
        type=int,
        default=None,
        help="queries to use (default 1000 for real corpora, 200 for synthetic1m)",
    )
    ap.add_argument(
        "--out",
        default="bench/results/engine-{corpus}.json",
        help="JSON output; '{corpus}' is replaced; relative to the repo root",
    )
    ap.add_argument(
        "--shared",
        type=Path,
        default=ROOT.parent / "shared",
        help="shared folder holding data/packages and data/incidents",
    )
    ap.add_argument("--reps", type=int, default=3, help="timed passes per measurement (median)")
    ap.add_argument(
        "--pairs",
        type=int,
        default=9,
        help="interleaved rounds of vecfleet against its baseline, per filter (median)",
    )
    ap.add_argument(
        "--single-pass-s", type=float, default=2.0, help="a pass longer than this is not repeated"
    )
    ap.add_argument(
        "--max-pass-s",
        type=float,
        default=20.0,
        help="stop an efSearch sweep after a pass longer than this",
    )
    ap.add_argument(
        "--synthetic-n",
        type=int,
        default=1_000_000,
        help="base vectors of the synthetic corpus (smaller for a quick trial)",
    )
    opts = ap.parse_args(argv)
    if opts.corpus == "all" and "{corpus}" not in opts.out:
        ap.error("--out must contain '{corpus}' with --corpus all")
    return opts


def check_vecfleet(opts: argparse.Namespace) -> None:
    if "vecfleet" not in opts.engines:
        return
    try:
        import vecfleet
    except ImportError as exc:
        hint = "use --engines faiss,exact,qdrant"
        raise SystemExit(f"cannot import vecfleet ({exc}); {hint}") from exc
    if not hasattr(vecfleet, "connect"):
        raise SystemExit("vecfleet.connect is not available yet; use --engines faiss,exact,qdrant")


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    check_vecfleet(opts)
    names = list(CORPORA) if opts.corpus == "all" else [opts.corpus]
    for name in names:
        result = run_corpus(name, opts)
        out = Path(opts.out.format(corpus=name))
        out = out if out.is_absolute() else ROOT / out
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1, default=float) + "\n")
        print_table(result)
        print(f"wrote {out} ({result['wall_s']:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Corpora for the benchmarks: loading, filter evaluation and recall.

Every benchmark reads the same three corpora through `load_corpus`:

* ``packages``: 100,000 one-line package summaries (real text, all-MiniLM-L6-v2, 384-d),
  8 filters from ``filters_dev.json`` (100 % down to 0.1 % of the records);
* ``incidents``: 3,216 real data-breach reports with the 4 filters of ``queries_dev.jsonl``;
* ``synthetic1m``: a generated, clearly labelled synthetic set (Gaussian-mixture clusters,
  1,000,000 x 384 by default) with a ~10 % and a ~1 % keyword filter and exact ground truth
  computed here by brute force.

The data files are read from the shared data folder and are never copied into the
repository. Vectors are shipped as float16 and used as float32 (as the ground truth was).
Ground truth is kept as row indices into the corpus; recall@10 is computed exactly as the
engine's acceptance check does it (per query ``|got ∩ truth10| / |truth10|``, queries whose
filter matches nothing are skipped, mean over queries).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

K = 10
Filter = dict[str, Any] | None

PACKAGES_SCHEMA = {"category": "keyword", "date": "datetime", "popularity_rank": "integer"}
PACKAGES_KEEP = ("category", "date", "popularity_rank", "version")
INCIDENTS_SCHEMA = {
    "industry": "keyword",
    "severity": "keyword",
    "date": "datetime",
    "records_affected": "integer",
}
INCIDENTS_KEEP = ("industry", "severity", "date", "records_affected", "title")
SYNTHETIC_SCHEMA = {"kw": "keyword", "year": "integer"}
CORPORA = ("packages", "incidents", "synthetic1m")


@dataclass
class Corpus:
    """One benchmark corpus, ready to index and query."""

    name: str
    ids: list[str]
    vectors: np.ndarray  # float32 [n, dim], L2-normalised
    payloads: list[dict[str, Any]]
    schema: dict[str, str]
    queries: np.ndarray  # float32 [nq, dim]
    filters: dict[str, Filter]
    truth: dict[str, list[np.ndarray]]  # filter -> per query, exact top rows (no padding)
    synthetic: bool = False
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def head(self, nq: int) -> Corpus:
        """The same corpus restricted to its first `nq` queries."""
        truth = {f: rows[:nq] for f, rows in self.truth.items()}
        return Corpus(
            self.name,
            self.ids,
            self.vectors,
            self.payloads,
            self.schema,
            self.queries[:nq],
            self.filters,
            truth,
            self.synthetic,
            self.description,
            self.extra,
        )


# ------------------------------------------------------------------------------ filters
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def matches(payload: dict[str, Any], flt: Filter) -> bool:
    """Reference evaluation of a Mongo-style filter on one payload (missing = absent field).

    ISO dates compare as strings, which orders them correctly. Like MongoDB, ``$ne`` and
    ``$nin`` match records that lack the field; every other condition needs it.
    """
    if not flt:
        return True
    for key, cond in flt.items():
        if key == "$and":
            ok = all(matches(payload, sub) for sub in cond)
        elif key == "$or":
            ok = any(matches(payload, sub) for sub in cond)
        elif key == "$not":
            ok = not matches(payload, cond)
        else:
            ok = _field_matches(payload.get(key), cond)
        if not ok:
            return False
    return True


def _field_matches(value: Any, cond: Any) -> bool:
    if not isinstance(cond, dict):
        return value is not None and value == cond
    for op, arg in cond.items():
        if op == "$exists":
            ok = (value is not None) == bool(arg)
        elif op == "$ne":
            ok = value != arg
        elif op == "$nin":
            ok = value not in arg
        elif value is None:
            ok = False
        elif op == "$eq":
            ok = value == arg
        elif op == "$in":
            ok = value in arg
        elif op in _COMPARE:
            ok = _COMPARE[op](value, arg)
        else:
            raise ValueError(f"unknown filter operator {op!r}")
        if not ok:
            return False
    return True


def filter_mask(payloads: Sequence[dict[str, Any]], flt: Filter) -> np.ndarray:
    """Boolean mask of the records that pass `flt`."""
    if not flt:
        return np.ones(len(payloads), dtype=bool)
    return np.fromiter((matches(p, flt) for p in payloads), dtype=bool, count=len(payloads))


# ------------------------------------------------------------------------------ recall
def recall_at_k(got: Sequence[Sequence[int]], truth: Sequence[np.ndarray], k: int = K) -> float:
    """Mean over queries of |got[:k] ∩ truth[:k]| / |truth[:k]|; empty truths are skipped."""
    vals = []
    for g, t in zip(got, truth, strict=True):
        t_k = {int(x) for x in t[:k]}
        if t_k:
            vals.append(len({int(x) for x in list(g)[:k]} & t_k) / len(t_k))
    return float(np.mean(vals)) if vals else float("nan")


# ------------------------------------------------------------------------------ loaders
def _records(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh]


def _payloads(records: list[dict[str, Any]], keep: Sequence[str]) -> list[dict[str, Any]]:
    return [{k: r[k] for k in keep if r.get(k) is not None} for r in records]


def _strip_padding(rows: np.ndarray) -> list[np.ndarray]:
    return [r[r >= 0].astype(np.int64) for r in rows]


def load_packages(shared: Path) -> Corpus:
    d = shared / "data" / "packages"
    recs = _records(d / "records.jsonl.gz")
    with open(d / "filters_dev.json") as fh:
        meta = json.load(fh)
    gt = np.load(d / "groundtruth_dev.npz")
    filters: dict[str, Filter] = {k: (v or None) for k, v in meta["filters"].items()}
    truth = {f: _strip_padding(gt[f"{f}_rows"]) for f in filters}
    return Corpus(
        name="packages",
        ids=[r["id"] for r in recs],
        vectors=np.load(d / "embeddings.f16.npy").astype(np.float32),
        payloads=_payloads(recs, PACKAGES_KEEP),
        schema=dict(PACKAGES_SCHEMA),
        queries=np.load(d / "queries_dev.f16.npy").astype(np.float32),
        filters=filters,
        truth=truth,
        description="100k PyPI package summaries, all-MiniLM-L6-v2 384-d (real text)",
        extra={"expected_matching": meta["matching"]},
    )


def load_incidents(shared: Path) -> Corpus:
    d = shared / "data" / "incidents"
    recs = _records(d / "records.jsonl.gz")
    with open(d / "queries_dev.jsonl") as fh:
        first = json.loads(fh.readline())
    gt = np.load(d / "groundtruth_dev.npz", allow_pickle=True)
    filters: dict[str, Filter] = {k: (v or None) for k, v in first["filters"].items()}
    truth = {f: _strip_padding(gt[f"{f}_idx"]) for f in filters}
    return Corpus(
        name="incidents",
        ids=[r["id"] for r in recs],
        vectors=np.load(d / "embeddings.f16.npy").astype(np.float32),
        payloads=_payloads(recs, INCIDENTS_KEEP),
        schema=dict(INCIDENTS_SCHEMA),
        queries=np.load(d / "queries_dev.f16.npy").astype(np.float32),
        filters=filters,
        truth=truth,
        description="3,216 real data-breach reports (PRC), all-MiniLM-L6-v2 384-d",
        extra={"expected_matching": {f: int(gt[f"{f}_n_matching"]) for f in filters}},
    )


# ------------------------------------------------------------------------------ synthetic
SYNTH_CLUSTERS = 200
SYNTH_SEED = 20240611
SYNTH_KW_P = (0.50, 0.10, 0.09, 0.08, 0.07, 0.06, 0.04, 0.03, 0.02, 0.01)


def make_synthetic(
    n: int = 1_000_000, nq: int = 200, dim: int = 384, seed: int = SYNTH_SEED
) -> Corpus:
    """Generated clustered corpus with exact ground truth for `nq` queries.

    A mixture of 200 Gaussian clusters around random unit centres, each with a random
    rotation of a decaying spectrum (std_j ~ (1+j)^-0.5), so each cluster has a low
    effective dimension like sentence embeddings; all vectors L2-normalised. Keyword
    ``kw`` = ``k0``..``k9`` independent of the cluster (k1 ~ 10 %, k9 ~ 1 %), ``year``
    uniform in 2000..2024. Much easier for HNSW than real text: label results synthetic.
    """
    rng = np.random.default_rng(seed)
    vecs = _mixture(rng, n + nq, dim)
    kw = rng.choice(len(SYNTH_KW_P), size=n, p=SYNTH_KW_P)
    year = rng.integers(2000, 2025, size=n)
    payloads = [{"kw": f"k{k}", "year": int(y)} for k, y in zip(kw, year, strict=True)]
    base, queries = vecs[:n], np.ascontiguousarray(vecs[n:])
    filters: dict[str, Filter] = {"none": None, "kw_10pct": {"kw": "k1"}, "kw_1pct": {"kw": "k9"}}
    masks = {"none": None, "kw_10pct": kw == 1, "kw_1pct": kw == 9}
    truth = {f: exact_truth(base, queries, m) for f, m in masks.items()}
    return Corpus(
        name="synthetic1m",
        ids=[f"s{i}" for i in range(n)],
        vectors=base,
        payloads=payloads,
        schema=dict(SYNTHETIC_SCHEMA),
        queries=queries,
        filters=filters,
        truth=truth,
        synthetic=True,
        description=f"SYNTHETIC {n:,} x {dim} Gaussian-mixture clusters (seed {seed})",
        extra={
            "expected_matching": {f: int(n if m is None else m.sum()) for f, m in masks.items()}
        },
    )


def _mixture(rng: np.random.Generator, total: int, dim: int) -> np.ndarray:
    centres = rng.standard_normal((SYNTH_CLUSTERS, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spec = (1.0 + np.arange(dim)) ** -0.5
    spec /= np.sqrt((spec**2).sum())
    weights = rng.uniform(0.5, 1.5, SYNTH_CLUSTERS)
    scale = rng.uniform(0.7, 1.3, SYNTH_CLUSTERS)
    labels = rng.choice(SYNTH_CLUSTERS, size=total, p=weights / weights.sum())
    out = np.empty((total, dim), dtype=np.float32)
    for c in range(SYNTH_CLUSTERS):
        idx = np.nonzero(labels == c)[0]
        rot, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        noise = rng.standard_normal((len(idx), dim)) * (spec * scale[c])
        out[idx] = centres[c] + (noise @ rot.T).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def exact_truth(
    base: np.ndarray, queries: np.ndarray, mask: np.ndarray | None, k: int = 100, chunk: int = 50
) -> list[np.ndarray]:
    """Exact inner-product top-`k` rows per query among the rows where `mask` holds."""
    rows = np.arange(len(base)) if mask is None else np.nonzero(mask)[0]
    sub = base if mask is None else base[rows]
    k = min(k, len(rows))
    out: list[np.ndarray] = []
    for s in range(0, len(queries), chunk):
        scores = queries[s : s + chunk] @ sub.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        # ties broken by lower row index, as in the shipped ground truth
        for srow, prow in zip(scores, part, strict=True):
            order = np.lexsort((prow, -srow[prow]))
            out.append(rows[prow[order]].astype(np.int64))
    return out


def load_corpus(
    name: str, shared: Path, synthetic_n: int = 1_000_000, synthetic_nq: int = 200
) -> Corpus:
    """Load one corpus by name; the synthetic one is generated (takes ~1 min at 1M)."""
    if name == "packages":
        return load_packages(shared)
    if name == "incidents":
        return load_incidents(shared)
    if name == "synthetic1m":
        return make_synthetic(synthetic_n, synthetic_nq)
    raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")

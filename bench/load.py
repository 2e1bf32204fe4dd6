"""Open-loop load on a real ``vecfleet serve``: Zipf-drawn searches at target rates, with
the result cache on and off in the same run.

Queries are the shared corpora's dev queries crossed with their filters (incidents: 1,000
queries x 4 filters, packages: 1,000 x 8), 12,000 distinct searches on two collections
(incidents, 3,216 records; packages, 100,000 by default). Each arrival draws a search by
rank from Zipf(s) over that pool (rank order is a seeded shuffle). Arrivals are a Poisson
process at the target rate and latency runs from the scheduled arrival to the last byte,
so a server that falls behind is charged for the queue it builds (no coordinated
omission). Writes, if asked for, upsert one point at a fixed rate; each raises its
collection's data epoch and so empties that collection's cache.

Modes: ``off`` (no result cache: the baseline), ``on`` (L1 in process), ``asgi`` (``on``
with the edge L1 answered inside the ASGI app instead of by the connection: api/edge.py),
``redis`` (L1 plus L2 and L3 on two private ``redis-server`` processes), ``l2`` (L2
alone: measures the Redis hit path). Cached modes are warmed by one pass over the whole
pool first. A rate step whose achieved rate falls under 80 % of the target, or whose p99
passes 2 s, ends that mode's sweep.

    .venv/bin/python bench/load.py --rates 250,500,1000,2000,4000 --duration 10 \\
        --out bench/results/load.json

Each mode also gets closed-loop capacity runs with ``wrk`` (one thread, 64 connections,
``--wrk-seconds``): ``GET /health/live``, one search repeated (every request an L1 hit
after the first), a file of Zipf-drawn searches, and the repeated search again with
``--paced-pause-ms`` between a response and the next request on each connection (the hit
path's latency below saturation). The yardstick is a bare Starlette echo route under
uvicorn as ``vecfleet serve`` runs it, measured before and after the modes (median).
The open-loop client is Python and shares the machine with the server, so its top rates
measure the pair; the wrk figures measure the server.

Writes JSON (per mode and rate: achieved rate, p50/p95/p99/p99.9, errors, X-Cache shares;
the wrk runs) and, when matplotlib can be imported, a PNG of latency against offered load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# A module in bench/ could shadow a standard one (say http): keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # an installed vecfleet, if any, still comes first
from bench.common import Corpus, load_corpus  # noqa: E402

SHARED = ROOT.parent / "shared"
MODES = ("off", "on", "asgi", "redis", "l2")
MIN_ACHIEVED = 0.8
MAX_P99_S = 2.0


# ---------------------------------------------------------------------- workload
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_pool(corpora: list[Corpus], limit: int, seed: int) -> list[tuple[str, bytes]]:
    """(collection, JSON body) per distinct search, in Zipf rank order."""
    pool = []
    for corpus in corpora:
        for q in corpus.queries:
            vector = [round(float(x), 6) for x in q]
            for flt in corpus.filters.values():
                body = {"vector": vector, "limit": limit, "filter": flt}
                pool.append((corpus.name, json.dumps(body).encode()))
    order = np.random.default_rng(seed).permutation(len(pool))
    return [pool[i] for i in order]


def zipf_cdf(n: int, s: float) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=np.float64) ** -s
    return np.cumsum(weights / weights.sum())


def ingest(data_dir: Path, corpora: list[Corpus]) -> float:
    import vecfleet

    started = time.perf_counter()
    with vecfleet.connect(data_dir) as db:
        for c in corpora:
            if c.name in db.list_collections():
                continue
            col = db.create_collection(c.name, c.dim, "cosine", "hnsw", c.schema)
            for s in range(0, len(c.ids), 5000):
                col.upsert(c.ids[s : s + 5000], c.vectors[s : s + 5000], c.payloads[s : s + 5000])
            col.optimize()
    return time.perf_counter() - started


# ---------------------------------------------------------------------- processes
@contextlib.contextmanager
def redis_server(root: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(root)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_http_or_tcp("127.0.0.1", port, 10)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.kill()
        proc.wait()


def wait_http_or_tcp(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout_s} s")


@contextlib.contextmanager
def server(
    data_dir: Path, mode: str, work: Path, extra_env: dict[str, str] | None = None
) -> Iterator[int]:
    """``vecfleet serve`` over ``data_dir`` with the caches of ``mode``; its port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECFLEET__")}
    env.update(
        {
            "VECFLEET__EMBED__MODEL": "hash",
            "VECFLEET__DEMO__ENABLED": "false",
            "VECFLEET__STORAGE__DURABILITY": "none",
            "VECFLEET__CACHE__ENABLED": "false" if mode == "off" else "true",
        }
    )
    with contextlib.ExitStack() as stack:
        if mode in ("redis", "l2"):
            env["VECFLEET__CACHE__L2_URL"] = stack.enter_context(redis_server(work))
        if mode == "redis":
            env["VECFLEET__CACHE__L3_URL"] = stack.enter_context(redis_server(work))
        if mode == "l2":
            env["VECFLEET__CACHE__L1_BYTES"] = "0"
        if mode == "asgi":
            env["VECFLEET__SERVER__EDGE_ANSWERS"] = "false"
        env.update(extra_env or {})
        log = (work / f"server-{mode}.log").open("wb")
        command = [sys.executable, "-m", "vecfleet.cli", "serve", "--port", str(port)]
        command += ["--data-dir", str(data_dir)]
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_http_or_tcp("127.0.0.1", port, 120)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


# ---------------------------------------------------------------------- client
class Connection:
    """One keep-alive HTTP/1.1 connection; just enough of the protocol for this server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, cache = 0, "-"
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.lower()
            if name == "content-length":
                length = int(value)
            elif name == "x-cache":
                cache = value.strip()
        await self.reader.readexactly(length)
        return status, cache

    def close(self) -> None:
        self.writer.close()


class Pool:
    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.size = size
        self.idle: asyncio.Queue[Connection] = asyncio.Queue()

    async def start(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await Connection.open(self.port))

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, str]:
        conn = await self.idle.get()
        try:
            result = await conn.request(method, path, body)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            conn = await Connection.open(self.port)
            raise
        finally:
            self.idle.put_nowait(conn)
        return result

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait().close()


# ---------------------------------------------------------------------- phases
async def warm(pool: Pool, searches: list[tuple[str, bytes]]) -> dict[str, Any]:
    """One closed-loop pass over every distinct search, so the caches hold them all."""
    started = time.perf_counter()
    seen: Counter[str] = Counter()
    queue = iter(searches)

    async def worker() -> None:
        for name, body in queue:
            status, cache = await pool.request("POST", f"/v1/collections/{name}/search", body)
            seen[cache if status == 200 else f"status {status}"] += 1

    await asyncio.gather(*(worker() for _ in range(pool.size)))
    return {"requests": len(searches), "seconds": time.perf_counter() - started, **seen}


async def step(
    pool: Pool,
    searches: list[tuple[str, bytes]],
    cdf: np.ndarray,
    rate: float,
    duration_s: float,
    write_rate: float,
    dim: int,
    seed: int,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    count = int(rate * duration_s)
    arrivals = np.cumsum(rng.exponential(1 / rate, count))
    picks = np.searchsorted(cdf, rng.random(count))
    latencies: list[float] = []
    by_source: dict[str, list[float]] = {}
    caches: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    tasks: list[asyncio.Task[None]] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05

    async def one(at: float, name: str, body: bytes) -> None:
        try:
            status, cache = await pool.request("POST", f"/v1/collections/{name}/search", body)
        except Exception as exc:
            errors[type(exc).__name__] += 1
            return
        latencies.append(loop.time() - at)
        by_source.setdefault(cache, []).append(loop.time() - at)
        if status != 200:
            errors[f"status {status}"] += 1
        caches[cache] += 1

    async def writer() -> None:
        if write_rate <= 0:
            return
        names = sorted({name for name, _ in searches})
        for i in range(int(write_rate * duration_s)):
            await asyncio.sleep(max(0.0, t0 + i / write_rate - loop.time()))
            vec = rng.standard_normal(dim).round(5).tolist()
            body = json.dumps({"points": [{"id": f"load-{seed}-{i}", "vector": vec}]}).encode()
            status, _ = await pool.request("POST", f"/v1/collections/{names[i % 2]}/points", body)
            if status != 200:
                errors[f"write status {status}"] += 1

    writes = asyncio.ensure_future(writer())
    for at, pick in zip(arrivals, picks, strict=True):
        when = t0 + float(at)
        delay = when - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        name, body = searches[int(pick)]
        tasks.append(asyncio.ensure_future(one(when, name, body)))
    await asyncio.gather(*tasks, writes)
    wall = loop.time() - t0
    lat = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    done = len(latencies)
    return {
        "target_rps": rate,
        "achieved_rps": round(done / wall, 1),
        "requests": done,
        "errors": dict(errors),
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p95_ms": round(float(np.percentile(lat, 95)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "p999_ms": round(float(np.percentile(lat, 99.9)), 3),
        "x_cache": {k: round(v / max(done, 1), 4) for k, v in sorted(caches.items())},
        "hit_ratio": round(sum(caches[t] for t in ("l1", "l2", "l3")) / max(done, 1), 4),
        "p99_ms_by_source": {
            k: round(float(np.percentile(np.array(v) * 1000, 99)), 3)
            for k, v in sorted(by_source.items())
        },
    }


async def run_mode(
    port: int, mode: str, searches: list[tuple[str, bytes]], opts: argparse.Namespace, dim: int
) -> dict[str, Any]:
    pool = Pool(port, opts.connections)
    await pool.start()
    out: dict[str, Any] = {"mode": mode, "steps": []}
    try:
        if mode != "off":
            out["warmup"] = await warm(pool, searches)
        cdf = zipf_cdf(len(searches), opts.zipf)
        for i, rate in enumerate(opts.rates):
            row = await step(pool, searches, cdf, rate, opts.duration, opts.write_rate, dim, i)
            print(f"  {mode:>5} {rate:>7.0f}/s -> {json.dumps(row)}", flush=True)
            out["steps"].append(row)
            if row["achieved_rps"] < MIN_ACHIEVED * rate or row["p99_ms"] > MAX_P99_S * 1000:
                break
    finally:
        pool.close()
    return out


# ---------------------------------------------------------------------- wrk
def zipf_file(path: Path, searches: list[tuple[str, bytes]], cdf: np.ndarray, n: int) -> Path:
    picks = np.searchsorted(cdf, np.random.default_rng(99).random(n))
    with path.open("wb") as out:
        for i in picks:
            name, body = searches[int(i)]
            out.write(f"/v1/collections/{name}/search\t".encode() + body + b"\n")
    return path


def wrk(port: int, path: str, seconds: float, connections: int, *args: str) -> dict[str, Any]:
    script = "zipf.lua" if args else "report.lua"
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    cmd += ["-s", str(ROOT / "bench" / "wrk" / script), f"http://127.0.0.1:{port}{path}"]
    if args:
        cmd += ["--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    lat = report["latency_us"]
    return {
        "target": path if not args else "zipf searches",
        "connections": connections,
        "rps": round(report["requests"] / (report["duration_us"] / 1e6), 1),
        "p50_ms": lat["p50"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "errors": report["errors"],
        "command": " ".join(cmd).replace(str(ROOT) + "/", ""),
    }


def capacity(
    port: int, lines: Path, repeated: Path, opts: argparse.Namespace
) -> list[dict[str, Any]]:
    """wrk runs: the health route, one search repeated (all L1 hits), Zipf searches, and
    the repeated search again with a pause per connection between requests (below
    saturation: the latency of the hit path itself, not of a queue)."""
    rows = []
    pause = str(opts.paced_pause_ms)
    for path, args, target in (
        ("/health/live", (), "/health/live"),
        ("/", (str(repeated),), "repeated search"),
        ("/", (str(lines),), "zipf searches"),
        ("/", (str(repeated), pause), f"repeated search, {pause} ms pauses"),
    ):
        wrk(port, path, 2, opts.connections, *args)  # warm-up, discarded
        row = {**wrk(port, path, opts.wrk_seconds, opts.connections, *args), "target": target}
        print(f"  wrk {row['target']:>15}: {json.dumps(row)}", flush=True)
        rows.append(row)
    return rows


@contextlib.contextmanager
def bare_server() -> Iterator[int]:
    """A Starlette echo route under uvicorn as ``vecfleet serve`` runs it: the yardstick."""
    port = free_port()
    code = (
        "import uvicorn, bench.http_apps as a; "
        f"uvicorn.run(a.bare, host='127.0.0.1', port={port}, log_level='warning', "
        "access_log=False)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        wait_http_or_tcp("127.0.0.1", port, 30)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def bare_capacity(opts: argparse.Namespace) -> dict[str, Any]:
    with bare_server() as port:
        wrk(port, "/", 2, opts.connections)
        row = wrk(port, "/", opts.wrk_seconds, opts.connections)
    row["target"] = "bare starlette echo"
    print(f"  wrk {row['target']}: {json.dumps(row)}", flush=True)
    return row


# ---------------------------------------------------------------------- report
def best_rate(mode: dict[str, Any], p99_ms: float) -> float:
    """The highest achieved rate among steps that kept up and held p99 under ``p99_ms``."""
    ok = [
        s["achieved_rps"]
        for s in mode["steps"]
        if s["achieved_rps"] >= MIN_ACHIEVED * s["target_rps"] and s["p99_ms"] <= p99_ms
    ]
    return max(ok, default=0.0)


def plot(result: dict[str, Any], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 5))
    for mode in result["modes"]:
        rates = [s["target_rps"] for s in mode["steps"]]
        for key, style in (("p50_ms", ":"), ("p99_ms", "-")):
            ax.plot(rates, [s[key] for s in mode["steps"]], style, marker="o",
                    label=f"{mode['mode']} {key[:-3]}")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (requests/s)")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"vecfleet search latency vs load, Zipf({result['zipf']}) over "
                 f"{result['distinct_searches']} searches")  # fmt: skip
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="250,500,1000,2000,4000")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate step")
    parser.add_argument("--modes", default="off,on", help=f"from {', '.join(MODES)}")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--write-rate", type=float, default=0.0, help="upserts per second")
    parser.add_argument("--packages-rows", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, help="reuse (or fill) this data directory")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--wrk-seconds", type=float, default=10.0, help="closed-loop run per mode; 0: none"
    )
    parser.add_argument(
        "--paced-pause-ms", type=int, default=10, help="pause per connection in the paced run"
    )
    opts = parser.parse_args(argv)
    opts.rates = [float(r) for r in opts.rates.split(",")]
    modes = opts.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODES)}")

    corpora = [load_corpus("incidents", SHARED), load_corpus("packages", SHARED)]
    packages = corpora[1]
    n = min(opts.packages_rows, len(packages.ids))
    packages.ids, packages.vectors = packages.ids[:n], packages.vectors[:n]
    packages.payloads = packages.payloads[:n]
    searches = build_pool(corpora, opts.limit, opts.seed)
    work = Path(tempfile.mkdtemp(prefix="vecfleet-load-"))
    data_dir = opts.data_dir or work / "data"
    print(f"{len(searches)} distinct searches; ingesting into {data_dir}", flush=True)
    ingest_s = ingest(data_dir, corpora)
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "collections": {c.name: len(c.ids) for c in corpora},
        "distinct_searches": len(searches),
        "zipf": opts.zipf,
        "connections": opts.connections,
        "duration_s": opts.duration,
        "write_rate": opts.write_rate,
        "ingest_s": round(ingest_s, 1),
        "modes": [],
    }
    use_wrk = opts.wrk_seconds > 0 and shutil.which("wrk") is not None
    lines = zipf_file(work / "zipf.tsv", searches, zipf_cdf(len(searches), opts.zipf), 200_000)
    repeated = zipf_file(work / "repeated.tsv", searches[:1], np.array([1.0]), 1)
    bare: list[dict[str, Any]] = []
    try:
        if use_wrk:
            bare.append(bare_capacity(opts))
        for mode in modes:
            print(f"mode {mode}", flush=True)
            with server(data_dir, mode, work) as port:
                row = asyncio.run(run_mode(port, mode, searches, opts, corpora[0].dim))
                if use_wrk:
                    row["wrk"] = capacity(port, lines, repeated, opts)
                result["modes"].append(row)
        if use_wrk:
            bare.append(bare_capacity(opts))
    finally:
        if opts.data_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    summary = {}
    for p99 in (25.0, 100.0):
        rates = {m["mode"]: best_rate(m, p99) for m in result["modes"]}
        summary[f"max_rps_p99_under_{p99:g}ms"] = rates
    if use_wrk:
        result["bare"] = bare
        bare_rps = float(np.median([b["rps"] for b in bare]))
        wrk_rows = {m["mode"]: m["wrk"] for m in result["modes"]}
        summary["wrk_bare_echo_rps_median"] = bare_rps
        summary["wrk_health_live_rps"] = {m: w[0]["rps"] for m, w in wrk_rows.items()}
        summary["wrk_repeated_search_rps"] = {m: w[1]["rps"] for m, w in wrk_rows.items()}
        summary["wrk_repeated_search_p99_ms"] = {m: w[1]["p99_ms"] for m, w in wrk_rows.items()}
        summary["repeated_search_vs_bare"] = {
            m: round(w[1]["rps"] / bare_rps, 3) for m, w in wrk_rows.items()
        }
        summary["wrk_zipf_rps"] = {m: w[2]["rps"] for m, w in wrk_rows.items()}
        summary["wrk_zipf_p99_ms"] = {m: w[2]["p99_ms"] for m, w in wrk_rows.items()}
        summary["wrk_paced_repeated_search"] = {
            m: {"rps": w[3]["rps"], "p99_ms": w[3]["p99_ms"]} for m, w in wrk_rows.items()
        }
        if "off" in wrk_rows:
            off = wrk_rows["off"][2]["rps"]
            summary["zipf_speedup_vs_off"] = {
                m: round(w[2]["rps"] / off, 2) for m, w in wrk_rows.items()
            }
    result["summary"] = summary
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    png = opts.out.with_suffix(".png")
    drawn = plot(result, png)
    print(json.dumps(summary, indent=2))
    print(f"wrote {opts.out}" + (f" and {png}" if drawn else " (no matplotlib: no plot)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

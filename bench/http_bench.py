"""HTTP benchmark: server, framework and codec overhead, vector and text search over HTTP.

One run on one machine, ``wrk`` as the load generator (one thread, keep-alive
connections, Lua scripts in ``bench/wrk/``), one server process with one worker:

* ``hello``: ``GET /`` answered by a raw ASGI callable, a bare Starlette route and a
  Starlette route behind one ``BaseHTTPMiddleware``, each under uvicorn (h11 + asyncio),
  uvicorn (httptools + uvloop) and granian: what the stack costs before any work;
* ``codec``: encode a 10-hit search response and decode a 384-float search request with
  msgspec, orjson and the standard library, in-process;
* ``vector``: ``POST /v1/collections/incidents/search`` with random unit vectors over the
  demo collection (hash embedder, so vectors need no model), at 16 and 64 connections,
  under each server, and under uvicorn once more with ``OMP_NUM_THREADS=1``; a filtered
  variant under uvicorn;
* ``in_process``: the same vectors through ``CollectionHandle.search`` on the same data
  directory (one thread, and four threads as the gateway's search pool), and through
  ``Gateway.search`` on an event loop at 16 and 64 concurrent calls;
* ``text``: text search with the MiniLM model, a new text per request (the embedding
  cache never answers), with micro-batching (``max_batch`` 64) and without (1), with
  torch's default intra-op threads and with ``OMP_NUM_THREADS=1``.

The text runs search the hash-embedded demo vectors with MiniLM query vectors: the cost
per request is real, the ranking is meaningless; relevance is not what is measured.
Results go to ``bench/results/http.json``; ``docs/http-server.md`` discusses them.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``http``, which httpx, uvicorn and
# starlette import: keep its folder off the import path so theirs is found.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from importlib.metadata import PackageNotFoundError, version  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # an installed vecfleet, if any, still comes first

WRK_DIR = ROOT / "bench" / "wrk"
BIN = Path(sys.executable).parent
DIM = 384
COLLECTION = "incidents"
SEARCH_PATH = f"/v1/collections/{COLLECTION}/search"
FILTER = {"severity": {"$in": ["high", "critical"]}, "date": {"$gte": "2015-01-01"}}
PACKAGES = ("starlette", "uvicorn", "granian", "uvloop", "httptools", "msgspec", "orjson")
SERVERS = {
    "uvicorn-h11": ["--http", "h11", "--loop", "asyncio"],
    "uvicorn-httptools": ["--http", "httptools", "--loop", "uvloop"],
    "granian": [],
}
HELLO_APPS = ("raw", "bare", "middleware")
APP = "bench.http_apps:vecfleet_app"


# ------------------------------------------------------------------------------ machine
def hardware() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])
    return {
        "cpu_model": cpu,
        "logical_cores": os.cpu_count(),
        "memory_bytes": mem_kb * 1024,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
        "packages": {name: _version(name) for name in PACKAGES},
    }


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------ servers
def server_command(server: str, target: str, port: int, factory: bool) -> list[str]:
    if server == "granian":
        cmd = [str(BIN / "granian"), "--interface", "asgi", "--working-dir", str(ROOT)]
        cmd += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
        return [*cmd, *(["--factory"] if factory else []), target]
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT), "--port", str(port)]
    cmd += [*SERVERS[server], "--log-level", "warning", "--no-access-log"]
    return [*cmd, *(["--factory"] if factory else []), target]


@contextmanager
def running(
    command: list[str],
    env: dict[str, str],
    ready: Callable[[str], bool],
    url: str,
    log_path: Path,
    timeout_s: float = 900,
) -> Iterator[float]:
    """Runs ``command`` until the block ends; yields the seconds it took to become ready."""
    started = time.perf_counter()
    with log_path.open("ab") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{shlex.join(command)} exited {proc.returncode}; see {log_path}"
                )
            try:
                if ready(url):
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"{shlex.join(command)} not ready after {timeout_s}s")
            time.sleep(0.2)
        yield time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def answers(url: str) -> bool:
    return httpx.get(url, timeout=2).status_code < 500


def demo_ready(url: str) -> bool:
    status = httpx.get(url + "/v1/demo/status", timeout=2).json()
    if status["state"] == "failed":
        raise RuntimeError(f"demo load failed: {status['error']}")
    return bool(status["state"] == "ready")


def vecfleet_env(data_dir: Path, demo_size: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECFLEET__")}
    env.update(
        {
            "VECFLEET__SERVER__DATA_DIR": str(data_dir),
            "VECFLEET__EMBED__MODEL": "hash",
            "VECFLEET__DEMO__SIZE": str(demo_size),
            **extra,
        }
    )
    return env


# ------------------------------------------------------------------------------ load
def wrk(
    url: str,
    connections: int,
    duration_s: float,
    script: str = "report.lua",
    args: tuple[str, ...] = (),
) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    if args:
        cmd += ["--", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    seconds = report["duration_us"] / 1e6
    lat = report["latency_us"]
    errors = sum(report["errors"].values())
    return {
        "connections": connections,
        "requests": report["requests"],
        "rps": round(report["requests"] / seconds, 1),
        "mean_ms": round(lat["mean"] / 1000, 3),
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "errors": errors,
        "error_detail": report["errors"],
        "command": shlex.join(["wrk", *cmd[1:]]).replace(str(ROOT) + "/", ""),
    }


def measure(
    url: str,
    connections: int,
    opts: argparse.Namespace,
    script: str = "report.lua",
    args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A discarded warm-up run, a pause for the server to drain it, then the measured run.

    ``{run}`` in ``args`` becomes ``warmup`` or ``measured``, for scripts whose requests
    must not repeat between the two.
    """
    wrk(url, connections, opts.warmup, script, tuple(a.format(run="warmup") for a in args))
    time.sleep(opts.drain)
    row = wrk(
        url, connections, opts.duration, script, tuple(a.format(run="measured") for a in args)
    )
    print(
        f"    c={connections:<3} {row['rps']:>9.1f} req/s  p50 {row['p50_ms']:7.2f} ms  "
        f"p99 {row['p99_ms']:7.2f} ms  errors {row['errors']}",
        flush=True,
    )
    return row


def query_vectors(n: int, seed: int = 42) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def write_bodies(path: Path, vectors: np.ndarray, flt: dict[str, Any] | None) -> Path:
    with path.open("w") as fh:
        for v in vectors:
            body: dict[str, Any] = {"vector": [round(float(x), 6) for x in v], "limit": 10}
            if flt:
                body["filter"] = flt
            fh.write(json.dumps(body, separators=(",", ":")) + "\n")
    return path


# ------------------------------------------------------------------------------ groups
def hello_group(opts: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    rows = []
    for app in HELLO_APPS:
        for server in SERVERS:
            port = free_port()
            url = f"http://127.0.0.1:{port}/"
            print(f"  hello {app} on {server}", flush=True)
            cmd = server_command(server, f"bench.http_apps:{app}", port, factory=False)
            with running(cmd, dict(os.environ), answers, url, work / "hello.log"):
                rows.append(
                    {
                        "group": "hello",
                        "app": app,
                        "server": server,
                        **measure(url, opts.hello_connections, opts),
                    }
                )
    return rows


def vector_group(
    opts: argparse.Namespace, work: Path, bodies: Path, filtered: Path
) -> list[dict[str, Any]]:
    rows = []
    runs = [(server, "default") for server in SERVERS] + [("uvicorn-httptools", "1")]
    for server, omp in runs:
        threads = {} if omp == "default" else {"OMP_NUM_THREADS": omp}
        env = vecfleet_env(opts.data_dir, opts.demo_size, **threads)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        print(f"  vector search on {server}, OMP_NUM_THREADS={omp}", flush=True)
        cmd = server_command(server, APP, port, factory=True)
        with running(cmd, env, demo_ready, base, work / "vector.log"):
            for conns in opts.connections:
                rows.append(
                    {
                        "group": "vector",
                        "server": server,
                        "omp_num_threads": omp,
                        "filter": None,
                        **measure(base + SEARCH_PATH, conns, opts, "bodies.lua", (str(bodies),)),
                    }
                )
            if server == "uvicorn-httptools":
                rows.append(
                    {
                        "group": "vector",
                        "server": server,
                        "omp_num_threads": omp,
                        "filter": FILTER,
                        **measure(
                            base + SEARCH_PATH,
                            max(opts.connections),
                            opts,
                            "bodies.lua",
                            (str(filtered),),
                        ),
                    }
                )
    return rows


def text_group(opts: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    rows = []
    for omp in opts.text_omp:
        threads = {} if omp == "default" else {"OMP_NUM_THREADS": omp}
        for max_batch in (64, 1):
            env = vecfleet_env(
                opts.data_dir,
                opts.demo_size,
                VECFLEET__EMBED__MODEL="minilm",
                VECFLEET__EMBED__MAX_BATCH=str(max_batch),
                **threads,
            )
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            print(f"  text search, max_batch={max_batch}, OMP_NUM_THREADS={omp}", flush=True)
            cmd = server_command("uvicorn-httptools", APP, port, factory=True)
            with running(cmd, env, demo_ready, base, work / "text.log"):
                for conns in opts.connections:
                    row = measure(
                        base + SEARCH_PATH,
                        conns,
                        opts,
                        "text_search.lua",
                        ("10", f"b{max_batch}-t{omp}-c{conns}-{{run}}"),
                    )
                    rows.append(
                        {
                            "group": "text",
                            "server": "uvicorn-httptools",
                            "max_batch": max_batch,
                            "omp_num_threads": omp,
                            **row,
                        }
                    )
    return rows


def codec_group(repeats: int = 20_000) -> dict[str, Any]:
    import msgspec
    import orjson

    from vecfleet.api import schemas as s

    payload = {
        "title": "Ransomware attack disrupts Cedar Valley Regional Hospital",
        "narrative": "Cedar Valley Regional Hospital took its systems offline. " * 4,
        "industry": "Healthcare",
        "severity": "high",
        "event_type": "hacking or malware",
        "date": "2016-02-04",
        "location": "Fresno, California",
        "records_affected": 5123,
    }
    out = s.SearchOut(
        [s.HitOut(f"inc-{i:06d}", 0.5 - i / 100, payload) for i in range(10)],
        1.234,
        [
            {
                "segment": "a" * 32,
                "strategy": "ann",
                "rows": 78767,
                "candidates": 78767,
                "selectivity": 1.0,
                "ef": 64,
            }
        ],
    )
    as_dict = msgspec.to_builtins(out)
    request = json.dumps(
        {"vector": [round(float(x), 6) for x in query_vectors(1)[0]], "limit": 10}
    ).encode()
    encoder = msgspec.json.Encoder()
    decoder = msgspec.json.Decoder(s.SearchIn)
    cases: dict[str, Callable[[], Any]] = {
        "encode_response/msgspec_struct": lambda: encoder.encode(out),
        "encode_response/orjson_dict": lambda: orjson.dumps(as_dict),
        "encode_response/json_dict": lambda: json.dumps(as_dict).encode(),
        "decode_request/msgspec_typed": lambda: decoder.decode(request),
        "decode_request/orjson_untyped": lambda: orjson.loads(request),
        "decode_request/json_untyped": lambda: json.loads(request),
    }
    result = {}
    for name, fn in cases.items():
        best = min(_timed(fn, repeats) for _ in range(3))
        result[name] = {"us_per_op": round(best * 1e6, 2)}
        print(f"  {name:<34} {best * 1e6:7.2f} us", flush=True)
    return {
        "response_bytes": len(encoder.encode(out)),
        "request_bytes": len(request),
        "timings": result,
    }


def _timed(fn: Callable[[], Any], repeats: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats


def in_process_group(opts: argparse.Namespace, vectors: np.ndarray) -> list[dict[str, Any]]:
    import vecfleet
    from vecfleet.gateway import Gateway
    from vecfleet.runtime import embedded_data_plane

    db = vecfleet.connect(opts.data_dir)
    rows: list[dict[str, Any]] = []
    try:
        col = db.collection(COLLECTION)
        for flt in (None, FILTER):
            for q in vectors[:50]:
                col.search(q, 10, flt)
            lat = []
            started = time.perf_counter()
            for q in vectors:
                t0 = time.perf_counter()
                col.search(q, 10, flt)
                lat.append(time.perf_counter() - t0)
            rows.append(
                _latency_row(
                    "engine, 1 thread", flt, len(vectors), time.perf_counter() - started, lat
                )
            )
            with ThreadPoolExecutor(4) as pool:
                started = time.perf_counter()
                list(pool.map(lambda q, f=flt: col.search(q, 10, f), vectors))
                wall = time.perf_counter() - started
            rows.append(
                {
                    "group": "in_process",
                    "target": "engine, 4 threads",
                    "filter": flt,
                    "requests": len(vectors),
                    "rps": round(len(vectors) / wall, 1),
                }
            )
        for conns in opts.connections:
            gateway = Gateway(embedded_data_plane(db), None)
            rows.append(asyncio.run(_gateway_run(gateway, vectors, conns)))
    finally:
        db.close()
    for row in rows:
        p = f"p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms" if "p50_ms" in row else ""
        print(
            f"  {row['target']:<32} filter={bool(row.get('filter'))!s:<5} "
            f"{row['rps']:>9.1f} /s  {p}",
            flush=True,
        )
    return rows


async def _gateway_run(gateway: Any, vectors: np.ndarray, concurrency: int) -> dict[str, Any]:
    from vecfleet.models import SearchRequest

    lat: list[float] = []
    queue = list(vectors)

    async def worker() -> None:
        while queue:
            q = queue.pop()
            t0 = time.perf_counter()
            await gateway.search(COLLECTION, SearchRequest(q))
            lat.append(time.perf_counter() - t0)

    await gateway.start()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    await gateway.close()
    row = _latency_row(f"gateway, {concurrency} concurrent", None, len(vectors), wall, lat)
    return {**row, "connections": concurrency}


def _latency_row(target: str, flt: Any, n: int, wall: float, lat: list[float]) -> dict[str, Any]:
    ms = np.array(lat) * 1000
    return {
        "group": "in_process",
        "target": target,
        "filter": flt,
        "requests": n,
        "rps": round(n / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
    }


# ------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of discarded load")
    parser.add_argument(
        "--drain", type=float, default=2.0, help="seconds between warm-up and measurement"
    )
    parser.add_argument(
        "--connections", type=lambda v: [int(c) for c in v.split(",")], default=[16, 64]
    )
    parser.add_argument("--hello-connections", type=int, default=64)
    parser.add_argument("--demo-size", type=int, default=78_767)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vecfleet-bench-http",
        help="demo data, kept between runs",
    )
    parser.add_argument("--groups", default="hello,codec,vector,in_process,text")
    parser.add_argument(
        "--text-omp",
        type=lambda v: v.split(","),
        default=["default", "1"],
        help="OMP_NUM_THREADS values for the text runs ('default': unset)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "http.json")
    opts = parser.parse_args(argv)
    groups = opts.groups.split(",")
    work = Path(tempfile.mkdtemp(prefix="vecfleet-http-"))
    vectors = query_vectors(2000)
    bodies = write_bodies(work / "vectors.jsonl", vectors[:500], None)
    filtered = write_bodies(work / "vectors-filtered.jsonl", vectors[:500], FILTER)
    report: dict[str, Any] = {
        "command": shlex.join([Path(sys.executable).name, "bench/http_bench.py", *sys.argv[1:]]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "hardware": hardware(),
        "loadavg_at_start": os.getloadavg(),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(opts).items()},
        "logs": str(work),
    }
    port = free_port()
    print(f"demo collection: {opts.demo_size} incidents in {opts.data_dir}", flush=True)
    cmd = server_command("uvicorn-httptools", APP, port, factory=True)
    with running(
        cmd,
        vecfleet_env(opts.data_dir, opts.demo_size),
        demo_ready,
        f"http://127.0.0.1:{port}",
        work / "prepare.log",
    ) as ready_s:
        report["demo_ready_s"] = round(ready_s, 1)
        explain = httpx.post(
            f"http://127.0.0.1:{port}{SEARCH_PATH}",
            timeout=30,
            json={"vector": vectors[0].tolist(), "limit": 10},
        ).json()["plan"]
        report["plan_unfiltered"] = explain
    rows: list[dict[str, Any]] = []
    if "hello" in groups:
        print("hello (framework and server floor)", flush=True)
        rows += hello_group(opts, work)
    if "codec" in groups:
        print("codec", flush=True)
        report["codec"] = codec_group()
    if "vector" in groups:
        print("vector search over HTTP", flush=True)
        rows += vector_group(opts, work, bodies, filtered)
    if "in_process" in groups:
        print("in-process", flush=True)
        rows += in_process_group(opts, vectors)
    if "text" in groups:
        print("text search (MiniLM)", flush=True)
        rows += text_group(opts, work)
    report["results"] = rows
    report["loadavg_at_end"] = os.getloadavg()
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

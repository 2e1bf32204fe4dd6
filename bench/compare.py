"""Two commits of vecfleet against each other, interleaved in one run.

Each side is a source tree: a temporary ``git worktree`` of ``--base`` and of ``--head``
(or, for ``--head worktree``, the default, the tree this script lives in). Each server
is ``.venv/bin/python -m vecfleet.cli serve`` with ``PYTHONPATH`` and the working
directory set to its tree, so that tree's ``vecfleet`` package is the one imported (the
venv is shared; the check is logged before any measurement). Both sides serve the same
data directory, filled once with the ``packages`` collection (as ``bench/load.py`` does)
and opened by one server at a time.

Modes, each a wrk run (one thread, ``--connections``) after a ``--warmup-seconds`` run:

* ``miss``: cache-miss vector searches, micro-batcher on (``server.batch_max`` 32), result
  cache off; the packages dev queries cycled, no filter (as ``bench/batching.py``);
* ``hit``: one search repeated with the caches on, every request an edge L1 hit after
  the first (as ``bench/load.py``'s ``wrk_repeated_search_rps``).

Run ``i`` measures every mode base then head (head then base when ``i`` is odd), so drift
on a shared machine falls on both sides. Per mode: each run's requests/s and p99, their
medians and head/base of the medians.

    .venv/bin/python bench/compare.py --base HEAD~1 --data-dir /tmp/benchdata
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))
from bench.common import Corpus, load_corpus  # noqa: E402
from bench.load import free_port, ingest, wrk  # noqa: E402

SHARED = ROOT.parent / "shared"
PYTHON = ROOT / ".venv" / "bin" / "python"
COLLECTION = "packages"
COMMON_ENV = {
    "VECFLEET__EMBED__MODEL": "hash",
    "VECFLEET__DEMO__ENABLED": "false",
    "VECFLEET__STORAGE__DURABILITY": "none",
}
MODE_ENV = {
    "miss": {"VECFLEET__CACHE__ENABLED": "false", "VECFLEET__SERVER__BATCH_MAX": "32"},
    "hit": {"VECFLEET__CACHE__ENABLED": "true"},
}
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Tree:
    """One side of the comparison: a source tree and the commit it stands for."""

    side: str
    ref: str
    commit: str  # short hash; "+dirty" when vecfleet/ has uncommitted changes
    path: Path


# ---------------------------------------------------------------------- trees
def output(*command: str) -> str:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def git(*args: str) -> str:
    try:
        return output("git", *args)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"git {' '.join(args)}: {exc.stderr.strip()}") from exc


@contextlib.contextmanager
def source_tree(side: str, ref: str) -> Iterator[Tree]:
    """The tree of ``ref``: this checkout for ``worktree``, else a temporary worktree."""
    if ref == "worktree":
        dirty = git("status", "--porcelain", "--", "vecfleet")
        short = git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")
        yield Tree(side, ref, short, ROOT)
        return
    short = git("rev-parse", "--short", f"{ref}^{{commit}}")
    path = Path(tempfile.mkdtemp(prefix=f"vecfleet-{side}-"))
    git("worktree", "add", "--detach", str(path), ref)
    try:
        yield Tree(side, ref, short, path)
    finally:
        git("worktree", "remove", "--force", str(path))


def tree_env(tree: Tree, mode_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECFLEET__")}
    env.update(COMMON_ENV)
    env.update(mode_env)
    env["PYTHONPATH"] = str(tree.path)
    return env


def check_import(tree: Tree) -> str:
    """Where the server of ``tree`` imports vecfleet from; refuse any other tree's copy."""
    code = "import vecfleet; print(vecfleet.__file__)"
    where = subprocess.run(
        [str(PYTHON), "-c", code],
        env=tree_env(tree, {}),
        cwd=tree.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(where).resolve().is_relative_to(tree.path.resolve()):
        raise SystemExit(f"{tree.side} imports vecfleet from {where}, not from {tree.path}")
    return where


# ---------------------------------------------------------------------- servers
def log_tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> float:
    """Seconds until ``/health/live`` answers; the server's log if it dies or never does."""
    started = time.monotonic()
    while time.monotonic() - started < START_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=1):
                return time.monotonic() - started
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise RuntimeError(f"server not live after {START_TIMEOUT_S:g} s:\n{log_tail(log)}")


@contextlib.contextmanager
def server(tree: Tree, mode: str, data_dir: Path, work: Path) -> Iterator[int]:
    """``vecfleet serve`` of ``tree`` over ``data_dir`` with the settings of ``mode``."""
    port = free_port()
    log = work / f"server-{tree.side}-{mode}.log"
    command = [str(PYTHON), "-m", "vecfleet.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env=tree_env(tree, MODE_ENV[mode]), cwd=tree.path, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_ready(proc, port, log)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def probe(port: int, line: str) -> None:
    """One search from a wrk input line; raise with the answer unless it is a 200."""
    path, body = line.rstrip("\n").split("\t", 1)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", body.encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"search answered {exc.code}: {exc.read()[:500]!r}") from exc


# ---------------------------------------------------------------------- measurement
def search_files(corpus: Corpus, work: Path) -> dict[str, Path]:
    """wrk input per mode: every dev query for ``miss``, the first one alone for ``hit``."""
    lines = []
    for q in corpus.queries:
        body = {"vector": [round(float(x), 6) for x in q], "limit": 10, "filter": None}
        lines.append(f"/v1/collections/{COLLECTION}/search\t{json.dumps(body)}\n")
    files = {"miss": work / "miss.tsv", "hit": work / "hit.tsv"}
    files["miss"].write_text("".join(lines))
    files["hit"].write_text(lines[0])
    return files


def measure(
    tree: Tree, mode: str, lines: Path, opts: argparse.Namespace, work: Path
) -> dict[str, Any]:
    started = time.monotonic()
    with server(tree, mode, opts.data_dir, work) as port:
        ready_s = time.monotonic() - started
        try:
            probe(port, lines.read_text().splitlines()[0])
        except RuntimeError as exc:
            log = log_tail(work / f"server-{tree.side}-{mode}.log")
            raise RuntimeError(f"{tree.side} {tree.commit}: {exc}\n{log}") from exc
        if opts.warmup_seconds > 0:
            wrk(port, "/", opts.warmup_seconds, opts.connections, str(lines))
        row = wrk(port, "/", opts.seconds, opts.connections, str(lines))
    row.pop("command")
    row["ready_s"] = round(ready_s, 1)
    return row


def sides_in_order(run: int, base: Tree, head: Tree) -> tuple[Tree, Tree]:
    return (base, head) if run % 2 == 0 else (head, base)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("base", "head"):
        rows = [r[side] for r in runs]
        out[side] = {
            "rps": [r["rps"] for r in rows],
            "rps_median": float(np.median([r["rps"] for r in rows])),
            "p99_ms": [r["p99_ms"] for r in rows],
            "p99_ms_median": float(np.median([r["p99_ms"] for r in rows])),
            "errors": sum(sum(r["errors"].values()) for r in rows),
        }
    out["rps_ratio"] = round(out["head"]["rps_median"] / out["base"]["rps_median"], 3)
    out["p99_ratio"] = round(out["head"]["p99_ms_median"] / out["base"]["p99_ms_median"], 3)
    return out


def hardware() -> dict[str, Any]:
    info = dict(line.split(":", 1) for line in output("lscpu").splitlines() if ":" in line)
    return {
        "cpu_model": info.get("Model name", "?").strip(),
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
    }


def table(result: dict[str, Any]) -> str:
    base, head = result["base"]["commit"], result["head"]["commit"]
    out = [f"{'mode':<5} {'side':<4} {'commit':<14} {'runs (req/s)':<28} {'median':>9} "
           f"{'p99 ms':>8}"]  # fmt: skip
    for mode, s in result["summary"].items():
        for side, commit in (("base", base), ("head", head)):
            runs = " ".join(f"{r:.0f}" for r in s[side]["rps"])
            out.append(
                f"{mode:<5} {side:<4} {commit:<14} {runs:<28} {s[side]['rps_median']:>9.0f} "
                f"{s[side]['p99_ms_median']:>8.2f}"
            )
        out.append(f"{mode:<5} head/base req/s {s['rps_ratio']:.3f}, p99 {s['p99_ratio']:.3f}")
    return "\n".join(out)


def interleave(
    base: Tree, head: Tree, files: dict[str, Path], modes: list[str], opts: argparse.Namespace,
    work: Path,
) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Per mode, one {base, head} pair of wrk results per run."""
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for i in range(opts.runs):
        for mode in modes:
            pair: dict[str, Any] = {}
            for tree in sides_in_order(i, base, head):
                pair[tree.side] = row = measure(tree, mode, files[mode], opts, work)
                rate = f"{row['rps']:.0f}/s p99 {row['p99_ms']:.2f} ms errors {row['errors']}"
                print(f"run {i} {mode:<4} {tree.side} {tree.commit}: {rate}", flush=True)
            runs[mode].append(pair)
    return runs


# ---------------------------------------------------------------------- main
def run(opts: argparse.Namespace, modes: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hardware": hardware(),
        "connections": opts.connections,
        "seconds": opts.seconds,
        "warmup_seconds": opts.warmup_seconds,
    }
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vecfleet-cmp-")))
        base = stack.enter_context(source_tree("base", opts.base))
        head = stack.enter_context(source_tree("head", opts.head))
        for tree in (base, head):
            where = check_import(tree)
            print(f"{tree.side} {tree.ref} = {tree.commit}: vecfleet from {where}", flush=True)
            result[tree.side] = {"ref": tree.ref, "commit": tree.commit, "vecfleet": where}
        corpus = load_corpus(COLLECTION, opts.shared)
        seconds = ingest(opts.data_dir, [corpus])
        print(f"data: {opts.data_dir} (ingest {seconds:.1f} s)", flush=True)
        runs = interleave(base, head, search_files(corpus, work), modes, opts, work)
    result["hardware"]["load_average_end"] = os.getloadavg()
    result["runs"] = runs
    result["summary"] = {mode: summarize(rows) for mode, rows in runs.items()}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git ref of the commit to compare with")
    parser.add_argument(
        "--head", default="worktree", help="git ref, or 'worktree' (default): this checkout"
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="reused, filled if empty")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run")
    parser.add_argument("--warmup-seconds", type=float, default=2.0)
    parser.add_argument("--modes", default="miss,hit", help="from miss, hit")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--shared", type=Path, default=SHARED, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "compare.json")
    opts = parser.parse_args(argv)
    if opts.runs < 1:
        parser.error("--runs must be at least 1")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install -y wrk)")
    modes = opts.modes.split(",")
    if unknown := sorted(set(modes) - set(MODE_ENV)):
        parser.error(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODE_ENV)}")
    result = run(opts, modes)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"wrote {opts.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

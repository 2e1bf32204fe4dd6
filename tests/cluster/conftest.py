"""A real local cluster for the cluster tests: ``vecfleet cluster up`` in a temporary
directory (private nats-server, three nodes, one gateway), stopped after the module.

The processes are real and supervised; tests kill, stop and restart them through the
pids in ``cluster.json``. Without ``nats-server`` the tests are skipped locally and fail
under CI (``CI`` set), where ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import free_port
from tests.nats_server import nats_binary

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalCluster:
    state_dir: Path
    url: str

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.state_dir / "cluster.json").read_text()))

    def process(self, name: str) -> dict[str, Any]:
        return next(p for p in self.state()["processes"] if p["name"] == name)

    def signal(self, name: str, sig: signal.Signals) -> int:
        pid = int(self.process(name)["pid"])
        os.kill(pid, sig)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout_s: float = 30.0) -> int:
        return wait_until(
            lambda: (p := self.process(name)["pid"]) != old_pid and p,
            timeout_s,
            f"{name} was not restarted",
        )

    def client(self, timeout_s: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout_s)


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s} s")
        time.sleep(0.05)


def start_cluster(state_dir: Path, nodes: int = 3, shards: int = 4, replicas: int = 2) -> str:
    nats_binary()  # skips locally, fails under CI, without the binary
    env = {k: v for k, v in os.environ.items() if not k.startswith("VECFLEET__")}
    env["VECFLEET__EMBED__MODEL"] = "hash"
    port = free_port()
    command = [sys.executable, "-m", "vecfleet.cli", "cluster", "up", "--nodes", str(nodes)]
    command += ["--shards", str(shards), "--replicas", str(replicas), "--port", str(port)]
    command += ["--state-dir", str(state_dir), "--timeout", "90"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"cluster up failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip().splitlines()[-1]


def stop_cluster(state_dir: Path) -> None:
    command = [sys.executable, "-m", "vecfleet.cli", "cluster", "down"]
    subprocess.run([*command, "--state-dir", str(state_dir)], cwd=ROOT, capture_output=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    state_dir = tmp_path_factory.mktemp("cluster")
    url = start_cluster(state_dir)
    try:
        yield LocalCluster(state_dir, url)
    finally:
        stop_cluster(state_dir)

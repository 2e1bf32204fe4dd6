"""``vecfleet cluster up|down``: a whole cluster on loopback, supervised as Kubernetes would.

``up`` starts a detached supervisor and returns once the gateway answers; the supervisor
starts a private ``nats-server -js`` (unless a URL is given), the nodes and a gateway,
writes ``<state-dir>/cluster.json`` and restarts any process that dies, on the same port
and data directory, rewriting the file with the new pid::

    {"gateway_url": "http://127.0.0.1:8090", "supervisor_pid": 4242, "ready": true,
     "processes": [{"role": "nats", "name": "nats", "pid": 4243, "port": 41234,
                    "restarts": 0}, {"role": "node", "name": "node-0", ...},
                   {"role": "gateway", "name": "gateway", ...}]}

``down`` signals the supervisor, which stops the gateway, then the nodes (they drain and
leave membership), then NATS; anything still alive after the grace time is killed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STATE_FILE = "cluster.json"
READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
CRASH_WINDOW_S = 10.0  # an exit sooner than this after a start counts as a crash loop
MAX_BACKOFF_S = 5.0


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A port the kernel hands out (bind to 0) comes from the ephemeral range, which outgoing
    connections draw their local ports from too: between this check and the server's own
    bind, a node's connection to NATS could take it. Ports below the range are never
    taken that way.
    """
    low = _ephemeral_low()
    for port in random.sample(range(max(1024, low - 12_000), low), 64):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # all tried were busy: any free port will do
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


@dataclass
class Child:
    role: str  # nats | node | gateway
    name: str
    port: int
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    pid: int = 0
    restarts: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    crashes: int = 0  # exits in a row within CRASH_WINDOW_S of starting
    restart_at: float = 0.0

    def public(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "pid": self.pid,
            "port": self.port,
            "restarts": self.restarts,
        }


# ---------------------------------------------------------------------- up / down
def up(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    state = read_state(state_dir)
    if state and _alive(state.get("supervisor_pid", 0)):
        print(
            f"vecfleet: a cluster already runs from {state_dir} at {state['gateway_url']}; "
            f"stop it first: vecfleet cluster down --state-dir {state_dir}",
            file=sys.stderr,
        )
        return 2
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    command = [sys.executable, "-m", "vecfleet.cli", "cluster", "supervise"]
    command += ["--nodes", str(args.nodes), "--shards", str(args.shards)]
    command += ["--replicas", str(args.replicas), "--port", str(args.port)]
    command += ["--state-dir", str(state_dir)]
    if args.nats:
        command += ["--nats", args.nats]
    with (state_dir / "supervisor.log").open("ab") as out:
        supervisor = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        state = read_state(state_dir)
        if state.get("ready"):
            print(state["gateway_url"])
            return 0
        if supervisor.poll() is not None:
            break
        time.sleep(0.2)
    tail = (state_dir / "supervisor.log").read_text(errors="replace")[-3000:]
    print(f"vecfleet: the cluster did not become ready; supervisor log:\n{tail}", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(supervisor.pid, signal.SIGTERM)
    return 1


def down(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir).resolve()
    state = read_state(state_dir)
    if not state:
        print(f"vecfleet: no cluster state in {state_dir}", file=sys.stderr)
        return 2
    supervisor = int(state.get("supervisor_pid", 0))
    if _alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S * 3
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.1)
    for proc in read_state(state_dir).get("processes", []):
        if _alive(proc["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc["pid"], signal.SIGKILL)
    if _alive(supervisor):
        with contextlib.suppress(ProcessLookupError):
            os.kill(supervisor, signal.SIGKILL)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    print(f"cluster in {state_dir} stopped")
    return 0


def read_state(state_dir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((state_dir / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    return True


# ---------------------------------------------------------------------- supervisor
class Supervisor:
    def __init__(self, args: argparse.Namespace) -> None:
        self.state_dir = Path(args.state_dir).resolve()
        self.gateway_url = f"http://127.0.0.1:{args.port}"
        self.stopping = False
        self.children: list[Child] = []
        vecfleet = [sys.executable, "-m", "vecfleet.cli"]
        nats_url = args.nats
        if not nats_url:
            binary = shutil.which("nats-server")
            if binary is None:
                raise SystemExit("nats-server is not installed (apt-get install nats-server)")
            port = free_port()
            nats_url = f"nats://127.0.0.1:{port}"
            store = self.state_dir / "nats"
            command = [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)]
            self.children.append(Child("nats", "nats", port, command))
        env = {"VECFLEET__NATS__URL": nats_url}
        for i in range(args.nodes):
            port = free_port()
            command = [*vecfleet, "node", "--node-id", f"node-{i}", "--grpc-port", str(port)]
            command += ["--data-dir", str(self.state_dir / f"node-{i}")]
            self.children.append(Child("node", f"node-{i}", port, command, env))
        gateway_env = {
            **env,
            "VECFLEET__CLUSTER__DEFAULT_SHARDS": str(args.shards),
            "VECFLEET__CLUSTER__DEFAULT_REPLICAS": str(args.replicas),
        }
        command = [*vecfleet, "gateway", "--port", str(args.port)]
        self.children.append(Child("gateway", "gateway", args.port, command, gateway_env))

    def start(self, child: Child) -> None:
        log = (self.state_dir / f"{child.name}.log").open("ab")
        env = {**os.environ, **child.env}
        child.proc = subprocess.Popen(child.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        child.pid = child.proc.pid
        child.started_at = time.monotonic()
        log.close()

    def write_state(self, ready: bool) -> None:
        state = {
            "gateway_url": self.gateway_url,
            "supervisor_pid": os.getpid(),
            "ready": ready,
            "processes": [c.public() for c in self.children],
        }
        tmp = self.state_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_dir / STATE_FILE)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        for child in self.children:
            self.start(child)
            if child.role == "nats":
                _wait_tcp(child.port, 30)
        self.write_state(ready=False)
        ready = False
        while not self.stopping:
            if not ready and self._nodes_listen() and _gateway_ready(self.gateway_url):
                ready = True
                self.write_state(ready=True)
            for child in self.children:
                if self._restart_due(child) and not self.stopping:
                    child.restarts += 1
                    self.start(child)
                    self.write_state(ready)
            time.sleep(0.1)
        self.stop_all()
        return 0

    def _restart_due(self, child: Child) -> bool:
        """Whether ``child`` exited and its back-off (doubling while it crash-loops) passed."""
        proc = child.proc
        if proc is None or proc.poll() is None:
            return False
        now = time.monotonic()
        if child.restart_at == 0.0:
            quick = now - child.started_at < CRASH_WINDOW_S
            child.crashes = child.crashes + 1 if quick else 0
            delay = min(0.1 * 2**child.crashes, MAX_BACKOFF_S) if child.crashes else 0.0
            child.restart_at = now + delay
            print(f"{child.name} (pid {child.pid}) exited with {proc.returncode}; "
                  f"restarting in {delay:.1f} s", flush=True)  # fmt: skip
        if now < child.restart_at:
            return False
        child.restart_at = 0.0
        return True

    def _nodes_listen(self) -> bool:
        for child in self.children:
            if child.role == "node":
                try:
                    socket.create_connection(("127.0.0.1", child.port), 0.2).close()
                except OSError:
                    return False
        return True

    def stop_all(self) -> None:
        order = {"gateway": 0, "node": 1, "nats": 2}
        for role in sorted(order, key=order.__getitem__):
            procs = [c.proc for c in self.children if c.role == role and c.proc is not None]
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def supervise(args: argparse.Namespace) -> int:
    return Supervisor(args).run()


def _wait_tcp(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port} after {timeout_s} s")


def _gateway_ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False

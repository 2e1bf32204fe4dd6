"""Private ``nats-server -js`` processes on free loopback ports, for cluster-mode tests.

Each ``NatsServer`` has its own JetStream store directory, so tests never share state.
It can be killed (SIGKILL, like a crash: JetStream keeps what it wrote to the OS) and
restarted on the same port with the same store, the way a pod restart looks to clients.
Without the binary the tests are skipped, except under CI (``CI`` set), where a missing
binary is a failure: CI must install it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import pytest

from tests.live_server import free_port


def nats_binary() -> str:
    path = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if os.path.exists("/usr/sbin/nats-server") else None
    )
    if path is None:
        message = "nats-server is not installed (apt-get install nats-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class NatsServer:
    """One JetStream-enabled server; ``url`` stays valid across ``restart``."""

    def __init__(self, root: Path) -> None:
        self.binary = nats_binary()
        self.root = root
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.store_dir = root / f"nats-{self.port}"
        self.log_path = root / f"nats-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsServer:
        command = [
            self.binary,
            "--jetstream",
            "--addr", "127.0.0.1",
            "--port", str(self.port),
            "--store_dir", str(self.store_dir),
            "--log", str(self.log_path),
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log_path.read_text() if self.log_path.exists() else ""
                self.kill()
                raise RuntimeError(f"nats-server on port {self.port} did not start:\n{log}")
            time.sleep(0.02)
        return self

    def ready(self) -> bool:
        """The server accepts clients and announces JetStream."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                info = sock.recv(8192).decode(errors="replace")
                if not info.startswith("INFO "):
                    return False
                if not json.loads(info[5:].strip()).get("jetstream"):
                    return False
                sock.sendall(b"CONNECT {}\r\nPING\r\n")
                return b"PONG" in sock.recv(64)
        except (OSError, ValueError):
            return False

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: the server flushes its stores)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        """SIGKILL, then start again on the same port with the same store directory."""
        self.kill()
        self.start()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

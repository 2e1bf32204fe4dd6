"""Private ``nats-server -js`` processes on free loopback ports, for cluster-mode tests.

Each ``NatsServer`` has its own JetStream store directory, so tests never share state.
It can be killed (SIGKILL, like a crash: JetStream keeps what it wrote to the OS) and
restarted on the same port with the same store, the way a pod restart looks to clients.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

from tests.private_server import PrivateServer, required_binary


def nats_binary() -> str:
    return required_binary("nats-server", "/usr/sbin/nats-server")


class NatsServer(PrivateServer):
    """One JetStream-enabled server; ``url`` stays valid across ``restart``."""

    name = "nats"
    start_timeout_s = 15.0

    def __init__(self, root: Path) -> None:
        super().__init__(nats_binary(), root)
        self.url = f"nats://127.0.0.1:{self.port}"
        self.store_dir = root / f"nats-{self.port}"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--jetstream",
            "--addr", "127.0.0.1",
            "--port", str(self.port),
            "--store_dir", str(self.store_dir),
            "--log", str(self.log_path),
        ]  # fmt: skip

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

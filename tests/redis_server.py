"""Private ``redis-server`` processes on free loopback ports, for cache and bus tests.

``RedisServer`` can be killed (SIGKILL, like a crashed or partitioned server) and
restarted on the same port; it persists nothing.
"""

from __future__ import annotations

import socket
from pathlib import Path

from tests.private_server import PrivateServer, required_binary


def redis_binary() -> str:
    return required_binary("redis-server")


class RedisServer(PrivateServer):
    name = "redis"

    def __init__(self, root: Path) -> None:
        super().__init__(redis_binary(), root)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
            "--logfile", str(self.log_path),
        ]  # fmt: skip

    def ready(self) -> bool:
        return self.ping()

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

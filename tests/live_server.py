"""A real ``vecfleet serve`` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from vecfleet.local_cluster import free_port

REPO = Path(__file__).resolve().parents[1]


class LiveServer:
    """Runs the server with the hash embedder; ``url`` is valid inside the ``with`` block.

    ``settings`` are extra ``VECFLEET__SECTION__KEY`` variables. The server log is kept in
    ``log_path`` and its tail is quoted when the process dies or never becomes live.
    """

    def __init__(self, root: Path, demo_size: int = 0, settings: dict[str, str] | None = None):
        self.data_dir = root / "data"
        self.log_path = root / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("VECFLEET__")}
        self.env.update(
            {
                "VECFLEET__EMBED__MODEL": "hash",
                "VECFLEET__DEMO__ENABLED": "true" if demo_size else "false",
                "VECFLEET__DEMO__SIZE": str(demo_size),
                "VECFLEET__STORAGE__DURABILITY": "none",
                **(settings or {}),
            }
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LiveServer:
        command = [sys.executable, "-m", "vecfleet.cli", "serve", "--port", str(self.port)]
        command += ["--data-dir", str(self.data_dir)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO
            )
        self.wait_until(lambda: self.get("/health/live").status_code == 200, 30, "live")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=30)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def wait_until(self, ready: Any, timeout_s: float, what: str) -> None:
        """Polls ``ready()`` until true; fails with the log if the server dies or times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.proc.returncode} before {what}:\n{self.log_tail()}"
                )
            try:
                if ready():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not {what} after {timeout_s:.0f}s:\n{self.log_tail()}")

    def wait_demo_ready(self, timeout_s: float = 120) -> None:
        def ready() -> bool:
            status = self.get("/v1/demo/status").json()
            if status["state"] == "failed":
                raise AssertionError(f"demo load failed: {status['error']}\n{self.log_tail()}")
            return bool(status["state"] == "ready")

        self.wait_until(ready, timeout_s, "demo ready")

"""A server binary run as a private child process on a free loopback port, for tests.

Tests start their own Redis and NATS servers so that they can kill (SIGKILL, like a
crash) and restart them on the same port. Without the binary such tests are skipped,
except under CI (``CI`` set), where a missing binary is a failure: CI must install it
(``.ci/run``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from vecfleet.local_cluster import free_port


def required_binary(name: str, *fallbacks: str) -> str:
    """The path of ``name`` (or of the first existing fallback path); skip or fail without."""
    path = shutil.which(name) or next((p for p in fallbacks if os.path.exists(p)), None)
    if path is None:
        message = f"{name} is not installed (apt-get install {name})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


class PrivateServer:
    """Start, probe, kill and restart one server process; subclasses say how to run it
    (``command``) and when it is ready (``ready``). ``port`` survives restarts."""

    name = "server"
    start_timeout_s = 10.0

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.log_path = root / f"{self.name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        self.proc = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + self.start_timeout_s
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = self.log_path.read_text() if self.log_path.exists() else ""
                self.kill()
                raise RuntimeError(f"{self.name} on port {self.port} did not start:\n{log}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None

    def restart(self) -> None:
        """SIGKILL, then start again on the same port."""
        self.kill()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

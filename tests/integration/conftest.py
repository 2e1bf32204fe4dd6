"""Fixtures shared by the integration tests that need a private nats-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nats_server import NatsServer
from vecfleet.cluster.nats_thread import NatsThread


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream of this test's own, on a free port; a test may kill
    and restart it."""
    with NatsServer(tmp_path) as running:
        yield running


@pytest.fixture
def nats(nats_server: NatsServer) -> Iterator[NatsThread]:
    """A NATS connection to ``nats_server`` on its own event-loop thread."""
    with NatsThread(nats_server.url, request_timeout_s=2.0) as thread:
        yield thread

"""The published ``/openapi.json`` tells the truth: schemathesis, every check, every operation.

The app is the embedded server's (native API, console and d-vecDB routes) over a hash
embedder, served by uvicorn on a loopback port in this process. Each operation runs the
examples, coverage and fuzzing phases twice: once with generated collection names, as a
first-time user's run does, and once against a small seeded collection so search, count,
scroll and the point calls get past the lookup. The coverage phase sends every method a
path does not document and checks the 405 and its ``Allow`` header; the positive and
negative data checks hold the schema to what the server accepts and refuses. Generation
is derandomized with a fixed seed, so a failure reproduces on the next run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from vecfleet.config import load_settings
from vecfleet.embed import HashEmbedder
from vecfleet.local_cluster import free_port
from vecfleet.runtime import build_embedded

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.engine import events, from_schema  # noqa: E402

DIM = 4
SEEDED = "seeded"
SEED = 20240607
MAX_EXAMPLES = 25


def _seed(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        created = http.post("/v1/collections", json={"name": SEEDED, "dim": DIM})
        assert created.status_code == 201, created.text
        points: list[dict[str, Any]] = [
            {"id": i, "vector": [(i * 3 + j) % 5 / 5 + 0.1 for j in range(DIM)], "payload": {"n": i}}
            for i in range(12)
        ]
        points.append({"id": "text", "text": "a seeded text point", "payload": {"n": -1}})
        upserted = http.post(f"/v1/collections/{SEEDED}/points", json={"points": points})
        assert upserted.status_code == 200, upserted.text


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("contract")
    env = {
        "VECFLEET__SERVER__DATA_DIR": str(root / "data"),
        "VECFLEET__EMBED__MODEL": "hash",
        "VECFLEET__EMBED__DIM": str(DIM),
        "VECFLEET__DEMO__ENABLED": "false",
        "VECFLEET__STORAGE__DURABILITY": "none",
    }
    embedded = build_embedded(load_settings(None, env), HashEmbedder(DIM))
    port = free_port()
    config = uvicorn.Config(
        embedded.app, host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="contract-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    _seed(url)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


def _schema(url: str, parameters: dict[str, str] | None = None) -> Any:
    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "checks": {"enabled": True},
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "suppress-health-check": ["all"],
            **({"parameters": parameters} if parameters else {}),
        }
    )
    return schemathesis.openapi.from_url(f"{url}/openapi.json", config=config)


def _run(schema: Any) -> tuple[int, list[str]]:
    """Runs every phase the CLI runs; returns the number of cases and each failure."""
    cases = 0
    failures: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            cases += len(event.recorder.cases)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(
                            f"{event.recorder.label} [{event.phase.value}] {check.name}: "
                            f"{failure.title}\n{failure.message}\n{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"{getattr(event, 'label', '')}: error {event.info.format()}")
    return cases, failures


def test_generated_collection_names(base_url: str) -> None:
    cases, failures = _run(_schema(base_url))
    assert not failures, "\n\n".join(sorted(set(failures)))
    assert cases >= 300, cases


def test_on_a_seeded_collection(base_url: str) -> None:
    # Dropping the seeded collection would leave every later case a 404.
    schema = (
        _schema(base_url, {"name": SEEDED})
        .include(path_regex=r"\{name\}")
        .exclude(method="DELETE", path="/v1/collections/{name}")
    )
    cases, failures = _run(schema)
    assert not failures, "\n\n".join(sorted(set(failures)))
    assert cases >= 300, cases

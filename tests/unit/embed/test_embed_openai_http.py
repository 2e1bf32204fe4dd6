"""OpenAIEmbedder against a small local server that speaks ``POST /v1/embeddings``."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from vecfleet.embed import Embedder, HashEmbedder, OpenAIEmbedder
from vecfleet.embed.openai_http import embeddings_url
from vecfleet.errors import Unavailable, ValidationError

KEY = "test-key"
DIM = 12


class FakeEmbeddingsHandler(BaseHTTPRequestHandler):
    """Behaves by model name: ``ok`` answers; the others fail in one documented way."""

    requests: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        if self.path != "/v1/embeddings":
            return self._send(404, {"error": {"message": "no such route"}})
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            return self._send(401, {"error": {"message": "invalid api key"}})
        model, texts = body["model"], body["input"]
        if model == "too-long":
            return self._send(400, {"error": {"message": "input is too long"}})
        if model == "overloaded":
            return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "3"})
        if model == "crash":
            return self._send(500, None, raw=b"internal error")
        if model == "garbage":
            return self._send(200, None, raw=b"<html>not json</html>")
        if model == "slow":
            time.sleep(1.0)
        dim = 4 if model == "wrong-dim" else body.get("dimensions", DIM)
        vectors = HashEmbedder(dim).embed(texts) * 3.0  # not unit length, as some servers do
        data = [
            {"object": "embedding", "index": i, "embedding": v.tolist()}
            for i, v in enumerate(vectors)
        ]
        self._send(200, {"object": "list", "model": model, "data": data[::-1]})

    def _send(
        self, status: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes = b""
    ) -> None:
        out = json.dumps(payload).encode() if payload is not None else raw
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    requests: list[dict[str, Any]] = []
    handler = type("Handler", (FakeEmbeddingsHandler,), {"requests": requests})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def make(base_url: str, model: str = "ok", **kwargs: Any) -> OpenAIEmbedder:
    kwargs.setdefault("api_key", KEY)
    kwargs.setdefault("dim", DIM)
    kwargs.setdefault("timeout_s", 5.0)
    return OpenAIEmbedder(base_url, model, **kwargs)


def test_embeds_in_input_order_and_normalises(server: tuple[str, list[Any]]) -> None:
    url, requests = server
    texts = ["stolen laptop", "phishing at a bank", "card skimmer"]
    with make(url) as embedder:
        assert isinstance(embedder, Embedder)
        got = embedder.embed(texts)
    np.testing.assert_allclose(got, HashEmbedder(DIM).embed(texts), rtol=1e-5, atol=1e-6)
    assert requests == [{"model": "ok", "input": texts, "encoding_format": "float"}]


def test_long_lists_are_split_into_requests(server: tuple[str, list[Any]]) -> None:
    url, requests = server
    texts = [f"incident {i}" for i in range(7)]
    with make(url, max_inputs=3) as embedder:
        assert embedder.embed(texts).shape == (7, DIM)
    assert [len(r["input"]) for r in requests] == [3, 3, 1]


def test_request_dimensions_is_sent_and_named(server: tuple[str, list[Any]]) -> None:
    url, requests = server
    with make(url + "/v1/", dim=6, request_dimensions=True) as embedder:
        assert embedder.embed(["x"]).shape == (1, 6)
        assert embedder.model_id == "ok@6"
    assert requests[0]["dimensions"] == 6


def test_refused_input_is_a_validation_error(server: tuple[str, list[Any]]) -> None:
    with make(server[0], "too-long") as embedder, pytest.raises(ValidationError) as err:
        embedder.embed(["very long"])
    assert "input is too long" in str(err.value)


@pytest.mark.parametrize(
    ("model", "api_key", "words"),
    [
        ("ok", "wrong-key", "check the API key"),
        ("overloaded", KEY, "429"),
        ("crash", KEY, "internal error"),
        ("garbage", KEY, "not an embeddings list"),
        ("wrong-dim", KEY, "set dim"),
    ],
)
def test_service_failures_are_unavailable(
    server: tuple[str, list[Any]], model: str, api_key: str, words: str
) -> None:
    with make(server[0], model, api_key=api_key) as embedder, pytest.raises(Unavailable) as err:
        embedder.embed(["text"])
    assert words in str(err.value)
    assert "wrong-key" not in str(err.value)


def test_retry_after_is_kept(server: tuple[str, list[Any]]) -> None:
    with make(server[0], "overloaded") as embedder, pytest.raises(Unavailable) as err:
        embedder.embed(["text"])
    assert err.value.details["retry_after"] == "3"


def test_wrong_path_is_unavailable(server: tuple[str, list[Any]]) -> None:
    with make(server[0] + "/api") as embedder, pytest.raises(Unavailable) as err:
        embedder.embed(["text"])
    assert "404" in str(err.value)


def test_timeout_is_unavailable(server: tuple[str, list[Any]]) -> None:
    with make(server[0], "slow", timeout_s=0.2) as embedder, pytest.raises(Unavailable) as err:
        embedder.embed(["text"])
    assert "timed out" in str(err.value)


def test_nobody_listening_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with make(f"http://127.0.0.1:{port}") as embedder, pytest.raises(Unavailable):
        embedder.embed(["text"])


def test_empty_input_makes_no_request(server: tuple[str, list[Any]]) -> None:
    with make(server[0]) as embedder:
        assert embedder.embed([]).shape == (0, DIM)
    assert server[1] == []


def test_repr_hides_the_key() -> None:
    embedder = OpenAIEmbedder("https://example.invalid", "m", api_key="sk-secret")
    try:
        assert "sk-secret" not in repr(embedder)
    finally:
        embedder.close()


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://h:8000", "http://h:8000/v1/embeddings"),
        ("http://h:8000/", "http://h:8000/v1/embeddings"),
        ("https://h/v1", "https://h/v1/embeddings"),
        ("https://h/proxy/v1/", "https://h/proxy/v1/embeddings"),
    ],
)
def test_embeddings_url(base: str, url: str) -> None:
    assert embeddings_url(base) == url
